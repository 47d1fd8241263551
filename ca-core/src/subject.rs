//! Subject names: built from the registration (SPEC §3.2: certificates are
//! built from the registration data, not copied from the request), printed as
//! RFC 4514 strings, and compared with what a request asks for.

use der::asn1::{
    Any, BmpString, Ia5StringRef, ObjectIdentifier, PrintableStringRef, SetOfVec, Utf8StringRef,
};
use der::{Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use crate::error::{Error, ErrorKind, Result};
use crate::oids;

/// The subject of a person's certificates, from the registration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SubjectSpec {
    /// countryName, two letters (PrintableString).
    pub country: Option<String>,
    /// The organisation's name.
    pub organization: Option<String>,
    /// organizationalUnitName, if the bank uses one.
    pub organizational_unit: Option<String>,
    /// ОГРН of the organisation (NumericString).
    pub ogrn: Option<String>,
    /// ИНН of the organisation (NumericString).
    pub inn: Option<String>,
    /// The person's position (title).
    pub title: Option<String>,
    /// The person's full name.
    pub common_name: String,
}

/// How an attribute's value is written.
#[derive(Clone, Copy)]
enum StringKind {
    Printable,
    Numeric,
    Utf8,
}

impl SubjectSpec {
    /// The subject a person's certificates carry, built from the
    /// registration (SPEC §3.2: certificates are built from the registration
    /// data, not copied from the request). ИНН stays out of it: OpenSSL 3.0's
    /// `req -subj` drops the INNLE attribute (1.2.643.100.4) it does not
    /// know, so client software built on it could not produce the subject we
    /// would expect; ОГРН already names the client.
    pub fn for_registration(
        organization_name: &str,
        ogrn: &str,
        position: &str,
        full_name: &str,
    ) -> SubjectSpec {
        SubjectSpec {
            country: Some("RU".into()),
            organization: Some(organization_name.to_string()),
            organizational_unit: None,
            ogrn: Some(ogrn.to_string()),
            inn: None,
            title: Some(position.to_string()),
            common_name: full_name.to_string(),
        }
    }

    /// (OID, RFC 4514 descriptor, value, encoding), most general first: the
    /// order of the encoded RDNSequence.
    fn attributes(&self) -> Vec<(ObjectIdentifier, &'static str, &str, StringKind)> {
        let optional = [
            (oids::COUNTRY, "C", &self.country, StringKind::Printable),
            (
                oids::ORGANIZATION,
                "O",
                &self.organization,
                StringKind::Utf8,
            ),
            (
                oids::ORGANIZATIONAL_UNIT,
                "OU",
                &self.organizational_unit,
                StringKind::Utf8,
            ),
            (oids::OGRN, "OGRN", &self.ogrn, StringKind::Numeric),
            (oids::INN_LE, "INNLE", &self.inn, StringKind::Numeric),
            (oids::TITLE, "title", &self.title, StringKind::Utf8),
        ];
        let mut out: Vec<_> = optional
            .into_iter()
            .filter_map(|(oid, name, value, kind)| value.as_deref().map(|v| (oid, name, v, kind)))
            .collect();
        out.push((
            oids::COMMON_NAME,
            "CN",
            self.common_name.as_str(),
            StringKind::Utf8,
        ));
        out
    }

    /// Checks the values fit their ASN.1 string types and X.520 upper bounds.
    pub fn validate(&self) -> Result<()> {
        let invalid = |m: String| Error::new(ErrorKind::Refused, m);
        for (_, name, value, kind) in self.attributes() {
            if value.trim().is_empty() {
                return Err(invalid(format!("{name} is empty")));
            }
            if value.chars().count() > 128 {
                return Err(invalid(format!("{name} is longer than 128 characters")));
            }
            let ok = match kind {
                StringKind::Printable => {
                    value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase())
                }
                StringKind::Numeric => value.bytes().all(|b| b.is_ascii_digit()),
                StringKind::Utf8 => !value.chars().any(char::is_control),
            };
            if !ok {
                return Err(invalid(format!(
                    "{name} {value:?} has characters it may not hold"
                )));
            }
        }
        Ok(())
    }

    /// The X.501 Name, one attribute per RDN; Cyrillic as UTF8String.
    pub fn to_name(&self) -> Result<Name> {
        self.validate()?;
        let mut rdns = Vec::new();
        for (oid, _, value, kind) in self.attributes() {
            let encoding_error = |e: der::Error| Error::internal(format!("subject: {e}"));
            let value = match kind {
                StringKind::Printable => {
                    Any::encode_from(&PrintableStringRef::new(value).map_err(encoding_error)?)
                }
                StringKind::Numeric => Any::new(Tag::NumericString, value.as_bytes()),
                StringKind::Utf8 => {
                    Any::encode_from(&Utf8StringRef::new(value).map_err(encoding_error)?)
                }
            }
            .map_err(encoding_error)?;
            let atv = AttributeTypeAndValue { oid, value };
            let set = SetOfVec::try_from(vec![atv]).map_err(encoding_error)?;
            rdns.push(RelativeDistinguishedName(set));
        }
        Ok(RdnSequence(rdns))
    }

    /// The RFC 4514 string of the subject (most specific first), e.g.
    /// `CN=Иванов Иван Иванович,title=Директор,O=ООО "Ромашка",C=RU`.
    /// ОГРН and ИНН use the descriptors `OGRN` and `INNLE`.
    pub fn rfc4514(&self) -> String {
        self.attributes()
            .iter()
            .rev()
            .map(|(_, name, value, _)| format!("{name}={}", escape_rfc4514(value)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Escapes an attribute value as RFC 4514 §2.4 requires.
fn escape_rfc4514(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
    out
}

/// The text of a directory string value, whichever string type carries it.
pub fn attribute_text(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String => value
            .decode_as::<Utf8StringRef<'_>>()
            .ok()
            .map(|s| s.to_string()),
        Tag::PrintableString => value
            .decode_as::<PrintableStringRef<'_>>()
            .ok()
            .map(|s| s.to_string()),
        Tag::Ia5String => value
            .decode_as::<Ia5StringRef<'_>>()
            .ok()
            .map(|s| s.to_string()),
        Tag::BmpString => value.decode_as::<BmpString>().ok().map(|s| s.to_string()),
        Tag::NumericString => std::str::from_utf8(value.value()).ok().map(str::to_string),
        _ => None,
    }
}

/// Case-folded, with runs of white space collapsed: the comparison RFC 4518
/// string preparation approximates for the directory strings we issue.
fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The attributes of a name as sorted (OID, normalised text) pairs; `None`
/// when a value is not a string we can read.
fn comparable(name: &Name) -> Option<Vec<(ObjectIdentifier, String)>> {
    let mut out = Vec::new();
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            out.push((atv.oid, normalize(&attribute_text(&atv.value)?)));
        }
    }
    out.sort();
    Some(out)
}

/// True when two names hold the same attributes with the same values, ignoring
/// string type, letter case, surrounding and repeated white space, and the
/// order of RDNs (SPEC §3.2 `subject_mismatch`).
pub fn names_match(a: &Name, b: &Name) -> bool {
    match (comparable(a), comparable(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Decode, Encode};
    use std::str::FromStr;

    fn person() -> SubjectSpec {
        SubjectSpec {
            country: Some("RU".into()),
            organization: Some("ООО \"Ромашка\"".into()),
            ogrn: Some("1027700132195".into()),
            inn: Some("7701234567".into()),
            title: Some("Генеральный директор".into()),
            common_name: "Иванов Иван Иванович".into(),
            ..SubjectSpec::default()
        }
    }

    #[test]
    fn cyrillic_name_encodes_as_utf8_and_round_trips() {
        let name = person().to_name().unwrap();
        let der = name.to_der().unwrap();
        let back = Name::from_der(&der).unwrap();
        assert_eq!(back, name);
        let cn = back.0.last().unwrap().0.iter().next().unwrap();
        assert_eq!(cn.value.tag(), Tag::Utf8String);
        assert_eq!(attribute_text(&cn.value).unwrap(), "Иванов Иван Иванович");
    }

    #[test]
    fn rfc4514_is_most_specific_first_and_escaped() {
        assert_eq!(
            person().rfc4514(),
            "CN=Иванов Иван Иванович,title=Генеральный директор,INNLE=7701234567,\
             OGRN=1027700132195,O=ООО \\\"Ромашка\\\",C=RU"
        );
        assert_eq!(escape_rfc4514(" a,b "), "\\ a\\,b\\ ");
    }

    #[test]
    fn matching_ignores_case_space_and_string_type_but_not_values() {
        let ours = SubjectSpec {
            organization: None,
            ogrn: None,
            inn: None,
            ..person()
        }
        .to_name()
        .unwrap();
        // What `openssl req -subj` makes: same values, PrintableString/UTF8 mix.
        let theirs =
            Name::from_str("CN=иванов  иван иванович,title=Генеральный директор,C=RU").unwrap();
        assert!(names_match(&ours, &theirs));
        let other = Name::from_str("CN=Петров Пётр,title=Генеральный директор,C=RU").unwrap();
        assert!(!names_match(&ours, &other));
        let extra =
            Name::from_str("CN=Иванов Иван Иванович,title=Генеральный директор,O=X,C=RU").unwrap();
        assert!(!names_match(&ours, &extra));
    }

    #[test]
    fn invalid_values_are_refused() {
        let mut bad = person();
        bad.ogrn = Some("10277OO".into());
        assert!(bad.validate().is_err());
        let mut bad = person();
        bad.country = Some("Russia".into());
        assert!(bad.to_name().is_err());
        let mut bad = person();
        bad.common_name = "  ".into();
        assert!(bad.validate().is_err());
    }
}
