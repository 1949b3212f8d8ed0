//! The migration runner: applies `*.sql` files in lexical order, each in its own
//! transaction, and reports a failure by file, line, column and SQLSTATE.
//!
//! Statements are sent one at a time inside the file's transaction, so that an error
//! without a server-side position still points at its statement. A failing file is
//! rolled back whole: nothing of it stays applied. Files that manage transactions
//! themselves are refused before anything runs, because their `COMMIT` would defeat
//! that guarantee.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_postgres::error::ErrorPosition;

use crate::connection::{Connection, Notice};
use crate::error::{Error, Result};
use crate::origin::{Location, Tracker};
use crate::script::{byte_of_position, line_column, split};

/// One migration file.
#[derive(Debug, Clone)]
pub struct Migration {
    pub path: PathBuf,
    /// The leading digits of the file name (`20251026000001`), or the whole stem.
    pub version: String,
    pub sql: String,
}

impl Migration {
    /// Reads one migration file.
    pub fn read(path: &Path) -> Result<Migration> {
        let bytes = std::fs::read(path).map_err(|error| Error::io(path, error))?;
        let sql = String::from_utf8(bytes).map_err(|error| not_utf8(path, &error))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let digits: String = stem.chars().take_while(char::is_ascii_digit).collect();
        let version = if digits.is_empty() {
            stem.to_owned()
        } else {
            digits
        };
        Ok(Migration {
            path: path.to_owned(),
            version,
            sql,
        })
    }

    /// Applies this file in its own transaction; see [`apply`].
    pub async fn apply(&self, connection: &Connection) -> Result<Applied> {
        apply(connection, self, None, &Watch::default()).await
    }

    /// The file name, for reports.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// A migration that is not UTF-8, located at its first invalid byte.
fn not_utf8(path: &Path, error: &std::string::FromUtf8Error) -> Error {
    let valid = error.utf8_error().valid_up_to();
    let before = String::from_utf8_lossy(&error.as_bytes()[..valid]);
    let (line, column) = line_column(&before, before.len());
    Error::Migration {
        file: path.to_owned(),
        line,
        column,
        sqlstate: "22021".into(),
        message: format!(
            "byte {valid} (0x{:02x}, counting from 0) is not UTF-8: save the file as UTF-8, as PostgreSQL reads it",
            error.as_bytes()[valid]
        ),
        detail: None,
    }
}

/// Files in `dir` that look like migrations but are not applied: `*.SQL` (the runner
/// takes `*.sql` only) and backups such as `*.sql.bak`, for a warning.
pub fn ignored(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .filter(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            let applied = path.extension().is_some_and(|ext| ext == "sql");
            !applied && (name.ends_with(".sql") || name.contains(".sql."))
        })
        .collect();
    paths.sort();
    paths
}

/// The `*.sql` files directly inside `dir` (not its subfolders), in lexical order.
pub fn discover(dir: &Path) -> Result<Vec<Migration>> {
    let entries = std::fs::read_dir(dir).map_err(|error| Error::io(dir, error))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|error| Error::io(dir, error))?.path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "sql") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(Error::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no *.sql migration files here",
            ),
        ));
    }
    paths.iter().map(|path| Migration::read(path)).collect()
}

/// The API roles the migrating login may act as (`SET ROLE`), as scenario steps and
/// probes in its transaction do.
pub async fn roles_acted_as(connection: &Connection) -> Result<Vec<String>> {
    let rows = connection
        .query(
            "select r from unnest(array['anon', 'authenticated', 'service_role']) r \
             where pg_catalog.pg_has_role(current_user, r, 'MEMBER') order by 1",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Refuses migrations that took from the login that migrates an API role it could act
/// as before them (`revoke authenticated from postgres`): nothing could be checked
/// after that. The error names the statement that changed the login's memberships.
pub fn refuse_lost_roles(
    before: &[String],
    after: &[String],
    login: &str,
    origins: &crate::origin::Origins,
) -> Result<()> {
    let lost: Vec<&str> = before
        .iter()
        .filter(|role| !after.contains(role))
        .map(String::as_str)
        .collect();
    if lost.is_empty() {
        return Ok(());
    }
    let message = format!(
        "the migrations took {} from {login}, the login that migrates: the harness acts as the \
         API roles through it, as Supabase's SQL editor does, so nothing could be checked; keep \
         those grants",
        lost.join(" and ")
    );
    let key = (crate::origin::ObjectKind::Role, login.to_owned());
    match origins.get(&key).and_then(|h| h.changed.clone()) {
        Some(location) => Err(Error::Migration {
            file: location.file,
            line: location.line,
            column: 1,
            sqlstate: "42501".into(),
            message,
            detail: None,
        }),
        None => Err(Error::Config {
            name: "migrations".into(),
            message,
        }),
    }
}

/// What applying one file produced.
#[derive(Debug, Clone)]
pub struct Applied {
    pub migration: Migration,
    pub notices: Vec<Notice>,
    pub duration: Duration,
}

/// How far the file being applied has got, for a progress line on long files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applying {
    pub file: PathBuf,
    /// Statements done, of `statements`.
    pub done: usize,
    pub statements: usize,
    pub since: Instant,
}

/// Where a migration run is, readable while it goes on (a 48,000-row seed file takes
/// seconds, and a run that says nothing for that long looks hung).
#[derive(Debug, Default)]
pub struct Watch(std::sync::Mutex<Option<Applying>>);

impl Watch {
    /// The file being applied now, if any.
    pub fn applying(&self) -> Option<Applying> {
        self.0.lock().map(|now| now.clone()).unwrap_or(None)
    }

    fn set(&self, applying: Option<Applying>) {
        if let Ok(mut now) = self.0.lock() {
            *now = applying;
        }
    }

    fn advance(&self) {
        if let Ok(mut now) = self.0.lock() {
            if let Some(now) = now.as_mut() {
                now.done += 1;
            }
        }
    }
}

/// Applies one file in its own transaction; on error, rolls it back and says where.
/// With a `tracker`, notes after each statement which objects it created or changed;
/// `watch` follows it statement by statement.
pub async fn apply(
    connection: &Connection,
    migration: &Migration,
    tracker: Option<&mut Tracker>,
    watch: &Watch,
) -> Result<Applied> {
    let started = Instant::now();
    let statements = split(&migration.sql);
    refuse_unrunnable(migration, &statements)?;
    watch.set(Some(Applying {
        file: migration.path.clone(),
        done: 0,
        statements: statements.len(),
        since: started,
    }));
    let applied = apply_whole(connection, migration, &statements, tracker, watch).await;
    watch.set(None);
    applied.map(|notices| Applied {
        migration: migration.clone(),
        notices,
        duration: started.elapsed(),
    })
}

/// The file's statements in one transaction, committed only if every one succeeds.
async fn apply_whole(
    connection: &Connection,
    migration: &Migration,
    statements: &[crate::script::Statement<'_>],
    tracker: Option<&mut Tracker>,
    watch: &Watch,
) -> Result<Vec<Notice>> {
    connection.take_notices();
    // Each file starts from the login's own session, whatever the one before left
    // behind: a session-level SET ROLE there would otherwise run this file as that
    // role and blame its errors on this file's lines.
    connection
        .batch("reset all; reset role; reset session authorization")
        .await?;
    connection.batch("begin").await?;
    connection.batch(SEARCH_PATH_AS_SUPABASE).await?;
    let mut tracker = tracker;
    if let Some(tracker) = tracker.as_deref_mut() {
        tracker.begin_transaction();
    }
    if let Err(error) = run(connection, migration, statements, tracker, Some(watch)).await {
        let _ = connection.batch("rollback").await;
        return Err(error);
    }
    connection.batch("commit").await?;
    connection.sync_notices().await?;
    Ok(connection.take_notices())
}

/// The search path migrations run with on Supabase (`"$user", public, extensions`), so
/// that a migration calling an extension's function unqualified (`gen_random_bytes()`)
/// applies here as it does there. It is set local to each file's transaction (or the
/// scenario's), so every file starts from it.
const SEARCH_PATH_AS_SUPABASE: &str = "set local search_path = \"$user\", public, extensions";

/// A file that ends or opens transactions itself cannot be applied whole or not at
/// all, and one that copies rows from standard input cannot be applied at all.
fn refuse_unrunnable(
    migration: &Migration,
    statements: &[crate::script::Statement<'_>],
) -> Result<()> {
    let refusal = statements.iter().find_map(|statement| {
        if statement.controls_transaction() {
            Some((statement, "25000", format!(
                "the file controls transactions itself ({}); remove it: the runner applies each file in one transaction",
                statement.keyword().to_uppercase()
            )))
        } else if statement.copies_from_stdin() {
            Some((statement, "0A000", "COPY ... FROM STDIN needs its rows sent as psql sends them, which a migration runner does not: write them as INSERT ... VALUES".to_owned()))
        } else {
            None
        }
    });
    match refusal {
        None => Ok(()),
        Some((statement, sqlstate, message)) => {
            let (line, column) = line_column(&migration.sql, statement.code_offset());
            Err(Error::Migration {
                file: migration.path.clone(),
                line,
                column,
                sqlstate: sqlstate.into(),
                message,
                detail: None,
            })
        }
    }
}

/// Applies `migration` inside the transaction (or savepoint) `connection` has open, as a
/// scenario step does; an error is located in the file, and whoever opened the
/// transaction ends it.
pub async fn apply_within(connection: &Connection, migration: &Migration) -> Result<()> {
    let statements = split(&migration.sql);
    refuse_unrunnable(migration, &statements)?;
    connection.batch(SEARCH_PATH_AS_SUPABASE).await?;
    run(connection, migration, &statements, None, None).await
}

/// Runs the statements of `migration` one at a time, each error located at its line,
/// each success observed by `tracker`.
async fn run(
    connection: &Connection,
    migration: &Migration,
    statements: &[crate::script::Statement<'_>],
    mut tracker: Option<&mut Tracker>,
    watch: Option<&Watch>,
) -> Result<()> {
    let located = |offset: usize, sqlstate: &str, message: String, detail: Option<String>| {
        let (line, column) = line_column(&migration.sql, offset);
        Error::Migration {
            file: migration.path.clone(),
            line,
            column,
            sqlstate: sqlstate.to_owned(),
            message,
            detail,
        }
    };
    for statement in statements {
        let answer = connection.simple_raw(statement.text).await;
        if let Some(watch) = watch {
            watch.advance();
        }
        let error = match answer {
            Ok(Ok(_)) => {
                // A statement that only writes rows makes no object, and reading the
                // catalog's stamps after each of a seed file's thousands of INSERTs is
                // what made big migrations slow.
                if statement.writes_rows_only() {
                    continue;
                }
                if let Some(tracker) = tracker.as_deref_mut() {
                    let (line, _) = line_column(&migration.sql, statement.code_offset());
                    let here = Location {
                        file: migration.path.clone(),
                        line,
                    };
                    tracker
                        .observe(connection, &here, statement.changes_in_place())
                        .await?;
                }
                continue;
            }
            Ok(Err(error)) => error,
            Err(harness_error) => return Err(harness_error),
        };
        let Some(db) = error.as_db_error() else {
            return Err(Error::sql(
                format!("applying {}", migration.path.display()),
                &error,
            ));
        };
        let offset = match db.position() {
            Some(ErrorPosition::Original(position)) => {
                statement.offset + byte_of_position(statement.text, *position)
            }
            _ => statement.code_offset(),
        };
        let detail = [db.detail(), db.hint(), db.where_()]
            .into_iter()
            .flatten()
            .map(|part| part.replace('\n', " / "))
            .collect::<Vec<_>>();
        let detail = (!detail.is_empty()).then(|| detail.join("; "));
        return Err(located(
            offset,
            db.code().code(),
            db.message().to_owned(),
            detail,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_leading_digits_of_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("20251026000001_create_tenants_table.sql");
        std::fs::write(&path, "select 1;").unwrap();
        assert_eq!(Migration::read(&path).unwrap().version, "20251026000001");
    }

    #[test]
    fn discover_takes_sql_files_in_lexical_order_and_skips_subfolders() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["2_b.sql", "1_a.sql", "notes.md", "10_c.sql"] {
            std::fs::write(dir.path().join(name), "select 1;").unwrap();
        }
        std::fs::create_dir(dir.path().join("rollback")).unwrap();
        std::fs::write(dir.path().join("rollback/0_undo.sql"), "select 1;").unwrap();
        let names: Vec<String> = discover(dir.path())
            .unwrap()
            .iter()
            .map(Migration::file_name)
            .collect();
        assert_eq!(names, ["10_c.sql", "1_a.sql", "2_b.sql"]);
    }

    #[test]
    fn an_empty_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let error = discover(dir.path()).unwrap_err().to_string();
        assert!(
            error.starts_with(&dir.path().display().to_string()),
            "{error}"
        );
        assert!(error.contains("no *.sql migration files"), "{error}");
    }

    #[test]
    fn a_file_that_is_not_utf8_names_its_line_and_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1_latin1.sql");
        std::fs::write(&path, b"select 1;\nselect 'caf\xe9';\n").unwrap();
        let error = Migration::read(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "{}:2:12: 22021: byte 21 (0xe9, counting from 0) is not UTF-8",
                path.display()
            )),
            "{error}"
        );
    }

    #[test]
    fn files_that_look_like_migrations_but_are_not_applied_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["1_a.sql", "2_b.SQL", "3_c.sql.bak", "notes.md"] {
            std::fs::write(dir.path().join(name), "select 1;").unwrap();
        }
        let names: Vec<String> = ignored(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["2_b.SQL", "3_c.sql.bak"]);
    }
}
