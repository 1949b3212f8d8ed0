//! The reference model: what PostgreSQL must let each principal read and write, given
//! a world of tenants, users, memberships, resources and audit rows.
//!
//! It is pure Rust and never touches a database, so that it can be wrong only in ways
//! that differ from the migrations' ways: it is written from the access model
//! (`shared/design/access-model.md`), not from the SQL, and the property tester loads
//! each world into Postgres and compares every read and write with these predictions.
//! Where the database is known to differ from the access model, the model keeps the
//! access model's answer (see [`World::shared_view`]): a database bug must show up as a
//! difference, never be copied into the oracle.
//!
//! This file holds the vocabulary; `world` the state and the caller's rights, `read`
//! and `write` the predictions, `invariant` the names a mismatch is reported under.

use std::collections::BTreeMap;
use std::fmt;

mod assumption;
mod invariant;
mod read;
mod world;
mod write;

#[cfg(test)]
pub(crate) mod fixture;

pub use assumption::unmet as unmet_assumptions;
pub use invariant::{invariant_of_op, invariant_of_read, invariant_of_write};
pub use world::{Rights, World};

/// The objects this model predicts exactly, by their names in a schema whose tenancy
/// tables and context function `tenancy` names: the four resource tables, the tenancy
/// tables, the audit trail, the shared-resources view and the functions of the access
/// model's table.
pub fn modelled(tenancy: &crate::config::Tenancy) -> crate::class::Modelled {
    let resources = Table::ALL
        .iter()
        .map(|t| format!("public.{}", t.name()))
        .collect();
    let mut others = vec![
        tenancy.tenants.clone(),
        tenancy.memberships.clone(),
        tenancy.platform_roles.clone(),
        "public.resource_sharing_audit".to_owned(),
        "public.mv_platform_shared_resources".to_owned(),
        format!("{}(uuid)", tenancy.context_function),
        "public.grant_platform_admin(uuid)".to_owned(),
        "public.assign_user_to_dh_startup(uuid, text)".to_owned(),
    ];
    others.extend(
        Table::ALL
            .iter()
            .map(|t| format!("public.get_accessible_{}(uuid)", t.name())),
    );
    crate::class::Modelled { resources, others }
}

/// Every id in the schema is a uuid.
pub type Id = uuid::Uuid;

/// A stable id for a named user (of a scenario file or a generated world), so that
/// runs, reports and counterexamples are reproducible.
pub fn user_id(name: &str) -> Id {
    const NAMESPACE: Id = Id::from_u128(0x6f1c_9a7e_3b2d_4e10_9c55_72d1_a4e8_b301);
    Id::new_v5(&NAMESPACE, format!("user:{name}").as_bytes())
}

/// A stable id for a tenant a scenario file declares or a generated world adds.
pub fn tenant_id(slug: &str) -> Id {
    const NAMESPACE: Id = Id::from_u128(0x2a4f_61d0_8c3b_4f7e_b0a9_1e5c_77d2_c402);
    Id::new_v5(&NAMESPACE, format!("tenant:{slug}").as_bytes())
}

/// The four resource tables, which share one set of policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Agents,
    Tools,
    Prompts,
    Workflows,
}

impl Table {
    pub const ALL: [Table; 4] = [
        Table::Agents,
        Table::Tools,
        Table::Prompts,
        Table::Workflows,
    ];

    /// The table's name in `public`, which is also `resource_sharing_audit.table_name`.
    pub fn name(&self) -> &'static str {
        match self {
            Table::Agents => "agents",
            Table::Tools => "tools",
            Table::Prompts => "prompts",
            Table::Workflows => "workflows",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A user's role in a tenant (`user_tenants.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    pub fn name(&self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Owners and admins form `W(u)`: they write the tenant's resources and members.
    pub fn is_writer(&self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// `sharing_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    Private,
    Selective,
    Global,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Private, Mode::Selective, Mode::Global];

    pub fn name(&self) -> &'static str {
        match self {
            Mode::Private => "private",
            Mode::Selective => "selective",
            Mode::Global => "global",
        }
    }

    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    /// `is_shared`, which a check constraint ties to the mode.
    pub fn is_shared(&self) -> bool {
        *self != Mode::Private
    }
}

/// `resource_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Platform,
    Custom,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Platform, Kind::Custom];

    pub fn name(&self) -> &'static str {
        match self {
            Kind::Platform => "platform",
            Kind::Custom => "custom",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A row of `tenants`; the model needs only what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: Id,
    pub slug: String,
}

/// A row of `auth.users`, with its `user_tenants` rows (tenant → role) and whether it
/// has the `platform_admin` row in `user_roles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Id,
    pub name: String,
    pub memberships: BTreeMap<Id, Role>,
    pub platform_admin: bool,
}

/// A row of one of the resource tables. `is_shared` is not stored: it is
/// `mode.is_shared()`, as the check constraint demands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub table: Table,
    pub id: Id,
    pub tenant: Option<Id>,
    pub name: String,
    pub mode: Mode,
    /// In order: Postgres compares arrays element by element, so a reordering is a
    /// change of `shared_with` (and leaves an audit row).
    pub shared_with: Vec<Id>,
    pub kind: Kind,
}

impl Resource {
    pub fn is_shared(&self) -> bool {
        self.mode.is_shared()
    }
}

/// `resource_sharing_audit.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuditAction {
    Insert,
    Update,
    Delete,
}

impl AuditAction {
    pub fn name(&self) -> &'static str {
        match self {
            AuditAction::Insert => "insert",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
        }
    }
}

/// A row of `resource_sharing_audit`, reduced to what the invariants speak of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub table: Table,
    pub resource: Id,
    pub action: AuditAction,
    /// `auth.uid()` of the writer; `None` for service_role and the owner.
    pub actor: Option<Id>,
    /// The resource's tenant after the change (before it, for a delete).
    pub tenant: Option<Id>,
}

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    /// Role `anon`, claims `{"role": "anon"}`.
    Anon,
    /// Role `authenticated` with claims that lack `sub` (or have an empty one).
    NoSub,
    /// Role `authenticated` with `sub` = this id.
    User(Id),
    /// Role `service_role` (BYPASSRLS).
    ServiceRole,
}

impl Principal {
    /// `auth.uid()` in the principal's session.
    pub fn uid(&self) -> Option<Id> {
        match self {
            Principal::User(id) => Some(*id),
            _ => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Anon => f.write_str("anon"),
            Principal::NoSub => f.write_str("authenticated without sub"),
            Principal::User(id) => write!(f, "user {id}"),
            Principal::ServiceRole => f.write_str("service_role"),
        }
    }
}

/// The value of `app.current_tenant_id` when the statement runs, however it got
/// there: through `set_tenant_context` or forged with `set_config`. Whether
/// `set_tenant_context` itself succeeds is [`World::set_context`]'s question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    /// Unset or `''`.
    Empty,
    /// A well-formed uuid.
    Tenant(Id),
    /// Set, but not a uuid (`'garbage'`): `current_tenant_id()` is NULL, yet the
    /// setting is not empty, so `E(u)` is empty rather than `M(u)`.
    Malformed,
}

/// The two kinds of SQLSTATE 42501 that a reviewer must tell apart, plus refusals
/// raised by the schema's own guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// A `WITH CHECK` (or `USING` on insert) rejected the row.
    Policy,
    /// The role lacks a grant on the table, view or function.
    Privilege,
    /// A function raised 42501 itself (a guard such as "not a member").
    Guard,
}

/// What a statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success; `n` is the count of the command tag (rows inserted, updated or
    /// deleted; `0` when `USING` hid every row). A function call (`select f(...)`)
    /// returns one row, so it is `Done(1)`.
    Done(u64),
    /// SQLSTATE 42501, of the given kind.
    Denied(Denial),
    /// Any other SQLSTATE: `23505`, `23503`, `23514`, `22023`.
    SqlState(&'static str),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Done(n) => write!(f, "done, {n} row(s)"),
            Outcome::Denied(denial) => write!(f, "42501 ({denial:?})"),
            Outcome::SqlState(code) => f.write_str(code),
        }
    }
}

/// Every write a principal can attempt, with the SQL it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `insert into <table> (id, tenant_id, name, sharing_mode, is_shared, shared_with,
    /// resource_type) values (...)`.
    Insert(Resource),
    /// `update <new.table> set id, tenant_id, name, sharing_mode, is_shared,
    /// shared_with, resource_type = new's where id = <id>`.
    Update { id: Id, new: Resource },
    /// `delete from <table> where id = <id>`.
    Delete { table: Table, id: Id },
    /// `insert into user_tenants (user_id, tenant_id, role)`.
    AddMember { user: Id, tenant: Id, role: Role },
    /// `update user_tenants set role where user_id and tenant_id`.
    SetRole { user: Id, tenant: Id, role: Role },
    /// `delete from user_tenants where user_id and tenant_id`.
    RemoveMember { user: Id, tenant: Id },
    /// `select grant_platform_admin(user)`.
    GrantAdmin { user: Id },
    /// `insert into user_roles (user_id, role) values (user, 'platform_admin')`.
    InsertUserRole { user: Id },
    /// `select assign_user_to_dh_startup(user, role)`.
    AssignDh { user: Id, role: String },
    /// `insert into tenants (id, slug, name) values (id, slug, slug)`.
    InsertTenant { id: Id, slug: String },
    /// `update tenants set name = <name> where id = <id>`.
    RenameTenant { id: Id, name: String },
    /// `delete from tenants where id = <id>` (its memberships go with it).
    DeleteTenant { id: Id },
    /// `delete from user_roles where user_id = <user> and role = 'platform_admin'`.
    DeleteUserRole { user: Id },
}
