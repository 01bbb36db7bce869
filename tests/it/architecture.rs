//! The layout's rules, read from the sources: which layer may use which, SQL only in `db`, and
//! files small enough to read. A failure names the file and the offending line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layers each layer must not use (`crate::<layer>`). A layer is a folder of `src/`, or a file
/// at its root.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "db",
        &[
            "amqp", "http", "worker", "setup", "ingest", "relay", "sweeps", "app", "cli",
        ],
    ),
    (
        "amqp",
        &[
            "db", "worker", "http", "setup", "ingest", "relay", "sweeps", "app", "cli",
        ],
    ),
    (
        "stripe",
        &[
            "db",
            "amqp",
            "http",
            "worker",
            "setup",
            "ingest",
            "relay",
            "reconcile",
            "sweeps",
            "config",
            "app",
            "cli",
            "crypto",
            "metrics",
            "telemetry",
        ],
    ),
    ("setup", &["worker", "http", "app", "cli"]),
    ("reconcile", &["worker", "http", "amqp", "app", "cli"]),
    ("ingest", &["worker", "http", "app", "cli"]),
    ("relay", &["worker", "http", "app", "cli"]),
    ("sweeps", &["worker", "http", "app", "cli"]),
    ("worker", &["http", "app", "cli"]),
    ("http", &["app", "cli"]),
    ("config", &["http", "worker", "db", "amqp", "app", "cli"]),
    (
        "domain",
        &[
            "db", "amqp", "http", "worker", "setup", "ingest", "relay", "sweeps", "app", "cli",
        ],
    ),
];

/// Folders that may hold SQL: the queries, and the demo's own set-up.
const SQL_ALLOWED: &[&str] = &["db", "demo"];

/// Lines a source file may have before its `#[cfg(test)]` module.
const MAX_LINES: usize = 800;

fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&src_dir(), &mut out);
    out.sort();
    out
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `db` for `src/db/orders.rs`, `config` for `src/config.rs`.
fn layer_of(path: &Path) -> String {
    let relative = path.strip_prefix(src_dir()).expect("under src/");
    let first = relative
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The text before the file's test module, which may use whatever it likes.
fn code_of(text: &str) -> &str {
    match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// The crate's top-level modules a line uses: `crate::db::x`, `crate::{db, amqp::y}`.
fn used_layers(line: &str) -> Vec<String> {
    let mut used = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group, skipping nested braces.
            let mut depth = 0;
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        used.push(std::mem::take(&mut name));
                    }
                    c if depth == 0 && name.is_empty() && c.is_whitespace() => {}
                    c if depth == 0 && !name.contains(':') && (c.is_alphanumeric() || c == '_') => {
                        name.push(c)
                    }
                    ':' if depth == 0 => name.push(':'),
                    _ => {}
                }
            }
            used.push(name);
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.push(name);
        }
    }
    used.into_iter()
        .map(|n| n.trim_end_matches(':').to_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

#[test]
fn no_layer_uses_a_layer_above_it() {
    let rules: BTreeMap<&str, &[&str]> = FORBIDDEN.iter().copied().collect();
    let mut offending = Vec::new();
    for path in sources() {
        let layer = layer_of(&path);
        let Some(forbidden) = rules.get(layer.as_str()) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("source");
        for (n, line) in code_of(&text).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for used in used_layers(line) {
                if forbidden.contains(&used.as_str()) {
                    offending.push(format!(
                        "{}:{}: `{layer}` uses `{used}`: {}",
                        path.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offending.is_empty(),
        "imports that point back up:\n{}",
        offending.join("\n")
    );
}

#[test]
fn sql_is_written_only_in_the_database_layer() {
    let mut offending = Vec::new();
    for path in sources() {
        let layer = layer_of(&path);
        if SQL_ALLOWED.contains(&layer.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        for (n, line) in code_of(&text).lines().enumerate() {
            if line.contains("sqlx::query")
                || line.contains("query!(")
                || line.contains("query_as!(")
                || line.contains("query_scalar!(")
            {
                offending.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "SQL outside src/db/:\n{}",
        offending.join("\n")
    );
}

#[test]
fn every_source_file_is_short_enough_to_read() {
    let mut long = Vec::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).expect("source");
        let lines = code_of(&text).lines().count();
        if lines > MAX_LINES {
            long.push(format!(
                "{}: {lines} lines before its tests",
                path.display()
            ));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them along what they do):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_import_reader_sees_grouped_and_nested_imports() {
    assert_eq!(used_layers("use crate::db;"), ["db"]);
    assert_eq!(
        used_layers("use crate::{db, amqp::EventRef};"),
        ["db", "amqp"]
    );
    assert_eq!(
        used_layers("use crate::{worker::{a, b}, http::x};"),
        ["worker", "http"]
    );
    assert_eq!(
        used_layers("let x = crate::setup::profiles::f(crate::db::y);"),
        ["setup", "db"]
    );
    assert!(used_layers("use super::x;").is_empty());
}
