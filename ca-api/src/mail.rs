//! Letters to persons (issue 13; 003 1.77.2, 1.78–1.81.1: the person is
//! notified "by any available means" of every refusal with its reasons,
//! issuance, suspension, resumption, revocation and the coming end of
//! validity). A letter is composed from the outbox row at delivery, in
//! Russian, times in the bank's time zone, as plain text with an HTML
//! alternative, and sent over SMTP by lettre.

use chrono::{DateTime, FixedOffset, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::{Message, SmtpTransport, Transport};
use serde_json::Value;

use ca_core::Reason;

use crate::documents::html::esc;
use crate::documents::local_time;

/// The SMTP side: `CA_SMTP_URL` and `CA_MAIL_FROM`.
#[derive(Clone)]
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
}

/// A letter before it is addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML alternative.
    pub html: String,
}

impl Mailer {
    /// From lettre's URL form: `smtp://host:25` (plain, for a relay on the
    /// same host), `smtp://user:pass@host:587?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host:465` (TLS). Timeouts are short: delivery runs
    /// in the background round and a dead server must not hold it.
    pub fn new(url: &str, from: &str) -> Result<Mailer, String> {
        let transport = SmtpTransport::from_url(url)
            .map_err(|e| format!("CA_SMTP_URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("CA_MAIL_FROM: {e}"))?;
        Ok(Mailer { transport, from })
    }

    /// Sends `letter` to the comma-separated `to`. `id` becomes the
    /// Message-ID, so that the rare repeat (a crash between sending and
    /// recording it) is recognisable as the same letter.
    pub fn send(&self, id: &str, to: &str, letter: &Letter) -> Result<(), String> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(letter.subject.clone())
            .message_id(Some(format!("<{id}@client-bank-ca>")));
        for address in to.split(',').filter(|a| !a.trim().is_empty()) {
            let mailbox = address
                .trim()
                .parse::<Mailbox>()
                .map_err(|e| format!("address {address:?}: {e}"))?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                letter.text.clone(),
                letter.html.clone(),
            ))
            .map_err(|e| e.to_string())?;
        self.transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// What a letter may say about the person and their organisation.
#[derive(Clone, Debug, Default)]
pub struct Addressee {
    /// ФИО.
    pub full_name: String,
    /// The organisation's name.
    pub organization: String,
}

fn revocation_reason(code: &str) -> String {
    match code {
        "unspecified" => "причина не указана".into(),
        "key_compromise" => "компрометация ключа".into(),
        "ca_compromise" => "компрометация ключа удостоверяющего центра".into(),
        "affiliation_changed" => "изменились сведения о владельце".into(),
        "superseded" => "сертификат заменён новым (плановая смена ключей)".into(),
        "cessation_of_operation" => "прекращение полномочий или договора".into(),
        "privilege_withdrawn" => "полномочия отозваны".into(),
        "suspension_lapsed" => "срок приостановления истёк без возобновления".into(),
        other => other.to_string(),
    }
}

fn reasons(data: &Value) -> Vec<String> {
    data["reasons"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(|code| match Reason::from_code(code) {
                    Some(r) => r.meaning_ru().to_string(),
                    None => code.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn time(value: &Value, offset: FixedOffset) -> Option<String> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| local_time(t.with_timezone(&Utc), offset))
}

/// Composes the letter for an outbox row's event and JSON body; `None` for
/// an event that has no letter.
pub fn compose(
    event: &str,
    payload: &str,
    at: DateTime<Utc>,
    to: &Addressee,
    offset: FixedOffset,
) -> Option<Letter> {
    let body: Value = serde_json::from_str(payload).ok()?;
    let data = &body["data"];
    let serial = data["serial"].as_str().unwrap_or_default();
    let when = local_time(at, offset);
    let (subject, mut lines, list): (String, Vec<String>, Vec<String>) = match event {
        "request.rejected" => (
            "Отказ в выпуске сертификата ключа проверки электронной подписи".into(),
            vec![
                format!(
                    "Запрос на сертификат {} отклонён {when}.",
                    data["request_id"].as_str().unwrap_or_default()
                ),
                "Причины отказа:".into(),
            ],
            reasons(data),
        ),
        "certificate.issued" => (
            "Выпущен сертификат ключа проверки электронной подписи".into(),
            vec![
                format!("Вам выпущен сертификат с серийным номером {serial} ({when})."),
                if data["automatic"].as_bool() == Some(true) {
                    "Сертификат выпущен автоматически по запросу, подписанному действующим ключом. Если вы не отправляли этот запрос, немедленно сообщите в Банк: это может означать, что ваш ключ известен постороннему.".into()
                } else {
                    "Для получения доступа к системе подпишите копию сертификата на бумажном носителе в офисе Банка.".into()
                },
            ],
            vec![],
        ),
        "certificate.suspended" => (
            "Действие сертификата приостановлено".into(),
            vec![format!(
                "Действие сертификата {serial} приостановлено {when}{}.",
                time(&data["details"]["until"], offset)
                    .map(|u| format!(" до {u}"))
                    .unwrap_or_default()
            ),
            "Если действие не будет возобновлено до окончания срока приостановления, сертификат будет отозван.".into()],
            vec![],
        ),
        "certificate.resumed" => (
            "Действие сертификата возобновлено".into(),
            vec![format!("Действие сертификата {serial} возобновлено {when}.")],
            vec![],
        ),
        "certificate.revoked" => {
            let code = data["reason"]
                .as_str()
                .or_else(|| data["details"]["reason"].as_str())
                .unwrap_or("unspecified");
            (
                "Сертификат отозван".into(),
                vec![
                    format!("Сертификат {serial} отозван {when}."),
                    format!("Причина: {}.", revocation_reason(code)),
                    "Отзыв окончателен: подписи этим ключом больше не принимаются.".into(),
                ],
                vec![],
            )
        }
        "suspend.refused" | "resume.refused" | "revoke.refused" => {
            let what = match event {
                "suspend.refused" => "приостановлении действия",
                "resume.refused" => "возобновлении действия",
                _ => "отзыве",
            };
            (
                format!("Отказ в {what} сертификата"),
                vec![
                    format!("В {what} сертификата {serial} отказано ({when})."),
                    "Причины отказа:".into(),
                ],
                reasons(data),
            )
        }
        "certificate.renewal_due" => (
            "Срок действия сертификата подходит к концу: пора сменить ключи".into(),
            vec![
                format!(
                    "Сертификат {serial} действует до {}.",
                    time(&data["not_after"], offset).unwrap_or_default()
                ),
                "Сформируйте новый ключ и отправьте запрос на плановую смену сертификата, подписанный действующим ключом, до окончания срока его действия (п. 1.81.1 Правил).".into(),
            ],
            vec![],
        ),
        _ => return None,
    };
    // After the list of reasons.
    let mut tail = Vec::new();
    if let Some(comment) = data["comment"].as_str().filter(|c| !c.trim().is_empty()) {
        tail.push(format!("Комментарий Банка: {comment}"));
    }
    if event == "request.rejected" {
        tail.push(
            "Устраните причины и отправьте новый запрос; при вопросах обратитесь в Банк.".into(),
        );
    }
    let greeting = if to.full_name.is_empty() {
        "Здравствуйте!".to_string()
    } else {
        format!("Здравствуйте, {}!", to.full_name)
    };
    let closing = "Удостоверяющий центр Банка. Это письмо отправлено автоматически; отвечать на него не нужно.";
    if !to.organization.is_empty() {
        lines.insert(0, format!("Организация: {}.", to.organization));
    }
    let mut text = format!("{greeting}\n\n");
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    for (i, item) in list.iter().enumerate() {
        text.push_str(&format!("  {}. {item}\n", i + 1));
    }
    for line in &tail {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&format!("\n{closing}\n"));
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n<p>{}</p>\n",
        esc(&subject),
        esc(&greeting)
    );
    for line in &lines {
        html.push_str(&format!("<p>{}</p>\n", esc(line)));
    }
    if !list.is_empty() {
        html.push_str("<ol>\n");
        for item in &list {
            html.push_str(&format!("<li>{}</li>\n", esc(item)));
        }
        html.push_str("</ol>\n");
    }
    for line in &tail {
        html.push_str(&format!("<p>{}</p>\n", esc(line)));
    }
    html.push_str(&format!(
        "<p><small>{}</small></p>\n</body></html>\n",
        esc(closing)
    ));
    Some(Letter {
        subject,
        text,
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msk() -> FixedOffset {
        FixedOffset::east_opt(3 * 3600).unwrap()
    }

    #[test]
    fn a_refusal_lists_each_reason_in_russian() {
        let payload = r#"{"event":"request.rejected","data":{"request_id":"r1","reasons":["weak_key","subject_mismatch"]}}"#;
        let at = DateTime::parse_from_rfc3339("2026-11-24T07:00:00Z")
            .unwrap()
            .to_utc();
        let l = compose(
            "request.rejected",
            payload,
            at,
            &Addressee {
                full_name: "Иванов <Иван>".into(),
                organization: "ООО Ромашка".into(),
            },
            msk(),
        )
        .unwrap();
        assert!(l.subject.starts_with("Отказ"));
        assert!(l.text.contains(Reason::WeakKey.meaning_ru()), "{}", l.text);
        assert!(l.text.contains(Reason::SubjectMismatch.meaning_ru()));
        assert!(
            l.text.contains("24.11.2026 10:00:00 (UTC+03:00)"),
            "{}",
            l.text
        );
        assert!(!l.text.contains("weak_key"));
        assert!(l.html.contains("Иванов &lt;Иван&gt;") && !l.html.contains("<Иван>"));
    }

    #[test]
    fn every_event_with_a_letter_has_a_subject_and_an_unknown_one_none() {
        let at = Utc::now();
        for event in [
            "request.rejected",
            "certificate.issued",
            "certificate.suspended",
            "certificate.resumed",
            "certificate.revoked",
            "suspend.refused",
            "resume.refused",
            "revoke.refused",
            "certificate.renewal_due",
        ] {
            let payload = r#"{"data":{"serial":"0a1b","request_id":"0a1b","reasons":["certificate_revoked"],"reason":"key_compromise","not_after":"2027-01-01T00:00:00Z"}}"#;
            let l = compose(event, payload, at, &Addressee::default(), msk()).unwrap();
            assert!(
                !l.subject.is_empty() && l.text.contains("0a1b"),
                "{event}: {l:?}"
            );
        }
        assert!(compose("operator.login", "{}", at, &Addressee::default(), msk()).is_none());
    }
}
