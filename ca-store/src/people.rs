//! Organisations and their authorised persons (SPEC §2, §4 operator API).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use ca_core::api::{self, NewOrganization, NewPerson};
use ca_core::records::PersonRecord;
use ca_core::subject::SubjectSpec;
use ca_core::{Error, Result};

use crate::audit::{self, Event, Outcome};
use crate::clock::{dt, ts};
use crate::db::{db_error, AnyConnection};
use crate::models::{OrgRow, PersonRow};
use crate::schema::{organizations, persons};
use crate::Registry;

pub(crate) const ACTIVE: &str = "active";
pub(crate) const TERMINATED: &str = "terminated";

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
    if value.trim().is_empty() || value.chars().count() > 256 {
        Err(Error::invalid(format!(
            "{field} must be 1 to 256 characters"
        )))
    } else {
        Ok(())
    }
}

/// The subject a person's certificates carry: built from the registration.
/// ИНН stays out of it: OpenSSL 3.0's `req -subj` drops the INNLE attribute
/// (1.2.643.100.4) it does not know, so client software built on it could
/// not produce the subject we would expect; ОГРН already names the client.
pub(crate) fn subject_of(person: &PersonRow, org: &OrgRow) -> SubjectSpec {
    SubjectSpec {
        country: Some("RU".into()),
        organization: Some(org.name.clone()),
        organizational_unit: None,
        ogrn: Some(org.ogrn.clone()),
        inn: None,
        title: Some(person.position.clone()),
        common_name: person.full_name.clone(),
    }
}

pub(crate) fn org_view(r: OrgRow) -> api::Organization {
    api::Organization {
        id: r.id,
        name: r.name,
        inn: r.inn,
        ogrn: r.ogrn,
        agreement_number: r.agreement_number,
        status: r.status,
        webhook_url: r.webhook_url,
        created_at: dt(r.created_at),
    }
}

pub(crate) fn person_view(p: PersonRow, o: &OrgRow) -> api::Person {
    let expected_subject = subject_of(&p, o).rfc4514();
    api::Person {
        id: p.id,
        organization_id: p.organization_id,
        full_name: p.full_name,
        position: p.position,
        email: p.email,
        authority_document: p.authority_document,
        authority_valid_until: dt(p.authority_valid_until),
        status: p.status,
        registered_at: dt(p.registered_at),
        expected_subject,
    }
}

/// A person with their organisation.
pub(crate) fn load_person(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(PersonRow, OrgRow)>> {
    persons::table
        .inner_join(organizations::table)
        .filter(persons::id.eq(id))
        .select((PersonRow::as_select(), OrgRow::as_select()))
        .first(conn)
        .optional()
        .map_err(db_error)
}

/// The rules' view of a person.
pub(crate) fn person_record(p: &PersonRow, o: &OrgRow) -> PersonRecord {
    PersonRecord {
        id: p.id.clone(),
        active: p.status == ACTIVE,
        organization_active: o.status == ACTIVE,
        authority_valid_until: dt(p.authority_valid_until),
        registered_at: dt(p.registered_at),
        subject: subject_of(p, o),
    }
}

impl Registry {
    /// Registers an organisation.
    pub fn register_organization(
        &self,
        actor: &str,
        new: NewOrganization,
    ) -> Result<api::Organization> {
        non_empty("name", &new.name)?;
        non_empty("agreement_number", &new.agreement_number)?;
        digits("inn", &new.inn, &[10])?;
        digits("ogrn", &new.ogrn, &[13])?;
        if let Some(url) = &new.webhook_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::invalid("webhook_url must be an http(s) URL"));
            }
        }
        let now = ts(self.now());
        let row = OrgRow {
            id: ca_core::random_id(),
            name: new.name.trim().to_string(),
            inn: new.inn,
            ogrn: new.ogrn,
            agreement_number: new.agreement_number,
            status: ACTIVE.into(),
            webhook_url: new.webhook_url,
            created_at: now,
            terminated_at: None,
            terminated_document: None,
        };
        self.write(|c| {
            diesel::insert_into(organizations::table).values(&row).execute(c).map_err(db_error)?;
            audit::append(c, now, Event {
                actor,
                action: "organization.register",
                object: format!("organization:{}", row.id),
                outcome: Outcome::Ok,
                reasons: vec![],
                details: serde_json::json!({"name": row.name, "inn": row.inn, "agreement": row.agreement_number}),
            })?;
            Ok(())
        })?;
        Ok(org_view(row))
    }

    /// All organisations.
    pub fn organizations(&self) -> Result<Vec<api::Organization>> {
        self.read(|c| {
            let rows: Vec<OrgRow> = organizations::table
                .order(organizations::created_at.asc())
                .select(OrgRow::as_select())
                .load(c)
                .map_err(db_error)?;
            Ok(rows.into_iter().map(org_view).collect())
        })
    }

    /// One organisation.
    pub fn organization(&self, id: &str) -> Result<api::Organization> {
        self.read(|c| {
            organizations::table
                .find(id)
                .select(OrgRow::as_select())
                .first(c)
                .optional()
                .map_err(db_error)?
                .map(org_view)
                .ok_or_else(|| Error::not_found(format!("no organisation {id}")))
        })
    }

    /// Registers an authorised person of an active organisation.
    pub fn register_person(&self, actor: &str, new: NewPerson) -> Result<api::Person> {
        non_empty("full_name", &new.full_name)?;
        non_empty("position", &new.position)?;
        non_empty("authority_document", &new.authority_document)?;
        if !new.email.contains('@') {
            return Err(Error::invalid("email must be an e-mail address"));
        }
        let now = self.now();
        if new.authority_valid_until <= now {
            return Err(Error::invalid(
                "authority_valid_until must be in the future",
            ));
        }
        self.write(|c| {
            let org: OrgRow = organizations::table
                .find(&new.organization_id)
                .select(OrgRow::as_select())
                .first(c)
                .optional()
                .map_err(db_error)?
                .ok_or_else(|| Error::not_found(format!("no organisation {}", new.organization_id)))?;
            if org.status != ACTIVE {
                return Err(Error::wrong_state("the organisation's agreement has been terminated"));
            }
            let row = PersonRow {
                id: ca_core::random_id(),
                organization_id: org.id.clone(),
                full_name: new.full_name.split_whitespace().collect::<Vec<_>>().join(" "),
                position: new.position.trim().to_string(),
                email: new.email.trim().to_string(),
                authority_document: new.authority_document.trim().to_string(),
                authority_valid_until: ts(new.authority_valid_until),
                registered_at: ts(now),
                status: ACTIVE.into(),
                terminated_at: None,
                terminated_document: None,
            };
            subject_of(&row, &org).validate().map_err(|e| Error::invalid(e.message().to_string()))?;
            diesel::insert_into(persons::table).values(&row).execute(c).map_err(db_error)?;
            audit::append(c, ts(now), Event {
                actor,
                action: "person.register",
                object: format!("person:{}", row.id),
                outcome: Outcome::Ok,
                reasons: vec![],
                details: serde_json::json!({"organization": org.id, "authority_document": row.authority_document,
                    "authority_valid_until": new.authority_valid_until}),
            })?;
            Ok(person_view(row, &org))
        })
    }

    /// One person.
    pub fn person(&self, id: &str) -> Result<api::Person> {
        self.read(|c| {
            let (p, o) =
                load_person(c, id)?.ok_or_else(|| Error::not_found(format!("no person {id}")))?;
            Ok(person_view(p, &o))
        })
    }

    /// Persons, optionally of one organisation.
    pub fn persons(&self, organization_id: Option<&str>) -> Result<Vec<api::Person>> {
        self.read(|c| {
            let mut q = persons::table
                .inner_join(organizations::table)
                .select((PersonRow::as_select(), OrgRow::as_select()))
                .order(persons::registered_at.asc())
                .into_boxed();
            if let Some(org) = organization_id {
                q = q.filter(persons::organization_id.eq(org.to_string()));
            }
            let rows: Vec<(PersonRow, OrgRow)> = q.load(c).map_err(db_error)?;
            Ok(rows.into_iter().map(|(p, o)| person_view(p, &o)).collect())
        })
    }

    /// Extends or replaces a person's power of attorney.
    pub fn update_authority(
        &self,
        actor: &str,
        id: &str,
        document: &str,
        valid_until: DateTime<Utc>,
    ) -> Result<api::Person> {
        non_empty("authority_document", document)?;
        let now = self.now();
        if valid_until <= now {
            return Err(Error::invalid(
                "authority_valid_until must be in the future",
            ));
        }
        self.write(|c| {
            let (mut p, o) = load_person(c, id)?.ok_or_else(|| Error::not_found(format!("no person {id}")))?;
            if p.status != ACTIVE {
                return Err(Error::wrong_state("the person's authority has been terminated"));
            }
            diesel::update(persons::table.find(id))
                .set((persons::authority_document.eq(document), persons::authority_valid_until.eq(ts(valid_until))))
                .execute(c)
                .map_err(db_error)?;
            audit::append(c, ts(now), Event {
                actor,
                action: "person.authority",
                object: format!("person:{id}"),
                outcome: Outcome::Ok,
                reasons: vec![],
                details: serde_json::json!({"authority_document": document, "authority_valid_until": valid_until}),
            })?;
            p.authority_document = document.to_string();
            p.authority_valid_until = ts(valid_until);
            Ok(person_view(p, &o))
        })
    }
}
