//! Acting as a principal, the way PostgREST does: the principals and their claims, the
//! sessions that send a [`Request`] (an `authenticator` login, one transaction per
//! request), and the checks that a session really is its principal.
//!
//! Before any step runs, the actor checks inside that very transaction that
//! `current_user` is the role it claims to be and that the role is neither superuser
//! nor BYPASSRLS (`service_role` aside, which bypasses by design). A step that would
//! run with row security bypassed proves nothing, so it is refused, not evaluated.

use std::fmt;

use serde_json::{json, Map, Value};
use tokio_postgres::SimpleQueryMessage;
use uuid::Uuid;

use crate::connection::{Connection, Endpoint, Notice};
use crate::error::{Error, Result};
mod request;

pub use crate::model::Denial;
pub use request::{Api, ContextApi, Method, Request};

/// Who acts.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// `anon`, with claims `{"role": "anon"}`.
    Anon,
    /// `authenticated`, with the given claims (usually from [`Claims::for_user`]).
    Authenticated { name: String, claims: Claims },
    /// `service_role`, which bypasses row security on Supabase.
    ServiceRole,
    /// The migration owner: fixtures and schema checks only, never a policy check.
    Owner,
}

impl Principal {
    /// An authenticated user with Supabase Studio's impersonation claims.
    pub fn user(name: &str, id: Uuid, email: &str) -> Principal {
        Principal::Authenticated {
            name: name.to_owned(),
            claims: Claims::for_user(id, email),
        }
    }

    /// The database role the step runs as, `None` for the owner.
    pub fn role(&self) -> Option<&'static str> {
        match self {
            Principal::Anon => Some("anon"),
            Principal::Authenticated { .. } => Some("authenticated"),
            Principal::ServiceRole => Some("service_role"),
            Principal::Owner => None,
        }
    }

    pub(crate) fn claims_json(&self) -> Option<String> {
        match self {
            Principal::Anon => Some(json!({"role": "anon"}).to_string()),
            Principal::Authenticated { claims, .. } => {
                Some(Value::Object(claims.0.clone()).to_string())
            }
            Principal::ServiceRole => Some(json!({"role": "service_role"}).to_string()),
            Principal::Owner => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Anon => f.write_str("anon"),
            Principal::Authenticated { name, .. } => write!(f, "user {name}"),
            Principal::ServiceRole => f.write_str("service_role"),
            Principal::Owner => f.write_str("owner"),
        }
    }
}

/// The JWT claims of an authenticated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// The claims Supabase Studio uses to impersonate a user. Times are fixed, not read
    /// from the clock, so that runs (and snapshots) are reproducible.
    pub fn for_user(id: Uuid, email: &str) -> Claims {
        let claims = json!({
            "aud": "authenticated",
            "iss": "rls-harness",
            "iat": 1_761_436_800u64,
            "exp": 4_102_444_800u64,
            "sub": id.to_string(),
            "email": email,
            "phone": "",
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": 1_761_436_800u64}],
            "session_id": Uuid::new_v5(&id, b"session").to_string(),
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {"email": email, "email_verified": true},
            "is_anonymous": false,
        });
        match claims {
            Value::Object(map) => Claims(map),
            _ => unreachable!("a json! object literal is an object"),
        }
    }

    /// Replaces top-level claims; a `null` value removes the claim.
    pub fn with_overrides(mut self, overrides: &Map<String, Value>) -> Claims {
        for (key, value) in overrides {
            if value.is_null() {
                self.0.remove(key);
            } else {
                self.0.insert(key.clone(), value.clone());
            }
        }
        self
    }
}

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
    principal: Principal,
    api: Api,
}

impl Actor {
    /// Opens a session for `principal`. `authenticator` is the PostgREST login; without
    /// it (a shared server whose `authenticator` we may not touch), `admin` logs in and
    /// switches role the same way.
    pub async fn open(
        principal: Principal,
        authenticator: &Endpoint,
        admin: &Endpoint,
        api: &Api,
    ) -> Result<Actor> {
        let endpoint = match principal {
            Principal::Owner => admin,
            _ => authenticator,
        };
        Ok(Actor {
            connection: Connection::open(endpoint).await?,
            principal,
            api: api.clone(),
        })
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The request for `sql` as this actor's principal, in the tenant context
    /// `context` (the header's value) when there is one.
    pub fn request(&self, sql: &str, context: Option<&str>) -> Request {
        let request = Request::new(&self.api, self.principal.clone(), sql);
        match context {
            Some(tenant) => request.in_context(&self.api, tenant),
            None => request,
        }
    }

    /// Runs `sql` as one request, with the tenant context `context` in its header.
    pub async fn run(&self, sql: &str, context: Option<Uuid>, finish: Finish) -> Result<Outcome> {
        let tenant = context.map(|t| t.to_string());
        let request = self.request(sql, tenant.as_deref());
        self.send(&request, finish).await
    }

    /// Sends `request` in a transaction of its own, which `finish` commits (as
    /// PostgREST does when the request succeeds) or rolls back.
    pub async fn send(&self, request: &Request, finish: Finish) -> Result<Outcome> {
        let connection = &self.connection;
        connection.take_notices();
        connection.batch("begin").await?;
        let outcome = transact(connection, &self.api, request).await;
        let mut result = match outcome {
            Ok(result) => result,
            Err(error) => {
                let _ = connection.batch("rollback").await;
                return Err(error);
            }
        };
        let end = if result.is_ok() && finish == Finish::Commit {
            "commit"
        } else {
            "rollback"
        };
        if let Err(error) = connection.batch(end).await {
            // A deferred constraint or trigger may refuse the commit itself.
            let _ = connection.batch("rollback").await;
            match error {
                Error::Sql {
                    sqlstate, message, ..
                } => {
                    result = Err(Failure {
                        sqlstate,
                        message,
                        routine: String::new(),
                        while_setting_context: false,
                    });
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
}

/// Runs `request` in the open transaction (or savepoint) of `connection`: becomes its
/// principal and proves it, applies the call's settings and context, runs the
/// statement, and proves the principal again. The server's refusal is the result; a
/// session that bypasses row security, or SQL that leaves the principal, is an error.
pub(crate) async fn transact(
    connection: &Connection,
    api: &Api,
    request: &Request,
) -> Result<std::result::Result<Rows, Failure>> {
    refuse_role_switch(&request.principal, &request.sql)?;
    assume(connection, api, request).await?;
    if let Err(failure) = statement(connection, &request.call_sql(api)).await? {
        return Ok(Err(Failure {
            while_setting_context: true,
            ..failure
        }));
    }
    let result = statement(connection, &request.sql).await?;
    // The login may switch to service_role (or is the owner), so SQL that switched role
    // or claims would have run with row security bypassed: such a step proves nothing.
    if result.is_ok() {
        verify(connection, request).await?;
    }
    Ok(result)
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

/// What the session runs as, in text, for [`judge_session`].
pub(crate) const SESSION_SQL: &str =
    "select current_user::text, r.rolsuper::text, r.rolbypassrls::text, \
     current_setting('row_security'), \
     coalesce(current_setting('request.jwt.claims', true), ''), \
     coalesce(current_setting('request.jwt.claim.sub', true), '') \
     from pg_roles r where r.rolname = current_user";

/// Whether a session whose [`SESSION_SQL`] answer is `rows` may act as `request`'s
/// principal, with the claims `request` set.
pub(crate) fn judge_session(request: &Request, rows: &Rows) -> Result<()> {
    let principal = &request.principal;
    let Some(role) = principal.role() else {
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
    session.judge(principal, role, request.claims().as_deref())
}

/// Switches the open transaction (or savepoint) of `connection` to `request`'s
/// principal, as PostgREST does (role, claims, headers, search path, the role's own
/// settings, all local), then proves the switch took and bypasses nothing. The owner
/// stays the owner. Whoever calls this ends the transaction (or savepoint) to switch
/// back.
pub async fn assume(connection: &Connection, api: &Api, request: &Request) -> Result<()> {
    let sql = request.identity_sql(api);
    if sql.is_empty() {
        return Ok(());
    }
    connection.batch(&sql).await?;
    verify(connection, request).await
}

/// Proves that `connection` runs as `request`'s principal's role, with the claims the
/// request set, without bypassing row security.
pub async fn verify(connection: &Connection, request: &Request) -> Result<()> {
    if request.principal.role().is_none() {
        return Ok(());
    }
    match statement(connection, SESSION_SQL).await? {
        Ok(rows) => judge_session(request, &rows),
        Err(failure) => Err(Error::UnsafePrincipal {
            principal: request.principal.to_string(),
            reason: format!("cannot read the session's role: {}", failure.message),
        }),
    }
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
    /// Whether a step may run in this session as `principal` (whose role is `role` and
    /// whose claims the harness set to `claims`).
    fn judge(&self, principal: &Principal, role: &str, claims: Option<&str>) -> Result<()> {
        let refuse = |reason: String| Error::UnsafePrincipal {
            principal: principal.to_string(),
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
        if self.bypass_rls && *principal != Principal::ServiceRole {
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

/// Refuses step SQL that would leave the principal's role: such a step proves nothing.
pub(crate) fn refuse_role_switch(principal: &Principal, sql: &str) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::UnsafePrincipal {
            principal: principal.to_string(),
            reason,
        })
    };
    for statement in crate::script::split(sql) {
        // A step is one request: ending or nesting its transaction would leave the
        // principal's role and claims, as a COMMIT ends SET LOCAL.
        if statement.controls_transaction() {
            return refuse(format!(
                "the step's SQL controls the transaction ({}); a step is one request",
                statement.keyword().to_uppercase()
            ));
        }
        if principal.role().is_none() {
            continue;
        }
        let code = statement.text.to_ascii_lowercase();
        let words: Vec<&str> = code.split_whitespace().collect();
        let switches = matches!(words.first(), Some(&"set") | Some(&"reset"))
            && words
                .iter()
                .skip(1)
                .take(3)
                .any(|w| *w == "role" || *w == "authorization");
        let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let forges_claims = compact.contains("set_config('request.jwt")
            || (words.first() == Some(&"set")
                && words
                    .iter()
                    .skip(1)
                    .take(2)
                    .any(|w| w.starts_with("request.jwt")));
        if switches
            || forges_claims
            || compact.contains("set_config('role'")
            || compact.contains("set_config('session_authorization'")
        {
            return refuse(format!(
                "the step's SQL switches role or claims ({}); it would not run as {principal}",
                words.join(" ")
            ));
        }
    }
    Ok(())
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
    fn user_claims_look_like_studio_impersonation() {
        let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, b"dana");
        let claims = Claims::for_user(id, "dana@example.test");
        assert_eq!(claims.0["sub"], id.to_string());
        assert_eq!(claims.0["role"], "authenticated");
        assert_eq!(claims.0["aud"], "authenticated");
        assert_eq!(claims.0["is_anonymous"], false);
        assert!(claims.0["app_metadata"].is_object());
        assert!(claims.0["user_metadata"].is_object());
    }

    #[test]
    fn overrides_replace_and_null_removes() {
        let id = Uuid::nil();
        let overrides = json!({"sub": null, "user_metadata": {"tenant_id": "x"}});
        let claims = Claims::for_user(id, "a@b").with_overrides(overrides.as_object().unwrap());
        assert!(!claims.0.contains_key("sub"));
        assert_eq!(claims.0["user_metadata"], json!({"tenant_id": "x"}));
    }

    #[test]
    fn sessions_that_bypass_row_security_are_refused() {
        let session = |current: &str, superuser, bypass_rls| Session {
            current_user: current.into(),
            superuser,
            bypass_rls,
            row_security: "on".into(),
            claims: String::new(),
            legacy_sub: String::new(),
        };
        let user = Principal::user("mo", Uuid::nil(), "mo@x");
        assert!(session("authenticated", false, false)
            .judge(&user, "authenticated", None)
            .is_ok());
        let refused =
            |s: Session, p: &Principal, role| s.judge(p, role, None).unwrap_err().to_string();
        assert_eq!(
            refused(
                session("authenticated", false, true),
                &user,
                "authenticated"
            ),
            "refusing to act as user mo: role authenticated has BYPASSRLS"
        );
        assert_eq!(
            refused(session("anon", true, false), &Principal::Anon, "anon"),
            "refusing to act as anon: role anon is a superuser"
        );
        assert_eq!(
            refused(
                session("authenticator", false, false),
                &user,
                "authenticated"
            ),
            "refusing to act as user mo: current_user is authenticator, not authenticated"
        );
        // service_role bypasses by design; it is the vacuity control, never a check.
        assert!(session("service_role", false, true)
            .judge(&Principal::ServiceRole, "service_role", None)
            .is_ok());
    }

    #[test]
    fn sessions_whose_claims_were_rewritten_are_refused() {
        let user = Principal::user("mo", Uuid::nil(), "mo@x");
        let session = |claims: &str, legacy_sub: &str| Session {
            current_user: "authenticated".into(),
            superuser: false,
            bypass_rls: false,
            row_security: "on".into(),
            claims: claims.into(),
            legacy_sub: legacy_sub.into(),
        };
        let set = r#"{"sub":"a"}"#;
        assert!(session(set, "")
            .judge(&user, "authenticated", Some(set))
            .is_ok());
        for forged in [session(r#"{"sub":"b"}"#, ""), session(set, "b")] {
            let error = forged
                .judge(&user, "authenticated", Some(set))
                .unwrap_err()
                .to_string();
            assert_eq!(
                error,
                "refusing to act as user mo: the JWT claims were rewritten inside the step"
            );
        }
    }

    #[test]
    fn step_sql_that_switches_role_is_refused() {
        let user = Principal::user("mo", Uuid::nil(), "mo@x");
        for sql in [
            "set role service_role; select 1",
            "SET LOCAL ROLE postgres",
            "reset role",
            "set session authorization postgres",
            "select set_config( 'role', 'service_role', true)",
            "select set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-000000000001', true)",
            "set local request.jwt.claims = '{}'",
        ] {
            let error = refuse_role_switch(&user, sql).unwrap_err().to_string();
            assert!(
                error.starts_with("refusing to act as user mo"),
                "{sql}: {error}"
            );
        }
        assert!(refuse_role_switch(&user, "select * from user_roles where role = 'admin'").is_ok());
        assert!(refuse_role_switch(&Principal::Owner, "set role anon").is_ok());
    }

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
