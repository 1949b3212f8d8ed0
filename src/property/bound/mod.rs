//! Probes for the objects the model does not name, and how each answer is judged: the
//! class bound of every classed table (what each principal may read and write at
//! most), and the containment of every derived view and function (nothing it returns
//! may be hidden from the caller in its base).
//!
//! The probes travel in the same pipeline as the model's own, one principal and
//! context at a time (see `probe`), each in a rolled-back savepoint. A table is read
//! whole and every row the principal sees is judged by its class's rule; writes are
//! tried on a row of each kind the principal meets (one it may write, one it only
//! reads, one hidden from it) and with a new row of each kind. Going beyond the bound
//! fails with `class-bound`; staying below it is noted as stricter than needed. A new
//! `resource` table is held to the resource rules exactly, as the four are.

use std::collections::{BTreeMap, BTreeSet};

use super::compare::Mismatch;
use super::observe;
use crate::config::Writers;
use crate::connection::{qualified_ident, quote_ident, quote_literal};
use crate::model::{self, Context, Id, Mode, Principal, Resource, Rights, World};
use crate::profile::Profile;
use crate::subject::{insert_one, Population, Row, SharingColumns};
use crate::subject::{Held, Mapping, Rule, Subjects, Table};

mod call;
mod effect;
mod verdict;

use call::calls;

pub use effect::{judge as judge_writes_through_functions, Call};
pub use verdict::judge;

/// What a probe of a subject asks.
#[derive(Debug, Clone)]
pub enum Ask {
    /// Every row of a table, as `to_jsonb` text.
    Read { table: usize },
    /// One write; `allowed` is what the rule says of it.
    Write {
        table: usize,
        op: &'static str,
        row: String,
        allowed: bool,
    },
    /// The mapping columns of every row a view or a function call returns.
    Derived {
        /// The view or function, qualified.
        name: String,
        /// What was read: the view, or the call with its arguments.
        object: String,
        mappings: Vec<Mapping>,
    },
    /// The mapping columns of every row of a base the principal reads itself.
    Base { base: String, columns: Vec<String> },
    /// A call of a function nobody may call.
    Reach { name: String, object: String },
    /// A call of a guarded function, its answer as text; `writes` when it writes as
    /// its owner, so that a successful call is made again and what it wrote judged.
    Guarded {
        name: String,
        object: String,
        writes: bool,
    },
}

impl Ask {
    /// The object it probes, qualified, for the coverage of each object; `None` for a
    /// base read, which only serves the others.
    pub fn object(&self, subjects: &Subjects) -> Option<String> {
        match self {
            Ask::Read { table } | Ask::Write { table, .. } => {
                Some(subjects.tables[*table].name.clone())
            }
            Ask::Derived { name, .. } | Ask::Reach { name, .. } | Ask::Guarded { name, .. } => {
                Some(name.clone())
            }
            Ask::Base { .. } => None,
        }
    }
}

/// The judgement of a pair's subject probes.
#[derive(Debug, Default)]
pub struct Verdicts {
    pub mismatches: Vec<Mismatch>,
    /// Where the object allows less than its class: reported, never failed.
    pub stricter: BTreeSet<String>,
    /// What every probe got, for the access matrix.
    pub observed: Vec<(observe::Key, observe::Seen)>,
}

/// What the rules say of one principal in one context.
pub struct Judge<'a> {
    /// The profile in use, which names the model's resource tables (a child's parent
    /// may be one).
    pub profile: Option<&'a Profile>,
    pub subjects: &'a Subjects,
    pub population: &'a Population,
    pub world: &'a World,
    pub who: Principal,
    pub context: Context,
    rights: Rights,
}

impl<'a> Judge<'a> {
    pub fn new(
        profile: Option<&'a Profile>,
        subjects: &'a Subjects,
        population: &'a Population,
        world: &'a World,
        who: Principal,
        context: Context,
    ) -> Judge<'a> {
        Judge {
            rights: world.rights(&who),
            profile,
            subjects,
            population,
            world,
            who,
            context,
        }
    }

    /// Whether the principal may read a row, update or delete it (its old version), and
    /// insert it (its new version), by the table's rule; `value` gives the row's columns.
    fn verdict(&self, table: &Table, value: &dyn Fn(&str) -> Option<String>) -> (bool, bool, bool) {
        let rights = &self.rights;
        if rights.bypass_rls {
            return (true, true, true);
        }
        let signed_in = rights.uid.is_some();
        let id = |column: &str| value(column).and_then(|v| Id::parse_str(&v).ok());
        match &table.rule {
            Rule::Resource(sharing) => {
                let resource = resource_of(sharing, value);
                let write = rights.may_delete(&self.context, &resource);
                (
                    rights.reads(&self.context, &resource),
                    write,
                    rights.may_insert(&self.context, &resource),
                )
            }
            Rule::Tenant { column, writers } => {
                let tenant = id(column);
                let effective = rights.effective(&self.context);
                let writable = match writers {
                    Writers::Members => effective.clone(),
                    Writers::Writers => rights.effective_writer(&self.context),
                };
                let inside = |set: &BTreeSet<Id>| tenant.is_some_and(|t| set.contains(&t));
                let read = signed_in && (rights.admin || inside(&effective));
                let write = signed_in && (rights.admin || inside(&writable));
                (read, write, write)
            }
            Rule::User { column } => {
                let mine = signed_in && (rights.admin || id(column) == rights.uid);
                (mine, mine, mine)
            }
            Rule::Child {
                parent,
                columns,
                parent_columns,
            } => {
                let key: Vec<Option<String>> = columns.iter().map(|c| value(c)).collect();
                let (read, write) = self.parent(parent, parent_columns, &key);
                (read, write, write)
            }
            Rule::Public { anon } => {
                let read = match self.who {
                    Principal::Anon => *anon,
                    _ => true,
                };
                (read, false, false)
            }
            Rule::Internal => (false, false, false),
        }
    }

    /// Whether the parent row whose `columns` hold `key` may be read, and updated.
    fn parent(&self, parent: &str, columns: &[String], key: &[Option<String>]) -> (bool, bool) {
        if let Some(table) = self.profile.and_then(|p| p.table(parent)) {
            let id = key
                .first()
                .cloned()
                .flatten()
                .and_then(|v| Id::parse_str(&v).ok());
            return match id.and_then(|id| self.world.resource(table, id)) {
                // "May be updated" is the parent update's USING (the writer rule): a
                // writer may not make its global agent private, but the agent is its
                // to maintain, and so are the agent's children.
                Some(r) => (
                    self.rights.reads(&self.context, r),
                    self.rights.may_delete(&self.context, r),
                ),
                None => (false, false),
            };
        }
        let Some(table) = self.subjects.table(parent) else {
            return (false, false);
        };
        let found = self
            .population
            .rows(self.subjects, parent)
            .iter()
            .find(|row| {
                columns
                    .iter()
                    .zip(key)
                    .all(|(c, v)| row.text(c) == *v && v.is_some())
            });
        match found {
            Some(row) => {
                let (read, old, _) = self.verdict(table, &|c| row.text(c));
                (read, old)
            }
            None => (false, false),
        }
    }

    fn row_verdict(&self, table: &Table, row: &Row) -> (bool, bool, bool) {
        self.verdict(table, &|c| row.text(c))
    }

    /// What an id of the world is, for reports: a tenant by slug, a user by name.
    fn describe(&self, id: Id) -> String {
        if let Some(tenant) = self.world.tenant(id) {
            return format!("tenant {} ({id}), which it may not read", tenant.slug);
        }
        if let Some(user) = self.world.user(id) {
            return format!("user {} ({id}), whose rows it may not read", user.name);
        }
        format!("{id}, the id of a row it may not read")
    }

    /// The ids the principal may know, and every id of the world: those of the rows it
    /// reads (tenants with their primary owners, memberships, platform admins,
    /// resources, the subject tables' rows) and its own, and those of every row.
    fn known_ids(&self) -> (BTreeSet<Id>, BTreeSet<Id>) {
        let world = self.world;
        let who = &self.who;
        let mut readable: BTreeSet<Id> = self.rights.uid.into_iter().collect();
        let mut all: BTreeSet<Id> = BTreeSet::new();
        let readable_tenants = world.readable_tenants(who);
        for tenant in &world.tenants {
            let ids = std::iter::once(tenant.id).chain(tenant.primary_owner);
            if readable_tenants.contains(&tenant.id) {
                readable.extend(ids.clone());
            }
            all.extend(ids);
        }
        all.extend(world.users.iter().map(|u| u.id));
        for (user, tenant) in world.readable_memberships(who) {
            readable.extend([user, tenant]);
        }
        readable.extend(world.readable_admins(who));
        for table in world.shape.tables() {
            let seen = world.readable(who, &self.context, table);
            for r in world.resources_of(table) {
                let ids = [r.id]
                    .into_iter()
                    .chain(r.tenant)
                    .chain(r.shared_with.clone());
                if seen.contains(&r.id) {
                    readable.extend(ids.clone());
                }
                all.extend(ids);
            }
        }
        for (table, rows) in self.subjects.tables.iter().zip(&self.population.tables) {
            for row in rows {
                let ids = uuids(&row.json);
                if self.row_verdict(table, row).0 {
                    readable.extend(ids.iter().copied());
                }
                all.extend(ids);
            }
        }
        (readable, all)
    }

    /// What kind of principal it is, for notes.
    fn principal_kind(&self) -> &'static str {
        match self.who {
            Principal::Anon => "anon",
            Principal::NoSub => "claims without sub",
            Principal::ServiceRole => "service_role",
            Principal::Owner => "the owner",
            Principal::User(_) if self.rights.admin => "a platform admin",
            Principal::User(_) => "a user",
        }
    }

    /// The principal's kind and the context's, for names and for choosing probes.
    fn label(&self) -> String {
        let who = self.principal_kind();
        let context = match self.context {
            Context::Empty => "no context",
            Context::Malformed => "a malformed context",
            Context::Tenant(t) if self.rights.member.contains(&t) => "the context of its tenant",
            Context::Tenant(_) => "a forged context",
        };
        format!("{who} in {context}")
    }
}

/// Every uuid written in `text` (a row as JSON, a function's answer).
pub(super) fn uuids(text: &str) -> BTreeSet<Id> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|token| token.len() == 36)
        .filter_map(|token| uuid::Uuid::parse_str(token).ok())
        .collect()
}

/// The sharing of a resource row as the model sees it. The table does not matter to the
/// resource rules, so every new resource table borrows the profile's first.
fn resource_of(sharing: &SharingColumns, value: &dyn Fn(&str) -> Option<String>) -> Resource {
    let shared_with = value(&sharing.shared_with)
        .and_then(|v| serde_json::from_str::<Vec<String>>(&v).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|t| Id::parse_str(t).ok())
        .collect();
    Resource {
        table: model::Table(0),
        id: Id::nil(),
        tenant: value(&sharing.tenant).and_then(|v| Id::parse_str(&v).ok()),
        name: String::new(),
        mode: value(&sharing.mode)
            .and_then(|m| Mode::from_name(&m))
            .unwrap_or(Mode::Private),
        shared_with,
        kind: value(&sharing.kind)
            .and_then(|k| model::Kind::from_name(&k))
            .unwrap_or(model::Kind::Custom),
    }
}

/// What the writes and calls of one world have used so far.
#[derive(Debug, Default)]
pub struct Budget {
    /// Each combination of object, operation, kind of row, kind of principal and kind
    /// of context already probed in this world.
    taken: BTreeSet<String>,
    /// The row number of the last new row, so that inserted values stay unique.
    serial: u64,
    /// Which world of a run this is, and in how many worlds a table's probe of one
    /// combination runs once (1: in every world).
    turn: u64,
    stride: u64,
}

impl Budget {
    /// The budget of the `turn`-th world of a run whose tables' probes take turns
    /// across `stride` worlds: each read and write combination of a table runs in one
    /// world of every `stride`, chosen by the combination, so that a schema ten times
    /// larger does not cost ten times the probes of every world, and a run stays
    /// reproducible (the turn is the world's number, never the clock's).
    pub fn taking_turns(turn: u64, stride: u64) -> Budget {
        Budget {
            turn,
            stride: stride.max(1),
            ..Budget::default()
        }
    }

    /// Whether the combination `key` has its turn in this world.
    fn in_turn(&self, key: &str) -> bool {
        if self.stride <= 1 {
            return true;
        }
        // FNV-1a: stable across runs and Rust releases, unlike the std hasher.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        hash.wrapping_add(self.turn) % self.stride == 0
    }
}

/// In how many worlds each probe of a subject table runs once: every world for up to
/// ten tables, one in two up to twenty, and so on, so that the probes of a world stay
/// about as many as ten tables have; but each combination runs in two worlds of the run
/// at least (two of the sixteen of a `check` from 80 tables on, more in a longer run).
pub fn stride_for(tables: usize, worlds: u32) -> u64 {
    let most = (u64::from(worlds) / 2).max(1);
    (tables as u64).div_ceil(10).clamp(1, most)
}

/// The probes of the subjects for one principal in one context. Reads run in every
/// pair; a write or a call runs once per world for each combination of object,
/// operation, kind of row, kind of principal and kind of context.
pub fn plan(judge: &Judge<'_>, budget: &mut Budget) -> Vec<(Ask, String)> {
    if matches!(judge.who, Principal::ServiceRole) {
        return Vec::new();
    }
    let label = judge.label();
    let mut asks = Vec::new();
    for (index, table) in judge.subjects.tables.iter().enumerate() {
        if budget.in_turn(&format!("{}|read|{label}", table.name)) {
            asks.push((
                Ask::Read { table: index },
                format!(
                    "select to_jsonb(t)::text from {} t",
                    qualified_ident(&table.name)
                ),
            ));
        }
        if table.derived {
            continue;
        }
        for (op, row, allowed, sql) in writes(judge, index, table, &mut budget.serial) {
            let key = format!("{}|{op}|{row}|{label}", table.name);
            if budget.in_turn(&key) && budget.taken.insert(key) {
                asks.push((
                    Ask::Write {
                        table: index,
                        op,
                        row,
                        allowed,
                    },
                    sql,
                ));
            }
        }
    }
    let mut bases = BTreeSet::new();
    for view in &judge.subjects.views {
        asks.push((
            Ask::Derived {
                name: view.name.clone(),
                object: view.name.clone(),
                mappings: view.mappings.clone(),
            },
            format!(
                "select {} from {} v",
                columns_text(&view.mappings),
                qualified_ident(&view.name)
            ),
        ));
        bases.extend(view.mappings.iter().cloned());
    }
    for function in &judge.subjects.functions {
        for (label_of_call, arguments) in calls(judge, function) {
            if !budget
                .taken
                .insert(format!("{}|{label_of_call}|{label}", function.name))
            {
                continue;
            }
            let call = format!("{}({})", function.call, arguments.join(", "));
            let object = format!("{}({})", function.path, arguments.join(", "));
            match &function.held {
                Held::Derived(mapping) => {
                    asks.push((
                        Ask::Derived {
                            name: function.name.clone(),
                            object: object.clone(),
                            mappings: vec![mapping.clone()],
                        },
                        format!(
                            "select {} from {call} v",
                            columns_text(std::slice::from_ref(mapping))
                        ),
                    ));
                    bases.insert(mapping.clone());
                }
                Held::Internal => asks.push((
                    Ask::Reach {
                        name: function.name.clone(),
                        object: object.clone(),
                    },
                    format!("select {call}"),
                )),
                // Cast to text, whatever it returns (a row, JSON, a set of either): the
                // ids in the text are what it tells.
                Held::Guarded => asks.push((
                    Ask::Guarded {
                        name: function.name.clone(),
                        object: object.clone(),
                        writes: function.writes_as_owner,
                    },
                    format!("select {call}::text"),
                )),
            }
        }
    }
    for mapping in bases {
        asks.push((
            Ask::Base {
                base: mapping.base.clone(),
                columns: mapping.columns.clone(),
            },
            format!(
                "select {} from {} v",
                columns_text(std::slice::from_ref(&mapping)),
                qualified_ident(&mapping.base)
            ),
        ));
    }
    asks
}

fn columns_text(mappings: &[Mapping]) -> String {
    mappings
        .iter()
        .flat_map(|m| m.columns.iter())
        .map(|c| format!("v.{}::text", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kind of a row for a principal: whether it may write it, only read it, or
/// neither.
fn kind(read: bool, write: bool) -> &'static str {
    match (read, write) {
        (_, true) => "a row it may write",
        (true, false) => "a row it only reads",
        (false, false) => "a row hidden from it",
    }
}

/// The writes to try on `table`: update, move and delete of a row of each kind, and an
/// insert of a new row of each kind, with what the rule says of each.
fn writes(
    judge: &Judge<'_>,
    index: usize,
    table: &Table,
    serial: &mut u64,
) -> Vec<(&'static str, String, bool, String)> {
    let rows = &judge.population.tables[index];
    let mut found = Vec::new();
    let mut kinds = BTreeSet::new();
    let owners = owner_choices(judge, table);
    for row in rows {
        let (read, old, new) = judge.row_verdict(table, row);
        let row_kind = kind(read, old);
        if !kinds.insert(row_kind) {
            continue;
        }
        let target = where_row(table, row);
        let name = qualified_ident(&table.name);
        let touch = quote_ident(&table.touch);
        // An update checks the old row (USING) and the new one (WITH CHECK): the same
        // row here, which a writer may still not write back (its global resource).
        found.push((
            "update",
            row_kind.to_owned(),
            old && new,
            format!("update {name} as t set {touch} = t.{touch} where {target}"),
        ));
        found.push((
            "delete",
            row_kind.to_owned(),
            old,
            format!("delete from {name} as t where {target}"),
        ));
        // A move gives the row to an owner the principal may not write for.
        let elsewhere = owners.iter().find(|(values, _, new)| {
            !new && table
                .rule
                .owner_columns()
                .iter()
                .zip(values)
                .any(|(c, v)| row.text(c).map(|t| quote_literal(&t)) != Some(v.clone()))
        });
        if let Some((values, _, new)) = elsewhere {
            let sets: Vec<String> = table
                .rule
                .owner_columns()
                .iter()
                .zip(values)
                .map(|(c, v)| format!("{} = {v}::{}", quote_ident(c), table.type_of(c)))
                .collect();
            found.push((
                "move",
                format!("{row_kind}, to an owner it may not write for"),
                old && *new,
                format!("update {name} as t set {} where {target}", sets.join(", ")),
            ));
        }
    }
    let mut insert_kinds = BTreeSet::new();
    for (values, read, new) in &owners {
        let row_kind = kind(*read, *new);
        if !insert_kinds.insert(row_kind) {
            continue;
        }
        *serial += 1;
        if let Some(sql) = insert_one(
            table,
            values,
            &private_sharing(&table.rule),
            &judge.population.references,
            1_000_000 + *serial,
        ) {
            // supabase-js's `.insert(...).select()` reads the new row back (PostgREST
            // adds a RETURNING), so the SELECT policy must admit it too: a row the
            // principal may write and then read is inserted in that form as well.
            if *new && *read {
                found.push((
                    "insert with return=representation",
                    format!("a new row like {row_kind}"),
                    true,
                    format!("{sql} returning *"),
                ));
            }
            found.push(("insert", format!("a new row like {row_kind}"), *new, sql));
        }
    }
    found
}

/// The sharing of a new resource row: private and custom, which a writer may insert.
/// Empty for any other rule.
fn private_sharing(rule: &Rule) -> BTreeMap<String, String> {
    let Rule::Resource(sharing) = rule else {
        return BTreeMap::new();
    };
    [
        (sharing.flag.as_str(), "'false'"),
        (sharing.mode.as_str(), "'private'"),
        (sharing.shared_with.as_str(), "'{}'"),
        (sharing.kind.as_str(), "'custom'"),
    ]
    .into_iter()
    .map(|(c, v)| (c.to_owned(), v.to_owned()))
    .collect()
}

/// The owners a new or moved row may get (literals for the rule's owner columns), each
/// with whether the principal may read and write such a row.
fn owner_choices(judge: &Judge<'_>, table: &Table) -> Vec<(Vec<String>, bool, bool)> {
    let literal = |id: Id| quote_literal(&id.to_string());
    let candidates: Vec<Vec<String>> = match &table.rule {
        Rule::Tenant { .. } | Rule::Resource(_) => judge
            .world
            .tenants
            .iter()
            .map(|t| vec![literal(t.id)])
            .collect(),
        Rule::User { .. } => judge
            .world
            .users
            .iter()
            .map(|u| vec![literal(u.id)])
            .collect(),
        Rule::Child {
            parent,
            parent_columns,
            ..
        } => match judge.profile.and_then(|p| p.table(parent)) {
            Some(t) => judge
                .world
                .resources_of(t)
                .map(|r| vec![literal(r.id)])
                .collect(),
            None => judge
                .population
                .rows(judge.subjects, parent)
                .iter()
                .map(|row| {
                    parent_columns
                        .iter()
                        .map(|c| row.text(c).map_or("null".into(), |t| quote_literal(&t)))
                        .collect()
                })
                .collect(),
        },
        Rule::Public { .. } | Rule::Internal => vec![Vec::new()],
    };
    let owners = table.rule.owner_columns();
    let sharing = private_sharing(&table.rule);
    candidates
        .into_iter()
        .map(|values| {
            let value = |column: &str| -> Option<String> {
                if let Some(i) = owners.iter().position(|o| o == column) {
                    return values.get(i).map(|v| v.trim_matches('\'').to_owned());
                }
                sharing.get(column).map(|v| v.trim_matches('\'').to_owned())
            };
            let (read, _, new) = judge.verdict(table, &value);
            (values, read, new)
        })
        .collect()
}

/// The SQL condition that picks `row` of `table` (aliased `t`) and the rows the rule
/// judges alike: those of the same owner (and, for a resource, the same sharing mode
/// and type). Keys and the other values come from defaults and row numbers, which
/// differ in a counterexample's world; owners do not, and ids are written as uuid
/// literals, which a scenario file shows as placeholders. `true` for a table whose
/// rule judges every row alike.
fn where_row(table: &Table, row: &Row) -> String {
    let mut columns = table.rule.owner_columns();
    if let Rule::Resource(sharing) = &table.rule {
        columns.extend([sharing.mode.clone(), sharing.kind.clone()]);
    }
    let conditions: Vec<String> = columns
        .iter()
        .map(|c| match row.text(c) {
            Some(v) if table.type_of(c) == "uuid" => {
                format!("t.{} = {}", quote_ident(c), literal(&v))
            }
            Some(v) => format!("t.{}::text = {}", quote_ident(c), quote_literal(&v)),
            None => format!("t.{} is null", quote_ident(c)),
        })
        .collect();
    if conditions.is_empty() {
        "true".to_owned()
    } else {
        conditions.join(" and ")
    }
}

/// A value as a SQL literal: a uuid typed as one, anything else as text.
fn literal(value: &str) -> String {
    match Id::parse_str(value) {
        Ok(id) => format!("'{id}'::uuid"),
        Err(_) => quote_literal(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination_has_one_turn_in_every_stride_of_worlds() {
        let check = |tables| stride_for(tables, 16);
        assert_eq!(
            [0, 10, 11, 20, 35, 80, 200].map(check),
            [1, 1, 2, 2, 4, 8, 8]
        );
        // A longer run spreads more widely; a run of one world probes everything.
        assert_eq!(stride_for(200, 256), 20);
        assert_eq!(stride_for(80, 1), 1);
        for key in ["public.a|read|a user in no context", "public.b|insert|x|y"] {
            for start in 0..8 {
                let turns = (start..start + 4)
                    .filter(|&turn| Budget::taking_turns(turn, 4).in_turn(key))
                    .count();
                assert_eq!(turns, 1, "{key} from world {start}");
            }
            assert!(Budget::default().in_turn(key));
        }
    }
}
