//! Disposable PostgreSQL servers: the only module that starts processes.
//!
//! Three backends sit behind one [`Server`] type: `local` (a throwaway cluster from
//! the installed server binaries), `docker` (a testcontainers container) and `url` (an
//! existing server, where only scratch databases are created). Whatever the backend, a
//! run can never leave a server, container, socket, temp directory or scratch database
//! behind: each server gets a *reaper*, a tiny shell process that waits for this process
//! to exit, however it exits (return, panic, Ctrl-C or SIGKILL), and then removes
//! everything. Held in a `static`, a server is never dropped, so the reaper is what
//! cleans up after `cargo test`. Leftovers of runs that died before their reaper could
//! act (a machine reboot, a killed reaper) are swept at start-up, by run label.

mod docker;
mod local;
mod reaper;
mod url;

use std::fmt;
use std::str::FromStr;

use crate::config::Grants;
use crate::connection::{quote_ident, quote_literal, Connection, Endpoint};
use crate::error::{Error, Result};

pub use docker::DEFAULT_IMAGE;

/// The superuser a cluster of the harness's own is bootstrapped with, as Supabase's
/// is: the login `postgres` is an ordinary role there (see `supabase`).
pub(crate) const SUPERUSER: &str = "supabase_admin";

/// Which backend to use; `Auto` picks one and says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    #[default]
    Auto,
    Local,
    Docker,
    Url,
}

impl FromStr for BackendKind {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(BackendKind::Auto),
            "local" => Ok(BackendKind::Local),
            "docker" => Ok(BackendKind::Docker),
            "url" => Ok(BackendKind::Url),
            other => Err(Error::Config {
                name: "RLS_HARNESS_BACKEND".into(),
                message: format!(
                    "unknown backend \"{other}\", expected auto, local, docker or url"
                ),
            }),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Auto => "auto",
            BackendKind::Local => "local",
            BackendKind::Docker => "docker",
            BackendKind::Url => "url",
        })
    }
}

/// What the caller asks of the backend, usually read from the environment.
#[derive(Debug, Clone, Default)]
pub struct BackendOptions {
    pub kind: BackendKind,
    /// `DATABASE_URL`, for the url backend.
    pub database_url: Option<String>,
    /// `RLS_HARNESS_IMAGE`, for the docker backend.
    pub image: Option<String>,
    /// `RLS_HARNESS_GRANTS`: whether the API roles get privileges on new objects by
    /// default (`legacy`) or not (`none`, Supabase today).
    pub grants: Grants,
    /// `RLS_HARNESS_SERVER_LANGUAGE`: the language a local cluster writes its messages
    /// in (gettext's `LANGUAGE`, for example `fr`), to try the harness against a
    /// translated server as a url backend may be. English when unset.
    pub server_language: Option<String>,
}

impl BackendOptions {
    /// Reads `RLS_HARNESS_BACKEND`, `DATABASE_URL` and `RLS_HARNESS_IMAGE`.
    pub fn from_env() -> Result<BackendOptions> {
        let non_empty = |name| std::env::var(name).ok().filter(|value| !value.is_empty());
        Ok(BackendOptions {
            kind: non_empty("RLS_HARNESS_BACKEND")
                .map(|value| value.parse())
                .transpose()?
                .unwrap_or_default(),
            database_url: non_empty("DATABASE_URL"),
            image: non_empty("RLS_HARNESS_IMAGE"),
            grants: non_empty("RLS_HARNESS_GRANTS")
                .map(|value| {
                    value.parse().map_err(|message| Error::Config {
                        name: "RLS_HARNESS_GRANTS".into(),
                        message,
                    })
                })
                .transpose()?
                .unwrap_or_default(),
            server_language: non_empty("RLS_HARNESS_SERVER_LANGUAGE"),
        })
    }
}

/// Labels every resource of this run so that the reaper and later sweeps find them.
#[derive(Debug, Clone)]
pub(crate) struct RunLabel {
    pub id: String,
    pub pid: u32,
    pub host: String,
}

impl RunLabel {
    fn new() -> RunLabel {
        let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|name| name.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        RunLabel {
            id,
            pid: std::process::id(),
            host,
        }
    }

    /// The prefix of every database this run creates.
    fn database_prefix(&self) -> String {
        format!("rls_harness_{}", self.id)
    }

    /// The text stored with each scratch database, read back by the sweeps.
    fn comment(&self) -> String {
        format!("rls-harness pid={} host={}", self.pid, self.host)
    }
}

/// Whether the process that made a leftover is gone, so its leftovers may be removed.
fn process_is_dead(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// What keeps a server alive and knows how to remove it.
enum Lifetime {
    Local(local::Cluster),
    Docker(Box<docker::Container>),
    Url(url::Scratch),
}

/// A running PostgreSQL server, reserved for this process.
pub struct Server {
    kind: BackendKind,
    /// The superuser (or, for `url`, the given) login, on the maintenance database.
    admin: Endpoint,
    label: RunLabel,
    /// What was picked and why, roles found, leftovers swept: shown in the report.
    pub notes: Vec<String>,
    lifetime: Lifetime,
    next_database: std::sync::atomic::AtomicUsize,
    /// The `STRATEGY` clause of every copy of a database (see [`clone_strategy`]).
    clone_strategy: &'static str,
}

/// How a server of `kind` copies a database. The harness's own servers (local, docker)
/// keep their data in memory with fsync off: there FILE_COPY's two checkpoints cost
/// next to nothing, and copying the files costs less than WAL_LOG's copy of every block
/// through shared buffers into the WAL (a test run took 84 to 89 s of CPU instead of
/// 91 to 96 s). On a server given by URL a forced checkpoint is somebody else's I/O, so
/// PostgreSQL's default stays, as it does on a server older than 15, which knows no
/// strategy, and on one whose version cannot be read.
async fn clone_strategy(kind: BackendKind, admin: &Endpoint) -> &'static str {
    if !matches!(kind, BackendKind::Local | BackendKind::Docker) {
        return "";
    }
    let version = async {
        let connection = Connection::open(admin).await.ok()?;
        let row = connection
            .query_one("select current_setting('server_version_num')::int", &[])
            .await
            .ok()?;
        row.try_get::<_, i32>(0).ok()
    };
    match version.await {
        Some(version) if version >= 150_000 => " strategy file_copy",
        _ => "",
    }
}

impl Server {
    /// Picks and starts a backend as `options` asks.
    pub async fn start(options: &BackendOptions) -> Result<Server> {
        let label = RunLabel::new();
        let image = options.image.as_deref().unwrap_or(DEFAULT_IMAGE);
        let mut notes = Vec::new();
        let kind = match options.kind {
            BackendKind::Auto => {
                let (kind, reason) = choose(options, image).await?;
                notes.push(format!("backend auto picked {kind}: {reason}"));
                kind
            }
            explicit => {
                notes.push(format!("backend {explicit} (RLS_HARNESS_BACKEND)"));
                explicit
            }
        };
        if options.server_language.is_some() && kind != BackendKind::Local {
            return Err(Error::Config {
                name: "RLS_HARNESS_SERVER_LANGUAGE".into(),
                message: format!("applies to the local backend only, and the {kind} backend runs"),
            });
        }
        let (admin, lifetime) = match kind {
            BackendKind::Local => {
                let language = options.server_language.as_deref();
                let cluster = local::Cluster::start(&label, language, &mut notes).await?;
                (cluster.endpoint(), Lifetime::Local(cluster))
            }
            BackendKind::Docker => {
                let container = docker::Container::start(&label, image, &mut notes).await?;
                (container.endpoint(), Lifetime::Docker(Box::new(container)))
            }
            BackendKind::Url | BackendKind::Auto => {
                let url = options.database_url.as_deref().ok_or_else(|| {
                    Error::backend("url", "DATABASE_URL is not set; set it to a server the harness may create scratch databases on")
                })?;
                let scratch = url::Scratch::start(&label, url, &mut notes).await?;
                (scratch.endpoint(), Lifetime::Url(scratch))
            }
        };
        let clone_strategy = clone_strategy(kind, &admin).await;
        Ok(Server {
            kind,
            admin,
            label,
            notes,
            lifetime,
            next_database: Default::default(),
            clone_strategy,
        })
    }

    /// The backend that actually runs.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// The privileged login of this server, on database `dbname`.
    pub fn admin(&self, dbname: &str) -> Endpoint {
        self.admin.with_dbname(dbname)
    }

    /// Creates an empty database (or a copy of `template`) with a fresh name of this run,
    /// owned by `owner` (else by the admin login).
    pub async fn create_database(
        &self,
        purpose: &str,
        template: Option<&str>,
        owner: Option<&str>,
    ) -> Result<String> {
        let number = self
            .next_database
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{}_{purpose}_{number}", self.label.database_prefix());
        let admin = Connection::open(&self.admin).await?;
        let owned = owner.map_or_else(String::new, |owner| {
            format!(" owner {}", quote_ident(owner))
        });
        let template = template.unwrap_or("template0");
        let create = format!(
            "create database {}{owned}{} template {}",
            quote_ident(&name),
            self.clone_strategy,
            quote_ident(template)
        );
        admin.housekeeping(&create).await?;
        admin
            .batch(&format!(
                "comment on database {} is {}",
                quote_ident(&name),
                quote_literal(&self.label.comment())
            ))
            .await?;
        Ok(name)
    }

    /// Hands a database of this run to `owner`.
    pub async fn give_database(&self, name: &str, owner: &str) -> Result<()> {
        let admin = Connection::open(&self.admin).await?;
        admin
            .housekeeping(&format!(
                "alter database {} owner to {}",
                quote_ident(name),
                quote_ident(owner)
            ))
            .await
    }

    /// Marks a database as a template, so that [`Server::create_database`] can copy it.
    pub async fn freeze_template(&self, name: &str) -> Result<()> {
        let admin = Connection::open(&self.admin).await?;
        admin
            .batch(&format!(
                "alter database {} is_template true",
                quote_ident(name)
            ))
            .await
    }

    /// Drops a database of this run (and ends its sessions first).
    pub async fn drop_database(&self, name: &str) -> Result<()> {
        if !name.starts_with(&self.label.database_prefix()) {
            return Err(Error::backend(
                "server",
                format!("refusing to drop database {name}: it was not made by this run"),
            ));
        }
        let admin = Connection::open(&self.admin).await?;
        drop_scratch_database(&admin, name).await
    }

    /// Stops the server (or drops the scratch databases) now and waits until it is gone.
    pub async fn shutdown(self) -> Result<()> {
        match self.lifetime {
            Lifetime::Local(cluster) => cluster.shutdown().await,
            Lifetime::Docker(container) => (*container).shutdown().await,
            Lifetime::Url(scratch) => scratch.shutdown().await,
        }
    }
}

/// The `auto` rule: url when `DATABASE_URL` is set, docker when a daemon answers and
/// the image can be had, else local; when nothing works, say what to install.
async fn choose(options: &BackendOptions, image: &str) -> Result<(BackendKind, String)> {
    if options.database_url.is_some() {
        return Ok((BackendKind::Url, "DATABASE_URL is set".into()));
    }
    let docker_problem = match docker::probe(image).await {
        Ok(why) => return Ok((BackendKind::Docker, why)),
        Err(problem) => problem,
    };
    match local::probe() {
        Ok(bin) => Ok((
            BackendKind::Local,
            format!(
                "docker is not usable ({docker_problem}); PostgreSQL binaries found in {}",
                bin.display()
            ),
        )),
        Err(local_problem) => Err(Error::NoBackend(format!(
            "docker: {docker_problem}; local: {local_problem}; install the PostgreSQL server \
             (for example `apt-get install postgresql-15`, or set PG_BIN to its bin directory), \
             start a Docker daemon, or set DATABASE_URL to a server the harness may use"
        ))),
    }
}

/// Drops a scratch database, template or not. A database whose earlier drop was
/// interrupted is left "invalid" by PostgreSQL: it can no longer be altered, only
/// dropped, which is all that is left to do. One that is already gone (a reaper or
/// another run's sweep got there first) is fine.
pub(crate) async fn drop_scratch_database(admin: &Connection, name: &str) -> Result<()> {
    let unfreeze = admin
        .housekeeping(&format!(
            "alter database {} is_template false",
            quote_ident(name)
        ))
        .await;
    match unfreeze {
        Err(error) if matches!(error.sqlstate(), Some("55000" | "3D000")) => {}
        other => other?,
    }
    let name = quote_ident(name);
    let forced = format!("drop database if exists {name} with (force)");
    let plain = format!("drop database if exists {name}");
    // WITH (FORCE) ends the database's sessions, but a login that is no superuser may
    // not end a session it has no role in: an autovacuum worker busy on the database
    // (it runs as no role) fails the drop with 42501, as CI saw after a red run's
    // report. A plain DROP ends autovacuum itself, and says 55006 while a session
    // remains: then wait for it, briefly.
    let mut waited = std::time::Duration::ZERO;
    loop {
        let done = match admin.housekeeping(&forced).await {
            Err(error) if error.sqlstate() == Some("42501") => admin.housekeeping(&plain).await,
            done => done,
        };
        match done {
            Err(error)
                if matches!(error.sqlstate(), Some("42501" | "55006"))
                    && waited < SESSIONS_LEAVING =>
            {
                tokio::time::sleep(SESSION_POLL).await;
                waited += SESSION_POLL;
            }
            done => return done,
        }
    }
}

/// How long a drop waits for a session it may not end to leave the database.
const SESSIONS_LEAVING: std::time::Duration = std::time::Duration::from_secs(10);
const SESSION_POLL: std::time::Duration = std::time::Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    /// FILE_COPY forces checkpoints, so a server given by URL is never asked, and a
    /// server of our own that cannot say its version keeps the default too. (That our
    /// own servers do use FILE_COPY shows in the test run's time, not in a test.)
    #[tokio::test]
    async fn copies_keep_postgres_default_on_a_url_server_and_when_the_version_is_unknown() {
        let nobody_listens = Endpoint {
            host: "127.0.0.1".into(),
            port: 1,
            user: "postgres".into(),
            password: None,
            dbname: "postgres".into(),
        };
        assert_eq!(clone_strategy(BackendKind::Url, &nobody_listens).await, "");
        assert_eq!(
            clone_strategy(BackendKind::Local, &nobody_listens).await,
            ""
        );
        assert_eq!(
            clone_strategy(BackendKind::Docker, &nobody_listens).await,
            ""
        );
    }

    #[test]
    fn backend_names_parse_case_insensitively() {
        assert_eq!(
            "Docker".parse::<BackendKind>().unwrap(),
            BackendKind::Docker
        );
        assert_eq!("".parse::<BackendKind>().unwrap(), BackendKind::Auto);
        let error = "podman".parse::<BackendKind>().unwrap_err().to_string();
        assert_eq!(
            error,
            "RLS_HARNESS_BACKEND: unknown backend \"podman\", expected auto, local, docker or url"
        );
    }

    #[test]
    fn run_labels_are_unique_and_name_their_databases() {
        let first = RunLabel::new();
        let second = RunLabel::new();
        assert_ne!(first.id, second.id);
        assert!(first.database_prefix().starts_with("rls_harness_"));
        assert!(first
            .comment()
            .contains(&format!("pid={}", std::process::id())));
    }

    #[test]
    fn own_process_is_alive() {
        assert!(!process_is_dead(std::process::id()));
    }
}
