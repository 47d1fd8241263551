//! The printable acceptance act (Приложение 8.1; SPEC §4): the key's
//! algorithm, SHA-256 fingerprint and the public key itself, for the person
//! to sign on paper. HTML, every value escaped.

use ca_authority::ActData;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The fingerprint in groups of four hex digits, easier to compare by eye.
fn grouped(hex: &str) -> String {
    hex.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default().to_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Renders the act.
pub fn render(act: &ActData, ca_name: &str) -> String {
    // Only what the request itself carries: the act is served without a
    // login, so the registration's power-of-attorney details stay out.
    let person = match &act.person {
        Some((p, _)) => format!("{}, {}", esc(&p.full_name), esc(&p.position)),
        None => "—".to_string(),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>Акт признания ключа проверки ЭП — {id}</title>
<style>body{{font-family:serif;max-width:46em;margin:2em auto}}pre{{font-size:.8em;white-space:pre-wrap}}td{{padding:.2em .6em;vertical-align:top}}</style></head>
<body>
<h1>Акт признания ключа проверки электронной подписи</h1>
<p>Удостоверяющий центр: {ca}</p>
<table>
<tr><td>Запрос</td><td>{id}</td></tr>
<tr><td>Получен</td><td>{received}</td></tr>
<tr><td>Владелец</td><td>{person}</td></tr>
<tr><td>Subject</td><td>{subject}</td></tr>
<tr><td>Алгоритм ключа</td><td>{alg}</td></tr>
<tr><td>SHA-256 ключа</td><td><b>{fp}</b></td></tr>
</table>
<h2>Ключ проверки электронной подписи</h2>
<pre>{pem}</pre>
<p>Подпись владельца ____________________ Дата ____________</p>
<p>Подпись уполномоченного лица Банка ____________________ М.П.</p>
</body></html>
"#,
        id = esc(&act.request.id),
        ca = esc(ca_name),
        received = act.request.received_at.format("%d.%m.%Y %H:%M UTC"),
        subject = esc(&act.subject),
        alg = esc(&act.request.key_algorithm),
        fp = grouped(&act.request.key_sha256),
        pem = esc(&act.public_key_pem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_the_fingerprint_grouped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(grouped("00ff11ee"), "00FF 11EE");
    }
}
