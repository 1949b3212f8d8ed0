//! The one error type of the library: a kind plus the place it happened.
//!
//! Every variant renders as `place: what went wrong` in lowercase without a trailing
//! period, so that a user can jump straight to the file, line or thing to fix. Only
//! `main` and tests wrap it further (with `anyhow`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What went wrong while starting a backend, migrating or acting as a principal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No backend can run here; the message says what to install or set.
    #[error("no postgres backend is available: {0}")]
    NoBackend(String),

    /// A backend was chosen but could not be started.
    #[error("{backend} backend: {message}")]
    Backend {
        backend: &'static str,
        message: String,
    },

    /// A configuration value (environment variable or flag) is malformed.
    #[error("{name}: {message}")]
    Config { name: String, message: String },

    /// A file could not be read.
    /// A file could not be read. The OS error is part of the message and not a
    /// `source`, so that a report that prints the chain says it once.
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    /// A migration failed; nothing of that file was applied.
    #[error("{}:{line}:{column}: {sqlstate}: {message}{}", file.display(), detail_suffix(.detail))]
    Migration {
        file: PathBuf,
        line: usize,
        column: usize,
        sqlstate: String,
        message: String,
        detail: Option<String>,
    },

    /// A query the harness itself sends (not one under test) failed.
    #[error("{context}: {sqlstate}: {message}")]
    Sql {
        context: String,
        sqlstate: String,
        message: String,
    },

    /// A query ran past its client-side deadline and was cancelled.
    #[error("{context}: no answer within {}s, query cancelled", timeout.as_secs())]
    Timeout { context: String, timeout: Duration },

    /// The connection to the server broke or could not be opened.
    #[error("{context}: {message}")]
    Connection { context: String, message: String },

    /// A principal's session does not run as the role it claims, or bypasses row security;
    /// anything it would check would prove nothing.
    #[error("refusing to act as {principal}: {reason}")]
    UnsafePrincipal { principal: String, reason: String },

    /// Mistakes in the files people write (`rls-harness.toml`, scenario files), each at
    /// its line.
    #[error("{}", lines(.0))]
    Files(Vec<crate::located::FileError>),

    /// The process-wide harness failed to start; every later caller sees the same cause.
    #[error("{0}")]
    Shared(Arc<Error>),
}

fn lines(errors: &[crate::located::FileError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn detail_suffix(detail: &Option<String>) -> String {
    match detail {
        Some(detail) => format!(" ({detail})"),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn backend(backend: &'static str, message: impl Into<String>) -> Self {
        Error::Backend {
            backend,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }

    /// Wraps a driver error from a query the harness sends, keeping its SQLSTATE.
    pub(crate) fn sql(context: impl Into<String>, error: &tokio_postgres::Error) -> Self {
        let context = context.into();
        match error.as_db_error() {
            Some(db) => Error::Sql {
                context,
                sqlstate: db.code().code().to_owned(),
                message: db.message().to_owned(),
            },
            None => Error::Connection {
                context,
                message: error.to_string(),
            },
        }
    }

    /// The SQLSTATE of a failed query, when the server reported one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Sql { sqlstate, .. } | Error::Migration { sqlstate, .. } => Some(sqlstate),
            Error::Shared(inner) => inner.sqlstate(),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_error_names_file_line_column_and_sqlstate() {
        let error = Error::Migration {
            file: "migrations/0003_policies.sql".into(),
            line: 12,
            column: 5,
            sqlstate: "42P01".into(),
            message: "relation \"agentz\" does not exist".into(),
            detail: None,
        };
        assert_eq!(
            error.to_string(),
            "migrations/0003_policies.sql:12:5: 42P01: relation \"agentz\" does not exist"
        );
    }

    #[test]
    fn unsafe_principal_says_why_it_refuses() {
        let error = Error::UnsafePrincipal {
            principal: "user dana".into(),
            reason: "role authenticated has BYPASSRLS".into(),
        };
        assert_eq!(
            error.to_string(),
            "refusing to act as user dana: role authenticated has BYPASSRLS"
        );
    }
}
