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

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
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
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
            return;
        }
        match value {
            Value::Array(items) => print!("{}", table(items, columns)),
            Value::Object(map) => {
                let width = map.keys().map(|k| k.chars().count()).max().unwrap_or(0);
                for (k, v) in map {
                    println!("{k:<width$}  {}", cell(v));
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
}
