//! A [`Document`] as an HTML page laid out for A4 print; every value
//! escaped.

use super::Document;

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
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

const STYLE: &str = "@page{size:A4;margin:18mm 16mm}\
body{font-family:'DejaVu Serif','Times New Roman',serif;font-size:11pt;max-width:178mm;margin:1em auto;color:#000}\
.form{text-align:right;font-size:9pt}\
h1{font-size:14pt;text-align:center;margin:.8em 0 .2em}\
.subtitle{text-align:center;margin:0 0 1em}\
h2{font-size:11pt;margin:1em 0 .3em;border-bottom:1px solid #000}\
table{border-collapse:collapse;width:100%}\
td{padding:.15em .4em;vertical-align:top}\
td.l{width:40%;color:#333}\
pre{font-family:'DejaVu Sans Mono',monospace;font-size:8.5pt;margin:.4em 0 0 .4em}\
.sig{margin-top:2.2em}\
.sig .line{display:inline-block;width:60mm;border-bottom:1px solid #000;margin:0 .6em}\
.footer{margin-top:2em;font-size:9pt}";

/// Renders the page.
pub fn render(doc: &Document) -> String {
    let mut body = String::new();
    for section in &doc.sections {
        body.push_str(&format!("<h2>{}</h2>\n<table>\n", esc(&section.heading)));
        for (label, value) in &section.rows {
            body.push_str(&format!(
                "<tr><td class=\"l\">{}</td><td>{}</td></tr>\n",
                esc(label),
                esc(value)
            ));
        }
        body.push_str("</table>\n");
        if !section.block.is_empty() {
            body.push_str(&format!("<pre>{}</pre>\n", esc(&section.block.join("\n"))));
        }
    }
    for s in &doc.signatures {
        body.push_str(&format!(
            "<p class=\"sig\">{}<span class=\"line\"></span>/ {} /{}</p>\n",
            esc(&s.role),
            if s.name.is_empty() {
                "____________________".to_string()
            } else {
                esc(&s.name)
            },
            if s.seal { " &nbsp; М.П." } else { "" }
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\">\
<title>{title}</title><style>{STYLE}</style></head>\n<body>\n\
<p class=\"form\">{form}</p>\n<h1>{title}</h1>\n<p class=\"subtitle\">{subtitle}</p>\n\
{body}<p class=\"sig\">Дата ____________</p>\n<p class=\"footer\">{footer}</p>\n</body></html>\n",
        title = esc(&doc.title),
        form = esc(&doc.form),
        subtitle = esc(&doc.subtitle),
        footer = esc(&doc.footer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::{Section, Signature};

    #[test]
    fn every_value_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let doc = Document {
            form: "<f>".into(),
            title: "<t>".into(),
            subtitle: "<s>".into(),
            sections: vec![Section {
                heading: "<h>".into(),
                rows: vec![("<l>".into(), "<script>alert(1)</script>".into())],
                block: vec!["<b>".into()],
            }],
            signatures: vec![Signature {
                role: "<r>".into(),
                name: "<n>".into(),
                seal: false,
            }],
            footer: "<x>".into(),
        };
        let page = render(&doc);
        for raw in [
            "<f>", "<t>", "<s>", "<h>", "<l>", "<script>", "<b>", "<r>", "<n>", "<x>",
        ] {
            assert!(!page.contains(raw), "{raw} unescaped in {page}");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
}
