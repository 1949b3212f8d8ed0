//! Connections that never hang and never lose a NOTICE.
//!
//! Every statement the harness sends goes through [`Connection`]: the server enforces
//! `statement_timeout` and `lock_timeout`, and the client gives up (and cancels the
//! query) a little later, in case the server or network stops answering altogether.
//! The connection task forwards NOTICEs and WARNINGs into a buffer, because migrations
//! report success through them and scenarios may expect them.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls, SimpleQueryMessage};

use crate::error::{Error, Result};

/// How long the server lets one statement run before it cancels it itself.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the client waits for an answer before it cancels the query and gives up.
const CLIENT_DEADLINE: Duration = Duration::from_secs(30);
/// How long the harness's own housekeeping (creating and dropping databases) may take:
/// on a loaded server a `DROP DATABASE` waits for every session of the cluster to
/// absorb a signal, which can take far longer than any statement under test should.
const HOUSEKEEPING_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A message the server sent alongside a result: a NOTICE, WARNING, INFO, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub severity: String,
    pub sqlstate: String,
    pub message: String,
}

/// Where and as whom to connect; cheap to clone, independent of any runtime.
#[derive(Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
}

impl std::fmt::Debug for Endpoint {
    // Passwords are random per run, but they still have no business in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.dbname
        )
    }
}

impl Endpoint {
    /// The same server and credentials, another database.
    pub fn with_dbname(&self, dbname: &str) -> Endpoint {
        Endpoint {
            dbname: dbname.to_owned(),
            ..self.clone()
        }
    }

    /// The same server and database, another login.
    pub fn with_login(&self, user: &str, password: Option<&str>) -> Endpoint {
        Endpoint {
            user: user.to_owned(),
            password: password.map(str::to_owned),
            ..self.clone()
        }
    }

    /// A `postgres://` URL for this endpoint, password included, for handing the same
    /// server to a child process (as `DATABASE_URL`). A Unix socket directory is
    /// percent-encoded, as libpq reads it.
    pub fn url(&self) -> String {
        let password = self
            .password
            .as_deref()
            .map(|password| format!(":{}", encode(password)))
            .unwrap_or_default();
        format!(
            "postgres://{}{password}@{}:{}/{}",
            encode(&self.user),
            if self.host.starts_with('/') {
                encode(&self.host)
            } else {
                self.host.clone()
            },
            self.port,
            encode(&self.dbname)
        )
    }

    fn config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name("rls-harness")
            .connect_timeout(CONNECT_TIMEOUT)
            // Supabase's `postgres` has the `extensions` schema on its search path, so
            // the owner's fixtures reach an extension's function unqualified, as the
            // schema's own defaults do (`gen_random_bytes()`); API requests set theirs
            // per request, as PostgREST does.
            .options(if self.user == "authenticator" {
                // PostgREST's login keeps its role's own timeouts (Supabase's are 8 s),
                // which are the only ones service_role's requests run under; the
                // client's deadline stays the last resort.
                "-c idle_in_transaction_session_timeout=120000".to_owned()
            } else {
                format!(
                    "-c statement_timeout={} -c lock_timeout=10000 \
                     -c idle_in_transaction_session_timeout=120000 \
                     -c search_path=\"$user\",public,extensions",
                    STATEMENT_TIMEOUT.as_millis()
                )
            });
        if let Some(password) = &self.password {
            config.password(password);
        }
        config
    }
}

/// One open session with the server.
pub struct Connection {
    client: tokio_postgres::Client,
    notices: Arc<Mutex<Vec<Notice>>>,
    label: String,
    statements: Statements,
}

/// The server-side prepared statements of a session (`PREPARE name AS ...`), by the key
/// their user registers them under (a pipeline's: the role and the shape); they live as
/// long as the session does, whatever the transactions around them do.
#[derive(Default)]
pub struct Statements {
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    by_key: std::collections::HashMap<String, Prepared>,
    named: u32,
    /// Queries sent by [`crate::actor::send_pipelined`]: as `EXECUTE`, and in all.
    executed: u64,
    sent: u64,
}

enum Prepared {
    /// A name handed out for a `PREPARE` whose answer has not come yet.
    Claimed(String),
    Ready(String),
    /// The server would not prepare it: it is sent as text.
    Refused,
}

impl Statements {
    /// The name `key` was prepared under on this session, if it was.
    pub fn prepared(&self, key: &str) -> Option<String> {
        match self.registry().by_key.get(key) {
            Some(Prepared::Ready(name)) => Some(name.clone()),
            _ => None,
        }
    }

    /// A fresh name to prepare `key`'s statement under, unless it is prepared, being
    /// prepared or refused already; [`Statements::settle`] says how it went.
    pub fn claim(&self, key: &str) -> Option<String> {
        let mut registry = self.registry();
        if registry.by_key.contains_key(key) {
            return None;
        }
        registry.named += 1;
        let name = format!("rls_harness_{}", registry.named);
        registry
            .by_key
            .insert(key.to_owned(), Prepared::Claimed(name.clone()));
        Some(name)
    }

    /// Records whether the `PREPARE` of `key`'s statement under its claimed name
    /// succeeded.
    pub fn settle(&self, key: &str, prepared: bool) {
        let mut registry = self.registry();
        if let Some(slot) = registry.by_key.get_mut(key) {
            if let Prepared::Claimed(name) = slot {
                *slot = match prepared {
                    true => Prepared::Ready(std::mem::take(name)),
                    false => Prepared::Refused,
                };
            }
        }
    }

    /// Gives up a claimed name whose `PREPARE` was never sent.
    pub fn forget(&self, key: &str) {
        let mut registry = self.registry();
        if matches!(registry.by_key.get(key), Some(Prepared::Claimed(_))) {
            registry.by_key.remove(key);
        }
    }

    /// Counts `queries` sent in pipelines, `executed` of them as `EXECUTE`.
    pub fn count_sent(&self, queries: u64, executed: u64) {
        let mut registry = self.registry();
        registry.sent += queries;
        registry.executed += executed;
    }

    /// How many queries this session's pipelines sent, and how many of them as
    /// `EXECUTE` of a prepared statement.
    pub fn sent(&self) -> (u64, u64) {
        let registry = self.registry();
        (registry.sent, registry.executed)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().expect("prepared statements")
    }
}

impl Connection {
    /// Opens a session; `label` names it in errors (for example `owner@rls_tpl`).
    pub async fn open(endpoint: &Endpoint) -> Result<Connection> {
        let label = format!("{}@{}", endpoint.user, endpoint.dbname);
        let config = endpoint.config();
        let (client, mut connection) = tokio::time::timeout(CLIENT_DEADLINE, config.connect(NoTls))
            .await
            .map_err(|_| Error::Timeout {
                context: format!("connecting as {label}"),
                timeout: CLIENT_DEADLINE,
            })?
            .map_err(|error| Error::Connection {
                context: format!("connecting to {endpoint:?}"),
                message: error.to_string(),
            })?;
        let notices = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&notices);
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notice(notice) = message {
                    sink.lock().expect("notice buffer").push(Notice {
                        severity: notice.severity().to_owned(),
                        sqlstate: notice.code().code().to_owned(),
                        message: notice.message().to_owned(),
                    });
                }
            }
        });
        Ok(Connection {
            client,
            notices,
            label,
            statements: Statements::default(),
        })
    }

    /// Runs `query` under the client-side deadline. The outer error is the harness's
    /// (timeout); the inner result is the server's answer, left for the caller to judge,
    /// because for a statement under test an error is often the expected outcome.
    pub async fn within_deadline<T>(
        &self,
        what: &str,
        query: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<Result<T, tokio_postgres::Error>> {
        self.within(CLIENT_DEADLINE, what, query).await
    }

    async fn within<T>(
        &self,
        deadline: Duration,
        what: &str,
        query: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<Result<T, tokio_postgres::Error>> {
        match tokio::time::timeout(deadline, query).await {
            Ok(answer) => Ok(answer),
            Err(_) => {
                // The server may still be working on it; ask it to stop so the session
                // does not stay busy after we have given up.
                let _ = self.client.cancel_token().cancel_query(NoTls).await;
                Err(Error::Timeout {
                    context: format!("{} ({what})", self.label),
                    timeout: deadline,
                })
            }
        }
    }

    /// Runs one statement of the harness's own housekeeping (`CREATE DATABASE`,
    /// `DROP DATABASE`) under [`HOUSEKEEPING_TIMEOUT`] instead of the statement timeout
    /// meant for statements under test.
    pub async fn housekeeping(&self, sql: &str) -> Result<()> {
        let timeout = format!(
            "set statement_timeout = {}",
            HOUSEKEEPING_TIMEOUT.as_millis()
        );
        self.batch(&timeout).await?;
        let deadline = HOUSEKEEPING_TIMEOUT + Duration::from_secs(10);
        let done = self
            .within(deadline, sql, self.client.batch_execute(sql))
            .await?
            .map_err(|error| Error::sql(format!("{}: {}", self.label, first_line(sql)), &error));
        let reset = self.batch("reset statement_timeout").await;
        done.and(reset)
    }

    /// Runs one or more statements with the simple protocol and returns the raw answer.
    pub async fn simple_raw(
        &self,
        sql: &str,
    ) -> Result<Result<Vec<SimpleQueryMessage>, tokio_postgres::Error>> {
        self.within_deadline(sql, self.client.simple_query(sql))
            .await
    }

    /// Runs statements the harness itself needs; any error is the harness's error.
    pub async fn batch(&self, sql: &str) -> Result<()> {
        self.within_deadline(sql, self.client.batch_execute(sql))
            .await?
            .map_err(|error| Error::sql(format!("{}: {}", self.label, first_line(sql)), &error))
    }

    /// Runs a parameterised query the harness itself needs.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        self.within_deadline(sql, self.client.query(sql, params))
            .await?
            .map_err(|error| Error::sql(format!("{}: {}", self.label, first_line(sql)), &error))
    }

    /// Prepares `sql` once, for the many runs of [`Connection::query_prepared`].
    pub async fn prepare(&self, sql: &str) -> Result<tokio_postgres::Statement> {
        self.within_deadline(sql, self.client.prepare(sql))
            .await?
            .map_err(|error| Error::sql(format!("{}: {}", self.label, first_line(sql)), &error))
    }

    /// Runs a statement [`Connection::prepare`] made on this connection.
    pub async fn query_prepared(
        &self,
        statement: &tokio_postgres::Statement,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let what = "a prepared statement";
        self.within_deadline(what, self.client.query(statement, params))
            .await?
            .map_err(|error| Error::sql(format!("{}: {what}", self.label), &error))
    }

    /// Like [`Connection::query`], for exactly one row.
    pub async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<tokio_postgres::Row> {
        self.within_deadline(sql, self.client.query_one(sql, params))
            .await?
            .map_err(|error| Error::sql(format!("{}: {}", self.label, first_line(sql)), &error))
    }

    /// The statements prepared on this session.
    pub(crate) fn statements(&self) -> &Statements {
        &self.statements
    }

    /// Takes the NOTICEs and WARNINGs received so far.
    pub fn take_notices(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.notices.lock().expect("notice buffer"))
    }

    /// Waits until the server has delivered everything sent before this call, so that
    /// [`Connection::take_notices`] sees the notices of the statements just run.
    pub async fn sync_notices(&self) -> Result<()> {
        self.batch("").await
    }
}

/// Percent-encodes what may not appear raw in the user, password or path of a URL.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn first_line(sql: &str) -> &str {
    let trimmed = sql.trim_start();
    let line = trimmed.lines().next().unwrap_or("");
    match line.char_indices().nth(80) {
        Some((cut, _)) => &line[..cut],
        None => line,
    }
}

/// Quotes an identifier for SQL (`"name"`), doubling embedded quotes.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// PostgreSQL's reserved key words, which an identifier may only be when quoted.
const RESERVED: [&str; 77] = [
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// An identifier as SQL needs it: bare when it may stand bare (lower case, no key
/// word), quoted otherwise, so that generated statements stay readable.
pub fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_owned()
    } else {
        quote_ident(name)
    }
}

/// A `schema.name` (or a bare name) as SQL needs it, each part by [`ident`].
pub fn qualified_ident(qualified: &str) -> String {
    match qualified.split_once('.') {
        Some((schema, name)) => format!("{}.{}", ident(schema), ident(name)),
        None => ident(qualified),
    }
}

/// Quotes a string literal for SQL (`'text'`), doubling embedded quotes.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_only_when_they_must_be() {
        assert_eq!(ident("user_tenants"), "user_tenants");
        assert_eq!(ident("user"), "\"user\"");
        assert_eq!(ident("Mixed"), "\"Mixed\"");
        assert_eq!(qualified_ident("public.order"), "public.\"order\"");
    }

    #[test]
    fn quoting_doubles_embedded_quotes() {
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(quote_literal("O'Brien"), "'O''Brien'");
    }

    #[test]
    fn endpoint_debug_hides_the_password() {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "postgres".into(),
            password: Some("hunter2".into()),
            dbname: "db".into(),
        };
        let shown = format!("{endpoint:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown, "postgres://postgres@127.0.0.1:5432/db");
    }

    #[test]
    fn url_round_trips_through_the_driver() {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: 6543,
            user: "post gres".into(),
            password: Some("p@ss:w/rd".into()),
            dbname: "db".into(),
        };
        let config: tokio_postgres::Config = endpoint.url().parse().unwrap();
        assert_eq!(config.get_user(), Some("post gres"));
        assert_eq!(config.get_password(), Some("p@ss:w/rd".as_bytes()));
        assert_eq!(config.get_ports(), [6543]);
    }

    #[test]
    fn a_socket_directory_round_trips_through_the_driver() {
        let endpoint = Endpoint {
            host: "/dev/shm/rls-harness-x1".into(),
            port: 6543,
            user: "postgres".into(),
            password: None,
            dbname: "db".into(),
        };
        let config: tokio_postgres::Config = endpoint.url().parse().unwrap();
        assert_eq!(
            config.get_hosts(),
            [tokio_postgres::config::Host::Unix(
                "/dev/shm/rls-harness-x1".into()
            )]
        );
        assert_eq!(config.get_ports(), [6543]);
    }
}
