//! Writes through functions: what a SECURITY DEFINER function changed when a principal
//! called it, held against what that principal may write itself.
//!
//! A definer function runs with its owner's rights, so row security does not stop
//! what it writes; its own checks must. Each call of such a function that succeeded in
//! the probes is made again in a savepoint of the owner's transaction, the same
//! request in the same protocol, kept until the owner has read what it changed and
//! then rolled back. The server's per-transaction write counters say whether anything
//! was written at all; only then are the world (through the profile) and the subject
//! tables read again. The difference is judged as writes: the tenancy's through the
//! model ([`World::first_forbidden`]), a subject table's rows by its class's rule.

use std::collections::BTreeSet;

use super::Judge;
use crate::actor::{self, Api, Frame, Request};
use crate::connection::Connection;
use crate::error::Result;
use crate::model::{Context, Id, Op, Outcome, Principal, World};
use crate::profile::Sql;
use crate::property::compare::{Mismatch, Probe};
use crate::rule::Invariant;
use crate::scenario::Expectation;
use crate::subject::{Population, Row, Subjects};

/// A successful call of a function that writes as its owner, to be made again.
#[derive(Debug, Clone)]
pub struct Call {
    pub who: Principal,
    pub context: Context,
    /// The function, `schema.name(types)`, as findings name it.
    pub name: String,
    /// The call with its arguments, as reports show it.
    pub object: String,
    pub request: Request,
}

/// What the server counts of this transaction's writes so far, every table's inserts,
/// updates and deletes, savepoints included.
const WRITES: &str = "select coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint \
                      from pg_stat_xact_all_tables";

/// Makes each call again in the world loaded in `connection`'s open transaction and
/// judges what it wrote; one mismatch per call that wrote beyond its caller's rights.
pub async fn judge(
    connection: &Connection,
    api: &Api,
    sql: &Sql,
    world: &World,
    (subjects, population): (&Subjects, &Population),
    calls: &[Call],
) -> Result<Vec<Mismatch>> {
    let mut found = Vec::new();
    if calls.is_empty() {
        return Ok(found);
    }
    let profile = sql.profile();
    // The world as the owner reads it, like the state after each call, so that both
    // sides of the difference come from the same reader.
    let before = crate::profile::read_seed(connection, profile).await?;
    for call in calls {
        connection.batch("savepoint effect").await?;
        let after = made_again(connection, api, profile, subjects, &call.request).await;
        connection
            .batch("rollback to savepoint effect; release savepoint effect")
            .await?;
        let Some((after, rows)) = after? else {
            continue;
        };
        let judge = Judge::new(
            Some(profile),
            subjects,
            population,
            world,
            call.who,
            call.context,
        );
        if let Some(mismatch) = judge.writes(call, sql, (&before, &after), &rows) {
            found.push(mismatch);
        }
    }
    Ok(found)
}

/// The request sent again and kept: the world and the subject tables after it, or
/// `None` when it failed this time or wrote nothing.
async fn made_again(
    connection: &Connection,
    api: &Api,
    profile: &crate::profile::Profile,
    subjects: &Subjects,
    request: &Request,
) -> Result<Option<(World, Vec<Vec<Row>>)>> {
    let count = |rows: Vec<tokio_postgres::Row>| rows.first().map_or(0, |r| r.get::<_, i64>(0));
    let writes_before = count(connection.query(WRITES, &[]).await?);
    let outcome = actor::send(connection, api, Frame::Savepoint { keep: true }, request).await?;
    if outcome.result.is_err() {
        return Ok(None);
    }
    if count(connection.query(WRITES, &[]).await?) == writes_before {
        return Ok(None);
    }
    let after = crate::profile::read_seed(connection, profile).await?;
    let rows = crate::subject::read_rows(connection, subjects).await?;
    Ok(Some((after, rows)))
}

impl Judge<'_> {
    /// The first write of `call` (from `before` to `after` in the tenancy, to `rows` in
    /// the subject tables) that the caller may not make itself, as a mismatch.
    fn writes(
        &self,
        call: &Call,
        sql: &Sql,
        (before, after): (&World, &World),
        rows: &[Vec<Row>],
    ) -> Option<Mismatch> {
        let label = self.label();
        let forbidden =
            match self
                .world
                .first_forbidden(&self.who, &self.context, &before.changes(after))
            {
                Some((op, outcome)) => Some((
                    crate::model::invariant_of_write(self.world, &self.who, &self.context, &op),
                    format!(
                        "it {}, which {label} may not do itself: as a request of its own {}",
                        self.described(sql.profile(), &op),
                        match outcome {
                            Outcome::Done(_) => "it would touch no row".to_owned(),
                            Outcome::Denied(_) => "it would be refused".to_owned(),
                            Outcome::SqlState(code) => format!("it would fail with {code}"),
                        }
                    ),
                )),
                None => self
                    .forbidden_row(rows)
                    .map(|what| (Invariant::ClassBound, what)),
            }?;
        let (invariant, actual) = forbidden;
        Some(Mismatch {
            invariant,
            who: self.who,
            context: self.context,
            probe: Probe::Subject {
                object: call.name.clone(),
                action: "call".into(),
                replay: call.request.sql.clone(),
                expectation: Expectation::Nothing,
            },
            sql: call.request.sql.clone(),
            expected: format!(
                "a refusal, or only writes {label} may make itself ({})",
                call.object
            ),
            actual,
        })
    }

    /// What `op` did, in the world's names: users by name, tenants by slug, roles and
    /// tables as the profile names them.
    fn described(&self, profile: &crate::profile::Profile, op: &Op) -> String {
        let world = self.world;
        let user = |id: &Id| {
            world
                .user(*id)
                .map_or_else(|| format!("user {id}"), |u| format!("user {}", u.name))
        };
        let tenant = |id: &Id| {
            world
                .tenant(*id)
                .map_or_else(|| format!("tenant {id}"), |t| format!("tenant {}", t.slug))
        };
        let table = |t: &crate::model::Table| profile.table_name(*t).to_owned();
        match op {
            Op::InsertTenant { slug, .. } => format!("opened tenant {slug}"),
            Op::RenameTenant { id } => format!("changed the row of {}", tenant(id)),
            Op::DeleteTenant { id } => format!("deleted {}", tenant(id)),
            Op::AddMember {
                user: u,
                tenant: t,
                role,
            } => format!(
                "made {} a member of {} as {}",
                user(u),
                tenant(t),
                profile.role_name(*role)
            ),
            Op::SetRole {
                user: u,
                tenant: t,
                role,
            } => format!(
                "changed the role of {} in {} to {}",
                user(u),
                tenant(t),
                profile.role_name(*role)
            ),
            Op::RemoveMember { user: u, tenant: t } => {
                format!("removed {} from {}", user(u), tenant(t))
            }
            Op::AddAdmin { user: u } | Op::GrantAdmin { user: u } => {
                format!("made {} a platform admin", user(u))
            }
            Op::RemoveAdmin { user: u } => format!("took {} off the platform admins", user(u)),
            Op::Assign { user: u, role } => {
                format!("assigned {} the role {}", user(u), profile.role_name(*role))
            }
            Op::Insert(row) => format!("wrote row {} into {}", row.id, table(&row.table)),
            Op::Update { id, new } => format!("changed row {id} of {}", table(&new.table)),
            Op::Delete { table: t, id } => format!("deleted row {id} of {}", table(t)),
        }
    }

    /// The first row of a subject table that the call inserted, changed or deleted
    /// beyond the caller's rights by the table's class, described.
    fn forbidden_row(&self, rows: &[Vec<Row>]) -> Option<String> {
        for ((table, before), after) in self
            .subjects
            .tables
            .iter()
            .zip(&self.population.tables)
            .zip(rows)
        {
            let jsons = |rows: &[Row]| -> BTreeSet<String> {
                rows.iter().map(|r| r.json.clone()).collect()
            };
            let (old, new) = (jsons(before), jsons(after));
            let key = |row: &Row| -> Vec<Option<String>> {
                table.key.iter().map(|c| row.text(c)).collect()
            };
            let gone: Vec<&Row> = before.iter().filter(|r| !new.contains(&r.json)).collect();
            let made: Vec<&Row> = after.iter().filter(|r| !old.contains(&r.json)).collect();
            for row in &gone {
                let (_, may_write, _) = self.row_verdict(table, row);
                let updated = !table.key.is_empty() && made.iter().any(|m| key(m) == key(row));
                if !may_write {
                    let what = if updated { "changed" } else { "deleted" };
                    return Some(format!("it {what} {} in {}", row.json, table.name));
                }
            }
            for row in &made {
                let (_, _, may_insert) = self.row_verdict(table, row);
                if !may_insert {
                    return Some(format!("it wrote {} into {}", row.json, table.name));
                }
            }
        }
        None
    }
}
