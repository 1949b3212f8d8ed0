//! Object classes: every object the API roles can reach belongs to exactly one class of
//! the access model ("Every other object: classes"), recognised from the catalog or
//! declared in `rls-harness.toml`, or it is unclassified, which fails the gate.
//!
//! Recognition never guesses beyond the access model's own rules: the profile's five
//! sharing columns make a `resource`; a column with a foreign key to the profile's
//! tenants table a `tenant` table (a column named like the memberships' tenant column
//! without that key is left unclassified); no tenant column and a not-null foreign key to a
//! classed table a `child`; a `user_id` with a foreign key to `auth.users` a `user`
//! table. Views, materialized views and functions that return a relation's rows are
//! derived; any other SECURITY INVOKER function runs with the caller's rights
//! (`invoker`). The objects the profile names keep the model's exact rules (`exact`),
//! whatever their columns say. Without a profile there are no resource or tenant tables
//! to recognise.

use std::collections::BTreeSet;
use std::fmt;

use crate::catalog::{Catalog, Object, Relation};
use crate::config::{At, ClassName, Config, Writers};

/// What an object is, for the bounds it must keep.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "class", rename_all = "lowercase")]
pub enum Class {
    /// Rows shared by tenant, mode and list: the resource rules.
    Resource,
    /// Rows of one tenant: `P(u)` or the tenant column in `E(u)` (writes: `∩ W(u)`, or
    /// `E(u)` with members as writers).
    Tenant { column: String, writers: Writers },
    /// Rows under a parent row, through a not-null foreign key: readable and writable
    /// when the parent is.
    Child {
        parent: String,
        columns: Vec<String>,
    },
    /// Rows of one user: `P(u)` or the user column is `u`.
    User { column: String },
    /// Read by every authenticated user (and anon when declared), written by nobody.
    Public { anon: bool },
    /// Reached by nobody.
    Internal,
    /// A function the API roles call with a tenant or user (or nothing): called with the
    /// caller's, another's, NULL and an unknown id, it refuses or returns ids of rows
    /// the caller may read, nothing else.
    Guarded,
    /// A SECURITY INVOKER function that returns no relation's rows: it runs with the
    /// caller's rights, so it can tell only what the caller reads (a policy restated
    /// through a helper). It is called as a guarded function is, and held to the same
    /// answer: ids of rows the caller reads, or a refusal.
    Invoker,
    /// A view, materialized view or function whose rows come from other objects: it
    /// must show nothing its bases hide.
    Derived,
    /// Named by the profile, with rules of the access model's own (the tenancy tables,
    /// the audit trail, the functions of its table): the model predicts it exactly.
    Modelled,
}

impl Class {
    pub fn name(&self) -> &'static str {
        match self {
            Class::Resource => "resource",
            Class::Tenant { .. } => "tenant",
            Class::Child { .. } => "child",
            Class::User { .. } => "user",
            Class::Public { .. } => "public",
            Class::Internal => "internal",
            Class::Guarded => "guarded",
            Class::Invoker => "invoker",
            Class::Derived => "derived",
            Class::Modelled => "modelled",
        }
    }

    /// Whether rows of this class belong to someone (so that a permissive `true`
    /// policy or a policy for PUBLIC gives them away).
    pub fn owns_rows(&self) -> bool {
        matches!(
            self,
            Class::Resource
                | Class::Tenant { .. }
                | Class::Child { .. }
                | Class::User { .. }
                | Class::Modelled
        )
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Class::Tenant { column, writers } => {
                write!(f, "tenant (by {column}")?;
                if *writers == Writers::Members {
                    f.write_str(", members write")?;
                }
                f.write_str(")")
            }
            Class::Child { parent, columns } => {
                write!(f, "child of {parent} (by {})", columns.join(", "))
            }
            Class::User { column } => write!(f, "user (by {column})"),
            Class::Public { anon: true } => f.write_str("public (anon too)"),
            other => f.write_str(other.name()),
        }
    }
}

/// How the class was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// From the columns and keys.
    Recognised,
    /// From `rls-harness.toml`.
    Declared(At),
    /// The profile names the object, and the access model has its rules.
    Model,
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::Recognised => "recognised",
            Source::Declared(_) => "declared",
            Source::Model => "named by the profile",
        }
    }
}

/// An exposed object and its class.
#[derive(Debug, Clone)]
pub struct Classified<'c> {
    pub object: Object<'c>,
    pub class: Class,
    pub source: Source,
    /// The reference model predicts it exactly (its rules are the access model's own).
    pub exact: bool,
}

/// Every exposed object of a catalog, classed or not.
#[derive(Debug, Clone, Default)]
pub struct Classes<'c> {
    pub classified: Vec<Classified<'c>>,
    pub unclassified: Vec<Object<'c>>,
}

impl<'c> Classes<'c> {
    /// The class of `qualified`, if it is an exposed, classed object.
    pub fn of(&self, qualified: &str) -> Option<&Classified<'c>> {
        self.classified
            .iter()
            .find(|c| c.object.qualified() == qualified)
    }

    /// The class of a relation, exposed or not (a child's parent need not be exposed).
    fn relation_class(&self, qualified: &str) -> Option<&Class> {
        self.of(qualified).map(|c| &c.class)
    }
}

/// Classes every exposed object of `catalog`, by the profile and declarations of
/// `config`.
pub fn classify<'c>(catalog: &'c Catalog, config: &Config) -> Classes<'c> {
    let mut modelled = config
        .profile
        .as_ref()
        .map(|p| p.modelled())
        .unwrap_or_default();
    // The profile may name a function without its argument types (`schema.name`, when
    // only one has that name), so its objects are matched by the catalog's own spelling.
    for name in &mut modelled.others {
        if let Ok(object) = catalog.find(name) {
            *name = object.qualified();
        }
    }
    let sharing: Vec<&str> = config
        .profile
        .as_ref()
        .map(|p| p.sharing_columns())
        .unwrap_or_default();
    let tenants = config
        .profile
        .as_ref()
        .map(|p| p.tenants.table.name.as_str());
    let tenant_column = config
        .profile
        .as_ref()
        .map(|p| p.memberships.tenant.name.as_str());
    let keys = id_columns(catalog, tenants);
    let mut classes = Classes::default();
    let mut pending: Vec<Object<'c>> = catalog
        .exposed_relations()
        .map(Object::Relation)
        .chain(catalog.exposed_functions().map(Object::Function))
        .collect();
    // Declarations and the model's names first; then whatever the columns say, in
    // rounds, because a child's parent may itself be a child classed a round before.
    pending.retain(|object| {
        let found = if let Some(declaration) = config.declaration(catalog, object) {
            let class = match declaration.class {
                ClassName::Resource => Class::Resource,
                ClassName::Tenant => Class::Tenant {
                    column: declaration.tenant_column.clone().unwrap_or_else(|| {
                        tenant_key(object, tenants)
                            .or(tenant_column)
                            .unwrap_or("tenant_id")
                            .to_owned()
                    }),
                    writers: declaration.writers,
                },
                ClassName::Child => match object {
                    Object::Relation(r) => child_of(r, &|_| true).unwrap_or(Class::Internal),
                    Object::Function(_) => Class::Internal,
                },
                ClassName::User => Class::User {
                    column: declaration
                        .user_column
                        .clone()
                        .unwrap_or_else(|| "user_id".into()),
                },
                ClassName::Public => Class::Public {
                    anon: declaration.anon,
                },
                ClassName::Internal => Class::Internal,
                ClassName::Guarded => Class::Guarded,
            };
            let exact =
                modelled.resources.contains(&object.qualified()) && class == Class::Resource;
            Some((class, Source::Declared(declaration.at), exact))
        } else if modelled.resources.contains(&object.qualified()) {
            Some((Class::Resource, Source::Model, true))
        } else if modelled.others.contains(&object.qualified()) {
            let class = match object {
                Object::Relation(r) if !r.kind.is_table() => Class::Derived,
                _ => Class::Modelled,
            };
            Some((class, Source::Model, true))
        } else {
            None
        };
        match found {
            Some((class, source, exact)) => {
                classes.classified.push(Classified {
                    object: *object,
                    class,
                    source,
                    exact,
                });
                false
            }
            None => true,
        }
    });
    loop {
        let before = pending.len();
        let waiting: BTreeSet<String> = pending.iter().map(Object::qualified).collect();
        pending.retain(|object| {
            // A partition holds its parent's rows: it keeps its parent's class, and waits
            // for the parent to get one.
            if let Object::Relation(Relation {
                partition: Some(partition),
                ..
            }) = object
            {
                if let Some(class) = classes.relation_class(&partition.parent).cloned() {
                    classes.classified.push(Classified {
                        object: *object,
                        class,
                        source: Source::Recognised,
                        exact: false,
                    });
                    return false;
                }
                if waiting.contains(&partition.parent) {
                    return true;
                }
            }
            let class = recognise(object, tenants, tenant_column, &keys, &sharing, &|parent| {
                classes.relation_class(parent).is_some_and(|c| {
                    matches!(
                        c,
                        Class::Resource | Class::Tenant { .. } | Class::Child { .. }
                    )
                }) || modelled.resources.iter().any(|r| r == parent)
            });
            match class {
                Some(class) => {
                    classes.classified.push(Classified {
                        object: *object,
                        class,
                        source: Source::Recognised,
                        exact: false,
                    });
                    false
                }
                None => true,
            }
        });
        if pending.len() == before {
            break;
        }
    }
    classes.unclassified = pending;
    classes
        .classified
        .sort_by_key(|c| (c.object.qualified(), c.object.kind()));
    classes
}

/// The class the columns and keys of `object` give it, if any; `classed_parent` says
/// whether a relation is a resource, tenant or child table (a child's possible parent).
fn recognise(
    object: &Object<'_>,
    tenants: Option<&str>,
    tenant_column: Option<&str>,
    keys: &BTreeSet<String>,
    sharing: &[&str],
    classed_parent: &dyn Fn(&str) -> bool,
) -> Option<Class> {
    let relation = match object {
        Object::Function(function) if function.returns_relation.is_some() => {
            return Some(Class::Derived)
        }
        // With the caller's rights it can widen nothing; what it answers is still
        // probed.
        Object::Function(function) if !function.security_definer => return Some(Class::Invoker),
        // A tenant or a user as an argument: what a guard must check.
        Object::Function(function) => {
            return function
                .arguments
                .iter()
                .any(|a| a.type_name == "uuid" && keys.contains(&a.name))
                .then_some(Class::Guarded)
        }
        Object::Relation(relation) if !relation.kind.is_table() => return Some(Class::Derived),
        Object::Relation(relation) => relation,
    };
    if !sharing.is_empty() && sharing.iter().all(|c| relation.column(c).is_some()) {
        return Some(Class::Resource);
    }
    let references = |column: &str, target: &str| {
        relation
            .foreign_keys
            .iter()
            .any(|fk| fk.columns == [column] && fk.target == target)
    };
    if let Some(column) = tenant_key(object, tenants) {
        return Some(Class::Tenant {
            column: column.to_owned(),
            writers: Writers::Writers,
        });
    }
    // A column named like the memberships' tenant column without that key is a tenant
    // column nothing enforces: it is left for a person to class rather than guessed.
    if tenant_column.is_some_and(|column| relation.column(column).is_some()) {
        return None;
    }
    if let Some(child) = child_of(relation, classed_parent) {
        return Some(child);
    }
    references("user_id", "auth.users").then(|| Class::User {
        column: "user_id".into(),
    })
}

/// The names of the columns that hold a tenant or a user: those whose foreign key
/// names the tenants table or `auth.users`. A function argument named like one takes a
/// tenant or a user.
fn id_columns(catalog: &Catalog, tenants: Option<&str>) -> BTreeSet<String> {
    catalog
        .relations
        .iter()
        .flat_map(|r| &r.foreign_keys)
        .filter(|fk| fk.columns.len() == 1)
        .filter(|fk| fk.target == "auth.users" || Some(fk.target.as_str()) == tenants)
        .map(|fk| fk.columns[0].clone())
        .collect()
}

/// The tenant column of a table: the first one whose foreign key names the tenants
/// table, whatever it is called (`tenant_id`, `account_id`, `org`).
fn tenant_key<'o>(object: &Object<'o>, tenants: Option<&str>) -> Option<&'o str> {
    let Object::Relation(relation) = object else {
        return None;
    };
    let tenants = tenants?;
    relation
        .foreign_keys
        .iter()
        .find(|fk| fk.target == tenants && fk.columns.len() == 1)
        .map(|fk| fk.columns[0].as_str())
}

/// A child class through the first not-null foreign key to a table `parent` accepts.
fn child_of(relation: &Relation, parent: &dyn Fn(&str) -> bool) -> Option<Class> {
    relation
        .foreign_keys
        .iter()
        .find(|fk| {
            fk.target != relation.qualified()
                && parent(&fk.target)
                && fk
                    .columns
                    .iter()
                    .all(|c| relation.column(c).is_some_and(|c| c.not_null))
        })
        .map(|fk| Class::Child {
            parent: fk.target.clone(),
            columns: fk.columns.clone(),
        })
}
