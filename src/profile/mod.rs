//! The profile: what `rls-harness.toml` says about the schema's tenancy, and the only
//! module that knows its names. It is read from the file's `[profile]` tables (`parse`),
//! held against the catalog both ways, each mistake at its line (`check`), turned into
//! the model's nameless [`Shape`], and used to write the SQL of everything the model
//! speaks of (`sql`) and to read the world the migrations seeded (`seed`).
//!
//! The engine asks the profile; it never names a table, column, role, function, slug
//! or setting of any schema itself. A schema without a profile still gets the survey,
//! the lints, the scenario files that need no tenancy, and the class-bound probes that
//! need none; what needs a profile says so.

use std::path::PathBuf;
use std::sync::Arc;

use crate::model::{self, Creators, Editors, MembershipRules, Object, Role, RoleRights};
use crate::model::{Shape, Table};

mod check;
mod parse;
mod seed;
mod sql;

pub use parse::RawProfile;
pub use seed::{read as read_seed, with_personal};
pub use sql::{insert_user, uuid, Sql};

pub use crate::located::At;

/// A name the profile gives, with where it is written, for errors about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub at: At,
}

/// The tenants table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenants {
    pub table: Key,
    /// Its key column, which memberships and tenant columns reference.
    pub key: Key,
    /// The unique text column scenario files and reports name tenants by.
    pub slug: Key,
    /// The column naming each tenant's primary owner (a user), if tenants have one.
    pub primary_owner: Option<Key>,
    /// The boolean column that marks a user's personal tenant, where signup makes one.
    pub personal: Option<Key>,
    pub creators: Creators,
    pub editors: Editors,
}

/// The function that adds or changes a membership of one fixed tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignFunction {
    /// `schema.name(types)`.
    pub function: Key,
    /// The slug of the seeded tenant it assigns to.
    pub tenant: Key,
    /// The roles it assigns; any other is refused with 22023.
    pub roles: Vec<Key>,
}

/// The memberships table and its roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memberships {
    pub table: Key,
    pub user: Key,
    pub tenant: Key,
    /// The role column; without one every member is equal.
    pub role: Option<Key>,
    /// The role values, highest rights first.
    pub roles: Vec<Key>,
    /// `W(u)`: the roles that write a tenant's rows.
    pub writers: Vec<Key>,
    /// The roles that add, change and remove others' memberships.
    pub managers: Vec<Key>,
    /// The roles only platform admins give out or touch.
    pub protected: Vec<Key>,
    pub assign: Option<AssignFunction>,
    /// Who reads which rows, and which writes managers make directly.
    pub rules: MembershipRules,
}

/// How a user becomes a platform admin: a row of `table` with `role` = `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admins {
    pub table: Key,
    pub user: Key,
    pub role: Key,
    pub value: Key,
    /// A function that makes its argument a platform admin, if the schema has one.
    pub grant: Option<Key>,
}

/// How a request carries a tenant context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    /// The setting the context lives in.
    pub setting: Key,
    /// The function that sets it, checking the caller: `schema.name(uuid)`.
    pub function: Key,
    /// The request header the app sends the tenant in.
    pub header: Key,
    /// PostgREST's `db-pre-request`, which copies the header into the context.
    /// Without one no API request can carry a context.
    pub pre_request: Option<Key>,
}

/// The view of the global resource rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedView {
    pub view: Key,
    /// The column naming each row's resource table, and its id column.
    pub table: Key,
    pub id: Key,
}

/// The trail a trigger writes for every sharing change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub table: Key,
    /// Which resource table (by its name without schema), which row, which change
    /// (`insert`, `update`, `delete`), who (`auth.uid()`), and the row's tenant.
    pub resource_table: Key,
    pub resource: Key,
    pub action: Key,
    pub actor: Key,
    pub tenant: Key,
    /// The column that orders the trail.
    pub order: Key,
}

/// Resource tables, whose rows are shared by mode: private, selective or global.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharing {
    /// `schema.name` of each, in order: `Table(i)` is the `i`-th.
    pub tables: Vec<Key>,
    pub key: Key,
    pub tenant: Key,
    /// A text column the harness names its rows by.
    pub name: Key,
    /// `private`, `selective` or `global`.
    pub mode: Key,
    /// A boolean kept equal to `mode <> 'private'`.
    pub flag: Key,
    /// The tenants a selective row is shared with (`uuid[]`).
    pub shared_with: Key,
    /// `platform` or `custom`: only platform admins write platform rows.
    pub kind: Key,
    /// The function per table that lists what a tenant may read: `{table}` stands
    /// for the table's name without schema.
    pub lists: Option<Key>,
    pub view: Option<SharedView>,
    pub audit: Option<Audit>,
}

/// The objects the access model predicts exactly, by their names in this schema.
#[derive(Debug, Clone, Default)]
pub struct Modelled {
    /// The profile's resource tables.
    pub resources: Vec<String>,
    /// Other relations and functions with rules of their own.
    pub others: Vec<String>,
}

/// A checked profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The file it was read from, for errors.
    pub file: PathBuf,
    pub tenants: Tenants,
    pub memberships: Memberships,
    pub admins: Option<Admins>,
    pub context: Option<TenantContext>,
    pub sharing: Option<Sharing>,
    /// The SQLSTATEs a refusal may carry: a guard's `raise` as well as a policy's 42501.
    pub refusals: Vec<String>,
}

/// `schema.name(types)` without its argument types.
pub fn callable(function: &str) -> &str {
    function.split('(').next().unwrap_or(function).trim()
}

/// `schema.name` without its schema.
pub fn short(qualified: &str) -> &str {
    qualified.rsplit('.').next().unwrap_or(qualified)
}

impl Profile {
    /// The model's shape of this tenancy; `assign_tenant` is the id of the seeded
    /// tenant the assign function works on (read from the seed).
    pub fn shape(&self, assign_tenant: Option<model::Id>) -> Arc<Shape> {
        let m = &self.memberships;
        let holds = |list: &[Key], role: &Key| list.iter().any(|k| k.name == role.name);
        let sharing = self.sharing.as_ref();
        Arc::new(Shape {
            tables: sharing.map_or(0, |s| s.tables.len() as u8),
            roles: m
                .roles
                .iter()
                .map(|role| RoleRights {
                    writes: holds(&m.writers, role),
                    manages: holds(&m.managers, role),
                    protected: holds(&m.protected, role),
                })
                .collect(),
            admins: self.admins.is_some(),
            context: self.context.is_some(),
            audit: sharing.is_some_and(|s| s.audit.is_some()),
            shared_view: sharing.is_some_and(|s| s.view.is_some()),
            lists: sharing.is_some_and(|s| s.lists.is_some()),
            grant_admin: self.admins.as_ref().is_some_and(|p| p.grant.is_some()),
            assign: m
                .assign
                .as_ref()
                .zip(assign_tenant)
                .map(|(assign, tenant)| model::Assign {
                    tenant,
                    roles: assign
                        .roles
                        .iter()
                        .filter_map(|r| self.role(&r.name))
                        .collect(),
                }),
            creators: self.tenants.creators,
            editors: self.tenants.editors,
            memberships: m.rules,
            primary_owner: self.tenants.primary_owner.is_some(),
            personal: self.tenants.personal.is_some(),
        })
    }

    /// The role a value of the role column stands for.
    pub fn role(&self, value: &str) -> Option<Role> {
        self.memberships
            .roles
            .iter()
            .position(|r| r.name == value)
            .map(|i| Role(i as u8))
    }

    /// The role column's value for `role`.
    pub fn role_name(&self, role: Role) -> &str {
        self.memberships
            .roles
            .get(role.0 as usize)
            .map_or("", |k| k.name.as_str())
    }

    /// The resource table named `qualified` (`schema.name`), or by its name alone.
    pub fn table(&self, name: &str) -> Option<Table> {
        let tables = &self.sharing.as_ref()?.tables;
        tables
            .iter()
            .position(|t| t.name == name || short(&t.name) == name)
            .map(|i| Table(i as u8))
    }

    /// `schema.name` of a resource table.
    pub fn table_name(&self, table: Table) -> &str {
        self.sharing
            .as_ref()
            .and_then(|s| s.tables.get(table.0 as usize))
            .map_or("", |k| k.name.as_str())
    }

    /// The qualified name of a modelled object: `schema.name` of a relation,
    /// `schema.name(types)` of a function. Empty for a part the profile lacks.
    pub fn name(&self, object: Object) -> String {
        let sharing = self.sharing.as_ref();
        match object {
            Object::Resource(table) => self.table_name(table).to_owned(),
            Object::Tenants => self.tenants.table.name.clone(),
            Object::Memberships => self.memberships.table.name.clone(),
            Object::PlatformAdmins => self
                .admins
                .as_ref()
                .map_or_else(String::new, |p| p.table.name.clone()),
            Object::Audit => sharing
                .and_then(|s| s.audit.as_ref())
                .map_or_else(String::new, |a| a.table.name.clone()),
            Object::SharedView => sharing
                .and_then(|s| s.view.as_ref())
                .map_or_else(String::new, |v| v.view.name.clone()),
            Object::Lists(table) => {
                sharing
                    .and_then(|s| s.lists.as_ref())
                    .map_or_else(String::new, |pattern| {
                        pattern
                            .name
                            .replace("{table}", short(self.table_name(table)))
                    })
            }
            Object::SetContext => self
                .context
                .as_ref()
                .map_or_else(String::new, |c| c.function.name.clone()),
            Object::GrantAdmin => self
                .admins
                .as_ref()
                .and_then(|p| p.grant.as_ref())
                .map_or_else(String::new, |g| g.name.clone()),
            Object::Assign => self
                .memberships
                .assign
                .as_ref()
                .map_or_else(String::new, |a| a.function.name.clone()),
        }
    }

    /// How reports name a modelled object: its name without schema or arguments.
    pub fn label(&self, object: Object) -> String {
        short(callable(&self.name(object))).to_owned()
    }

    /// Every object the model predicts exactly, for the classes: the resource tables,
    /// and the other relations and functions the profile names.
    pub fn modelled(&self) -> Modelled {
        let shape = self.shape(None);
        let resources = shape
            .tables()
            .map(|t| self.table_name(t).to_owned())
            .collect();
        let mut others = vec![Object::Tenants, Object::Memberships, Object::PlatformAdmins];
        others.extend([
            Object::Audit,
            Object::SharedView,
            Object::SetContext,
            Object::GrantAdmin,
            Object::Assign,
        ]);
        others.extend(shape.tables().map(Object::Lists));
        let others = others
            .into_iter()
            .map(|o| self.name(o))
            .filter(|name| !name.is_empty())
            .collect();
        Modelled { resources, others }
    }

    /// The columns that make a table a resource table, when the profile shares rows.
    pub fn sharing_columns(&self) -> Vec<&str> {
        self.sharing.as_ref().map_or_else(Vec::new, |s| {
            vec![
                s.tenant.name.as_str(),
                s.flag.name.as_str(),
                s.mode.name.as_str(),
                s.shared_with.name.as_str(),
                s.kind.name.as_str(),
            ]
        })
    }

    /// Where the file says something, as `file:line:column`.
    pub fn location(&self, at: At) -> String {
        format!("{}:{}:{}", self.file.display(), at.line, at.column)
    }
}

#[cfg(test)]
pub(crate) mod fixture;
