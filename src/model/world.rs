//! The world's state, the world the migrations leave behind, and the caller's rights
//! in it: the sets `M(u)`, `W(u)`, `P(u)` and `E(u)` of the access model, and the three
//! resource rules (read, insert, delete) written over them.
//!
//! Anon and claims without `sub` get rights like a user with no row anywhere: the
//! resource and tenancy policies are granted `to authenticated` and every helper keys on
//! `auth.uid()`, so both end up with nothing. Only the functions and the materialized
//! view tell them apart (`read` and `write` do).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{AuditRow, Context, Id, Kind, Mode, Principal, Resource, Role, Shape, Table};
use super::{Tenant, User};

/// Everything the policies depend on: the tenants, `auth.users` with their memberships
/// and platform-admin rows, the resource tables and the audit trail, under the shape of
/// the tenancy they belong to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct World {
    pub shape: Arc<Shape>,
    pub tenants: Vec<Tenant>,
    pub users: Vec<User>,
    pub resources: Vec<Resource>,
    /// In insertion order, as the profile's audit table numbers its rows.
    pub audit: Vec<AuditRow>,
}

/// What the policies know about the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rights {
    /// `service_role`: row security does not apply at all.
    pub bypass_rls: bool,
    /// `auth.uid()`.
    pub uid: Option<Id>,
    /// `P(u)`.
    pub admin: bool,
    /// `M(u)`.
    pub member: BTreeSet<Id>,
    /// `W(u)`.
    pub writer: BTreeSet<Id>,
    /// The tenants where the caller manages others' memberships.
    pub manager: BTreeSet<Id>,
    /// The roles only platform admins give out or touch.
    pub protected: BTreeSet<Role>,
}

impl Rights {
    /// `E(u)`: `M(u)` without a context, `{c} ∩ M(u)` with one; a malformed context
    /// is a context all the same (non-empty setting), and names no tenant.
    pub fn effective(&self, ctx: &Context) -> BTreeSet<Id> {
        match ctx {
            Context::Empty => self.member.clone(),
            Context::Tenant(t) if self.member.contains(t) => BTreeSet::from([*t]),
            Context::Tenant(_) | Context::Malformed => BTreeSet::new(),
        }
    }

    /// `E(u) ∩ W(u)`: the tenants whose resources the caller may write now.
    pub fn effective_writer(&self, ctx: &Context) -> BTreeSet<Id> {
        self.effective(ctx)
            .intersection(&self.writer)
            .copied()
            .collect()
    }

    /// The read rule. The policy also demands a `sub`, so that claims without one read
    /// nothing, global rows included.
    pub fn reads(&self, ctx: &Context, r: &Resource) -> bool {
        if self.bypass_rls {
            return true;
        }
        if self.uid.is_none() {
            return false;
        }
        let e = self.effective(ctx);
        self.admin
            || r.tenant.is_some_and(|t| e.contains(&t))
            || r.mode == Mode::Global
            || (r.mode == Mode::Selective && r.shared_with.iter().any(|t| e.contains(t)))
    }

    /// The insert rule, which is also the `WITH CHECK` of an update (the new row).
    /// A NULL tenant never passes (`NULL = any(...)` is not true).
    pub fn may_insert(&self, ctx: &Context, r: &Resource) -> bool {
        self.bypass_rls
            || self.admin
            || (r
                .tenant
                .is_some_and(|t| self.effective_writer(ctx).contains(&t))
                && r.mode != Mode::Global
                && r.kind != Kind::Platform)
    }

    /// The delete rule, which is also the `USING` of an update (the old row).
    pub fn may_delete(&self, ctx: &Context, r: &Resource) -> bool {
        self.bypass_rls
            || self.admin
            || r.tenant
                .is_some_and(|t| self.effective_writer(ctx).contains(&t))
    }
}

impl World {
    pub fn tenant_ids(&self) -> BTreeSet<Id> {
        self.tenants.iter().map(|t| t.id).collect()
    }

    pub fn tenant(&self, id: Id) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }

    pub fn user(&self, id: Id) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn user_mut(&mut self, id: Id) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.id == id)
    }

    pub fn resource(&self, table: Table, id: Id) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.table == table && r.id == id)
    }

    pub fn resources_of(&self, table: Table) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(move |r| r.table == table)
    }

    /// Every membership row as `(user, tenant)`.
    pub fn memberships(&self) -> BTreeSet<(Id, Id)> {
        self.membership_rows().map(|(u, t, _)| (u, t)).collect()
    }

    /// Every membership row as `(user, tenant, role)`.
    pub fn membership_rows(&self) -> impl Iterator<Item = (Id, Id, Role)> + '_ {
        self.users
            .iter()
            .flat_map(|u| u.memberships.iter().map(move |(t, r)| (u.id, *t, *r)))
    }

    pub fn role_of(&self, user: Id, tenant: Id) -> Option<Role> {
        self.user(user)
            .and_then(|u| u.memberships.get(&tenant).copied())
    }

    /// The tenant whose row `op` acts on, where it has one: the tenant the caller's role
    /// there is judged in. A new tenant, and platform-admin rows, belong to none.
    pub fn tenant_of(&self, op: &super::Op) -> Option<Id> {
        use super::Op;
        match op {
            Op::Insert(row) => row.tenant,
            Op::Update { id, new } => self.resource(new.table, *id).and_then(|r| r.tenant),
            Op::Delete { table, id } => self.resource(*table, *id).and_then(|r| r.tenant),
            Op::AddMember { tenant, .. }
            | Op::SetRole { tenant, .. }
            | Op::RemoveMember { tenant, .. } => Some(*tenant),
            Op::RenameTenant { id } | Op::DeleteTenant { id } => Some(*id),
            Op::Assign { .. } => self.shape.assign.as_ref().map(|assign| assign.tenant),
            Op::InsertTenant { .. }
            | Op::GrantAdmin { .. }
            | Op::AddAdmin { .. }
            | Op::RemoveAdmin { .. } => None,
        }
    }

    /// The users who are platform admins.
    pub fn admins(&self) -> BTreeSet<Id> {
        self.users
            .iter()
            .filter(|u| u.admin)
            .map(|u| u.id)
            .collect()
    }

    /// The caller's rights in this world. A `sub` naming no user has no row anywhere.
    pub fn rights(&self, who: &Principal) -> Rights {
        match who {
            Principal::ServiceRole | Principal::Owner => Rights {
                bypass_rls: true,
                ..Rights::default()
            },
            Principal::Anon | Principal::NoSub => Rights::default(),
            Principal::User(id) => {
                let user = self.user(*id);
                let roles: BTreeMap<Id, Role> =
                    user.map(|u| u.memberships.clone()).unwrap_or_default();
                let holding = |right: fn(&super::RoleRights) -> bool| {
                    roles
                        .iter()
                        .filter(|(_, r)| right(&self.shape.rights_of(**r)))
                        .map(|(t, _)| *t)
                        .collect()
                };
                Rights {
                    bypass_rls: false,
                    uid: Some(*id),
                    admin: self.shape.admins && user.is_some_and(|u| u.admin),
                    member: roles.keys().copied().collect(),
                    writer: holding(|r| r.writes),
                    manager: holding(|r| r.manages),
                    protected: self
                        .shape
                        .roles()
                        .filter(|r| self.shape.rights_of(*r).protected)
                        .collect(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{DH, PLATFORM};
    use super::*;

    #[test]
    fn a_malformed_or_foreign_context_leaves_no_effective_tenant() {
        let rights = Rights {
            uid: Some(Id::from_u128(9)),
            member: BTreeSet::from([DH]),
            ..Rights::default()
        };
        assert_eq!(rights.effective(&Context::Empty), BTreeSet::from([DH]));
        assert_eq!(rights.effective(&Context::Tenant(DH)), BTreeSet::from([DH]));
        assert!(rights.effective(&Context::Tenant(PLATFORM)).is_empty());
        assert!(rights.effective(&Context::Malformed).is_empty());
    }
}
