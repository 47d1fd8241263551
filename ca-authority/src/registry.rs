//! Registration of organisations and their authorised persons (SPEC §2,
//! §4 operator API), with the validation of what the desk types in.

use chrono::{DateTime, Utc};

use ca_core::api::{NewOrganization, NewPerson};
use ca_core::records::{OrganizationRecord, Registration};
use ca_core::subject::SubjectSpec;
use ca_core::{limits, Error, Result};
use ca_store::{Event, Outcome};

use crate::Authority;

fn digits(field: &str, value: &str, lengths: &[usize]) -> Result<()> {
    if value.bytes().all(|b| b.is_ascii_digit()) && lengths.contains(&value.len()) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{field} must be {lengths:?} digits"
        )))
    }
}

fn non_empty(field: &str, value: &str) -> Result<()> {
    limits::line(field, value, limits::NAME)
}

/// An address mail can be sent to (RFC 5321/5322 syntax, checked by the
/// `email_address` crate lettre itself uses): a typo is refused at the desk,
/// not discovered by a bounce.
fn email(field: &str, value: &str) -> Result<()> {
    limits::line(field, value, limits::EMAIL)?;
    if email_address::EmailAddress::is_valid(value.trim()) {
        Ok(())
    } else {
        Err(Error::invalid(format!("{field} must be an e-mail address")))
    }
}

impl Authority {
    /// Registers an organisation.
    pub fn register_organization(
        &self,
        actor: &str,
        new: NewOrganization,
    ) -> Result<OrganizationRecord> {
        let object = "organization:new".to_string();
        self.recording(actor, "organization.register", object, || {
            non_empty("name", &new.name)?;
            limits::line("agreement_number", &new.agreement_number, limits::DOCUMENT)?;
            digits("inn", &new.inn, &[10])?;
            digits("ogrn", &new.ogrn, &[13])?;
            if let Some(url) = &new.webhook_url {
                limits::line("webhook_url", url, limits::URL)?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(Error::invalid("webhook_url must be an http(s) URL"));
                }
            }
            if let Some(address) = &new.contact_email {
                email("contact_email", address)?;
            }
            let now = self.now();
            let id = ca_core::random_id();
            self.store.write(|tx| {
                let org = tx.insert_organization(&ca_store::NewOrganization {
                    id: &id,
                    name: new.name.trim(),
                    inn: &new.inn,
                    ogrn: &new.ogrn,
                    agreement_number: &new.agreement_number,
                    webhook_url: new.webhook_url.as_deref(),
                    contact_email: new.contact_email.as_deref().map(str::trim),
                    created_at: now,
                })?;
                tx.audit(
                    now,
                    Event {
                        actor,
                        action: "organization.register",
                        object: format!("organization:{id}"),
                        outcome: Outcome::Ok,
                        reasons: vec![],
                        details: serde_json::json!({"name": org.name, "inn": org.inn,
                        "agreement": org.agreement_number}),
                    },
                )?;
                Ok(org)
            })
        })
    }

    /// All organisations.
    pub fn organizations(&self) -> Result<Vec<OrganizationRecord>> {
        self.store.read(|tx| tx.organizations())
    }

    /// One organisation.
    pub fn organization(&self, id: &str) -> Result<OrganizationRecord> {
        self.store.read(|tx| {
            tx.organization(id)?
                .ok_or_else(|| Error::not_found(format!("no organisation {id}")))
        })
    }

    /// Registers an authorised person of an active organisation.
    pub fn register_person(&self, actor: &str, new: NewPerson) -> Result<Registration> {
        let object = format!("organization:{}", new.organization_id);
        self.recording(actor, "person.register", object, || {
            non_empty("full_name", &new.full_name)?;
            non_empty("position", &new.position)?;
            limits::line(
                "authority_document",
                &new.authority_document,
                limits::DOCUMENT,
            )?;
            email("email", &new.email)?;
            let now = self.now();
            if new.authority_valid_until <= now {
                return Err(Error::invalid(
                    "authority_valid_until must be in the future",
                ));
            }
            let full_name = new
                .full_name
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let position = new.position.trim();
            let id = ca_core::random_id();
            self.store.write(|tx| {
                let org = tx.organization(&new.organization_id)?.ok_or_else(|| {
                    Error::not_found(format!("no organisation {}", new.organization_id))
                })?;
                if !org.active {
                    return Err(Error::wrong_state(
                        "the organisation's agreement has been terminated",
                    ));
                }
                SubjectSpec::for_registration(&org.name, &org.ogrn, position, &full_name)
                    .validate()
                    .map_err(|e| Error::invalid(e.message().to_string()))?;
                tx.insert_person(&ca_store::NewPerson {
                    id: &id,
                    organization_id: &org.id,
                    full_name: &full_name,
                    position,
                    email: new.email.trim(),
                    authority_document: new.authority_document.trim(),
                    authority_valid_until: new.authority_valid_until,
                    registered_at: now,
                })?;
                tx.audit(
                    now,
                    Event {
                        actor,
                        action: "person.register",
                        object: format!("person:{id}"),
                        outcome: Outcome::Ok,
                        reasons: vec![],
                        details: serde_json::json!({"organization": org.id,
                        "authority_document": new.authority_document.trim(),
                        "authority_valid_until": new.authority_valid_until}),
                    },
                )?;
                tx.person(&id)?
                    .ok_or_else(|| Error::internal("the person just registered is missing"))
            })
        })
    }

    /// One person.
    pub fn person(&self, id: &str) -> Result<Registration> {
        self.store.read(|tx| {
            tx.person(id)?
                .ok_or_else(|| Error::not_found(format!("no person {id}")))
        })
    }

    /// Persons, optionally of one organisation.
    pub fn persons(&self, organization_id: Option<&str>) -> Result<Vec<Registration>> {
        self.store.read(|tx| tx.persons(organization_id))
    }

    /// Extends or replaces a person's power of attorney.
    pub fn update_authority(
        &self,
        actor: &str,
        id: &str,
        document: &str,
        valid_until: DateTime<Utc>,
    ) -> Result<Registration> {
        let object = format!("person:{id}");
        self.recording(actor, "person.authority", object, || {
            limits::line("authority_document", document, limits::DOCUMENT)?;
            let now = self.now();
            if valid_until <= now {
                return Err(Error::invalid(
                    "authority_valid_until must be in the future",
                ));
            }
            self.store.write(|tx| {
                let reg = tx
                    .person(id)?
                    .ok_or_else(|| Error::not_found(format!("no person {id}")))?;
                if !reg.person.active {
                    return Err(Error::wrong_state(
                        "the person's authority has been terminated",
                    ));
                }
                tx.set_authority(id, document, valid_until)?;
                tx.audit(
                    now,
                    Event {
                        actor,
                        action: "person.authority",
                        object: format!("person:{id}"),
                        outcome: Outcome::Ok,
                        reasons: vec![],
                        details: serde_json::json!({"authority_document": document,
                        "authority_valid_until": valid_until}),
                    },
                )?;
                tx.person(id)?
                    .ok_or_else(|| Error::internal("the person vanished"))
            })
        })
    }
}
