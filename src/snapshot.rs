//! Query results as stable, readable text, and the snapshot files that keep them.
//!
//! Results render as an aligned table with column names. Ids of the users and tenants
//! a scenario names are written back as their placeholders (`${user.dana}`); other
//! uuids and timestamps are redacted, so a snapshot holds no random id or clock value.
//! Files use insta's format in the top-level `snapshots/` folder, so that
//! `cargo insta review` and `cargo insta accept` work on them.

use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Renders rows as a psql-style aligned table.
pub fn table(columns: &[String], rows: &[Vec<String>]) -> String {
    table_with_widths(columns, rows, &widths(columns, &[rows]))
}

/// Renders two results with the same column widths, so that a diff of them shows only
/// the rows that differ.
pub fn aligned_tables(
    columns: &[String],
    left: &[Vec<String>],
    right: &[Vec<String>],
) -> (String, String) {
    let widths = widths(columns, &[left, right]);
    (
        table_with_widths(columns, left, &widths),
        table_with_widths(columns, right, &widths),
    )
}

fn widths(columns: &[String], results: &[&[Vec<String>]]) -> Vec<usize> {
    let rows = || results.iter().flat_map(|rows| rows.iter());
    let count = columns.len().max(rows().map(Vec::len).max().unwrap_or(0));
    (0..count)
        .map(|i| {
            let cells = rows()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count());
            let header = columns.get(i).map_or(0, |c| c.chars().count());
            cells.chain(std::iter::once(header)).max().unwrap_or(0)
        })
        .collect()
}

fn table_with_widths(columns: &[String], rows: &[Vec<String>], widths: &[usize]) -> String {
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!(" {cell:<w$} "))
            .collect();
        padded.join("|").trim_end().to_owned()
    };
    let mut out = vec![line(columns.iter().map(String::as_str).collect())];
    out.push(
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+"),
    );
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.push(format!(
        "({} row{})",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    out.join("\n")
}

/// Writes the known ids in `value` as their names; with `redact`, other uuids become
/// `[uuid]` and a timestamp becomes `[timestamp]`.
pub fn name_ids(value: &str, names: &[(Uuid, String)], redact: bool) -> String {
    if redact && is_timestamp(value) {
        return "[timestamp]".into();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while !rest.is_empty() {
        let candidate = rest
            .get(..36)
            .and_then(|head| Uuid::try_parse(head).ok().map(|id| (head, id)));
        match candidate {
            Some((_, id)) if rest.len() >= 36 => {
                match names.iter().find(|(known, _)| *known == id) {
                    Some((_, name)) => out.push_str(name),
                    None if redact => out.push_str("[uuid]"),
                    None => out.push_str(&rest[..36]),
                }
                rest = &rest[36..];
            }
            _ => {
                let next = rest.chars().next().expect("rest is not empty");
                out.push(next);
                rest = &rest[next.len_utf8()..];
            }
        }
    }
    out
}

/// `2026-11-28 18:03:22[.123456][+00[:00]]`, as PostgreSQL prints timestamps.
fn is_timestamp(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.len() < 19 {
        return false;
    }
    let digit_at = |i: usize| bytes[i].is_ascii_digit();
    [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        .iter()
        .all(|&i| digit_at(i))
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b' ' | b'T')
        && bytes[13] == b':'
        && bytes[16] == b':'
}

/// How a rendered result compares with its snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    Matches,
    /// The stored snapshot, which differs from the new result.
    Differs(String),
    Missing,
}

/// The snapshot file of `name` in `dir`.
pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.snap"))
}

/// Compares `rendered` with `dir/<name>.snap`.
pub fn compare(dir: &Path, name: &str, rendered: &str) -> Comparison {
    let Ok(stored) = std::fs::read_to_string(path(dir, name)) else {
        return Comparison::Missing;
    };
    let stored = body(&stored);
    if stored.trim_end() == rendered.trim_end() {
        Comparison::Matches
    } else {
        Comparison::Differs(stored.trim_end().to_owned())
    }
}

/// Writes `dir/<name>.snap.new` for `cargo insta review`; returns its path.
pub fn write_pending(
    dir: &Path,
    name: &str,
    rendered: &str,
    source: &str,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let pending = dir.join(format!("{name}.snap.new"));
    std::fs::write(
        &pending,
        format!("---\nsource: {source}\n---\n{}\n", rendered.trim_end()),
    )?;
    Ok(pending)
}

/// The content of an insta snapshot file, after its `---` header.
fn body(file: &str) -> &str {
    let Some(after_first) = file.strip_prefix("---\n") else {
        return file;
    };
    match after_first.find("\n---\n") {
        Some(end) => &after_first[end + 5..],
        None => file,
    }
}

/// A unified line diff, `-` for `before`, `+` for `after`.
pub fn diff(before: &str, after: &str) -> String {
    // Both sides end in a newline, so the diff does not report a missing one.
    let (before, after) = (
        format!("{}\n", before.trim_end()),
        format!("{}\n", after.trim_end()),
    );
    similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .to_string()
}

/// Judges the snapshot steps of `report` against the files in `dir`, outside of insta
/// (for `rls-harness check`): a match passes; a difference or a missing file fails, and
/// with `write_pending` leaves a `.snap.new` for `cargo insta review`.
pub fn settle(report: &mut crate::scenario::ScenarioReport, dir: &Path, write_pending: bool) {
    use crate::scenario::Verdict;
    let scenario = report.scenario.clone();
    for step in &mut report.steps {
        let Verdict::Snapshot { name, rendered } = &step.verdict else {
            continue;
        };
        let file = scenario.snapshot_name(name);
        let stored_at = path(dir, &file);
        let note = |what: &str| {
            let next = if write_pending {
                match write_pending_file(dir, &file, rendered, &scenario.path) {
                    Ok(pending) => format!("wrote {} for `cargo insta review`", pending.display()),
                    Err(error) => format!("could not write the pending snapshot: {error}"),
                }
            } else {
                "run with --write-pending to write it for review".into()
            };
            Some(format!("{what} {}; {next}", stored_at.display()))
        };
        step.verdict = match compare(dir, &file, rendered) {
            Comparison::Matches => Verdict::Passed,
            Comparison::Differs(stored) => Verdict::Failed {
                expected: stored,
                actual: rendered.clone(),
                note: note("the result differs from"),
            },
            Comparison::Missing => Verdict::Failed {
                expected: String::new(),
                actual: rendered.clone(),
                note: note("no snapshot stored at"),
            },
        };
    }
}

fn write_pending_file(
    dir: &Path,
    name: &str,
    rendered: &str,
    source: &Path,
) -> std::io::Result<PathBuf> {
    write_pending(dir, name, rendered, &source.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_count_rows() {
        let columns = vec!["name".to_owned(), "mode".to_owned()];
        let rows = vec![
            vec!["Dr. Sarah Chen".to_owned(), "global".to_owned()],
            vec!["X".to_owned(), "private".to_owned()],
        ];
        assert_eq!(
            table(&columns, &rows),
            " name           | mode\n----------------+---------\n Dr. Sarah Chen | global\n X              | private\n(2 rows)"
        );
    }

    #[test]
    fn known_ids_are_named_and_the_rest_redacted() {
        let dana = Uuid::from_u128(7);
        let names = vec![(dana, "${user.dana}".to_owned())];
        let other = Uuid::from_u128(9);
        let array = format!("{{{dana},{other}}}");
        assert_eq!(name_ids(&array, &names, true), "{${user.dana},[uuid]}");
        assert_eq!(
            name_ids(&array, &names, false),
            format!("{{${{user.dana}},{other}}}")
        );
        assert_eq!(
            name_ids("2026-11-28 18:03:22.5+00", &names, true),
            "[timestamp]"
        );
        assert_eq!(
            name_ids("2026-11-28 18:03:22.5+00", &names, false),
            "2026-11-28 18:03:22.5+00"
        );
        assert_eq!(name_ids("héllo", &names, true), "héllo");
    }

    #[test]
    fn snapshot_files_compare_by_body_and_pending_ones_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(compare(dir.path(), "a", "x"), Comparison::Missing);
        let pending = write_pending(dir.path(), "a", "x\ny", "scenarios/a.toml").unwrap();
        std::fs::rename(&pending, path(dir.path(), "a")).unwrap();
        assert_eq!(compare(dir.path(), "a", "x\ny\n"), Comparison::Matches);
        assert_eq!(
            compare(dir.path(), "a", "x\nz"),
            Comparison::Differs("x\ny".into())
        );
        let diff = diff("x\ny", "x\nz");
        assert!(diff.contains("-y\n+z"), "{diff}");
        assert!(!diff.contains("No newline"), "{diff}");
    }
}
