//! The objects the reference model does not name, as the generic probes see them: for
//! every classed table the rule that bounds it and how to fill it with rows, for every
//! derived view and function how its rows map back to a base object, and what cannot
//! be checked, as an error that says what to declare.
//!
//! Nothing here touches a database: this is the plan the catalog and the config give.
//! `property::population` fills the tables of each generated world by it, and
//! `property::bound` probes and judges them.

use std::collections::{BTreeMap, BTreeSet};

mod population;
mod unprobed;

pub use population::{
    as_writer, fill, insert_one, load as populate, read_rows, try_fill, Population, Row, Tenants,
};

use crate::catalog::{Catalog, Column, Function, Object, Relation, RelationKind};
use crate::class::{Class, Classes};
use crate::config::{Config, Writers};
use crate::connection::{qualified_ident, quote_literal};
use crate::origin::Location;

pub use unprobed::Unprobed;

/// The sharing columns of resource tables (the profile's), and the resource table whose
/// rows a new resource table's fixture rows copy their sharing from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharingColumns {
    pub tenant: String,
    pub flag: String,
    pub mode: String,
    pub shared_with: String,
    pub kind: String,
    /// `schema.name` of the profile's first resource table, and its key column.
    pub source: String,
    pub source_key: String,
}

impl SharingColumns {
    /// The profile's, when it shares rows.
    pub fn of(profile: &crate::profile::Profile) -> Option<SharingColumns> {
        let s = profile.sharing.as_ref()?;
        Some(SharingColumns {
            tenant: s.tenant.name.clone(),
            flag: s.flag.name.clone(),
            mode: s.mode.name.clone(),
            shared_with: s.shared_with.name.clone(),
            kind: s.kind.name.clone(),
            source: s.tables.first()?.name.clone(),
            source_key: s.key.name.clone(),
        })
    }

    /// The columns a fill copies from a source row (the tenant is the owner's).
    pub fn copied(&self) -> [&str; 4] {
        [&self.flag, &self.mode, &self.shared_with, &self.kind]
    }
}

/// What bounds the rows of a table: the class's read and write rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The resource rules of the access model, exactly (a resource table the profile
    /// does not name, with its sharing columns).
    Resource(SharingColumns),
    /// Rows of the tenant in `column`.
    Tenant { column: String, writers: Writers },
    /// Rows under a parent row: `columns` reference `parent_columns` of `parent`.
    Child {
        parent: String,
        columns: Vec<String>,
        parent_columns: Vec<String>,
    },
    /// Rows of the user in `column`.
    User { column: String },
    /// Read by every authenticated user (and anon when declared), written by nobody.
    Public { anon: bool },
    /// Reached by nobody.
    Internal,
}

impl Rule {
    /// The columns that say whose a row is: a move changes them.
    pub fn owner_columns(&self) -> Vec<String> {
        match self {
            Rule::Resource(sharing) => vec![sharing.tenant.clone()],
            Rule::Tenant { column, .. } | Rule::User { column } => vec![column.clone()],
            Rule::Child { columns, .. } => columns.clone(),
            Rule::Public { .. } | Rule::Internal => Vec::new(),
        }
    }
}

/// How the fill gives a column its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fill {
    /// The row's tenant, user or parent: the rule's own columns.
    Owner,
    /// The sharing columns of a resource row, copied from a row of the model's resources.
    Sharing,
    /// A SQL expression of the row number `n` (unique to the row where the type allows).
    Value(String),
    /// The first row of another table, through a foreign key.
    Reference { target: String, column: String },
}

/// A table the generic probes fill and judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// `schema.name`.
    pub name: String,
    pub rule: Rule,
    /// The columns an insert sets, and how; the rest keep their defaults or NULL.
    pub fills: Vec<(String, Fill)>,
    /// Rows given by hand in the config (`[fixtures."schema.name"]`), instead of `fills`.
    pub given: Option<String>,
    /// The primary key, by which probes name a row (else the whole row).
    pub key: Vec<String>,
    /// A column an update may set to itself, to learn whether the row may be updated.
    pub touch: String,
    /// Every column and its type, to write a row's values back as literals.
    pub types: Vec<(String, String)>,
    /// A view or materialized view declared with a class: its rows come from its bases,
    /// so it is read and judged by the rule, never filled or written.
    pub derived: bool,
    pub location: Option<Location>,
}

impl Table {
    pub fn type_of(&self, column: &str) -> &str {
        self.types
            .iter()
            .find(|(name, _)| name == column)
            .map_or("text", |(_, t)| t.as_str())
    }
}

/// How the rows of a view or a function are matched to rows of a base object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mapping {
    /// The base relation, `schema.name`.
    pub base: String,
    /// Columns present in both, compared as text: the base's key, else its tenant column.
    pub columns: Vec<String>,
    pub by_key: bool,
}

/// A view or materialized view whose rows must be readable from its base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub name: String,
    pub materialized: bool,
    pub mappings: Vec<Mapping>,
    pub location: Option<Location>,
}

/// A function the API roles may call, and what it is held to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callable {
    /// `schema.name(argument types)`.
    pub name: String,
    /// `schema.name`, quoted for SQL.
    pub call: String,
    /// `schema.name`, as reports show it.
    pub path: String,
    pub arguments: Vec<Parameter>,
    pub held: Held,
    /// A VOLATILE SECURITY DEFINER function: a call may write with its owner's rights,
    /// so what a successful call changed is judged against the caller's own write
    /// rules. An invoker function writes with the caller's rights, no more than the
    /// caller's own requests, which the probes already judge.
    pub writes_as_owner: bool,
    pub location: Option<Location>,
}

/// An argument of a callable function, with what the probes pass for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub type_name: String,
    /// What a uuid argument keys, by its name's foreign keys: a column named like it
    /// references the tenants table or `auth.users`.
    pub keys: Option<Keys>,
    /// The labels of an enum type, in order: each is a value to pass.
    pub labels: Vec<String>,
}

/// What a uuid argument is the key of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    Tenant,
    User,
}

/// What a callable function is held to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// `internal`: nobody may call it at all.
    Internal,
    /// Derived: the rows it returns map to this base.
    Derived(Mapping),
    /// `guarded`: it refuses, or returns only ids of rows the caller may read.
    Guarded,
}

/// Everything the generic probes check, in fill order (a parent before its children).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subjects {
    pub tables: Vec<Table>,
    pub views: Vec<View>,
    pub functions: Vec<Callable>,
    /// Declared `public` functions: they answer for the caller only, by their
    /// declaration, and are listed rather than probed.
    pub declared: Vec<String>,
}

impl Subjects {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.views.is_empty() && self.functions.is_empty()
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// The subjects of a classed catalog, and every object that cannot be checked, as an
/// error that names it, its line and what to declare.
pub fn plan(
    catalog: &Catalog,
    classes: &Classes<'_>,
    config: &Config,
) -> (Subjects, Vec<Unprobed>) {
    let mut subjects = Subjects::default();
    let mut errors = Vec::new();
    let mut tables = Vec::new();
    let tenants = config
        .profile
        .as_ref()
        .map(|p| p.tenants.table.name.as_str());
    let known = Arguments::of(catalog, tenants);
    for classified in classes.classified.iter().filter(|c| !c.exact) {
        match (classified.object, &classified.class) {
            (Object::Relation(relation), Class::Derived) => {
                match view(catalog, classes, relation) {
                    Ok(view) => subjects.views.push(view),
                    Err(error) => errors.push(Unprobed::of(&classified.object, error)),
                }
            }
            (Object::Relation(relation), class) => match table(
                config,
                relation,
                class,
                &inside_partition(catalog, relation),
            ) {
                Ok(table) => tables.push(table),
                Err(error) => errors.push(Unprobed::of(&classified.object, error)),
            },
            (Object::Function(function), Class::Public { .. }) => {
                subjects.declared.push(function.qualified())
            }
            (Object::Function(function), Class::Internal) => {
                subjects
                    .functions
                    .push(callable(function, Held::Internal, &known))
            }
            (Object::Function(function), Class::Guarded | Class::Invoker) => subjects
                .functions
                .push(callable(function, Held::Guarded, &known)),
            (Object::Function(function), Class::Derived) => {
                match function_mapping(catalog, function) {
                    Ok(mapping) => {
                        subjects
                            .functions
                            .push(callable(function, Held::Derived(mapping), &known))
                    }
                    Err(error) => errors.push(Unprobed::of(&classified.object, error)),
                }
            }
            (Object::Function(function), class) => errors.push(Unprobed::of(
                &classified.object,
                format!(
                    "{}function {}: declared {}, which bounds table rows; a function is \
                 `public`, `internal`, `guarded`, or derived from the relation it returns",
                    at(&function.history.created),
                    function.qualified(),
                    class.name()
                ),
            )),
        }
    }
    match fill_order(tables) {
        Ok(ordered) => subjects.tables = ordered,
        Err(error) => errors.push(Unprobed {
            object: "the subject tables".into(),
            location: None,
            message: error,
        }),
    }
    (subjects, errors)
}

fn at(location: &Option<Location>) -> String {
    location
        .as_ref()
        .map_or_else(String::new, |l| format!("{l}: "))
}

/// What the catalog tells of arguments: the columns whose single-column foreign key
/// names the tenants table, those naming `auth.users`, and every enum's labels by
/// type name.
struct Arguments {
    tenant_keys: BTreeSet<String>,
    user_keys: BTreeSet<String>,
    labels: BTreeMap<String, Vec<String>>,
}

impl Arguments {
    fn of(catalog: &Catalog, tenants: Option<&str>) -> Arguments {
        let keys = |target: Option<&str>| -> BTreeSet<String> {
            catalog
                .relations
                .iter()
                .flat_map(|r| &r.foreign_keys)
                .filter(|fk| fk.columns.len() == 1 && Some(fk.target.as_str()) == target)
                .map(|fk| fk.columns[0].clone())
                .collect()
        };
        Arguments {
            tenant_keys: keys(tenants),
            user_keys: keys(Some("auth.users")),
            labels: catalog
                .relations
                .iter()
                .flat_map(|r| &r.columns)
                .filter(|c| !c.enum_labels.is_empty())
                .map(|c| (c.type_name.clone(), c.enum_labels.clone()))
                .collect(),
        }
    }
}

fn callable(function: &Function, held: Held, known: &Arguments) -> Callable {
    Callable {
        name: function.qualified(),
        call: qualified_ident(&format!("{}.{}", function.schema, function.name)),
        path: format!("{}.{}", function.schema, function.name),
        arguments: function
            .arguments
            .iter()
            .map(|a| Parameter {
                name: a.name.clone(),
                type_name: a.type_name.clone(),
                keys: (a.type_name == "uuid")
                    .then(|| {
                        if known.tenant_keys.contains(&a.name) {
                            Some(Keys::Tenant)
                        } else if known.user_keys.contains(&a.name) {
                            Some(Keys::User)
                        } else {
                            None
                        }
                    })
                    .flatten(),
                labels: known.labels.get(&a.type_name).cloned().unwrap_or_default(),
            })
            .collect(),
        held,
        writes_as_owner: function.security_definer && function.volatility == 'v',
        location: function.history.created.clone(),
    }
}

/// The rule of a classed table and how to fill it.
/// Values inside a partition's bound for its key columns, so that its fixture rows
/// belong there; for a partitioned table, those of its first partition, so that its rows
/// have somewhere to go.
fn inside_partition(catalog: &Catalog, relation: &Relation) -> Vec<(String, String)> {
    if let Some(partition) = &relation.partition {
        return partition.values_inside();
    }
    let name = relation.qualified();
    catalog
        .relations
        .iter()
        .filter_map(|r| r.partition.as_ref())
        .filter(|p| p.parent == name)
        .map(|p| p.values_inside())
        .find(|values| !values.is_empty())
        .unwrap_or_default()
}

fn table(
    config: &Config,
    relation: &Relation,
    class: &Class,
    inside: &[(String, String)],
) -> Result<Table, String> {
    let name = relation.qualified();
    let rule = match class {
        Class::Resource => match config.profile.as_ref().and_then(SharingColumns::of) {
            Some(sharing) => Rule::Resource(sharing),
            None => {
                return Err(format!(
                    "table {name}: declared a resource, but the profile shares no rows \
                     ([profile.sharing] in rls-harness.toml)"
                ))
            }
        },
        Class::Tenant { column, writers } => Rule::Tenant {
            column: column.clone(),
            writers: *writers,
        },
        Class::Child { parent, columns } => {
            let key = relation
                .foreign_keys
                .iter()
                .find(|fk| fk.target == *parent && fk.columns == *columns)
                .ok_or_else(|| format!("table {name}: no foreign key to its parent {parent}"))?;
            Rule::Child {
                parent: parent.clone(),
                columns: columns.clone(),
                parent_columns: key.target_columns.clone(),
            }
        }
        Class::User { column } => Rule::User {
            column: column.clone(),
        },
        Class::Public { anon } => Rule::Public { anon: *anon },
        Class::Internal => Rule::Internal,
        Class::Derived | Class::Modelled | Class::Guarded | Class::Invoker => {
            return Err(format!(
                "table {name}: a table is never derived, modelled or guarded"
            ))
        }
    };
    let owners = rule.owner_columns();
    for column in &owners {
        if relation.column(column).is_none() {
            return Err(format!(
                "{}table {name}: its class reads column {column}, which it lacks; fix \
                 [objects.\"{name}\"] in rls-harness.toml",
                at(&relation.history.created)
            ));
        }
    }
    if !relation.kind.is_table() {
        // A declared view is only read: no fill, no write.
        return Ok(Table {
            name,
            rule,
            fills: Vec::new(),
            given: None,
            key: relation.primary_key.clone(),
            touch: String::new(),
            types: relation
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.type_name.clone()))
                .collect(),
            location: relation.history.created.clone(),
            derived: true,
        });
    }
    let given = config
        .fixtures
        .iter()
        .find(|f| f.table == name)
        .map(|f| f.sql.clone());
    let mut fills = Vec::new();
    for column in &relation.columns {
        if column
            .default
            .as_deref()
            .is_some_and(|d| d.starts_with("generated"))
        {
            continue;
        }
        let bound = inside.iter().find(|(key, _)| *key == column.name);
        if owners.contains(&column.name) {
            fills.push((column.name.clone(), Fill::Owner));
        } else if let Some((_, value)) = bound {
            fills.push((
                column.name.clone(),
                Fill::Value(format!("{value}::{}", column.type_name)),
            ));
        } else if matches!(&rule, Rule::Resource(sharing) if sharing.copied().contains(&column.name.as_str()))
        {
            fills.push((column.name.clone(), Fill::Sharing));
        } else if column.not_null && column.default.is_none() {
            match fill_of(relation, column) {
                Ok(fill) => fills.push((column.name.clone(), fill)),
                Err(_) if given.is_some() => {}
                Err(why) => {
                    return Err(format!(
                        "{}table {name}: no fixture row can be made: column {} ({}) {why}; \
                         give rows by hand with [fixtures.\"{name}\"] sql = \"insert into \
                         {name} ...\" in rls-harness.toml",
                        at(&relation.history.created),
                        column.name,
                        column.type_name
                    ))
                }
            }
        }
    }
    let touch = relation
        .columns
        .iter()
        .filter(|c| {
            !c.default
                .as_deref()
                .is_some_and(|d| d.starts_with("generated"))
        })
        .map(|c| c.name.clone())
        .find(|c| !owners.contains(c) && !relation.primary_key.contains(c))
        .or_else(|| owners.first().cloned())
        .or_else(|| relation.columns.first().map(|c| c.name.clone()))
        .unwrap_or_default();
    Ok(Table {
        name,
        rule,
        fills,
        given,
        key: relation.primary_key.clone(),
        touch,
        types: relation
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.type_name.clone()))
            .collect(),
        location: relation.history.created.clone(),
        derived: !relation.kind.is_table(),
    })
}

/// A value for a not-null column without a default: a foreign key's first target row,
/// an enum's first label, the first literal a simple CHECK lists, or one of its type.
fn fill_of(relation: &Relation, column: &Column) -> Result<Fill, String> {
    if let Some(key) = relation
        .foreign_keys
        .iter()
        .find(|fk| fk.columns.len() == 1 && fk.columns[0] == column.name)
    {
        if key.target == relation.qualified() {
            return Err(format!(
                "references its own table through {}, so a first row has nothing to point at",
                key.name
            ));
        }
        return Ok(Fill::Reference {
            target: key.target.clone(),
            column: key.target_columns[0].clone(),
        });
    }
    if let Some(label) = column.enum_labels.first() {
        return Ok(Fill::Value(format!(
            "{}::{}",
            quote_literal(label),
            column.type_name
        )));
    }
    if let Some(first) = relation
        .allowed_values(&column.name)
        .and_then(|values| values.into_iter().next())
    {
        return Ok(Fill::Value(format!(
            "{}::{}",
            quote_literal(&first),
            column.type_name
        )));
    }
    crate::catalog::typed_value(&column.type_name)
        .map(Fill::Value)
        .ok_or_else(|| "has a type the harness cannot make a value of".to_owned())
}

/// How the rows of a view map to a base: the first base (a relation the view reads
/// directly) whose key is among the view's columns, else one whose tenant column is.
fn view(catalog: &Catalog, classes: &Classes<'_>, relation: &Relation) -> Result<View, String> {
    let bases = relation
        .view
        .as_ref()
        .map(|v| v.bases.clone())
        .unwrap_or_default();
    let columns: BTreeSet<&str> = relation.columns.iter().map(|c| c.name.as_str()).collect();
    let mappings: Vec<Mapping> = bases
        .iter()
        .filter_map(|base| catalog.relation(base))
        .filter_map(|base| mapping(classes, base, &|c| columns.contains(c)))
        .collect();
    if mappings.is_empty() {
        return Err(unmapped(
            &format!("{} {}", relation.kind.name(), relation.qualified()),
            &relation.history.created,
            &if bases.is_empty() {
                "it reads no relation".to_owned()
            } else {
                format!(
                    "none of its bases ({}) has its key or its tenant column among the view's columns",
                    bases.join(", ")
                )
            },
            &relation.qualified(),
        ));
    }
    Ok(View {
        name: relation.qualified(),
        materialized: relation.kind == RelationKind::MaterializedView,
        mappings,
        location: relation.history.created.clone(),
    })
}

/// How the rows of a function map to the relation it returns.
fn function_mapping(catalog: &Catalog, function: &Function) -> Result<Mapping, String> {
    let returned = function.returns_relation.clone().unwrap_or_default();
    let base = catalog.relation(&returned);
    let found = base.and_then(|base| {
        let columns: BTreeSet<&str> = base.columns.iter().map(|c| c.name.as_str()).collect();
        mapping(&Classes::default(), base, &|c| columns.contains(c))
    });
    found.ok_or_else(|| {
        unmapped(
            &format!("function {}", function.qualified()),
            &function.history.created,
            &format!("the relation it returns ({returned}) has neither a key nor a tenant column"),
            &function.qualified(),
        )
    })
}

/// The columns by which rows of `base` are recognised in a derived object that has the
/// columns `present` says: its primary key, else its tenant column.
fn mapping(
    classes: &Classes<'_>,
    base: &Relation,
    present: &dyn Fn(&str) -> bool,
) -> Option<Mapping> {
    if !base.primary_key.is_empty() && base.primary_key.iter().all(|c| present(c)) {
        return Some(Mapping {
            base: base.qualified(),
            columns: base.primary_key.clone(),
            by_key: true,
        });
    }
    let tenant = match classes.of(&base.qualified()).map(|c| &c.class) {
        Some(Class::Tenant { column, .. }) => column.clone(),
        _ => "tenant_id".to_owned(),
    };
    (base.column(&tenant).is_some() && present(&tenant)).then(|| Mapping {
        base: base.qualified(),
        columns: vec![tenant],
        by_key: false,
    })
}

fn unmapped(object: &str, location: &Option<Location>, why: &str, name: &str) -> String {
    format!(
        "{}{object}: its rows cannot be matched to rows of a base object ({why}), so no \
         probe can tell what it exposes; declare its class with [objects.\"{name}\"] in \
         rls-harness.toml",
        at(location)
    )
}

/// Orders tables so that every table comes after its parent and after the tables its
/// filled foreign keys point at.
fn fill_order(mut pending: Vec<Table>) -> Result<Vec<Table>, String> {
    let mut ordered: Vec<Table> = Vec::new();
    while !pending.is_empty() {
        let names: BTreeSet<String> = pending.iter().map(|t| t.name.clone()).collect();
        let ready = |table: &Table| {
            needs(table)
                .iter()
                .all(|needed| *needed == table.name || !names.contains(needed))
        };
        let (now, later): (Vec<Table>, Vec<Table>) = pending.into_iter().partition(ready);
        if now.is_empty() {
            let cycle: Vec<String> = later.iter().map(|t| t.name.clone()).collect();
            return Err(format!(
                "tables {} need each other's rows first, so no fixture can be made; give \
                 rows by hand with [fixtures.\"<table>\"] in rls-harness.toml",
                cycle.join(", ")
            ));
        }
        ordered.extend(now);
        pending = later;
    }
    Ok(ordered)
}

/// The tables whose rows `table`'s fill reads.
fn needs(table: &Table) -> Vec<String> {
    let mut needed: Vec<String> = table
        .fills
        .iter()
        .filter_map(|(_, fill)| match fill {
            Fill::Reference { target, .. } => Some(target.clone()),
            _ => None,
        })
        .collect();
    if let Rule::Child { parent, .. } = &table.rule {
        needed.push(parent.clone());
    }
    needed
}
