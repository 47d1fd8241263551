//! The papers a registration desk prints (issue 13; 003 1.76.2, 1.77.3):
//! the acceptance act of a key (Приложение № 8 / 8.1) and the paper copy of
//! a certificate (Приложение № 21). Each is built once as a [`Document`]
//! — Russian labels, the subject attribute by attribute, times in the
//! bank's time zone, the key as grouped hex — and rendered as HTML
//! ([`html`]) or PDF ([`pdf`]), so the two never say different things.

pub mod html;
pub mod pdf;

use chrono::{DateTime, FixedOffset, Utc};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::{CertificatePolicies, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

use ca_authority::{ActData, CopyData};
use ca_core::keys::PublicKey;
use ca_core::oids;
use ca_core::subject::attribute_text;
use ca_core::{Error, Result};

/// A printable document: what both renderers draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// The form it follows, printed top right ("Приложение № 8.1 …").
    pub form: String,
    /// The heading.
    pub title: String,
    /// A line under the heading (the CA, the request or serial).
    pub subtitle: String,
    /// Labelled values, in groups.
    pub sections: Vec<Section>,
    /// Who signs, each on a line of their own.
    pub signatures: Vec<Signature>,
    /// The small print at the bottom.
    pub footer: String,
}

/// A group of labelled values, optionally ending with a block of
/// fixed-width lines (the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The group's heading.
    pub heading: String,
    /// (label, value) rows.
    pub rows: Vec<(String, String)>,
    /// Fixed-width lines after the rows.
    pub block: Vec<String>,
}

/// A signature line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Who signs ("Владелец сертификата").
    pub role: String,
    /// The name printed under the line, when known.
    pub name: String,
    /// "М.П." where a seal goes.
    pub seal: bool,
}

/// The CA's name for people: its common name, or the whole subject.
pub fn ca_name(ca: &Certificate) -> String {
    let subject = &ca.tbs_certificate.subject;
    subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == oids::COMMON_NAME)
        .and_then(|atv| attribute_text(&atv.value))
        .unwrap_or_else(|| subject.to_string())
}

/// A time as the bank's calendar shows it: `24.11.2026 10:30:00 (UTC+03:00)`.
pub fn local_time(t: DateTime<Utc>, offset: FixedOffset) -> String {
    t.with_timezone(&offset)
        .format("%d.%m.%Y %H:%M:%S (UTC%:z)")
        .to_string()
}

/// Hex in upper-case pairs, `per_line` octets a line, as the regulation's
/// appendices print a key.
pub fn hex_lines(bytes: &[u8], per_line: usize) -> Vec<String> {
    bytes
        .chunks(per_line)
        .map(|line| {
            line.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// A SHA-256 fingerprint in groups of four hex digits, easy to read aloud.
pub fn fingerprint(hex: &str) -> String {
    hex.to_uppercase()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The Russian label of a name attribute; `None` for one we do not know.
fn attribute_label(oid: &der::asn1::ObjectIdentifier) -> Option<&'static str> {
    Some(match oid.to_string().as_str() {
        "2.5.4.3" => "Общее имя",
        "2.5.4.4" => "Фамилия",
        "2.5.4.42" => "Имя и отчество",
        "2.5.4.12" => "Должность",
        "2.5.4.10" => "Организация",
        "2.5.4.11" => "Подразделение",
        "2.5.4.6" => "Страна",
        "2.5.4.8" => "Субъект Российской Федерации",
        "2.5.4.7" => "Населённый пункт",
        "2.5.4.9" => "Адрес",
        "2.5.4.5" => "Серийный номер",
        "1.2.840.113549.1.9.1" => "Адрес электронной почты",
        "1.2.643.100.1" => "ОГРН",
        "1.2.643.100.5" => "ОГРНИП",
        "1.2.643.100.3" => "СНИЛС",
        "1.2.643.100.4" => "ИНН юридического лица",
        "1.2.643.3.131.1.1" => "ИНН",
        _ => return None,
    })
}

/// A name spelled out attribute by attribute, in the order it is encoded
/// (most general first), each value as text. An attribute this list does
/// not know keeps its OID as the label, so nothing is hidden.
pub fn spelled_out(name: &Name) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            let label = attribute_label(&atv.oid)
                .map(str::to_string)
                .unwrap_or_else(|| format!("Атрибут {}", atv.oid));
            let value = attribute_text(&atv.value).unwrap_or_else(|| {
                // Not a string type: its encoding, which is all there is.
                format!(
                    "#{}",
                    hex::encode(atv.value.to_der().unwrap_or_default()).to_uppercase()
                )
            });
            rows.push((label, value));
        }
    }
    rows
}

/// "RSA, 2048 бит" / "ECDSA, кривая P-256 (256 бит)".
fn key_description(spki: &SubjectPublicKeyInfoOwned) -> String {
    match PublicKey::from_spki(spki).map(|k| k.algorithm()) {
        Ok(ca_core::keys::KeyAlgorithm::Rsa { bits }) => format!("RSA, {bits} бит"),
        Ok(ca_core::keys::KeyAlgorithm::EcP256) => "ECDSA, кривая P-256, 256 бит".into(),
        Ok(ca_core::keys::KeyAlgorithm::EcP384) => "ECDSA, кривая P-384, 384 бит".into(),
        Err(_) => format!("алгоритм {}", spki.algorithm.oid),
    }
}

fn signature_algorithm(oid: &der::asn1::ObjectIdentifier) -> String {
    match *oid {
        oids::SHA256_WITH_RSA => "RSA с хэш-функцией SHA-256".into(),
        oids::SHA384_WITH_RSA => "RSA с хэш-функцией SHA-384".into(),
        oids::SHA512_WITH_RSA => "RSA с хэш-функцией SHA-512".into(),
        oids::ECDSA_WITH_SHA256 => "ECDSA с хэш-функцией SHA-256".into(),
        oids::ECDSA_WITH_SHA384 => "ECDSA с хэш-функцией SHA-384".into(),
        oids::ECDSA_WITH_SHA512 => "ECDSA с хэш-функцией SHA-512".into(),
        other => format!("алгоритм {other}"),
    }
}

fn key_usage(ku: &KeyUsage) -> String {
    [
        (KeyUsages::DigitalSignature, "электронная подпись"),
        (KeyUsages::NonRepudiation, "неотрекаемость"),
        (KeyUsages::KeyEncipherment, "шифрование ключей"),
        (KeyUsages::DataEncipherment, "шифрование данных"),
        (KeyUsages::KeyAgreement, "согласование ключей"),
        (KeyUsages::KeyCertSign, "подпись сертификатов"),
        (
            KeyUsages::CRLSign,
            "подпись списков отозванных сертификатов",
        ),
    ]
    .into_iter()
    .filter(|(bit, _)| ku.0.contains(*bit))
    .map(|(_, text)| text)
    .collect::<Vec<_>>()
    .join(", ")
}

fn extended_key_usage(eku: &ExtendedKeyUsage) -> String {
    eku.0
        .iter()
        .map(|oid| match oid.to_string().as_str() {
            "1.3.6.1.5.5.7.3.2" => "проверка подлинности клиента".to_string(),
            "1.3.6.1.5.5.7.3.4" => "защищённая электронная почта".to_string(),
            "1.3.6.1.5.5.7.3.1" => "проверка подлинности сервера".to_string(),
            "1.3.6.1.5.5.7.3.9" => "подпись ответов OCSP".to_string(),
            other => format!("назначение {other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn owner_signature(
    person: Option<&(
        ca_core::records::Registration,
        ca_core::records::OrganizationRecord,
    )>,
) -> Signature {
    Signature {
        role: "Владелец сертификата (уполномоченное лицо Клиента)".into(),
        name: person.map(|(p, _)| p.full_name.clone()).unwrap_or_default(),
        seal: true,
    }
}

fn bank_signature() -> Signature {
    Signature {
        role: "Уполномоченное лицо Банка".into(),
        name: String::new(),
        seal: true,
    }
}

fn organization_section(
    person: Option<&(
        ca_core::records::Registration,
        ca_core::records::OrganizationRecord,
    )>,
) -> Option<Section> {
    person.map(|(p, o)| Section {
        heading: "Клиент".into(),
        rows: vec![
            ("Организация".into(), o.name.clone()),
            ("ИНН".into(), o.inn.clone()),
            ("ОГРН".into(), o.ogrn.clone()),
            ("Соглашение".into(), format!("№ {}", o.agreement_number)),
            ("Уполномоченное лицо".into(), p.full_name.clone()),
            ("Должность".into(), p.position.clone()),
        ],
        block: vec![],
    })
}

/// The acceptance act of a request's key (Приложение № 8 / 8.1).
pub fn acceptance_act(act: &ActData, ca_name: &str, offset: FixedOffset) -> Result<Document> {
    let spki = SubjectPublicKeyInfoOwned::from_der(&act.public_key_der)
        .map_err(|e| Error::internal(e.to_string()))?;
    let mut sections = Vec::new();
    sections.extend(organization_section(act.person.as_ref()));
    sections.push(Section {
        heading: "Владелец ключа (как в запросе на сертификат)".into(),
        rows: spelled_out(&act.subject_name),
        block: vec![],
    });
    sections.push(Section {
        heading: "Ключ проверки электронной подписи".into(),
        rows: vec![
            ("Запрос".into(), act.request.id.clone()),
            (
                "Запрос получен".into(),
                local_time(act.request.received_at, offset),
            ),
            ("Алгоритм и длина ключа".into(), key_description(&spki)),
            (
                "Отпечаток ключа (SHA-256)".into(),
                fingerprint(&act.request.key_sha256),
            ),
        ],
        block: hex_lines(spki.subject_public_key.raw_bytes(), 16),
    });
    Ok(Document {
        form: "Приложение № 8.1 к Правилам".into(),
        title: "Акт признания ключа проверки электронной подписи".into(),
        subtitle: ca_name.to_string(),
        sections,
        signatures: vec![owner_signature(act.person.as_ref()), bank_signature()],
        footer: "Составляется в двух экземплярах: по одному для Клиента и для Банка. \
                 Подписывая акт, владелец подтверждает, что приведённый ключ проверки \
                 электронной подписи соответствует его ключу электронной подписи."
            .into(),
    })
}

/// The paper copy of a certificate (Приложение № 21).
pub fn certificate_copy(copy: &CopyData, offset: FixedOffset) -> Result<Document> {
    let cert = Certificate::from_der(&copy.der).map_err(|e| Error::internal(e.to_string()))?;
    let tbs = &cert.tbs_certificate;
    let spki = &tbs.subject_public_key_info;
    let spki_der = spki.to_der().map_err(|e| Error::internal(e.to_string()))?;
    let mut details = vec![
        (
            "Серийный номер".into(),
            hex::encode(tbs.serial_number.as_bytes()),
        ),
        ("Версия".into(), "3".into()),
        (
            "Действителен с".into(),
            local_time(
                DateTime::<Utc>::from(tbs.validity.not_before.to_system_time()),
                offset,
            ),
        ),
        (
            "Действителен по".into(),
            local_time(
                DateTime::<Utc>::from(tbs.validity.not_after.to_system_time()),
                offset,
            ),
        ),
        (
            "Алгоритм подписи".into(),
            signature_algorithm(&cert.signature_algorithm.oid),
        ),
    ];
    for ext in tbs.extensions.iter().flatten() {
        let value = ext.extn_value.as_bytes();
        match ext.extn_id {
            oids::KEY_USAGE => {
                if let Ok(ku) = KeyUsage::from_der(value) {
                    details.push(("Использование ключа".into(), key_usage(&ku)));
                }
            }
            oids::EXT_KEY_USAGE => {
                if let Ok(eku) = ExtendedKeyUsage::from_der(value) {
                    details.push(("Назначение".into(), extended_key_usage(&eku)));
                }
            }
            oids::CERTIFICATE_POLICIES => {
                if let Ok(p) = CertificatePolicies::from_der(value) {
                    let list =
                        p.0.iter()
                            .map(|i| i.policy_identifier.to_string())
                            .collect::<Vec<_>>()
                            .join(", ");
                    details.push(("Политика сертификата (OID)".into(), list));
                }
            }
            _ => {}
        }
    }
    details.push((
        "Отпечаток сертификата (SHA-256)".into(),
        fingerprint(&hex::encode(Sha256::digest(&copy.der))),
    ));
    let mut sections = Vec::new();
    sections.push(Section {
        heading: "Сертификат".into(),
        rows: details,
        block: vec![],
    });
    sections.push(Section {
        heading: "Владелец сертификата".into(),
        rows: spelled_out(&tbs.subject),
        block: vec![],
    });
    sections.extend(organization_section(copy.person.as_ref()));
    sections.push(Section {
        heading: "Ключ проверки электронной подписи".into(),
        rows: vec![
            ("Алгоритм и длина ключа".into(), key_description(spki)),
            (
                "Отпечаток ключа (SHA-256)".into(),
                fingerprint(&hex::encode(Sha256::digest(&spki_der))),
            ),
        ],
        block: hex_lines(spki.subject_public_key.raw_bytes(), 16),
    });
    sections.push(Section {
        heading: "Издатель (удостоверяющий центр)".into(),
        rows: spelled_out(&tbs.issuer),
        block: vec![],
    });
    Ok(Document {
        form: "Приложение № 21 к Правилам".into(),
        title: "Копия сертификата ключа проверки электронной подписи на бумажном носителе".into(),
        subtitle: format!(
            "Серийный номер {}",
            hex::encode(tbs.serial_number.as_bytes())
        ),
        sections,
        signatures: vec![owner_signature(copy.person.as_ref()), bank_signature()],
        footer: "Составляется в двух экземплярах. Подпись владельца подтверждает \
                 получение сертификата и согласие с приведёнными в нём сведениями."
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_keys_are_grouped_for_reading() {
        assert_eq!(fingerprint("00ff11ee22"), "00FF 11EE 22");
        assert_eq!(
            hex_lines(&[0x30, 0x82, 0x01, 0x0a, 0xff], 2),
            vec!["30 82", "01 0A", "FF"]
        );
    }

    #[test]
    fn times_are_in_the_calendars_zone() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T07:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let msk = FixedOffset::east_opt(3 * 3600).unwrap();
        assert_eq!(local_time(t, msk), "24.11.2026 10:30:00 (UTC+03:00)");
    }

    #[test]
    fn subject_attributes_are_spelled_out_with_russian_labels() {
        let name = ca_core::subject::SubjectSpec {
            inn: Some("7701234567".into()),
            ..ca_core::subject::SubjectSpec::for_registration(
                "ООО Ромашка",
                "1027700132195",
                "Директор",
                "Иванов Иван Иванович",
            )
        }
        .to_name()
        .unwrap();
        let rows = spelled_out(&name);
        let text = format!("{rows:?}");
        assert!(text.contains("(\"ОГРН\", \"1027700132195\")"), "{text}");
        assert!(
            text.contains("(\"ИНН юридического лица\", \"7701234567\")"),
            "{text}"
        );
        assert!(text.contains("Иванов Иван Иванович"), "{text}");
        assert!(!text.contains("1.2.643") && !text.contains('#'), "{text}");
    }
}
