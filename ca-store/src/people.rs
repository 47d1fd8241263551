//! The `organizations` and `persons` tables (SPEC §2, §4 operator API).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use ca_core::records::{OrganizationRecord, Registration};
use ca_core::Result;

use crate::db::db_error;
use crate::mapping::{self, ts, ACTIVE, TERMINATED};
use crate::models::{OrgRow, PersonRow};
use crate::schema::{organizations, persons};
use crate::Tx;

/// An organisation to record (validated by the caller).
#[derive(Clone, Debug)]
pub struct NewOrganization<'a> {
    /// Id.
    pub id: &'a str,
    /// Name.
    pub name: &'a str,
    /// ИНН.
    pub inn: &'a str,
    /// ОГРН.
    pub ogrn: &'a str,
    /// Agreement number.
    pub agreement_number: &'a str,
    /// Webhook for notifications.
    pub webhook_url: Option<&'a str>,
    /// Address that gets a copy of its persons' mail.
    pub contact_email: Option<&'a str>,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// A person to record (validated by the caller).
#[derive(Clone, Debug)]
pub struct NewPerson<'a> {
    /// Id.
    pub id: &'a str,
    /// Organisation.
    pub organization_id: &'a str,
    /// Full name.
    pub full_name: &'a str,
    /// Position.
    pub position: &'a str,
    /// Contact address.
    pub email: &'a str,
    /// Power of attorney.
    pub authority_document: &'a str,
    /// Its end.
    pub authority_valid_until: DateTime<Utc>,
    /// Now.
    pub registered_at: DateTime<Utc>,
}

impl Tx<'_> {
    /// Records an organisation (active).
    pub fn insert_organization(&mut self, o: &NewOrganization<'_>) -> Result<OrganizationRecord> {
        let row = OrgRow {
            id: o.id.to_string(),
            name: o.name.to_string(),
            inn: o.inn.to_string(),
            ogrn: o.ogrn.to_string(),
            agreement_number: o.agreement_number.to_string(),
            status: ACTIVE.into(),
            webhook_url: o.webhook_url.map(str::to_string),
            created_at: ts(o.created_at),
            terminated_at: None,
            terminated_document: None,
            contact_email: o.contact_email.map(str::to_string),
        };
        diesel::insert_into(organizations::table)
            .values(&row)
            .execute(self.c)
            .map_err(db_error)?;
        Ok(mapping::organization(&row))
    }

    /// One organisation.
    pub fn organization(&mut self, id: &str) -> Result<Option<OrganizationRecord>> {
        let row: Option<OrgRow> = organizations::table
            .find(id)
            .select(OrgRow::as_select())
            .first(self.c)
            .optional()
            .map_err(db_error)?;
        Ok(row.as_ref().map(mapping::organization))
    }

    /// All organisations, oldest first.
    pub fn organizations(&mut self) -> Result<Vec<OrganizationRecord>> {
        let rows: Vec<OrgRow> = organizations::table
            .order(organizations::created_at.asc())
            .select(OrgRow::as_select())
            .load(self.c)
            .map_err(db_error)?;
        Ok(rows.iter().map(mapping::organization).collect())
    }

    /// Records a person (authorised).
    pub fn insert_person(&mut self, p: &NewPerson<'_>) -> Result<()> {
        diesel::insert_into(persons::table)
            .values(PersonRow {
                id: p.id.to_string(),
                organization_id: p.organization_id.to_string(),
                full_name: p.full_name.to_string(),
                position: p.position.to_string(),
                email: p.email.to_string(),
                authority_document: p.authority_document.to_string(),
                authority_valid_until: ts(p.authority_valid_until),
                registered_at: ts(p.registered_at),
                status: ACTIVE.into(),
                terminated_at: None,
                terminated_document: None,
            })
            .execute(self.c)
            .map_err(db_error)?;
        Ok(())
    }

    /// A person's registration.
    pub fn person(&mut self, id: &str) -> Result<Option<Registration>> {
        let row: Option<(PersonRow, OrgRow)> = persons::table
            .inner_join(organizations::table)
            .filter(persons::id.eq(id))
            .select((PersonRow::as_select(), OrgRow::as_select()))
            .first(self.c)
            .optional()
            .map_err(db_error)?;
        Ok(row.map(|(p, o)| mapping::registration(&p, &o)))
    }

    /// Persons, optionally of one organisation, oldest first.
    pub fn persons(&mut self, organization_id: Option<&str>) -> Result<Vec<Registration>> {
        let mut q = persons::table
            .inner_join(organizations::table)
            .select((PersonRow::as_select(), OrgRow::as_select()))
            .order(persons::registered_at.asc())
            .into_boxed();
        if let Some(org) = organization_id {
            q = q.filter(persons::organization_id.eq(org.to_string()));
        }
        let rows: Vec<(PersonRow, OrgRow)> = q.load(self.c).map_err(db_error)?;
        Ok(rows
            .iter()
            .map(|(p, o)| mapping::registration(p, o))
            .collect())
    }

    /// Persons registered under this full name (compared case-blind, as
    /// stored: whitespace normalised).
    pub fn persons_named(&mut self, full_name: &str) -> Result<Vec<Registration>> {
        let wanted = full_name.to_lowercase();
        Ok(self
            .persons(None)?
            .into_iter()
            .filter(|r| r.full_name.to_lowercase() == wanted)
            .collect())
    }

    /// Ids of an organisation's persons.
    pub fn person_ids_of(&mut self, organization_id: &str) -> Result<Vec<String>> {
        persons::table
            .filter(persons::organization_id.eq(organization_id))
            .select(persons::id)
            .load(self.c)
            .map_err(db_error)
    }

    /// Replaces a person's power of attorney.
    pub fn set_authority(
        &mut self,
        id: &str,
        document: &str,
        valid_until: DateTime<Utc>,
    ) -> Result<()> {
        diesel::update(persons::table.find(id))
            .set((
                persons::authority_document.eq(document),
                persons::authority_valid_until.eq(ts(valid_until)),
            ))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(())
    }

    /// Compare-and-set: an authorised person's authority ends. False when
    /// it had ended already.
    pub fn terminate_person(
        &mut self,
        id: &str,
        at: DateTime<Utc>,
        document: &str,
    ) -> Result<bool> {
        let n = diesel::update(persons::table.find(id).filter(persons::status.eq(ACTIVE)))
            .set((
                persons::status.eq(TERMINATED),
                persons::terminated_at.eq(Some(ts(at))),
                persons::terminated_document.eq(Some(document)),
            ))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(n == 1)
    }

    /// Compare-and-set: an active agreement ends. False when it had ended.
    pub fn terminate_organization(
        &mut self,
        id: &str,
        at: DateTime<Utc>,
        document: &str,
    ) -> Result<bool> {
        let n = diesel::update(
            organizations::table
                .find(id)
                .filter(organizations::status.eq(ACTIVE)),
        )
        .set((
            organizations::status.eq(TERMINATED),
            organizations::terminated_at.eq(Some(ts(at))),
            organizations::terminated_document.eq(Some(document)),
        ))
        .execute(self.c)
        .map_err(db_error)?;
        Ok(n == 1)
    }
}
