//! The catalog: everything the API roles can reach after the migrations, read from
//! `pg_catalog` as plain data, with where each object was made.
//!
//! "Reach" is PostgREST's: a relation or function in a schema `anon` or `authenticated`
//! has USAGE on, with a privilege for one of them (directly, through PUBLIC or through
//! a role they are members of). Supabase's own schemas and the shim's are not VITAL's
//! to judge and are left out. For every relation the catalog holds what a checker
//! needs (kind, owner, row security, policies, privileges per API role, columns,
//! keys, views' options and what they read); for every function its security, its
//! `search_path`, its arguments and result and who may execute it. Each object carries
//! its migration [`History`], so every finding can name a line. Nothing here judges:
//! `class` and `lint` do.

mod read;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::origin::History;

pub use read::read;

/// Schemas that belong to Supabase or to the shim, never judged even when exposed.
pub const NOT_OURS: [&str; 14] = [
    "auth",
    "extensions",
    "storage",
    "graphql",
    "graphql_public",
    "realtime",
    "supabase_functions",
    "supabase_migrations",
    "vault",
    "pgsodium",
    "pgsodium_masks",
    "net",
    "cron",
    "pgbouncer",
];

/// The API roles whose reach the catalog measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ApiRole {
    Anon,
    Authenticated,
}

impl ApiRole {
    pub const ALL: [ApiRole; 2] = [ApiRole::Anon, ApiRole::Authenticated];

    pub fn name(&self) -> &'static str {
        match self {
            ApiRole::Anon => "anon",
            ApiRole::Authenticated => "authenticated",
        }
    }
}

/// A table privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    Truncate,
    References,
    Trigger,
}

impl Privilege {
    pub const ALL: [Privilege; 7] = [
        Privilege::Select,
        Privilege::Insert,
        Privilege::Update,
        Privilege::Delete,
        Privilege::Truncate,
        Privilege::References,
        Privilege::Trigger,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::Truncate => "TRUNCATE",
            Privilege::References => "REFERENCES",
            Privilege::Trigger => "TRIGGER",
        }
    }

    fn from_name(name: &str) -> Option<Privilege> {
        Privilege::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// What kind of relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum RelationKind {
    Table,
    PartitionedTable,
    View,
    MaterializedView,
    ForeignTable,
}

impl RelationKind {
    pub fn name(&self) -> &'static str {
        match self {
            RelationKind::Table => "table",
            RelationKind::PartitionedTable => "partitioned table",
            RelationKind::View => "view",
            RelationKind::MaterializedView => "materialized view",
            RelationKind::ForeignTable => "foreign table",
        }
    }

    /// Tables hold rows of their own and have row security; views derive theirs.
    pub fn is_table(&self) -> bool {
        matches!(self, RelationKind::Table | RelationKind::PartitionedTable)
    }
}

/// The command a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Command {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::All => "ALL",
            Command::Select => "SELECT",
            Command::Insert => "INSERT",
            Command::Update => "UPDATE",
            Command::Delete => "DELETE",
        }
    }
}

/// A row-security policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub command: Command,
    /// Role names; `public` when the policy applies to every role.
    pub roles: Vec<String>,
    pub permissive: bool,
    pub using: Option<String>,
    pub check: Option<String>,
    pub history: History,
}

impl Policy {
    /// Whether the policy applies to `role` (directly or as a `public` policy).
    pub fn applies_to(&self, role: ApiRole) -> bool {
        self.roles.iter().any(|r| r == "public" || r == role.name())
    }
}

/// A column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `format_type`, for example `uuid`, `text[]`, `numeric(3,2)`.
    pub type_name: String,
    pub not_null: bool,
    /// The default expression, or the generation/identity that fills it.
    pub default: Option<String>,
    /// The labels of an enum type, in order.
    pub enum_labels: Vec<String>,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    /// `schema.name` of the referenced relation.
    pub target: String,
    pub target_columns: Vec<String>,
}

/// A check constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    /// `pg_get_constraintdef`, for example `CHECK ((status = ANY (ARRAY['a'::text])))`.
    pub definition: String,
}

/// What a view is, beyond a relation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// `security_invoker`: the view reads its bases with the caller's rights.
    pub security_invoker: bool,
    pub security_barrier: bool,
    /// The relations it reads directly, `schema.name`.
    pub bases: Vec<String>,
    /// Every table it reads through other views, and whether each has row security.
    pub reads_rls_table: bool,
    pub reads_auth_users: bool,
}

/// A table, view, materialized view or foreign table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    pub kind: RelationKind,
    pub owner: String,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    pub policies: Vec<Policy>,
    /// The privileges `anon` and `authenticated` hold on it, however they got them.
    pub privileges: Vec<(ApiRole, BTreeSet<Privilege>)>,
    /// The privileges granted to PUBLIC itself.
    pub public_privileges: BTreeSet<Privilege>,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    pub checks: Vec<Check>,
    pub view: Option<View>,
    /// The partitioned table it is a partition of, if it is one.
    pub partition: Option<Partition>,
    pub history: History,
}

/// Where a partition sits: its parent, and the bound its rows must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// `schema.name` of the partitioned table.
    pub parent: String,
    /// `pg_get_expr(relpartbound)`: `FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`,
    /// `FOR VALUES IN ('a', 'b')`, `FOR VALUES WITH (modulus 4, remainder 0)`, `DEFAULT`.
    pub bound: String,
    /// The parent's partition key columns (empty where the key is an expression).
    pub key: Vec<String>,
}

impl Partition {
    /// A value inside the bound for each key column whose bound names one: the lower
    /// bound of a range (inclusive), the first value of a list. A hash or default
    /// partition, or a range from MINVALUE, names none: any value, or none, fits.
    pub fn values_inside(&self) -> Vec<(String, String)> {
        let bound = self.bound.trim();
        let list = ["FOR VALUES FROM (", "FOR VALUES IN ("]
            .into_iter()
            .find_map(|prefix| bound.strip_prefix(prefix));
        let Some(list) = list else {
            return Vec::new();
        };
        let values = literals(list);
        // A list partition's values are of its one key column; a range's, one per column.
        let values = if bound.starts_with("FOR VALUES IN") {
            values.into_iter().take(1).collect()
        } else {
            values
        };
        self.key
            .iter()
            .zip(values)
            .filter(|(_, value)| !matches!(value.as_str(), "MINVALUE" | "MAXVALUE" | "NULL"))
            .map(|(column, value)| (column.clone(), value))
            .collect()
    }
}

/// The comma-separated SQL literals at the start of `text`, up to the closing
/// parenthesis: `'a,b', 10)` gives `'a,b'` and `10`.
fn literals(text: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if quoted && chars.peek() == Some(&'\'') => {
                current.push_str("''");
                chars.next();
            }
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' | ')' if !quoted => {
                values.push(current.trim().to_owned());
                current.clear();
                if c == ')' {
                    break;
                }
            }
            _ => current.push(c),
        }
    }
    values
}

impl Relation {
    /// `schema.name`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    pub fn privileges_of(&self, role: ApiRole) -> BTreeSet<Privilege> {
        self.privileges
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    }

    /// Whether an API role holds any privilege on it.
    pub fn exposed(&self) -> bool {
        self.privileges.iter().any(|(_, p)| !p.is_empty())
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The values `column` may hold, when the schema lists them: an enum's labels, or
    /// the literals of a simple CHECK (`column in ('a', 'b')`, which PostgreSQL prints
    /// as `column = ANY (ARRAY['a'::text, 'b'::text])`), in order.
    pub fn allowed_values(&self, column: &str) -> Option<Vec<String>> {
        if let Some(found) = self.column(column).filter(|c| !c.enum_labels.is_empty()) {
            return Some(found.enum_labels.clone());
        }
        self.checks
            .iter()
            .find_map(|check| listed_literals(&check.definition, column))
    }
}

/// The literals of `column = ANY (ARRAY['a'::text, ...])` in a CHECK definition, as
/// SQL literals without their quotes.
fn listed_literals(definition: &str, column: &str) -> Option<Vec<String>> {
    let start = [
        format!("({column} = ANY"),
        format!("(({column})::text = ANY"),
    ]
    .iter()
    .find_map(|mention| definition.find(mention.as_str()))?;
    let rest = &definition[start..];
    let rest = &rest[rest.find("ARRAY[")? + 6..];
    let list = &rest[..rest.find(']')?];
    let mut values = Vec::new();
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    value.push('\'');
                }
                '\'' => break,
                other => value.push(other),
            }
        }
        values.push(value);
    }
    (!values.is_empty()).then_some(values)
}

/// An argument of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argument {
    /// Empty when the argument has no name.
    pub name: String,
    pub type_name: String,
}

/// A function or procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub schema: String,
    pub name: String,
    pub arguments: Vec<Argument>,
    /// `pg_get_function_result`, for example `SETOF agents` or `void`; empty for a
    /// procedure, which returns nothing.
    pub result: String,
    pub returns_set: bool,
    /// The relation whose rows it returns (`returns setof agents`), `schema.name`.
    pub returns_relation: Option<String>,
    pub is_procedure: bool,
    /// Returns `trigger` or `event_trigger`: the API cannot call it.
    pub is_trigger: bool,
    pub security_definer: bool,
    /// The `search_path` the function sets for itself, if any.
    pub search_path: Option<String>,
    pub volatility: char,
    pub language: String,
    pub owner: String,
    pub executable_by: Vec<ApiRole>,
    /// Whether its body names `auth.users`.
    pub reads_auth_users: bool,
    pub history: History,
}

impl Function {
    /// `schema.name(argument types)`, the name the config and reports use.
    pub fn qualified(&self) -> String {
        let types: Vec<&str> = self
            .arguments
            .iter()
            .map(|a| a.type_name.as_str())
            .collect();
        format!("{}.{}({})", self.schema, self.name, types.join(", "))
    }

    pub fn exposed(&self) -> bool {
        !self.executable_by.is_empty() && !self.is_trigger
    }
}

/// Everything the API roles can reach, and what they might reach through it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Schemas `anon` or `authenticated` may use, Supabase's own left out.
    pub exposed_schemas: Vec<String>,
    /// Every relation of the exposed schemas, and the relations those reference.
    pub relations: Vec<Relation>,
    /// Every function of the exposed schemas.
    pub functions: Vec<Function>,
    /// The API roles' own settings, as the migrations made them: `(role, name, value)`.
    pub role_settings: Vec<(String, String, String)>,
    /// The settings PostgREST applies to a request of each role, as it reads them
    /// (`default_transaction_isolation` among them): `(role, name, value)`.
    pub request_settings: Vec<(String, String, String)>,
    /// What lifts an API role past row security: its own attributes, or a role it is
    /// a member of.
    pub widened_roles: Vec<Widening>,
    /// Where the migrations last changed each API role's attributes, memberships or
    /// settings, by name.
    pub role_histories: BTreeMap<String, History>,
    /// Whether any constraint or trigger of the database is deferrable.
    pub deferrable: bool,
}

/// An API role that bypasses row security itself, or is a member (directly or through
/// others) of a role that does or that is a superuser: it inherits that role's
/// privileges and every policy written for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widening {
    pub role: String,
    /// The role that bypasses row security or is a superuser (the API role itself when
    /// its own attributes do).
    pub through: String,
    pub superuser: bool,
}

impl Catalog {
    pub fn relation(&self, qualified: &str) -> Option<&Relation> {
        self.relations.iter().find(|r| r.qualified() == qualified)
    }

    pub fn function(&self, qualified: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.qualified() == qualified)
    }

    /// The object a person names: a relation by `schema.name`, a function by
    /// `schema.name(types)` or, when only one has that name, by `schema.name`. The error
    /// is empty for a name that matches nothing (the caller suggests one), or says why a
    /// function's bare name is ambiguous.
    pub fn find(&self, name: &str) -> Result<Object<'_>, String> {
        if let Some(relation) = self.relation(name) {
            return Ok(Object::Relation(relation));
        }
        let normalised: String = name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("( ", "(")
            .replace(" )", ")")
            .replace(" ,", ",");
        if let Some(function) = self.functions.iter().find(|f| f.qualified() == normalised) {
            return Ok(Object::Function(function));
        }
        let same_name: Vec<_> = self
            .functions
            .iter()
            .filter(|f| format!("{}.{}", f.schema, f.name) == name)
            .collect();
        match same_name.as_slice() {
            [one] => Ok(Object::Function(one)),
            [] => Err(String::new()),
            several => Err(format!(
                "{name} names {} functions: write the argument types ({})",
                several.len(),
                several
                    .iter()
                    .map(|f| f.qualified())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Every name a person may use: relations as `schema.name`, functions as
    /// `schema.name(types)`.
    pub fn names(&self) -> Vec<String> {
        self.relations
            .iter()
            .map(|r| r.qualified())
            .chain(self.functions.iter().map(|f| f.qualified()))
            .collect()
    }

    /// The relations an API role holds a privilege on, in an exposed schema.
    pub fn exposed_relations(&self) -> impl Iterator<Item = &Relation> {
        self.relations
            .iter()
            .filter(|r| r.exposed() && self.exposed_schemas.contains(&r.schema))
    }

    /// The functions an API role may call, in an exposed schema.
    pub fn exposed_functions(&self) -> impl Iterator<Item = &Function> {
        self.functions
            .iter()
            .filter(|f| f.exposed() && self.exposed_schemas.contains(&f.schema))
    }
}

/// A SQL expression of the row number `n` that is a value of `type_name`, unique per
/// row where the type allows; `None` for a type the harness does not know.
pub fn typed_value(type_name: &str) -> Option<String> {
    let base = type_name.split('(').next().unwrap_or(type_name).trim();
    if base.ends_with("[]") {
        return Some(format!("'{{}}'::{type_name}"));
    }
    let value = match base {
        "uuid" => "md5('rls-harness-' || n)::uuid".to_owned(),
        "text" | "character varying" | "varchar" | "citext" | "name" => {
            format!("('v' || n)::{type_name}")
        }
        "character" | "char" => format!("left('v' || n, 1)::{type_name}"),
        "integer" | "bigint" | "smallint" | "numeric" | "real" | "double precision" => {
            format!("n::{type_name}")
        }
        "boolean" => "true".to_owned(),
        "date" => "date '2025-01-01' + n::int".to_owned(),
        "timestamp with time zone" | "timestamp without time zone" => {
            format!("(timestamp '2025-01-01' + n * interval '1 second')::{type_name}")
        }
        "interval" => "n * interval '1 second'".to_owned(),
        "jsonb" | "json" => format!("'{{}}'::{type_name}"),
        "bytea" => "'\\x00'::bytea".to_owned(),
        "inet" | "cidr" => format!("'10.0.0.1'::{type_name}"),
        _ => return None,
    };
    Some(value)
}

/// An object of the catalog, by its qualified name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object<'c> {
    Relation(&'c Relation),
    Function(&'c Function),
}

impl Object<'_> {
    pub fn qualified(&self) -> String {
        match self {
            Object::Relation(r) => r.qualified(),
            Object::Function(f) => f.qualified(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Object::Relation(r) => r.kind.name(),
            Object::Function(f) if f.is_procedure => "procedure",
            Object::Function(_) => "function",
        }
    }

    pub fn history(&self) -> &History {
        match self {
            Object::Relation(r) => &r.history,
            Object::Function(f) => &f.history,
        }
    }
}

impl fmt::Display for Object<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.qualified())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_names_a_value_inside_its_bound() {
        let partition = |bound: &str, key: &[&str]| Partition {
            parent: "public.visits".into(),
            bound: bound.into(),
            key: key.iter().map(|k| k.to_string()).collect(),
        };
        let range = partition(
            "FOR VALUES FROM ('2026-01-01', 7) TO ('2027-01-01', 9)",
            &["visited_on", "site"],
        );
        assert_eq!(
            range.values_inside(),
            [
                ("visited_on".to_owned(), "'2026-01-01'".to_owned()),
                ("site".to_owned(), "7".to_owned())
            ]
        );
        let list = partition("FOR VALUES IN ('it''s, here', 'b')", &["region"]);
        assert_eq!(
            list.values_inside(),
            [("region".to_owned(), "'it''s, here'".to_owned())]
        );
        for none in [
            "FOR VALUES FROM (MINVALUE) TO (10)",
            "FOR VALUES WITH (modulus 4, remainder 0)",
            "DEFAULT",
        ] {
            assert!(partition(none, &["n"]).values_inside().is_empty(), "{none}");
        }
    }

    #[test]
    fn every_listed_literal_is_found_in_a_check() {
        assert_eq!(
            listed_literals(
                "CHECK ((status = ANY (ARRAY['draft'::text, 'it''s done'::text])))",
                "status"
            ),
            Some(vec!["draft".to_owned(), "it's done".to_owned()])
        );
        assert_eq!(
            listed_literals(
                "CHECK (((kind)::text = ANY ((ARRAY['a'::character varying])::text[])))",
                "kind"
            ),
            Some(vec!["a".to_owned()])
        );
        assert_eq!(listed_literals("CHECK ((length(body) > 3))", "body"), None);
        assert_eq!(
            listed_literals("CHECK ((other = ANY (ARRAY['x'::text])))", "status"),
            None
        );
    }

    #[test]
    fn values_exist_for_common_types_and_not_for_unknown_ones() {
        assert!(typed_value("character varying(40)").is_some());
        assert!(typed_value("text[]").is_some());
        assert!(typed_value("timestamp with time zone").is_some());
        assert_eq!(typed_value("tsvector"), None);
    }
}
