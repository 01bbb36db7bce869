//! What the read commands print: aligned columns for people, JSON for programs, and progress
//! on a terminal for the long commands.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

use serde_json::Value;

use crate::config::{Output, OutputArgs};

/// The columns a list shows as a table, by field name; JSON always carries every field.
pub type Columns = &'static [&'static str];

pub const MERCHANT_COLUMNS: Columns = &[
    "id",
    "name",
    "stripe_enabled",
    "selected_profile_id",
    "created_at",
];
pub const PROFILE_COLUMNS: Columns = &[
    "id",
    "merchant_id",
    "name",
    "mode",
    "secret_key_set",
    "stripe_account_id",
    "webhook_endpoint_status",
    "created_at",
];
pub const DEAD_LETTER_COLUMNS: Columns = &[
    "event_id",
    "event_type",
    "handler",
    "attempts",
    "last_failed_at",
    "error",
];

/// What `--output` asked for, else a table on a terminal and JSON in a pipe.
pub fn chosen(args: OutputArgs) -> Output {
    args.output.unwrap_or(if std::io::stdout().is_terminal() {
        Output::Table
    } else {
        Output::Json
    })
}

/// A list: one row per element, `columns` as the table's.
pub fn list(rows: &Value, columns: Columns, output: Output) -> String {
    match output {
        Output::Json => pretty(rows),
        Output::Table => {
            let rows = rows.as_array().map(Vec::as_slice).unwrap_or_default();
            if rows.is_empty() {
                return "(none)\n".into();
            }
            table(columns, rows)
        }
    }
}

/// One object: its plain fields as `name  value` lines, then each list it holds as a table.
pub fn record(value: &Value, output: Output) -> String {
    let Some(fields) = value.as_object().filter(|_| output == Output::Table) else {
        return pretty(value);
    };
    let is_table = |value: &Value| {
        value
            .as_array()
            .is_some_and(|items| !items.is_empty() && items.iter().all(Value::is_object))
    };
    let (lists, plain): (Vec<_>, Vec<_>) = fields.iter().partition(|(_, v)| is_table(v));
    let width = plain
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (name, value) in plain {
        let _ = writeln!(out, "{name:width$}  {}", cell(value));
    }
    for (name, items) in lists {
        let items = items.as_array().map(Vec::as_slice).unwrap_or_default();
        let mut columns: Vec<&str> = Vec::new();
        for item in items.iter().filter_map(Value::as_object) {
            for key in item.keys() {
                if !columns.contains(&key.as_str()) {
                    columns.push(key);
                }
            }
        }
        let _ = write!(out, "\n{name}:\n{}", table(&columns, items));
    }
    out
}

fn pretty(value: &Value) -> String {
    // A `Value` always serializes.
    format!(
        "{}\n",
        serde_json::to_string_pretty(value).unwrap_or_default()
    )
}

fn table(columns: &[&str], rows: &[Value]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(&row[*c])).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let header: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
    for line in std::iter::once(&header).chain(&cells) {
        let padded: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(value, width)| format!("{value:width$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    }
    out
}

/// A value as one line of a table: nothing for null, a count for a list, text as is.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => text.replace(['\n', '\r', '\t'], " "),
        Value::Array(items) => format!("({} items)", items.len()),
        Value::Object(_) => value.to_string(),
        other => other.to_string(),
    }
}

/// Progress of a long command on standard error, when that is a terminal; nothing otherwise
/// (a pipe or a log file gets the final JSON only).
pub struct TerminalProgress {
    label: &'static str,
    shown: bool,
}

impl TerminalProgress {
    pub fn new(label: &'static str) -> Self {
        TerminalProgress {
            label,
            shown: std::io::stderr().is_terminal(),
        }
    }

    pub fn report(&self, done: usize, total: usize) {
        if self.shown {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r{}", progress_line(self.label, done, total));
            let _ = stderr.flush();
        }
    }

    /// Ends the progress line, so what follows starts on a line of its own.
    pub fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

fn progress_line(label: &str, done: usize, total: usize) -> String {
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    format!("{label}: {done} of {total} ({percent}%)")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_list_prints_its_columns_aligned_with_absent_values_as_dashes() {
        let rows = json!([
            { "id": "m_1", "name": "Bar Centrale", "stripe_enabled": true, "extra": 1 },
            { "id": "m_22", "name": null, "stripe_enabled": false },
        ]);
        let text = list(&rows, &["id", "name", "stripe_enabled"], Output::Table);
        assert_eq!(
            text,
            "ID    NAME          STRIPE_ENABLED\n\
             m_1   Bar Centrale  true\n\
             m_22  -             false\n"
        );
        assert_eq!(list(&json!([]), &["id"], Output::Table), "(none)\n");
    }

    #[test]
    fn json_output_is_the_whole_value_whatever_the_columns() {
        let rows = json!([{ "id": "m_1", "secret_key_set": false }]);
        let text = list(&rows, &["id"], Output::Json);
        assert_eq!(serde_json::from_str::<Value>(&text).expect("json"), rows);
        let one = json!({ "id": "prof_1" });
        assert_eq!(
            serde_json::from_str::<Value>(&record(&one, Output::Json)).expect("json"),
            one
        );
    }

    #[test]
    fn a_record_prints_its_fields_then_its_lists_as_tables() {
        let profile = json!({
            "id": "prof_1",
            "name": "Bar\nCentrale",
            "webhook_secrets": [
                { "id": 7, "expires_at": null },
                { "id": 6, "expires_at": "2026-12-01T00:00:00Z" },
            ],
        });
        let text = record(&profile, Output::Table);
        assert_eq!(
            text,
            "id    prof_1\n\
             name  Bar Centrale\n\
             \n\
             webhook_secrets:\n\
             EXPIRES_AT            ID\n\
             -                     7\n\
             2026-12-01T00:00:00Z  6\n"
        );
    }

    #[test]
    fn progress_says_how_many_of_how_many() {
        assert_eq!(
            progress_line("replayed", 250, 1000),
            "replayed: 250 of 1000 (25%)"
        );
        assert_eq!(progress_line("replayed", 0, 0), "replayed: 0 of 0 (100%)");
    }
}
