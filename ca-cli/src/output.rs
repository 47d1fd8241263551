//! Output for people (aligned tables, "field: value" lines) and for scripts
//! (`--json`, `--field NAME`).

use serde_json::Value;

/// How to print an answer.
pub struct Output {
    /// Raw JSON.
    pub json: bool,
    /// Only this field.
    pub field: Option<String>,
}

/// `text` with every character that could steer a terminal written out
/// as an escape: C0 and C1 controls (ESC, CSI, BEL, …), DEL, line breaks
/// and the bidirectional overrides (issue 9 defect 7: an anonymous user
/// name cleared an auditor's screen). Everything the server sends passes
/// through here before it is printed.
pub fn safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Pretty JSON whose strings cannot steer a terminal either: serde_json
/// escapes C0 controls; C1 controls, DEL and bidi overrides are escaped
/// here (still valid JSON, the same values).
pub fn safe_json(value: &Value) -> String {
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut out = String::with_capacity(pretty.len());
    for c in pretty.chars() {
        let bidi = matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() && !matches!(c, '\n' | ' ') || bidi {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => safe(s),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

impl Output {
    /// Prints `value`; arrays as a table of `columns`.
    pub fn print(&self, value: &Value, columns: &[&str]) {
        if let Some(f) = &self.field {
            match value {
                Value::Array(items) => items
                    .iter()
                    .for_each(|i| println!("{}", cell(&i[f.as_str()]))),
                v => println!("{}", cell(&v[f.as_str()])),
            }
            return;
        }
        if self.json {
            println!("{}", safe_json(value));
            return;
        }
        match value {
            Value::Array(items) => print!("{}", table(items, columns)),
            Value::Object(map) => {
                let width = map.keys().map(|k| k.chars().count()).max().unwrap_or(0);
                for (k, v) in map {
                    println!("{:<width$}  {}", safe(k), cell(v));
                }
            }
            Value::Null => {}
            other => println!("{}", cell(other)),
        }
    }
}

/// An aligned table with a header; "(none)" when empty.
pub fn table(items: &[Value], columns: &[&str]) -> String {
    if items.is_empty() {
        return "(none)\n".into();
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| columns.iter().map(|c| cell(&i[*c])).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(n, c)| {
            rows.iter()
                .map(|r| r[n].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut out = line(columns.iter().map(|c| c.to_uppercase()).collect());
    for r in rows {
        out += &line(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_unicode_and_show_missing_as_dash() {
        let t = table(
            &[
                json!({"id": "1", "name": "ООО Ромашка"}),
                json!({"id": "22", "name": null}),
            ],
            &["id", "name"],
        );
        assert_eq!(t, "ID  NAME\n1   ООО Ромашка\n22  -\n");
        assert_eq!(table(&[], &["id"]), "(none)\n");
    }

    /// Issue 9 defect 7: what the server stores from outside reaches the
    /// terminal escaped, in tables, fields and JSON alike.
    #[test]
    fn control_characters_are_escaped_before_printing() {
        let evil = "a\u{1b}[2J\u{1b}[Hverified OK\u{7}\u{9b}31m\u{202e}b\nc";
        let shown = safe(evil);
        assert_eq!(
            shown,
            "a\\x1b[2J\\x1b[Hverified OK\\x07\\u{009b}31m\\u{202e}b\\nc"
        );
        assert!(!shown.chars().any(|c| c.is_control()));
        let t = table(&[json!({"actor": evil})], &["actor"]);
        assert!(!t.trim_end().chars().any(|c| c.is_control() && c != '\n'));
        assert_eq!(t.lines().count(), 2, "one row, no injected line: {t}");
        let j = safe_json(&json!({"actor": evil}));
        assert!(!j.chars().any(|c| c.is_control() && c != '\n'), "{j}");
        let back: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(back["actor"], evil, "the JSON still carries the same value");
        // Plain text, Cyrillic included, is left alone.
        assert_eq!(
            safe("Иванов Иван, ООО «Ромашка»"),
            "Иванов Иван, ООО «Ромашка»"
        );
    }
}
