//! Where each database object came from: the migration file and line of the statement
//! that created it, and of the statements that last changed its grants, its row
//! security or its options.
//!
//! The runner sends a migration one statement at a time; after each one it reads a
//! small version stamp of every relation, policy and function (a hash of its
//! definition: columns, view text, policy expressions, function body and settings;
//! plus its grants, its RLS flags and its options) and compares it with the stamp
//! before. An object new since the last
//! statement was created there, a changed one was altered there. This finds the line
//! of objects made by dynamic SQL in a `DO` block as well, which no reading of the text
//! could, and it costs one small query per statement that may make objects: statements
//! that only write rows (`INSERT`, `UPDATE`, `DELETE`, `MERGE`) are not stamped, so an
//! object a row trigger makes with dynamic SQL is dated to the next statement stamped.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::connection::Connection;
use crate::error::Result;

/// A place in a migration file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// What kind of catalog object a stamp is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A table, view, materialized view or foreign table: `schema.name`.
    Relation,
    /// A policy: `schema.table.policy`.
    Policy,
    /// A function or procedure: `schema.name(argument types)`.
    Function,
    /// An API role (`anon`, `authenticated`) or the login that migrates: its
    /// attributes, the roles it is a member of and its settings, which a migration may
    /// widen (or, for the login, narrow).
    Role,
}

/// The migration history of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The statement that created it (or created it again, after a drop).
    pub created: Option<Location>,
    /// The last statement that changed what it is: its columns or view text, its
    /// policy expressions, its function body or settings.
    pub changed: Option<Location>,
    /// The last statement that changed its grants.
    pub grants: Option<Location>,
    /// The last statement that enabled, disabled, forced or unforced row security.
    pub row_security: Option<Location>,
    /// The last statement that changed its options (`security_invoker`, ...).
    pub options: Option<Location>,
}

impl History {
    /// The line to show for a finding about the object as a whole: where it was made.
    pub fn origin(&self) -> Option<&Location> {
        self.created.as_ref().or(self.changed.as_ref())
    }
}

/// The histories of every object the migrations touched.
pub type Origins = BTreeMap<(ObjectKind, String), History>;

/// One object's version: a hash of its definition, its grants, RLS flags and options.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    definition: String,
    grants: String,
    row_security: String,
    options: String,
}

const STAMPS: &str = r#"
select 'r', n.nspname || '.' || c.relname,
       md5(c.relkind::text
           || coalesce((select string_agg(a.attname || ' ' || a.atttypid || ' ' || a.attnotnull, ',' order by a.attnum)
                          from pg_catalog.pg_attribute a
                         where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '')
           || case when c.relkind in ('v', 'm') then pg_catalog.pg_get_viewdef(c.oid) else '' end),
       coalesce(c.relacl::text, ''),
       c.relrowsecurity::text || c.relforcerowsecurity::text, coalesce(c.reloptions::text, '')
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'v', 'm', 'f')
   and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
union all
select 'p', n.nspname || '.' || c.relname || '.' || p.polname,
       md5(p.polcmd::text || p.polpermissive::text || p.polroles::text
           || coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '')
           || '/' || coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '')),
       '', '', ''
  from pg_catalog.pg_policy p
  join pg_catalog.pg_class c on c.oid = p.polrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
union all
select 'f', n.nspname || '.' || p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')',
       md5(p.prosrc || coalesce(p.proconfig::text, '') || p.prosecdef::text || p.provolatile::text
           || p.prorettype::text || p.proretset::text || p.prolang::text),
       coalesce(p.proacl::text, ''), '', ''
  from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
 where n.nspname not in ('pg_catalog', 'information_schema')
union all
select 'a', r.rolname::text,
       md5(r.rolsuper::text || r.rolbypassrls::text
           || coalesce((select string_agg(a.roleid::text, ',' order by a.roleid)
                          from pg_catalog.pg_auth_members a where a.member = r.oid), '')
           || coalesce((select string_agg(s.setconfig::text, ';' order by s.setdatabase)
                          from pg_catalog.pg_db_role_setting s
                         where s.setrole = r.oid
                           and s.setdatabase in (0, (select oid from pg_catalog.pg_database
                                                      where datname = current_database()))), '')),
       '', '', ''
  from pg_catalog.pg_roles r
 where r.rolname in ('anon', 'authenticated') or r.rolname = current_user
"#;

/// Follows the catalog through a run of migrations.
#[derive(Debug, Default)]
pub struct Tracker {
    last: BTreeMap<(ObjectKind, String), Stamp>,
    pub origins: Origins,
}

impl Tracker {
    /// Starts from what the database holds now (the shim's objects have no origin).
    pub async fn start(connection: &Connection) -> Result<Tracker> {
        Ok(Tracker {
            last: stamps(connection).await?,
            origins: Origins::new(),
        })
    }

    /// Notes what the statement at `location`, just run on `connection`, created or
    /// changed.
    pub async fn observe(&mut self, connection: &Connection, location: &Location) -> Result<()> {
        let now = stamps(connection).await?;
        for (key, stamp) in &now {
            let before = self.last.get(key);
            if before == Some(stamp) {
                continue;
            }
            let history = self.origins.entry(key.clone()).or_default();
            let here = Some(location.clone());
            match before {
                None => {
                    *history = History {
                        created: here.clone(),
                        changed: here.clone(),
                        grants: here.clone(),
                        row_security: here.clone(),
                        options: here,
                    }
                }
                Some(before) => {
                    let grants = before.grants != stamp.grants;
                    let row_security = before.row_security != stamp.row_security;
                    let options = before.options != stamp.options;
                    if grants {
                        history.grants = here.clone();
                    }
                    if row_security {
                        history.row_security = here.clone();
                    }
                    if options {
                        history.options = here.clone();
                    }
                    if before.definition != stamp.definition {
                        history.changed = here;
                    }
                }
            }
        }
        // A dropped object keeps its history only if something of the same name comes
        // back; until then it is simply gone.
        self.origins.retain(|key, _| now.contains_key(key));
        self.last = now;
        Ok(())
    }
}

async fn stamps(connection: &Connection) -> Result<BTreeMap<(ObjectKind, String), Stamp>> {
    let rows = connection.query(STAMPS, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let kind = match row.get::<_, &str>(0) {
                "r" => ObjectKind::Relation,
                "p" => ObjectKind::Policy,
                "a" => ObjectKind::Role,
                _ => ObjectKind::Function,
            };
            let stamp = Stamp {
                definition: row.get(2),
                grants: row.get(3),
                row_security: row.get(4),
                options: row.get(5),
            };
            ((kind, row.get::<_, String>(1)), stamp)
        })
        .collect())
}
