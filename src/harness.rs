//! The process-wide harness: one server, one Supabase-like base database, migrated
//! templates cloned from it, and scratch databases cloned from those.
//!
//! Tests run on parallel threads, each with its own tokio runtime, so the harness keeps
//! no connection open between calls: it keeps names and credentials, and every caller
//! opens its own sessions. Cloning a template takes a few milliseconds, which is what
//! lets each check run on a database of its own, in any order, in parallel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OnceCell};

use crate::actor::{Actor, Api, Identity};
use crate::backend::{BackendKind, BackendOptions, Server};
use crate::catalog::{self, Catalog};
use crate::connection::{Connection, Endpoint};
use crate::error::{Error, Result};
use crate::migrate::{self, Applied, Migration};
use crate::origin::{Origins, Tracker};
use crate::supabase::{self, Fidelity};

/// The migrations this crate ships, used when nothing else is asked for.
pub fn default_migrations_dir() -> PathBuf {
    match std::env::var_os("RLS_HARNESS_MIGRATIONS").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"),
    }
}

/// How long each phase of bringing the harness up took.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartTimings {
    pub backend: Duration,
    pub shim: Duration,
}

/// A migrated database that scratch databases are cloned from.
#[derive(Debug)]
pub struct Template {
    pub name: String,
    pub applied: Vec<Applied>,
    pub migrate_time: Duration,
    /// Where each object the migrations touched was created and last changed.
    pub origins: Origins,
    /// What the API roles can reach in the migrated database, read before it was
    /// frozen (nobody may be connected to a template while it is cloned).
    pub catalog: Catalog,
}

/// A migration set by file name and content, in order.
type MigrationsKey = Vec<(String, String)>;

/// One server and what has been built on it.
pub struct Harness {
    server: Server,
    base: String,
    fidelity: Fidelity,
    pub timings: StartTimings,
    /// Templates by the migrations they hold, each known by file name and content (a
    /// copy of a migration in another folder is the same migration).
    templates: Mutex<HashMap<MigrationsKey, Arc<Template>>>,
    /// Clones that leases gave back, by template: their state is the template's,
    /// because whoever leased them only ever rolled back.
    idle: std::sync::Mutex<HashMap<String, Vec<String>>>,
    /// The migration being applied, for whoever shows progress.
    watch: migrate::Watch,
}

static SHARED: OnceCell<std::result::Result<Harness, Arc<Error>>> = OnceCell::const_new();

impl Harness {
    /// The harness of this process, started on first use from the environment
    /// (`RLS_HARNESS_BACKEND`, `DATABASE_URL`, `RLS_HARNESS_IMAGE`). It is never
    /// dropped; its backend's reaper removes the server when the process exits.
    pub async fn shared() -> Result<&'static Harness> {
        let started = SHARED
            .get_or_init(|| async {
                let options = BackendOptions::from_env().map_err(Arc::new)?;
                Harness::start(&options).await.map_err(Arc::new)
            })
            .await;
        started
            .as_ref()
            .map_err(|error| Error::Shared(Arc::clone(error)))
    }

    /// Starts a backend and prepares the Supabase-like base database on it.
    pub async fn start(options: &BackendOptions) -> Result<Harness> {
        let clock = Instant::now();
        let server = Server::start(options).await?;
        let backend = clock.elapsed();

        let clock = Instant::now();
        let base = server.create_database("base", None, None).await?;
        let owns_cluster = server.kind() != BackendKind::Url;
        let fidelity = {
            let connection = Connection::open(&server.admin(&base)).await?;
            supabase::prepare(&connection, owns_cluster, options.grants).await?
        };
        if fidelity.owner_password.is_some() {
            server.give_database(&base, supabase::OWNER).await?;
        }
        server.freeze_template(&base).await?;
        Ok(Harness {
            watch: migrate::Watch::default(),
            server,
            base,
            fidelity,
            timings: StartTimings {
                backend,
                shim: clock.elapsed(),
            },
            templates: Mutex::new(HashMap::new()),
            idle: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The role that owns the databases, when the harness made one.
    fn owner(&self) -> Option<&'static str> {
        self.fidelity
            .owner_password
            .as_ref()
            .map(|_| supabase::OWNER)
    }

    /// The login that owns `dbname` and migrates it: `postgres` (NOSUPERUSER BYPASSRLS)
    /// where the harness made it, else the admin login.
    fn owner_endpoint(&self, dbname: &str) -> Endpoint {
        let admin = self.server.admin(dbname);
        match &self.fidelity.owner_password {
            Some(password) => admin.with_login(supabase::OWNER, Some(password)),
            None => admin,
        }
    }

    /// What was picked and why, and what the shim found.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = self.server.notes.clone();
        notes.extend(self.fidelity.notes.iter().cloned());
        notes
    }

    pub fn backend(&self) -> BackendKind {
        self.server.kind()
    }

    /// The template with the migrations of `dir` applied, built once per process.
    pub async fn template_from_dir(&self, dir: &Path) -> Result<Arc<Template>> {
        self.template(&migrate::discover(dir)?).await
    }

    /// The migration file a template build is applying now, and how far it has got.
    pub fn applying(&self) -> Option<migrate::Applying> {
        self.watch.applying()
    }

    /// The template with `migrations` applied in order, built once per process.
    /// Between migrations it runs the plan's verification queries for each.
    ///
    /// A template whose migrations begin with those of one already built starts as a
    /// clone of it and applies only the rest: a migration added after the shipped
    /// ones (every mutant and benign test) costs one file, not the whole history.
    pub async fn template(&self, migrations: &[Migration]) -> Result<Arc<Template>> {
        let key: MigrationsKey = migrations
            .iter()
            .map(|m| (m.file_name(), m.sql.clone()))
            .collect();
        // Holding the lock while building means parallel callers wait for one build
        // instead of racing to make the same template twice.
        let mut templates = self.templates.lock().await;
        if let Some(template) = templates.get(&key) {
            return Ok(Arc::clone(template));
        }
        let prefix = templates
            .iter()
            .filter(|(built, _)| built.len() < key.len() && key.starts_with(built))
            .max_by_key(|(built, _)| built.len())
            .map(|(_, template)| Arc::clone(template));
        let source = prefix
            .as_ref()
            .map_or(self.base.as_str(), |p| p.name.as_str());
        let name = self
            .server
            .create_database("tpl", Some(source), self.owner())
            .await?;
        let built = self
            .migrate_template(&name, prefix.as_deref(), migrations)
            .await;
        let template = match built {
            Ok(template) => Arc::new(template),
            Err(error) => {
                let _ = self.server.drop_database(&name).await;
                return Err(error);
            }
        };
        self.server.freeze_template(&name).await?;
        templates.insert(key, Arc::clone(&template));
        Ok(template)
    }

    /// Applies `migrations` to the new template `name`; when it is a clone of
    /// `prefix`, only those after the prefix's, carrying on its origins.
    async fn migrate_template(
        &self,
        name: &str,
        prefix: Option<&Template>,
        migrations: &[Migration],
    ) -> Result<Template> {
        let connection = Connection::open(&self.owner_endpoint(name)).await?;
        let mut applied = prefix.map_or_else(Vec::new, |p| p.applied.clone());
        let mut migrate_time = prefix.map_or(Duration::ZERO, |p| p.migrate_time);
        let mut tracker = Tracker::start(&connection).await?;
        if let Some(prefix) = prefix {
            tracker.origins = prefix.origins.clone();
        }
        let acted_as = migrate::roles_acted_as(&connection).await?;
        for migration in &migrations[applied.len()..] {
            let done =
                migrate::apply(&connection, migration, Some(&mut tracker), &self.watch).await?;
            migrate_time += done.duration;
            applied.push(done);
        }
        migrate::refuse_lost_roles(
            &acted_as,
            &migrate::roles_acted_as(&connection).await?,
            &self.owner_endpoint(name).user,
            &tracker.origins,
        )?;
        Ok(Template {
            name: name.to_owned(),
            applied,
            catalog: catalog::read(&connection, &tracker.origins).await?,
            migrate_time,
            origins: tracker.origins,
        })
    }

    /// A fresh database cloned from `template`, for one check or scenario.
    pub async fn database(&self, template: &Template) -> Result<Database<'_>> {
        self.clone_of(&template.name, "db").await
    }

    /// A clone of `template` for work that never commits (every scenario runs in one
    /// transaction that is rolled back), reused across leases because such work leaves
    /// the database exactly as it found it. Cloning is the expensive part (hundreds of
    /// milliseconds); a lease from the pool is free.
    pub async fn lease(&self, template: &Template) -> Result<Lease<'_>> {
        let reused = self
            .idle
            .lock()
            .expect("idle pool")
            .get_mut(&template.name)
            .and_then(Vec::pop);
        let name = match reused {
            Some(name) => name,
            None => {
                self.server
                    .create_database("lease", Some(&template.name), self.owner())
                    .await?
            }
        };
        Ok(Lease {
            harness: self,
            template: template.name.clone(),
            name,
        })
    }

    /// A fresh database with the Supabase shim and no migration at all.
    pub async fn bare_database(&self) -> Result<Database<'_>> {
        self.clone_of(&self.base, "bare").await
    }

    async fn clone_of(&self, template: &str, purpose: &str) -> Result<Database<'_>> {
        let name = self
            .server
            .create_database(purpose, Some(template), self.owner())
            .await?;
        Ok(Database {
            harness: self,
            name,
        })
    }

    /// Stops the server now (the CLI does; the shared harness relies on its reaper).
    pub async fn shutdown(self) -> Result<()> {
        self.server.shutdown().await
    }
}

/// A scratch database of this run.
pub struct Database<'h> {
    harness: &'h Harness,
    pub name: String,
}

impl Database<'_> {
    /// The privileged login, for migrations, fixtures and schema checks.
    pub fn owner_endpoint(&self) -> Endpoint {
        self.harness.owner_endpoint(&self.name)
    }

    /// A session as the owner.
    pub async fn owner(&self) -> Result<Connection> {
        Connection::open(&self.owner_endpoint()).await
    }

    /// A session that sends requests as `who` through `api`, PostgREST style.
    pub async fn actor(&self, who: Identity, api: &Api) -> Result<Actor> {
        let admin = self.owner_endpoint();
        let authenticator = match &self.harness.fidelity.authenticator_password {
            Some(password) => admin.with_login("authenticator", Some(password)),
            None => admin.clone(),
        };
        Actor::open(who, &authenticator, &admin, api).await
    }

    /// Drops the database.
    pub async fn close(self) -> Result<()> {
        self.harness.server.drop_database(&self.name).await
    }
}

/// A clone of a template on loan; given back to the pool when dropped. Whoever holds
/// it must not commit anything.
pub struct Lease<'h> {
    harness: &'h Harness,
    template: String,
    pub name: String,
}

impl Lease<'_> {
    /// A session as the owner on the leased database.
    pub async fn owner(&self) -> Result<Connection> {
        Connection::open(&self.harness.owner_endpoint(&self.name)).await
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Ok(mut idle) = self.harness.idle.lock() {
            idle.entry(self.template.clone())
                .or_default()
                .push(std::mem::take(&mut self.name));
        }
    }
}
