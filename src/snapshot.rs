//! Query results as stable, readable text, and the snapshot files that keep them.
//!
//! Results render as an aligned table with column names. Ids of the users and tenants
//! a scenario names are written back as their placeholders (`${user.dana}`); other
//! uuids and timestamps are redacted, so a snapshot holds no random id or clock value.
//! Files use insta's format in the top-level `snapshots/` folder: `cargo insta review`
//! works on them, and `rls-harness snapshots` reviews, accepts and rejects the pending
//! `.snap.new` files that either tool wrote, for a reviewer who has only the binary.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::output::{self, Written};

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

/// Writes `dir/<name>.snap.new` with insta's header (`source`, `description`,
/// `input_file`), for review. A pending file that a run beside this one wrote is kept,
/// and this one goes next to it as `<name>.run-<pid>.snap.new` (see [`output`]).
pub fn write_pending(
    dir: &Path,
    name: &str,
    rendered: &str,
    description: &str,
    input_file: &Path,
) -> std::io::Result<Written> {
    // A JSON string is a YAML double-quoted scalar, which is how insta writes these.
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    output::write(
        &dir.join(format!("{name}.snap.new")),
        &format!(
            "---\nsource: rls-harness check\ndescription: {}\ninput_file: {}\n---\n{}\n",
            quoted(description),
            input_file.display(),
            rendered.trim_end()
        ),
    )
}

/// Whether this is a CI run, as insta decides it: there a missing or changed snapshot
/// fails without writing anything, unless asked to.
pub fn is_ci() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("TF_BUILD").is_some()
}

/// A result waiting for review: `<name>.snap.new` (written by `check` or by insta) next
/// to the `<name>.snap` it would replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub new: PathBuf,
    pub stored: PathBuf,
}

impl Pending {
    /// The pending file for `path`, given as `x.snap.new`, `x.snap` or `x`; a run's
    /// `x.run-<pid>.snap.new` would replace `x.snap` too.
    pub fn for_path(path: &Path) -> Option<Pending> {
        let text = path.to_string_lossy();
        let stem = text
            .strip_suffix(".snap.new")
            .or_else(|| text.strip_suffix(".snap"))
            .unwrap_or(&text);
        let pending = Pending {
            new: PathBuf::from(format!("{stem}.snap.new")),
            stored: PathBuf::from(format!("{}.snap", output::untagged(stem))),
        };
        pending.new.is_file().then_some(pending)
    }

    /// What accepting would change: a diff of the stored body against the new one.
    pub fn diff(&self) -> std::io::Result<String> {
        let new = std::fs::read_to_string(&self.new)?;
        let stored = std::fs::read_to_string(&self.stored).unwrap_or_default();
        Ok(diff(body(&stored), body(&new)))
    }

    /// Makes the new result the stored snapshot, header and all, as `cargo insta accept`.
    pub fn accept(&self) -> std::io::Result<()> {
        std::fs::rename(&self.new, &self.stored)
    }

    /// Throws the new result away; the stored snapshot stays.
    pub fn reject(&self) -> std::io::Result<()> {
        std::fs::remove_file(&self.new)
    }
}

/// Every pending `.snap.new` under `dir`, sorted.
pub fn pending(dir: &Path) -> std::io::Result<Vec<Pending>> {
    let mut found = Vec::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else if let Some(pending) = path
                .to_string_lossy()
                .ends_with(".snap.new")
                .then(|| Pending::for_path(&path))
                .flatten()
            {
                found.push(pending);
            }
        }
    }
    found.sort_by(|a, b| a.new.cmp(&b.new));
    Ok(found)
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
    // Both sides end in a newline, so the diff does not report a missing one; an empty
    // side has no line at all.
    let lines = |text: &str| match text.trim_end() {
        "" => String::new(),
        text => format!("{text}\n"),
    };
    let (before, after) = (lines(before), lines(after));
    similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .to_string()
}

/// Where snapshots live and whether a run may write pending files: the one place a
/// snapshot step is judged, by `check` and by the tests alike (insta's design: the
/// assertion decides pass, pending file or failure, and the review tools work on the
/// same files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    pub dir: PathBuf,
    /// Write `<name>.snap.new` for a new or changed result. Off under CI, as in insta,
    /// unless asked for.
    pub write_pending: bool,
}

/// A snapshot step's result held against its stored snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Matches,
    /// The stored body (empty when there is none), and what happened to the new one.
    Differs {
        stored: String,
        note: String,
    },
}

impl Store {
    /// The store in `dir`, writing pending files outside CI or when `force_write`.
    pub fn new(dir: &Path, force_write: bool) -> Store {
        Store {
            dir: dir.to_owned(),
            write_pending: force_write || !is_ci(),
        }
    }

    /// A store that writes nothing, in the current folder: for replays whose scenarios
    /// hold no snapshot step (counterexamples).
    pub fn read_only() -> Store {
        Store {
            dir: PathBuf::from("."),
            write_pending: false,
        }
    }

    /// Compares `rendered` with the snapshot `name`; a difference or a missing file
    /// leaves `<name>.snap.new` for review when the store writes, and says so.
    /// `description` and `input_file` go into the pending file's header.
    pub fn judge(
        &self,
        name: &str,
        rendered: &str,
        description: &str,
        input_file: &Path,
    ) -> Judgement {
        let what = match compare(&self.dir, name, rendered) {
            Comparison::Matches => return Judgement::Matches,
            Comparison::Differs(stored) => (stored, "the result differs from"),
            Comparison::Missing => (String::new(), "no snapshot stored at"),
        };
        let next = if self.write_pending {
            match write_pending(&self.dir, name, rendered, description, input_file) {
                Ok(Written {
                    path,
                    displaced: None,
                }) => format!(
                    "wrote {}; review it with `rls-harness snapshots review`",
                    path.display()
                ),
                Ok(Written {
                    path,
                    displaced: Some(theirs),
                }) => format!(
                    "another run wrote {} while this one ran, so this run's result is in {}; \
                     review both with `rls-harness snapshots review`",
                    theirs.display(),
                    path.display()
                ),
                Err(error) => format!("could not write the pending snapshot: {error}"),
            }
        } else {
            "in CI nothing is written; run with --write-pending to write it for review".into()
        };
        Judgement::Differs {
            stored: what.0,
            note: format!("{} {}; {next}", what.1, path(&self.dir, name).display()),
        }
    }
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
        let input = Path::new("scenarios/a.toml");
        let written = write_pending(dir.path(), "a", "x\ny", "a.toml:3: \"q\"", input).unwrap();
        let pending = self::pending(dir.path()).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].new, written.path);
        assert_eq!(pending[0].diff().unwrap(), "@@ -0,0 +1,2 @@\n+x\n+y\n");
        pending[0].accept().unwrap();
        assert!(self::pending(dir.path()).unwrap().is_empty());
        assert_eq!(compare(dir.path(), "a", "x\ny\n"), Comparison::Matches);
        assert_eq!(
            compare(dir.path(), "a", "x\nz"),
            Comparison::Differs("x\ny".into())
        );
        let diff = diff("x\ny", "x\nz");
        assert!(diff.contains("-y\n+z"), "{diff}");
        assert!(!diff.contains("No newline"), "{diff}");
    }

    #[test]
    fn a_concurrent_runs_pending_result_is_reviewed_beside_this_ones() {
        let dir = tempfile::tempdir().unwrap();
        let input = Path::new("scenarios/a.toml");
        crate::output::mark_run_start();
        // Another run wrote its result after this one began.
        std::fs::write(dir.path().join("a.snap.new"), "---\n---\ntheirs\n").unwrap();
        let store = Store {
            dir: dir.path().to_owned(),
            write_pending: true,
        };
        let Judgement::Differs { note, .. } = store.judge("a", "mine", "d", input) else {
            panic!("a missing snapshot matched");
        };
        assert!(note.contains("another run wrote"), "{note}");
        let pending = self::pending(dir.path()).unwrap();
        assert_eq!(pending.len(), 2, "{pending:?}");
        // Either one, accepted, becomes `a.snap`.
        assert!(pending
            .iter()
            .all(|p| p.stored == dir.path().join("a.snap")));
        let mine = pending
            .iter()
            .find(|p| p.new != dir.path().join("a.snap.new"));
        mine.unwrap().accept().unwrap();
        assert_eq!(compare(dir.path(), "a", "mine"), Comparison::Matches);
    }
}
