//! The one way the harness acts as a principal, in three framings.
//!
//! Every request goes through the same protocol: SQL that would leave the principal is
//! refused before anything is sent; the transaction (or savepoint) is made the
//! request's principal in one settings statement (role, claims, method, path, headers,
//! settings: [`Request::settings_sql`]) and the session is checked; the pre-request
//! function runs; then the statement; then the session is checked again. A pipeline
//! sets the principal once and each request's method and path before it. A session
//! that is not the principal's role, is a superuser, bypasses row security
//! (service_role aside, which only ever serves as a control) or carries rewritten
//! claims is refused, never judged.
//!
//! What differs is how requests are framed in the server's transactions ([`Frame`]): a
//! transaction of their own on a login of their own, as PostgREST sends them; a
//! savepoint in the owner's open transaction, as scenario steps run; or one principal's
//! requests pipelined in one round trip, each in a savepoint rolled back before the
//! next, as the property probes run.

use super::prepared::{Message, Part};
use super::{statement, Failure, Outcome, Request, Rows};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::model::Principal;

/// How requests are framed in the server's transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A transaction of its own: committed when the request succeeds and `commit` says
    /// so (as PostgREST does), else rolled back.
    Transaction { commit: bool },
    /// A savepoint in the transaction the caller holds open: kept when the request
    /// succeeds, may write and `keep` says so (as a committed request would be, minus
    /// the settings its own transaction would have taken with it), else rolled back.
    Savepoint { keep: bool },
}

/// What the server says about the session, in text: user, superuser, bypass, row
/// security, the claims and the per-claim `sub` setting `auth.uid()` reads first.
pub(crate) const SESSION_SQL: &str =
    "select current_user::text, r.rolsuper::text, r.rolbypassrls::text, \
     current_setting('row_security'), \
     coalesce(current_setting('request.jwt.claims', true), ''), \
     coalesce(current_setting('request.jwt.claim.sub', true), '') \
     from pg_roles r where r.rolname = current_user";

/// Sends `request` on `connection` as `frame` says: the protocol, one statement at a
/// time, so that a failure while setting the context is told from the statement's own.
pub async fn send(
    connection: &Connection,
    api: &super::Api,
    frame: Frame,
    request: &Request,
) -> Result<Outcome> {
    refuse_role_switch(request)?;
    connection.take_notices();
    let opened = matches!(frame, Frame::Transaction { .. });
    connection
        .batch(&match frame {
            Frame::Transaction { .. } => request.begin_sql(api),
            Frame::Savepoint { .. } => "savepoint request".to_owned(),
        })
        .await?;
    let acted = act(connection, api, request, opened).await;
    let mut result = match acted {
        Ok(result) => result,
        Err(error) => {
            let _ = connection.batch(undo(frame)).await;
            return Err(error);
        }
    };
    let close = match frame {
        Frame::Transaction { commit } if commit && result.is_ok() => "commit".to_owned(),
        Frame::Savepoint { keep } if keep && result.is_ok() && !request.read_only => {
            format!("release savepoint request; {}", request.reset_sql(api))
        }
        _ => undo(frame).to_owned(),
    };
    if let Err(error) = connection.batch(&close).await {
        // A deferred constraint or trigger may refuse the commit itself.
        let _ = connection.batch(undo(frame)).await;
        match error {
            Error::Sql {
                sqlstate, message, ..
            } => {
                result = Err(Failure {
                    sqlstate,
                    message,
                    routine: String::new(),
                    while_setting_context: false,
                })
            }
            other => return Err(other),
        }
    }
    connection.sync_notices().await?;
    Ok(Outcome {
        result,
        notices: connection.take_notices(),
    })
}

/// What ends a framed request without keeping anything.
fn undo(frame: Frame) -> &'static str {
    match frame {
        Frame::Transaction { .. } => "rollback",
        Frame::Savepoint { .. } => "rollback to savepoint request; release savepoint request",
    }
}

/// The protocol inside the frame: become the principal and prove it, apply the call's
/// settings, run the statement, prove the principal again. The server's refusal is the
/// result; a session that is not the principal's is an error. `opened` says the request
/// has a transaction of its own, opened as [`Request::begin_sql`] says.
async fn act(
    connection: &Connection,
    api: &super::Api,
    request: &Request,
    opened: bool,
) -> Result<std::result::Result<Rows, Failure>> {
    // All the request's settings in one statement, as PostgREST sends them, and the
    // session checked right after them.
    let settings = request.settings_sql(api, opened);
    if !settings.is_empty() {
        match statement(connection, &format!("{settings}; {SESSION_SQL}")).await? {
            Ok(rows) => judge(request, &rows)?,
            Err(failure) => return Err(cannot_check(request, &failure)),
        }
    }
    let after = request.after_settings(api);
    if !after.is_empty() {
        if let Err(failure) = statement(connection, &after.join("; ")).await? {
            return Ok(Err(Failure {
                while_setting_context: true,
                ..failure
            }));
        }
    }
    let result = match safeupdate(request) {
        Some(refusal) => Err(refusal),
        None => statement(connection, &request.sql).await?,
    };
    // The login may switch to service_role (or is the owner), so SQL that switched role
    // or claims would have run with row security bypassed: such a step proves nothing.
    if result.is_ok() && request.who.role().is_some() {
        match statement(connection, SESSION_SQL).await? {
            Ok(rows) => judge(request, &rows)?,
            Err(failure) => return Err(cannot_check(request, &failure)),
        }
    }
    Ok(result)
}

/// What Supabase's pg-safeupdate answers `request`, if it refuses it: the library is
/// preloaded for the API's login, and refuses an UPDATE or DELETE without a `WHERE`
/// before it runs (the library is not packaged for plain PostgreSQL, so the harness
/// answers for it, from the parse tree).
fn safeupdate(request: &Request) -> Option<Failure> {
    request.who.role()?;
    let command = crate::script::unfiltered_write(&request.sql)?;
    Some(Failure {
        sqlstate: "21000".into(),
        message: format!("{command} requires a WHERE clause"),
        routine: String::new(),
        while_setting_context: false,
    })
}

fn cannot_check(request: &Request, failure: &Failure) -> Error {
    Error::UnsafePrincipal {
        principal: request.who.to_string(),
        reason: format!("cannot assume or check the session: {}", failure.message),
    }
}

/// One principal's requests pipelined in the caller's open transaction: every
/// statement of the protocol built at once, so that they travel in one round trip,
/// each request in a savepoint rolled back before the next (nothing stays), and the
/// session checked before the first and after the last.
pub struct Pipeline<'r> {
    /// The principal's identity as every request of the pipeline sets it.
    entry: &'r Request,
    requests: Vec<&'r Request>,
    /// What safeupdate answers each request it refuses, read once from its parse tree.
    refused: Vec<Option<Failure>>,
}

impl<'r> Pipeline<'r> {
    /// A pipeline entered as `entry`; refuses any request that would leave the
    /// principal, or that is not `entry`'s principal.
    pub fn new(entry: &'r Request, requests: Vec<&'r Request>) -> Result<Pipeline<'r>> {
        for request in &requests {
            refuse_role_switch(request)?;
            if request.who != entry.who {
                return Err(Error::UnsafePrincipal {
                    principal: entry.who.to_string(),
                    reason: format!(
                        "a pipeline of {} holds a request of {}",
                        entry.who, request.who
                    ),
                });
            }
        }
        let refused = requests.iter().map(|request| safeupdate(request)).collect();
        Ok(Pipeline {
            entry,
            requests,
            refused,
        })
    }

    /// The messages, in order: the entry and its check; each request's call and
    /// statement in its savepoint; the closing check; the rollback of it all.
    pub fn statements(&self, api: &super::Api) -> Vec<Message> {
        let control = |sql: &str| Part::Control(sql.to_owned());
        let query = |sql: &str| Part::Query(sql.to_owned());
        let role = self.entry.who.role();
        let mut messages = vec![Message {
            parts: vec![
                control("savepoint principal"),
                query(&self.entry.identity_sql(api)),
                query(SESSION_SQL),
                control("savepoint request"),
            ],
            in_request: false,
            role,
        }];
        for (request, refused) in self.requests.iter().zip(&self.refused) {
            let mut parts = vec![control("rollback to savepoint request")];
            for statement in request.call_statements(api) {
                parts.push(match statement.as_str() {
                    super::request::SET_CONSTRAINTS_IMMEDIATE => control(&statement),
                    _ => query(&statement),
                });
            }
            // A request safeupdate refuses is not sent; its answer is put in by
            // [`Pipeline::judge`].
            parts.push(match refused {
                Some(_) => control("select 1"),
                None => query(&request.sql),
            });
            messages.push(Message {
                parts,
                in_request: true,
                role,
            });
        }
        messages.push(Message {
            parts: vec![control("rollback to savepoint request"), query(SESSION_SQL)],
            in_request: false,
            role,
        });
        messages.push(Message {
            parts: vec![control("rollback to savepoint principal")],
            in_request: false,
            role,
        });
        messages
    }

    /// The answers to [`Pipeline::statements`] judged: each request's result, in order,
    /// once both session checks show the principal.
    pub fn judge(
        &self,
        mut answers: Vec<std::result::Result<Rows, Failure>>,
    ) -> Result<Vec<std::result::Result<Rows, Failure>>> {
        let rollback = answers.pop().expect("the rollback was sent");
        let after = answers.pop().expect("the closing session check was sent");
        let before = answers.remove(0);
        for session in [&before, &after] {
            match session {
                Ok(rows) => judge(self.entry, rows)?,
                Err(failure) => return Err(cannot_check(self.entry, failure)),
            }
        }
        if let Err(failure) = rollback {
            return Err(Error::Sql {
                context: "rolling back a principal's requests".into(),
                sqlstate: failure.sqlstate,
                message: failure.message,
            });
        }
        Ok(answers
            .into_iter()
            .zip(&self.refused)
            .map(|(answer, refused)| match (answer, refused) {
                // A failure while setting the context comes first, as on the server.
                (Ok(_), Some(refusal)) => Err(refusal.clone()),
                (answer, _) => answer,
            })
            .collect())
    }
}

/// Whether a session whose [`SESSION_SQL`] answer is `rows` may act as `request`'s
/// principal, with the claims `request` set.
fn judge(request: &Request, rows: &Rows) -> Result<()> {
    let Some(role) = request.who.role() else {
        return Ok(());
    };
    let text = |i: usize| {
        rows.rows
            .first()
            .and_then(|row| row.get(i).cloned().flatten())
            .unwrap_or_default()
    };
    let session = Session {
        current_user: text(0),
        // PostgreSQL's text output of a boolean is `true` here (a cast), `t` on the wire.
        superuser: matches!(text(1).as_str(), "true" | "t"),
        bypass_rls: matches!(text(2).as_str(), "true" | "t"),
        row_security: text(3),
        claims: text(4),
        legacy_sub: text(5),
    };
    session.judge(request, role, request.claims().as_deref())
}

/// What the server says about the session a step is about to run in.
struct Session {
    current_user: String,
    superuser: bool,
    bypass_rls: bool,
    row_security: String,
    /// `request.jwt.claims`, and the per-claim setting `auth.uid()` reads first: SQL
    /// that rewrote either would act as somebody else.
    claims: String,
    legacy_sub: String,
}

impl Session {
    /// Whether a step may run in this session as `request`'s principal (whose role is
    /// `role` and whose claims the harness set to `claims`).
    fn judge(&self, request: &Request, role: &str, claims: Option<&str>) -> Result<()> {
        let refuse = |reason: String| Error::UnsafePrincipal {
            principal: request.who.to_string(),
            reason,
        };
        if self.current_user != role {
            return Err(refuse(format!(
                "current_user is {}, not {role}",
                self.current_user
            )));
        }
        if self.superuser {
            return Err(refuse(format!("role {role} is a superuser")));
        }
        if self.bypass_rls && request.who.principal != Principal::ServiceRole {
            return Err(refuse(format!("role {role} has BYPASSRLS")));
        }
        if claims.is_some_and(|claims| claims != self.claims) || !self.legacy_sub.is_empty() {
            return Err(refuse(
                "the JWT claims were rewritten inside the step".into(),
            ));
        }
        if self.row_security != "on" {
            return Err(refuse(format!("row_security is {}", self.row_security)));
        }
        Ok(())
    }
}

/// Refuses request SQL that would leave the principal's role: such a step proves
/// nothing.
fn refuse_role_switch(request: &Request) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::UnsafePrincipal {
            principal: request.who.to_string(),
            reason,
        })
    };
    for statement in crate::script::split(&request.sql) {
        // A step is one request: ending or nesting its transaction would leave the
        // principal's role and claims, as a COMMIT ends SET LOCAL.
        if statement.controls_transaction() {
            return refuse(format!(
                "the step's SQL controls the transaction ({}); a step is one request",
                statement.keyword().to_uppercase()
            ));
        }
    }
    if request.who.role().is_none() {
        return Ok(());
    }
    match crate::script::leaves_principal(&request.sql) {
        None => Ok(()),
        Some(how) => refuse(format!(
            "the step's SQL changes who it runs as ({how}); it would not run as {}",
            request.who
        )),
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
