//! Acting as a principal, the way PostgREST does: who acts ([`Identity`], with its
//! claims), the request it sends ([`Request`]), and the sessions that send it through
//! one protocol (`session`): a login of its own that commits ([`Actor`]), a savepoint
//! in the owner's transaction, or a pipeline of one principal's requests.
//!
//! Before any statement runs, the session checks inside that very transaction that
//! `current_user` is the role it claims to be and that the role is neither superuser
//! nor BYPASSRLS (`service_role` aside, which bypasses by design). A step that would
//! run with row security bypassed proves nothing, so it is refused, not evaluated.

use tokio_postgres::SimpleQueryMessage;

use crate::connection::{Connection, Endpoint, Notice};
use crate::error::{Error, Result};
use crate::model::Principal;

mod prepared;
mod principal;
mod request;
mod session;

pub use crate::model::Denial;
pub use prepared::{send as send_pipelined, Message};
pub use principal::{Claims, Identity};
pub use request::{Api, ContextApi, Method, Request};
pub use session::{send, Frame, Pipeline};

/// How a step's transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Keep what the step wrote, as a PostgREST request does.
    Commit,
    /// Throw it away, for probes that must leave no trace.
    Rollback,
}

/// The rows a statement returned, as text, with the number of rows it touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// From the command tag: rows returned, inserted, updated or deleted.
    pub affected: u64,
}

/// A statement the server refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub sqlstate: String,
    pub message: String,
    /// The server function that raised it (the error's `routine` field), which says
    /// what refused in any language the server speaks.
    pub routine: String,
    /// Where it failed: while the request's context was applied (the pre-request
    /// function, or the context function), or in the step's SQL.
    pub while_setting_context: bool,
}

impl Failure {
    /// Whether it refuses: any 42501, or one of the `codes` a schema's guards raise.
    pub fn refused(&self, codes: &[String]) -> bool {
        self.sqlstate == "42501" || codes.contains(&self.sqlstate)
    }

    /// For SQLSTATE 42501, which kind of denial it is: told by the routine that raised
    /// it, never by the message, which the server may have translated.
    pub fn denial(&self) -> Option<Denial> {
        if self.sqlstate != "42501" {
            return None;
        }
        Some(match self.routine.as_str() {
            r if r.starts_with("aclcheck_error") => Denial::Privilege,
            "ExecWithCheckOptions" => Denial::Policy,
            // A server that sends no routine: the English text is all there is.
            "" if self.message.contains("row-level security") => Denial::Policy,
            "" if self.message.starts_with("permission denied for") => Denial::Privilege,
            _ => Denial::Guard,
        })
    }
}

/// What a step did: its rows or its failure, and the notices it raised.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: std::result::Result<Rows, Failure>,
    pub notices: Vec<Notice>,
}

/// A session that sends requests as one principal, PostgREST style: logged in as
/// `authenticator`, one transaction per request.
pub struct Actor {
    connection: Connection,
    who: Identity,
    api: Api,
}

impl Actor {
    /// Opens a session for `who`. `authenticator` is the PostgREST login; without it (a
    /// shared server whose `authenticator` we may not touch), `admin` logs in and
    /// switches role the same way.
    pub async fn open(
        who: Identity,
        authenticator: &Endpoint,
        admin: &Endpoint,
        api: &Api,
    ) -> Result<Actor> {
        let endpoint = match who.principal {
            Principal::Owner => admin,
            _ => authenticator,
        };
        Ok(Actor {
            connection: Connection::open(endpoint).await?,
            who,
            api: api.clone(),
        })
    }

    pub fn who(&self) -> &Identity {
        &self.who
    }

    /// The request for `sql` as this actor's principal, in the tenant context
    /// `context` (the header's value) when there is one.
    pub fn request(&self, sql: &str, context: Option<&str>) -> Request {
        let request = Request::new(&self.api, self.who.clone(), sql);
        match context {
            Some(tenant) => request.in_context(&self.api, tenant),
            None => request,
        }
    }

    /// Runs `sql` as one request, with the tenant context `context` in its header.
    pub async fn run(
        &self,
        sql: &str,
        context: Option<uuid::Uuid>,
        finish: Finish,
    ) -> Result<Outcome> {
        let tenant = context.map(|t| t.to_string());
        let request = self.request(sql, tenant.as_deref());
        self.send(&request, finish).await
    }

    /// Sends `request` in a transaction of its own, which `finish` commits (as
    /// PostgREST does when the request succeeds) or rolls back.
    pub async fn send(&self, request: &Request, finish: Finish) -> Result<Outcome> {
        let frame = Frame::Transaction {
            commit: finish == Finish::Commit,
        };
        session::send(&self.connection, &self.api, frame, request).await
    }
}

/// Runs statements under test on `connection`; the server's refusal is a result, not
/// an error.
pub async fn statement(
    connection: &Connection,
    sql: &str,
) -> Result<std::result::Result<Rows, Failure>> {
    match connection.simple_raw(sql).await? {
        Ok(messages) => Ok(Ok(collect_rows(messages))),
        Err(error) => match error.as_db_error() {
            Some(db) => Ok(Err(Failure {
                sqlstate: db.code().code().to_owned(),
                message: db.message().to_owned(),
                routine: db.routine().unwrap_or_default().to_owned(),
                while_setting_context: false,
            })),
            None => Err(Error::sql("a statement under test", &error)),
        },
    }
}

/// The result of the last statement of a simple-protocol answer.
fn collect_rows(messages: Vec<SimpleQueryMessage>) -> Rows {
    let mut current = Rows::default();
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                current = Rows {
                    columns: columns.iter().map(|c| c.name().to_owned()).collect(),
                    ..Rows::default()
                };
            }
            SimpleQueryMessage::Row(row) => {
                current.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                );
            }
            SimpleQueryMessage::CommandComplete(count) => current.affected = count,
            _ => {}
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_are_told_apart_by_kind() {
        let failure = |routine: &str, message: &str| Failure {
            sqlstate: "42501".into(),
            message: message.into(),
            routine: routine.into(),
            while_setting_context: false,
        };
        // The routine decides, whatever language the message is in.
        assert_eq!(
            failure(
                "ExecWithCheckOptions",
                "la nouvelle ligne viole la politique"
            )
            .denial(),
            Some(Denial::Policy)
        );
        assert_eq!(
            failure("aclcheck_error", "droit refusé pour la table agents").denial(),
            Some(Denial::Privilege)
        );
        assert_eq!(
            failure("exec_stmt_raise", "not a member of tenant").denial(),
            Some(Denial::Guard)
        );
        // Without a routine, the English text is all there is.
        assert_eq!(
            failure(
                "",
                "new row violates row-level security policy for table \"agents\""
            )
            .denial(),
            Some(Denial::Policy)
        );
        assert_eq!(
            failure("", "permission denied for table resource_sharing_audit").denial(),
            Some(Denial::Privilege)
        );
        let failure = |message: &str| failure("", message);
        let other = Failure {
            sqlstate: "23505".into(),
            ..failure("duplicate key")
        };
        assert_eq!(other.denial(), None);
    }
}
