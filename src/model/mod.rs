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
//! The model knows no name of any schema: tables, roles and functions are positions
//! and flags of a [`Shape`], which the profile (`crate::profile`) derives from
//! `rls-harness.toml` and which names them back for reports and SQL.
//!
//! This file holds the vocabulary; `shape` what the tenancy consists of, `world` the
//! state and the caller's rights, `read` and `write` the predictions, `effect` the
//! writes a function made on a caller's behalf, `invariant` the names a mismatch is
//! reported under.

use std::collections::BTreeMap;
use std::fmt;

mod effect;
mod invariant;
mod read;
mod shape;
mod world;
mod write;

#[cfg(test)]
pub(crate) mod fixture;

pub use invariant::{invariant_of_op, invariant_of_read, invariant_of_write};
pub use shape::{
    Assign, Creators, Editors, MembershipRules, Object, Role, RoleRights, Shape, Table,
};
pub use world::{Rights, World};

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

/// How a resource row is shared (`sharing_mode` in VITAL's schema).
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

/// Whether a resource row is the platform's own (`resource_type` in VITAL's schema):
/// only platform admins write platform rows.
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

/// A row of the tenants table; the model needs only what identifies it, who owns it
/// and whether it is a user's personal tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tenant {
    pub id: Id,
    pub slug: String,
    /// Where tenants have one ([`Shape::primary_owner`]).
    pub primary_owner: Option<Id>,
    /// Made for its owner at signup ([`Shape::personal`]).
    pub personal: bool,
}

impl Tenant {
    /// A tenant with no primary owner that is nobody's personal tenant.
    pub fn new(id: Id, slug: String) -> Tenant {
        Tenant {
            id,
            slug,
            ..Tenant::default()
        }
    }
}

/// A row of `auth.users`, with its memberships (tenant → role) and whether it is a
/// platform admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Id,
    pub name: String,
    pub memberships: BTreeMap<Id, Role>,
    pub admin: bool,
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

/// What the audit trail's trigger saw.
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

/// A row of the audit trail, reduced to what the invariants speak of.
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
    /// The migration owner: outside the model (it bypasses row security); it writes
    /// fixtures and checks the schema, never a policy.
    Owner,
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
            Principal::Owner => f.write_str("owner"),
        }
    }
}

/// The tenant context when the statement runs, however it got there: through the
/// context function or forged with `set_config`. Whether the context function itself
/// succeeds is [`World::set_context`]'s question.
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

impl Context {
    /// Whether the context names what the caller may not name: a value that is no uuid,
    /// or a tenant it does not belong to. Such a context must grant nothing, and a
    /// request refused outright grants nothing either.
    pub fn is_forged_for(&self, rights: &Rights) -> bool {
        match self {
            Context::Empty => false,
            Context::Malformed => true,
            Context::Tenant(tenant) => !rights.member.contains(tenant),
        }
    }
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

/// Every write a principal can attempt. The profile writes the SQL of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Insert a resource row with every sharing column.
    Insert(Resource),
    /// Update the resource row `id` into `new` (setting only what changes).
    Update {
        id: Id,
        new: Resource,
    },
    Delete {
        table: Table,
        id: Id,
    },
    /// Insert a membership.
    AddMember {
        user: Id,
        tenant: Id,
        role: Role,
    },
    /// Change a membership's role.
    SetRole {
        user: Id,
        tenant: Id,
        role: Role,
    },
    RemoveMember {
        user: Id,
        tenant: Id,
    },
    /// Call the function that makes `user` a platform admin.
    GrantAdmin {
        user: Id,
    },
    /// Insert the row that makes `user` a platform admin.
    AddAdmin {
        user: Id,
    },
    /// Call the function that assigns `user` to its fixed tenant with `role`.
    Assign {
        user: Id,
        role: Role,
    },
    /// Insert a tenant; where tenants have a primary owner, `owner` is it.
    InsertTenant {
        id: Id,
        slug: String,
        owner: Option<Id>,
    },
    /// Update a tenant row without changing it: whether the row may be updated at all.
    RenameTenant {
        id: Id,
    },
    /// Delete a tenant (its memberships go with it).
    DeleteTenant {
        id: Id,
    },
    /// Delete the row that makes `user` a platform admin.
    RemoveAdmin {
        user: Id,
    },
}

impl Op {
    /// Whether it calls a function, which answers with one row whatever it did.
    pub fn is_call(&self) -> bool {
        matches!(self, Op::GrantAdmin { .. } | Op::Assign { .. })
    }
}
