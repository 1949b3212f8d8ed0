//! One request exactly as PostgREST makes it, the one way every check acts as a
//! principal.
//!
//! PostgREST runs each HTTP request in a transaction of its own: it sets the role
//! (`set_config('role', ...)`), the JWT claims, the method, path, headers and cookies,
//! the `search_path` and the impersonated role's own settings, all local to the
//! transaction; reads (and calls of STABLE or IMMUTABLE functions) run READ ONLY; its
//! pre-request function runs next; then the one statement. A [`Request`] holds all of
//! that, derived from the statement's SQL and the [`Api`] in front of the schema; the
//! sessions in `actor` (an authenticator login that commits, an owner's transaction
//! that rolls back, and the pipelined probe batches) all send it the same way, and
//! check the session before and after the statement.
//!
//! The tenant context travels as PostgREST would carry it: in the request's header,
//! read by the pre-request function. A step that needs several statements in one
//! transaction, or a statement PostgREST cannot send (`truncate`, `set_config` called
//! directly), still runs, and says that no API client can do it.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Map, Value};

use super::Identity;
use crate::connection::quote_literal;

/// The HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// What PostgREST is configured with in front of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// Every request's `search_path` (`db-schemas` and `db-extra-search-path`).
    pub search_path: String,
    /// `db-pre-request`, if configured.
    pub pre_request: Option<String>,
    /// How a tenant context travels, when the schema has one.
    pub context: Option<ContextApi>,
    /// The API roles' own settings (`alter role anon set statement_timeout = '3s'`),
    /// which PostgREST applies to each request of the role, as it reads them (see
    /// `catalog`): `(role, name, value)`.
    pub role_settings: Vec<(String, String, String)>,
    /// Each role's `default_transaction_isolation`, which PostgREST makes the isolation
    /// level of the role's requests.
    pub isolation: BTreeMap<String, String>,
    /// The volatility (`v`, `s`, `i`) of every function the API exposes, by name:
    /// a call of a stable or immutable one runs READ ONLY.
    pub volatility: BTreeMap<String, char>,
    /// Whether the database has a deferrable constraint or trigger, which a rolled-back
    /// write must make fire (see [`Request::call_statements`]).
    pub deferrable: bool,
}

/// How a request carries a tenant context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextApi {
    /// The header the tenant context travels in.
    pub header: String,
    /// Without a pre-request function, the function that sets a context in the
    /// request's own transaction (no API client can do that), `schema.name`.
    pub function: String,
    /// The setting the tenant context lives in.
    pub setting: String,
}

impl Default for Api {
    fn default() -> Api {
        Api {
            search_path: "public, extensions".into(),
            pre_request: None,
            context: None,
            role_settings: Vec::new(),
            isolation: BTreeMap::new(),
            volatility: BTreeMap::new(),
            deferrable: true,
        }
    }
}

impl Api {
    /// The header a tenant context travels in, if the schema has a context.
    pub fn context_header(&self) -> Option<&str> {
        self.context.as_ref().map(|c| c.header.as_str())
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub who: Identity,
    pub method: Method,
    /// `/agents`, `/rpc/set_tenant_context`.
    pub path: String,
    /// Header names in lower case, as PostgREST passes them on.
    pub headers: BTreeMap<String, String>,
    pub cookies: BTreeMap<String, String>,
    /// The statement (or, for a request no client can send, the statements).
    pub sql: String,
    pub read_only: bool,
    /// Why no API client can send this request, if none can.
    pub unreachable: Option<String>,
}

impl Request {
    /// A request as `who` for `sql`, its method, path and read-only mode derived from
    /// the statement, with the headers a browser client sends.
    pub fn new(api: &Api, who: Identity, sql: &str) -> Request {
        let shape = Shape::of(api, sql);
        let mut headers = BTreeMap::new();
        headers.insert("accept".to_owned(), "application/json".to_owned());
        Request {
            who,
            method: shape.method,
            path: shape.path,
            headers,
            cookies: BTreeMap::new(),
            sql: sql.to_owned(),
            read_only: shape.read_only,
            unreachable: shape.unreachable,
        }
    }

    /// The same request with a tenant context: the header, read by the pre-request
    /// function; without one, the context function called first in the same
    /// transaction, which no API client can do. A schema without a context has no
    /// header to send: the request stays as it is.
    pub fn in_context(mut self, api: &Api, tenant: &str) -> Request {
        let Some(context) = &api.context else {
            return self;
        };
        self.headers
            .insert(context.header.clone(), tenant.to_owned());
        if api.pre_request.is_none() && self.unreachable.is_none() {
            self.unreachable = Some(format!(
                "no pre-request function reads the {} header, so the context is set by {} in the request's own transaction",
                context.header, context.function
            ));
        }
        self
    }

    /// The same request with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.headers
            .insert(name.to_ascii_lowercase(), value.to_owned());
        self
    }

    /// The same request, marked as several statements in one transaction.
    pub fn in_one_transaction(mut self) -> Request {
        self.unreachable = Some(
            "several statements in one transaction: PostgREST runs one statement per request"
                .into(),
        );
        self
    }

    /// The JWT claims PostgREST passes on: the principal's, with `role` the database
    /// role the request runs as.
    pub fn claims(&self) -> Option<String> {
        let role = self.who.role()?;
        let mut claims = match self.who.claims_json().map(|c| serde_json::from_str(&c)) {
            Some(Ok(Value::Object(map))) => map,
            _ => Map::new(),
        };
        claims.insert("role".into(), json!(role));
        Some(Value::Object(claims).to_string())
    }

    /// The settings that make a session this request's principal, local to the
    /// transaction: role, claims, headers, cookies, search path, the role's own
    /// settings. Empty for the owner, who stays the owner.
    pub fn identity_sql(&self, api: &Api) -> String {
        select(self.identity_settings(api))
    }

    /// Every setting of the request in one statement, as PostgREST sends them: the
    /// principal's ([`Request::identity_sql`]) and the call's (method, path, and READ
    /// ONLY where `opened` says the transaction was not opened so). Empty for the owner.
    pub fn settings_sql(&self, api: &Api, opened: bool) -> String {
        let mut settings = self.identity_settings(api);
        if !settings.is_empty() {
            settings.extend(self.call_settings(opened));
        }
        select(settings)
    }

    fn identity_settings(&self, api: &Api) -> Vec<String> {
        let (Some(role), Some(claims)) = (self.who.role(), self.claims()) else {
            return Vec::new();
        };
        let headers = Value::Object(
            self.headers
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect(),
        )
        .to_string();
        let cookies = Value::Object(
            self.cookies
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect(),
        )
        .to_string();
        // In PostgREST's order: the role's settings go before the switch to the role, so
        // that a setting `authenticator` was granted SET on is set with its rights.
        let mut settings = vec![setting("search_path", &api.search_path)];
        for (who, name, value) in &api.role_settings {
            if who == role {
                settings.push(setting(name, value));
            }
        }
        settings.extend([
            setting("role", role),
            setting("request.jwt.claims", &claims),
            setting("request.headers", &headers),
            setting("request.cookies", &cookies),
        ]);
        settings
    }

    /// The call's own settings: method, path, and READ ONLY for a read whose
    /// transaction was not `opened` READ ONLY.
    fn call_settings(&self, opened: bool) -> Vec<String> {
        let mut settings = vec![
            setting("request.method", self.method.name()),
            setting("request.path", &self.path),
        ];
        if self.read_only && !opened {
            settings.push(setting("transaction_read_only", "on"));
        }
        settings
    }

    /// What opens the request's own transaction, as PostgREST opens it: at the role's
    /// `default_transaction_isolation` (PostgREST reads `serializable` and `repeatable
    /// read`; anything else is read committed), stated whatever the login's default, and
    /// READ ONLY for a read.
    pub fn begin_sql(&self, api: &Api) -> String {
        let level = self
            .who
            .role()
            .and_then(|role| api.isolation.get(role))
            .map(|level| level.trim().to_ascii_lowercase());
        let level = match level.as_deref() {
            Some("serializable") => "serializable",
            Some("repeatable read") => "repeatable read",
            _ => "read committed",
        };
        let read_only = if self.opens_read_only() {
            " read only"
        } else {
            ""
        };
        format!("begin isolation level {level}{read_only}")
    }

    /// Whether PostgREST opens this request's transaction READ ONLY: a read, or a call
    /// of functions that are all stable or immutable.
    fn opens_read_only(&self) -> bool {
        self.read_only && self.who.role().is_some()
    }

    /// What ends the request's effect on the transaction once its savepoint is released:
    /// every setting the request made goes back to the session's, as if the request's
    /// own transaction had ended. (A READ ONLY request is never kept: turning READ ONLY
    /// off again is not possible inside a transaction.)
    pub fn reset_sql(&self, api: &Api) -> String {
        let mut names = vec![
            "role".to_owned(),
            "search_path".to_owned(),
            "\"request.jwt.claims\"".to_owned(),
            "\"request.headers\"".to_owned(),
            "\"request.cookies\"".to_owned(),
            "\"request.method\"".to_owned(),
            "\"request.path\"".to_owned(),
        ];
        if let Some(context) = &api.context {
            names.push(format!("\"{}\"", context.setting));
        }
        for (_, name, _) in &api.role_settings {
            names.push(format!("\"{name}\""));
        }
        names.dedup();
        names
            .iter()
            .map(|name| format!("reset {name}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The settings of this call inside a savepoint: method, path, and READ ONLY where
    /// PostgREST uses it (set here, since no savepoint can be opened READ ONLY); then
    /// what runs after the settings ([`Request::after_settings`]). Run after
    /// [`Request::identity_sql`], right before the statement, where the principal's
    /// settings stay from one request to the next. `select 1` for the owner, whose SQL
    /// editor is no PostgREST request.
    pub fn call_sql(&self, api: &Api) -> String {
        self.call_statements(api).join("; ")
    }

    /// [`Request::call_sql`] statement by statement.
    pub fn call_statements(&self, api: &Api) -> Vec<String> {
        if self.who.role().is_none() {
            return vec!["select 1".to_owned()];
        }
        let mut statements = vec![select(self.call_settings(false))];
        statements.extend(self.after_settings(api));
        statements
    }

    /// What runs between the settings and the statement: the pre-request function (or,
    /// without one, the context function); for a write, deferred constraints made
    /// immediate. Nothing for the owner.
    pub fn after_settings(&self, api: &Api) -> Vec<String> {
        if self.who.role().is_none() {
            return Vec::new();
        }
        let mut statements = Vec::new();
        let header = api
            .context
            .as_ref()
            .and_then(|c| Some((c, self.headers.get(&c.header)?)));
        match (&api.pre_request, header) {
            (Some(function), _) => statements.push(format!("select {function}()")),
            (None, Some((context, tenant))) => statements.push(format!(
                "select {}({})",
                context.function,
                quote_literal(tenant)
            )),
            (None, None) => {}
        }
        if !self.read_only && api.deferrable {
            // PostgREST commits a write, so deferred constraints and deferred triggers
            // fire on it; the harness rolls its requests back, and makes them fire at
            // the statement's end instead (as PostgREST's `tx=rollback` does before its
            // rollback): for a request of one statement, the same checks.
            statements.push(SET_CONSTRAINTS_IMMEDIATE.to_owned());
        }
        statements
    }
}

/// `select` of `settings`, or nothing when there are none.
fn select(settings: Vec<String>) -> String {
    match settings.is_empty() {
        true => String::new(),
        false => format!("select {}", settings.join(", ")),
    }
}

/// What makes deferred constraints and triggers fire before a request's rollback.
pub const SET_CONSTRAINTS_IMMEDIATE: &str = "set constraints all immediate";

fn setting(name: &str, value: &str) -> String {
    format!(
        "set_config({}, {}, true)",
        quote_literal(name),
        quote_literal(value)
    )
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} as {}", self.method.name(), self.path, self.who)
    }
}

/// What PostgREST request a statement is.
struct Shape {
    method: Method,
    path: String,
    read_only: bool,
    unreachable: Option<String>,
}

impl Shape {
    fn of(api: &Api, sql: &str) -> Shape {
        let statements = crate::script::split(sql);
        let unreachable = |why: String| Shape {
            method: Method::Post,
            path: "/".into(),
            read_only: false,
            unreachable: Some(why),
        };
        let [statement] = statements.as_slice() else {
            return unreachable(format!(
                "{} statements: PostgREST runs one statement per request",
                statements.len()
            ));
        };
        let keyword = statement.keyword();
        let words = words(statement.text);
        let after = |word: &str| {
            words
                .iter()
                .position(|w| w == word)
                .and_then(|at| words.get(at + 1))
                .map(|name| short_name(name))
        };
        let calls: Vec<(&String, &char)> = api
            .volatility
            .iter()
            .filter(|(name, _)| calls_function(statement.text, name))
            .collect();
        match keyword.as_str() {
            "select" | "with" if !calls.is_empty() => Shape {
                method: Method::Post,
                path: format!("/rpc/{}", short_name(calls[0].0)),
                read_only: calls.iter().all(|(_, v)| **v != 'v'),
                unreachable: None,
            },
            "select" | "table" | "values" => Shape {
                method: Method::Get,
                path: format!("/{}", after("from").unwrap_or_default()),
                read_only: true,
                unreachable: None,
            },
            "insert" => Shape {
                method: Method::Post,
                path: format!("/{}", after("into").unwrap_or_default()),
                read_only: false,
                unreachable: None,
            },
            "update" => Shape {
                method: Method::Patch,
                path: format!("/{}", after("update").unwrap_or_default()),
                read_only: false,
                unreachable: None,
            },
            "delete" => Shape {
                method: Method::Delete,
                path: format!("/{}", after("from").unwrap_or_default()),
                read_only: false,
                unreachable: None,
            },
            other => unreachable(format!(
                "PostgREST sends no `{other}` statement: it is direct SQL"
            )),
        }
    }
}

/// The lowercase words of a statement (identifiers and keywords).
fn words(sql: &str) -> Vec<String> {
    sql.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '"'))
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('"').to_ascii_lowercase())
        .collect()
}

/// `public.agents` → `agents`.
fn short_name(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_owned()
}

/// Whether `sql` calls the function `qualified` (`schema.name`), with or without its
/// schema.
fn calls_function(sql: &str, qualified: &str) -> bool {
    let name = short_name(qualified);
    let lower = sql.to_ascii_lowercase();
    lower.match_indices(&name).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let rest = lower[at + name.len()..].trim_start();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && rest.starts_with('(')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Claims;
    use crate::model::Principal;

    fn api() -> Api {
        Api {
            pre_request: Some("public.apply_tenant_context".into()),
            context: Some(ContextApi {
                header: "x-tenant-id".into(),
                function: "public.set_tenant_context".into(),
                setting: "app.current_tenant_id".into(),
            }),
            role_settings: vec![(
                "authenticated".into(),
                "statement_timeout".into(),
                "8s".into(),
            )],
            volatility: [
                ("public.get_accessible_agents".to_owned(), 's'),
                ("public.grant_platform_admin".to_owned(), 'v'),
            ]
            .into(),
            ..Api::default()
        }
    }

    fn user() -> Identity {
        Identity::with_claims("mo", Claims::for_user(uuid::Uuid::nil(), "mo@x"))
    }

    #[test]
    fn the_statement_decides_method_path_and_read_only() {
        let api = api();
        let shape = |sql: &str| {
            let r = Request::new(&api, user(), sql);
            (r.method, r.path, r.read_only, r.unreachable.is_some())
        };
        assert_eq!(
            shape("select name from public.agents where id = 1"),
            (Method::Get, "/agents".into(), true, false)
        );
        assert_eq!(
            shape("insert into tools (name) values ('x')"),
            (Method::Post, "/tools".into(), false, false)
        );
        assert_eq!(
            shape("update public.prompts set name = 'y'"),
            (Method::Patch, "/prompts".into(), false, false)
        );
        assert_eq!(
            shape("delete from workflows"),
            (Method::Delete, "/workflows".into(), false, false)
        );
        // A stable function runs READ ONLY, a volatile one does not.
        assert_eq!(
            shape("select id from get_accessible_agents('x')"),
            (
                Method::Post,
                "/rpc/get_accessible_agents".into(),
                true,
                false
            )
        );
        assert_eq!(
            shape("select public.grant_platform_admin('x')"),
            (
                Method::Post,
                "/rpc/grant_platform_admin".into(),
                false,
                false
            )
        );
        assert!(shape("truncate agents").3);
        assert!(shape("select 1; select 2").3);
    }

    #[test]
    fn a_request_s_transaction_opens_at_its_role_s_isolation_level() {
        let mut api = api();
        api.isolation
            .insert("authenticated".into(), "Repeatable Read".into());
        api.isolation.insert("anon".into(), "snapshot".into());
        let as_user = Request::new(&api, user(), "select 1");
        assert_eq!(
            as_user.begin_sql(&api),
            "begin isolation level repeatable read read only"
        );
        // A read opens READ ONLY, as PostgREST opens it, and sets nothing more.
        assert!(!as_user
            .settings_sql(&api, true)
            .contains("transaction_read_only"));
        assert!(as_user.call_sql(&api).contains("transaction_read_only"));
        let write = Request::new(&api, user(), "delete from agents where id = 1");
        assert_eq!(
            write.begin_sql(&api),
            "begin isolation level repeatable read"
        );
        // PostgREST reads any other value as read committed, and states it.
        let as_anon = Request::new(&api, Identity::of(Principal::Anon, "", ""), "select 1");
        assert_eq!(
            as_anon.begin_sql(&api),
            "begin isolation level read committed read only"
        );
    }

    #[test]
    fn identity_and_call_settings_are_postgrest_s() {
        let api = api();
        let request = Request::new(&api, user(), "select 1 from agents").in_context(&api, "t-1");
        let identity = request.identity_sql(&api);
        assert!(
            identity.contains("set_config('role', 'authenticated', true)"),
            "{identity}"
        );
        assert!(identity.contains("set_config('search_path', 'public, extensions', true)"));
        assert!(identity.contains(r#""x-tenant-id":"t-1""#), "{identity}");
        assert!(identity.contains("set_config('statement_timeout', '8s', true)"));
        // The role's settings are made before the switch to the role, with the login's
        // rights, as PostgREST makes them.
        assert!(
            identity.find("statement_timeout") < identity.find("set_config('role'"),
            "{identity}"
        );
        // A request of its own sends all of them in one statement, as PostgREST does,
        // and the pre-request function after it.
        let settings = request.settings_sql(&api, false);
        assert_eq!(settings.matches("select ").count(), 1, "{settings}");
        assert!(settings.starts_with(&identity), "{settings}");
        assert!(settings.contains("set_config('request.path', '/agents', true)"));
        assert!(settings.contains("set_config('transaction_read_only', 'on', true)"));
        assert!(!request
            .settings_sql(&api, true)
            .contains("transaction_read_only"));
        assert_eq!(
            request.after_settings(&api),
            ["select public.apply_tenant_context()"]
        );
        let claims: Value = serde_json::from_str(&request.claims().unwrap()).unwrap();
        assert_eq!(claims["role"], "authenticated");
        let call = request.call_sql(&api);
        assert!(
            call.contains("set_config('request.method', 'GET', true)"),
            "{call}"
        );
        assert!(call.contains("set_config('transaction_read_only', 'on', true)"));
        assert!(
            call.ends_with("; select public.apply_tenant_context()"),
            "{call}"
        );
        assert!(request.unreachable.is_none());
        // Without a pre-request function the context is set in the request's own
        // transaction, which no client can do.
        let bare = Api {
            pre_request: None,
            ..api
        };
        let request = Request::new(&bare, user(), "select 1 from agents").in_context(&bare, "t-1");
        assert!(request
            .call_sql(&bare)
            .ends_with("select public.set_tenant_context('t-1')"));
        assert!(request.unreachable.is_some());
        assert_eq!(
            Request::new(
                &bare,
                Identity::of(crate::model::Principal::Owner, "", ""),
                "select 1"
            )
            .identity_sql(&bare),
            ""
        );
    }
}
