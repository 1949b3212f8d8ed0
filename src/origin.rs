//! Where each database object came from: the migration file and line of the statement
//! that created it, and of the statements that last changed its grants, its row
//! security or its options.
//!
//! The runner sends a migration one statement at a time; after each one it reads a
//! small version stamp of relations, policies and functions (a hash of its
//! definition: columns, view text, policy expressions, function body and settings;
//! plus its grants, its RLS flags and its options) and compares it with the stamp
//! before. An object new since the last
//! statement was created there, a changed one was altered there. This finds the line
//! of objects made by dynamic SQL in a `DO` block as well, which no reading of the text
//! could. Statements that only write rows (`INSERT`, `UPDATE`, `DELETE`, `MERGE`) are
//! not stamped, so an object a row trigger makes with dynamic SQL is dated to the next
//! statement stamped.
//!
//! Stamping every object after every statement made a migration's cost grow with the
//! square of its size (4 ms a statement at 300 objects). After a statement that only
//! makes or changes objects where they stand ([`Statement::changes_in_place`]), only
//! the objects whose catalog rows it wrote are stamped again: rows this transaction
//! wrote (`age(xmin) <= 0`, subtransactions included) with a command id above the
//! highest seen so far. The rest (a `DO` block, a rename, a `DROP`), and any
//! statement after which the transaction's count of deleted catalog rows grew, get
//! the whole stamp, which also notices what is gone.
//!
//! [`Statement::changes_in_place`]: crate::script::Statement::changes_in_place

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

/// The stamps of every object (`$2` true) or only of those whose catalog rows this
/// transaction wrote at a command id above `$1`; each row also carries the highest such
/// command id and the transaction's count of deleted relation, policy and function rows.
const STAMPS: &str = r#"
with fresh_relation as (
    select c.oid as id, c.cmin::text::int8 as cid from pg_catalog.pg_class c
     where pg_catalog.age(c.xmin) <= 0 and c.cmin::text::int8 > $1
    union all
    select a.attrelid, a.cmin::text::int8 from pg_catalog.pg_attribute a
     where pg_catalog.age(a.xmin) <= 0 and a.cmin::text::int8 > $1
    union all
    select r.ev_class, r.cmin::text::int8 from pg_catalog.pg_rewrite r
     where pg_catalog.age(r.xmin) <= 0 and r.cmin::text::int8 > $1
), fresh_policy as (
    select p.oid as id, p.cmin::text::int8 as cid from pg_catalog.pg_policy p
     where pg_catalog.age(p.xmin) <= 0 and p.cmin::text::int8 > $1
), fresh_function as (
    select p.oid as id, p.cmin::text::int8 as cid from pg_catalog.pg_proc p
     where pg_catalog.age(p.xmin) <= 0 and p.cmin::text::int8 > $1
), mark as (
    select coalesce(max(cid), $1) as high,
           pg_catalog.pg_stat_get_xact_tuples_deleted('pg_catalog.pg_class'::pg_catalog.regclass)
           + pg_catalog.pg_stat_get_xact_tuples_deleted('pg_catalog.pg_policy'::pg_catalog.regclass)
           + pg_catalog.pg_stat_get_xact_tuples_deleted('pg_catalog.pg_proc'::pg_catalog.regclass) as dropped
      from (select cid from fresh_relation union all select cid from fresh_policy
            union all select cid from fresh_function) f
)
select 'r', n.nspname || '.' || c.relname,
       md5(c.relkind::text
           || coalesce((select string_agg(a.attname || ' ' || a.atttypid || ' ' || a.attnotnull, ',' order by a.attnum)
                          from pg_catalog.pg_attribute a
                         where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '')
           || case when c.relkind in ('v', 'm') then pg_catalog.pg_get_viewdef(c.oid) else '' end),
       coalesce(c.relacl::text, ''),
       c.relrowsecurity::text || c.relforcerowsecurity::text, coalesce(c.reloptions::text, ''),
       (select high from mark), (select dropped from mark)
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'v', 'm', 'f')
   and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
   and ($2 or c.oid in (select id from fresh_relation))
union all
select 'p', n.nspname || '.' || c.relname || '.' || p.polname,
       md5(p.polcmd::text || p.polpermissive::text || p.polroles::text
           || coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '')
           || '/' || coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '')),
       '', '', '', (select high from mark), (select dropped from mark)
  from pg_catalog.pg_policy p
  join pg_catalog.pg_class c on c.oid = p.polrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where $2 or p.oid in (select id from fresh_policy) or p.polrelid in (select id from fresh_relation)
union all
select 'f', n.nspname || '.' || p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')',
       md5(p.prosrc || coalesce(p.proconfig::text, '') || p.prosecdef::text || p.provolatile::text
           || p.prorettype::text || p.proretset::text || p.prolang::text),
       coalesce(p.proacl::text, ''), '', '', (select high from mark), (select dropped from mark)
  from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
 where n.nspname not in ('pg_catalog', 'information_schema')
   and ($2 or p.oid in (select id from fresh_function))
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
       '', '', '', (select high from mark), (select dropped from mark)
  from pg_catalog.pg_roles r
 where r.rolname in ('anon', 'authenticated') or r.rolname = current_user
"#;

/// Follows the catalog through a run of migrations.
#[derive(Debug)]
pub struct Tracker {
    last: BTreeMap<(ObjectKind, String), Stamp>,
    pub origins: Origins,
    /// [`STAMPS`] of every object, prepared on the connection [`Tracker::start`] was
    /// given.
    whole: tokio_postgres::Statement,
    /// [`STAMPS`] of the objects written since, prepared apart so that the server
    /// plans it once rather than for each statement.
    fresh: tokio_postgres::Statement,
    /// The highest command id of a catalog row this transaction wrote, as far as seen.
    seen: i64,
    /// The transaction's count of deleted catalog rows at the last stamp.
    dropped: i64,
}

/// What one reading of the stamps found.
struct Reading {
    stamps: BTreeMap<(ObjectKind, String), Stamp>,
    seen: i64,
    dropped: i64,
}

impl Tracker {
    /// Starts from what the database holds now (the shim's objects have no origin).
    /// Every later call must be given the same connection.
    pub async fn start(connection: &Connection) -> Result<Tracker> {
        let whole = connection.prepare(&STAMPS.replace("$2", "true")).await?;
        let fresh = connection.prepare(&STAMPS.replace("$2", "false")).await?;
        let reading = read(connection, &whole, -1).await?;
        Ok(Tracker {
            last: reading.stamps,
            origins: Origins::new(),
            whole,
            fresh,
            seen: -1,
            dropped: 0,
        })
    }

    /// Says that a new transaction begins: its command ids start again from zero.
    pub fn begin_transaction(&mut self) {
        self.seen = -1;
        self.dropped = 0;
    }

    /// Notes what the statement at `location`, just run on `connection`, created or
    /// changed; `in_place` when the statement renamed, moved and dropped nothing.
    pub async fn observe(
        &mut self,
        connection: &Connection,
        location: &Location,
        in_place: bool,
    ) -> Result<()> {
        let first = if in_place { &self.fresh } else { &self.whole };
        let mut reading = read(connection, first, self.seen).await?;
        let whole = !in_place || reading.dropped != self.dropped;
        if in_place && whole {
            reading = read(connection, &self.whole, self.seen).await?;
        }
        (self.seen, self.dropped) = (reading.seen, reading.dropped);
        for (key, stamp) in &reading.stamps {
            self.note(key, stamp, location);
        }
        if whole {
            // A dropped object keeps its history only if something of the same name
            // comes back; until then it is simply gone.
            self.origins
                .retain(|key, _| reading.stamps.contains_key(key));
            self.last = reading.stamps;
        } else {
            self.last.extend(reading.stamps);
        }
        Ok(())
    }

    /// Notes the stamp `stamp` of `key` after the statement at `location`.
    fn note(&mut self, key: &(ObjectKind, String), stamp: &Stamp, location: &Location) {
        let before = self.last.get(key);
        if before == Some(stamp) {
            return;
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
                if before.grants != stamp.grants {
                    history.grants = here.clone();
                }
                if before.row_security != stamp.row_security {
                    history.row_security = here.clone();
                }
                if before.options != stamp.options {
                    history.options = here.clone();
                }
                if before.definition != stamp.definition {
                    history.changed = here;
                }
            }
        }
    }
}

/// Reads the stamps `statement` (whole or fresh) gives, `seen` the command id above
/// which rows are fresh.
async fn read(
    connection: &Connection,
    statement: &tokio_postgres::Statement,
    seen: i64,
) -> Result<Reading> {
    let rows = connection.query_prepared(statement, &[&seen]).await?;
    let mut reading = Reading {
        stamps: BTreeMap::new(),
        seen,
        dropped: 0,
    };
    for row in &rows {
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
        reading.seen = row.get(6);
        reading.dropped = row.get(7);
        reading
            .stamps
            .insert((kind, row.get::<_, String>(1)), stamp);
    }
    Ok(reading)
}
