//! Rows for the tables the model does not name, in every generated world: derived from
//! the catalog by the plan in `subject` (a row per tenant of a `tenant` table, per user
//! of a `user` table, per parent row of a `child` table, per resource of a new
//! `resource` table, two of a `public` or `internal` one), or given by hand in
//! `rls-harness.toml`. The owner loads them into the world's open transaction with one
//! set-based insert per table, refreshes the materialized views, and reads every table
//! back whole, which is what the probes are judged against.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Fill, Rule, Subjects, Table, Unprobed};
use crate::actor;
use crate::connection::{qualified_ident, quote_ident, quote_literal, Connection};
use crate::error::{Error, Result};
use crate::model::{Id, World};

/// A row of a subject table as the owner reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `to_jsonb(row)::text`: the row's identity when the table has no key.
    pub json: String,
    pub values: Map<String, Value>,
}

impl Row {
    /// A column's value as PostgreSQL's text output would give it, for literals.
    pub fn text(&self, column: &str) -> Option<String> {
        match self.values.get(column)? {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// The subject tables of one loaded world, in the order of [`Subjects::tables`], and the
/// first value of every column a fill references.
#[derive(Debug, Clone, Default)]
pub struct Population {
    pub tables: Vec<Vec<Row>>,
    pub references: BTreeMap<(String, String), Option<String>>,
}

impl Population {
    pub fn rows(&self, subjects: &Subjects, table: &str) -> &[Row] {
        subjects
            .tables
            .iter()
            .position(|t| t.name == table)
            .map_or(&[], |i| &self.tables[i])
    }
}

/// The tenants table as the fills of tenant tables read it: `schema.name` and its key
/// column (the profile's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tenants<'a> {
    pub table: &'a str,
    pub key: &'a str,
}

/// The owner's statements that fill `table` in a world whose tenants table is
/// `tenants`: one set-based insert from its source rows, or the config's SQL once per
/// tenant or user.
pub fn fill(table: &Table, tenants: Tenants<'_>, world: &World) -> Vec<String> {
    if table.derived {
        return Vec::new();
    }
    if let Some(given) = &table.given {
        return given_rows(table, given, world);
    }
    let source = source(table, tenants);
    let (columns, values) = insert_parts(table);
    // A table whose every column has a default (a settings row) is filled with its
    // defaults, once per row the rule asks for (only public and internal tables have
    // no owner column to give).
    if columns.is_empty() {
        let rows = match table.rule {
            Rule::Public { .. } | Rule::Internal => 2,
            _ => 1,
        };
        let insert = format!(
            "insert into {} default values",
            qualified_ident(&table.name)
        );
        return vec![insert; rows];
    }
    // A row that must point at another table's row has none to point at when that
    // table is empty (no users yet): the world then holds no such row.
    let targets: Vec<String> = table
        .fills
        .iter()
        .filter_map(|(_, fill)| match fill {
            Fill::Reference { target, .. } => Some(format!(
                "exists (select 1 from {})",
                qualified_ident(target)
            )),
            _ => None,
        })
        .collect();
    let filter = if targets.is_empty() {
        String::new()
    } else {
        format!(" where {}", targets.join(" and "))
    };
    vec![format!(
        "insert into {} ({}) select {} from ({source}) s{filter}",
        qualified_ident(&table.name),
        columns.join(", "),
        values.join(", ")
    )]
}

/// The config's SQL with `${tenant}` and `${user}` bound, once per tenant or user of
/// the world as the rule needs, else once.
fn given_rows(table: &Table, given: &str, world: &World) -> Vec<String> {
    let bind = |placeholder: &str, ids: Vec<Id>| -> Vec<String> {
        ids.into_iter()
            .map(|id| given.replace(placeholder, &format!("'{id}'::uuid")))
            .collect()
    };
    match &table.rule {
        Rule::Tenant { .. } | Rule::Resource(_) => {
            bind("${tenant}", world.tenants.iter().map(|t| t.id).collect())
        }
        Rule::User { .. } => bind("${user}", world.users.iter().map(|u| u.id).collect()),
        _ => vec![given.to_owned()],
    }
}

/// The rows a fill copies from, as a subquery with `n` (the row number) and `owner_<i>`
/// for the rule's owner columns, in order.
fn source(table: &Table, tenants: Tenants<'_>) -> String {
    match &table.rule {
        Rule::Tenant { .. } => format!(
            "select t.{key} as owner_0, row_number() over (order by t.{key}) as n from {} t",
            qualified_ident(tenants.table),
            key = quote_ident(tenants.key)
        ),
        Rule::User { .. } => {
            "select u.id as owner_0, row_number() over (order by u.id) as n from auth.users u"
                .to_owned()
        }
        Rule::Resource(sharing) => format!(
            "select a.{} as owner_0, {}, row_number() over (order by a.{}) as n from {} a",
            quote_ident(&sharing.tenant),
            sharing
                .copied()
                .iter()
                .map(|c| format!("a.{}", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", "),
            quote_ident(&sharing.source_key),
            qualified_ident(&sharing.source)
        ),
        Rule::Child {
            parent,
            parent_columns,
            ..
        } => {
            let picks: Vec<String> = parent_columns
                .iter()
                .enumerate()
                .map(|(i, c)| format!("p.{} as owner_{i}", quote_ident(c)))
                .collect();
            format!(
                "select {}, row_number() over () as n from {} p",
                picks.join(", "),
                qualified_ident(parent)
            )
        }
        Rule::Public { .. } | Rule::Internal => "select n from generate_series(1, 2) n".to_owned(),
    }
}

/// The column list of an insert into `table` and a value expression for each column,
/// from `value(column, fill, type, owner index)`; an expression of row number `n` is
/// the same in every insert.
fn columns_and_values(
    table: &Table,
    value: impl Fn(&str, &Fill, &str, usize) -> String,
) -> (Vec<String>, Vec<String>) {
    let owners = table.rule.owner_columns();
    table
        .fills
        .iter()
        .map(|(column, fill)| {
            let owner = owners.iter().position(|o| o == column).unwrap_or(0);
            let value = match fill {
                Fill::Value(expression) => expression.clone(),
                fill => value(column, fill, table.type_of(column), owner),
            };
            (quote_ident(column), value)
        })
        .unzip()
}

/// The column list and the value expressions of an insert from a source `s`.
fn insert_parts(table: &Table) -> (Vec<String>, Vec<String>) {
    columns_and_values(table, |column, fill, typed, owner| match fill {
        Fill::Owner => format!("s.owner_{owner}::text::{typed}"),
        Fill::Sharing => format!("s.{}::text::{typed}", quote_ident(column)),
        Fill::Reference { target, column } => format!(
            "(select r.{} from {} r order by 1 limit 1)",
            quote_ident(column),
            qualified_ident(target)
        ),
        Fill::Value(_) => unreachable!("values are written as they are"),
    })
}

/// An insert of one row whose owner columns hold `owner` (literals, in the order of the
/// rule's owner columns), whose sharing columns copy `sharing`, and whose other values
/// are those of row number `n`; `None` for a table filled by hand with several
/// statements.
pub fn insert_one(
    table: &Table,
    owner: &[String],
    sharing: &BTreeMap<String, String>,
    references: &BTreeMap<(String, String), Option<String>>,
    n: u64,
) -> Option<String> {
    if table.given.is_some() {
        return None;
    }
    let (columns, values) = columns_and_values(table, |column, fill, typed, index| match fill {
        Fill::Owner => owner
            .get(index)
            .map_or_else(|| "null".to_owned(), |v| format!("{v}::{typed}")),
        Fill::Sharing => sharing
            .get(column)
            .map_or_else(|| "null".to_owned(), |v| format!("{v}::text::{typed}")),
        Fill::Reference { target, column } => references
            .get(&(target.clone(), column.clone()))
            .cloned()
            .flatten()
            .map_or_else(
                || "null".to_owned(),
                |v| format!("{}::{typed}", quote_literal(&v)),
            ),
        Fill::Value(_) => unreachable!("values are written as they are"),
    });
    Some(format!(
        "insert into {} ({}) select {} from (select {n} as n) s",
        qualified_ident(&table.name),
        columns.join(", "),
        values.join(", ")
    ))
}

/// Fills every subject table of the world loaded in `owner`'s open transaction,
/// refreshes the materialized views, and reads it all back.
pub async fn load(
    owner: &Connection,
    subjects: &Subjects,
    tenants: Tenants<'_>,
    world: &World,
) -> Result<Population> {
    if subjects.is_empty() {
        return Ok(Population::default());
    }
    let (enter, leave) = as_writer(world);
    owner.batch(&enter).await?;
    let filled = fill_all(owner, subjects, tenants, world).await;
    owner.batch(&leave).await?;
    filled?;
    read_back(owner, subjects).await
}

/// The owner's statements (local to its open transaction) that make `auth.uid()` the
/// world's first user while the fills run, and that end it. Rows an app stores are
/// written by a signed-in user, and triggers stamp them with `auth.uid()` (an inviter,
/// a creator); the first user by id is also the one a reference to `auth.users` picks.
/// Both are empty for a world without users.
pub fn as_writer(world: &World) -> (String, String) {
    match world.users.iter().map(|u| u.id).min() {
        Some(id) => (
            format!(
                "select set_config('request.jwt.claim.sub', '{id}', true), \
                        set_config('request.jwt.claims', '{{\"sub\": \"{id}\"}}', true)"
            ),
            "select set_config('request.jwt.claim.sub', '', true), \
                    set_config('request.jwt.claims', '', true)"
                .to_owned(),
        ),
        None => (String::new(), String::new()),
    }
}

async fn fill_all(
    owner: &Connection,
    subjects: &Subjects,
    tenants: Tenants<'_>,
    world: &World,
) -> Result<()> {
    for table in &subjects.tables {
        for sql in fill(table, tenants, world) {
            if let Err(failure) = actor::statement(owner, &sql).await? {
                return Err(Error::Config {
                    name: format!("fixture rows for {}", table.name),
                    message: format!(
                        "{}: {} ({sql}); give rows by hand with [fixtures.\"{}\"] in \
                         rls-harness.toml",
                        failure.sqlstate, failure.message, table.name
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Refreshes the materialized views and reads every subject table back whole.
async fn read_back(owner: &Connection, subjects: &Subjects) -> Result<Population> {
    for view in subjects.views.iter().filter(|v| v.materialized) {
        owner
            .batch(&format!(
                "refresh materialized view {}",
                qualified_ident(&view.name)
            ))
            .await?;
    }
    let mut population = Population {
        tables: read_rows(owner, subjects).await?,
        ..Population::default()
    };
    for table in &subjects.tables {
        for (_, fill) in &table.fills {
            if let Fill::Reference { target, column } = fill {
                let key = (target.clone(), column.clone());
                if population.references.contains_key(&key) {
                    continue;
                }
                let value = owner
                    .query(
                        &format!(
                            "select {}::text from {} order by 1 limit 1",
                            quote_ident(column),
                            qualified_ident(target)
                        ),
                        &[],
                    )
                    .await?
                    .first()
                    .and_then(|row| row.get::<_, Option<String>>(0));
                population.references.insert(key, value);
            }
        }
    }
    Ok(population)
}

/// Every row of every subject table, in the order of [`Subjects::tables`], as the owner
/// reads them now.
pub async fn read_rows(owner: &Connection, subjects: &Subjects) -> Result<Vec<Vec<Row>>> {
    let mut tables = Vec::with_capacity(subjects.tables.len());
    for table in &subjects.tables {
        let rows = owner
            .query(
                &format!(
                    "select to_jsonb(t)::text from {} t order by 1",
                    qualified_ident(&table.name)
                ),
                &[],
            )
            .await?;
        tables.push(
            rows.iter()
                .map(|row| {
                    let json: String = row.get(0);
                    let values = match serde_json::from_str(&json) {
                        Ok(Value::Object(map)) => map,
                        _ => Map::new(),
                    };
                    Row { json, values }
                })
                .collect(),
        );
    }
    Ok(tables)
}

/// Fills the subject tables once, in the world the migrations left (`seeded`), each in
/// a savepoint, and rolls it all back: the tables no row can be made for, each naming
/// what PostgreSQL refused and the config key to give rows by hand.
pub async fn try_fill(
    owner: &Connection,
    subjects: &Subjects,
    tenants: Tenants<'_>,
    seeded: &World,
) -> Result<Vec<Unprobed>> {
    owner.batch("begin").await?;
    let failed = fill_each(owner, subjects, tenants, seeded).await;
    owner.batch("rollback").await?;
    failed
}

async fn fill_each(
    owner: &Connection,
    subjects: &Subjects,
    tenants: Tenants<'_>,
    seeded: &World,
) -> Result<Vec<Unprobed>> {
    let (enter, _) = as_writer(seeded);
    owner.batch(&enter).await?;
    let mut failed = Vec::new();
    for table in &subjects.tables {
        owner.batch("savepoint fill").await?;
        for sql in fill(table, tenants, seeded) {
            if let Err(failure) = actor::statement(owner, &sql).await? {
                failed.push(Unprobed {
                    object: table.name.clone(),
                    location: table.location.clone(),
                    message: format!(
                        "no fixture row can be made: {}: {} ({sql}); give rows by hand with \
                         [fixtures.\"{}\"] in rls-harness.toml",
                        failure.sqlstate, failure.message, table.name
                    ),
                });
                owner.batch("rollback to savepoint fill").await?;
                break;
            }
        }
        owner.batch("release savepoint fill").await?;
    }
    Ok(failed)
}
