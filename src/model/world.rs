//! The world's state, the world the migrations leave behind, and the caller's rights
//! in it: the sets `M(u)`, `W(u)`, `P(u)` and `E(u)` of the access model, and the three
//! resource rules (read, insert, delete) written over them.
//!
//! Anon and claims without `sub` get rights like a user with no row anywhere: the
//! resource and tenancy policies are granted `to authenticated` and every helper keys on
//! `auth.uid()`, so both end up with nothing. Only the functions and the materialized
//! view tell them apart (`read` and `write` do).

use std::collections::{BTreeMap, BTreeSet};

use super::{AuditAction, AuditRow, Context, Id, Kind, Mode, Principal, Resource, Role, Table};
use super::{Tenant, User};
use crate::catalog::Seed;

pub(super) use crate::plan::DH_STARTUP_TENANT;

/// Everything the policies depend on: the rows of `tenants`, `auth.users` with their
/// `user_tenants` and `user_roles` rows, the four resource tables and the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct World {
    pub tenants: Vec<Tenant>,
    pub users: Vec<User>,
    pub resources: Vec<Resource>,
    /// In insertion order (`resource_sharing_audit.id`).
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
    pub platform_admin: bool,
    /// `M(u)`.
    pub member: BTreeSet<Id>,
    /// `W(u)`.
    pub writer: BTreeSet<Id>,
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
        self.platform_admin
            || r.tenant.is_some_and(|t| e.contains(&t))
            || r.mode == Mode::Global
            || (r.mode == Mode::Selective && r.shared_with.iter().any(|t| e.contains(t)))
    }

    /// The insert rule, which is also the `WITH CHECK` of an update (the new row).
    /// A NULL tenant never passes (`NULL = any(...)` is not true).
    pub fn may_insert(&self, ctx: &Context, r: &Resource) -> bool {
        self.bypass_rls
            || self.platform_admin
            || (r
                .tenant
                .is_some_and(|t| self.effective_writer(ctx).contains(&t))
                && r.mode != Mode::Global
                && r.kind != Kind::Platform)
    }

    /// The delete rule, which is also the `USING` of an update (the old row).
    pub fn may_delete(&self, ctx: &Context, r: &Resource) -> bool {
        self.bypass_rls
            || self.platform_admin
            || r.tenant
                .is_some_and(|t| self.effective_writer(ctx).contains(&t))
    }

    /// The write rule of `user_tenants`, for one (old or new) row: a platform admin, or
    /// a writer of the tenant, not on its own row, and never about an owner.
    pub fn may_write_membership(&self, user: Id, tenant: Id, role: Role) -> bool {
        self.bypass_rls
            || self.platform_admin
            || (self.writer.contains(&tenant) && self.uid != Some(user) && role != Role::Owner)
    }
}

impl World {
    /// The world the migrations leave behind, from the rows read out of the template:
    /// the seeded tenants, users, resources and audit trail. A value the model does not
    /// know (a sharing mode, a resource type, a table or an audit action outside the
    /// access model) is an error naming it.
    pub fn from_seed(seed: &Seed) -> Result<World, String> {
        let mut world = World {
            tenants: seed
                .tenants
                .iter()
                .map(|(id, slug)| Tenant {
                    id: *id,
                    slug: slug.clone(),
                })
                .collect(),
            ..World::default()
        };
        for user in &seed.users {
            let mut memberships = BTreeMap::new();
            for (tenant, role) in &user.memberships {
                let role = Role::from_name(role).ok_or_else(|| {
                    format!("user {} has the unknown tenant role {role}", user.id)
                })?;
                memberships.insert(*tenant, role);
            }
            world.users.push(User {
                id: user.id,
                name: user.email.split('@').next().unwrap_or_default().to_owned(),
                memberships,
                platform_admin: user.platform_admin,
            });
        }
        let table = |name: &str| {
            Table::from_name(name)
                .ok_or_else(|| format!("{name} is no resource table of the model"))
        };
        for row in &seed.resources {
            world.resources.push(Resource {
                table: table(&row.table)?,
                id: row.id,
                tenant: row.tenant,
                name: row.name.clone(),
                mode: Mode::from_name(&row.mode).ok_or_else(|| {
                    format!(
                        "{} {} has the unknown sharing mode {}",
                        row.table, row.id, row.mode
                    )
                })?,
                shared_with: row.shared_with.clone(),
                kind: Kind::from_name(&row.kind).ok_or_else(|| {
                    format!(
                        "{} {} has the unknown resource type {}",
                        row.table, row.id, row.kind
                    )
                })?,
            });
        }
        for row in &seed.audit {
            world.audit.push(AuditRow {
                table: table(&row.table)?,
                resource: row.resource,
                action: match row.action.as_str() {
                    "insert" => AuditAction::Insert,
                    "update" => AuditAction::Update,
                    "delete" => AuditAction::Delete,
                    other => {
                        return Err(format!("the audit trail holds the unknown action {other}"))
                    }
                },
                actor: row.actor,
                tenant: row.tenant,
            });
        }
        Ok(world)
    }

    pub fn tenant_ids(&self) -> BTreeSet<Id> {
        self.tenants.iter().map(|t| t.id).collect()
    }

    pub fn tenant(&self, id: Id) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }

    pub fn user(&self, id: Id) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(super) fn user_mut(&mut self, id: Id) -> Option<&mut User> {
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

    /// Every `user_tenants` row as `(user, tenant)`.
    pub fn memberships(&self) -> BTreeSet<(Id, Id)> {
        self.membership_rows().map(|(u, t, _)| (u, t)).collect()
    }

    /// Every `user_tenants` row as `(user, tenant, role)`.
    pub fn membership_rows(&self) -> impl Iterator<Item = (Id, Id, Role)> + '_ {
        self.users
            .iter()
            .flat_map(|u| u.memberships.iter().map(move |(t, r)| (u.id, *t, *r)))
    }

    pub fn role_of(&self, user: Id, tenant: Id) -> Option<Role> {
        self.user(user)
            .and_then(|u| u.memberships.get(&tenant).copied())
    }

    /// The users with a `platform_admin` row in `user_roles`.
    pub fn admins(&self) -> BTreeSet<Id> {
        self.users
            .iter()
            .filter(|u| u.platform_admin)
            .map(|u| u.id)
            .collect()
    }

    /// The caller's rights in this world. A `sub` naming no user has no row anywhere.
    pub fn rights(&self, who: &Principal) -> Rights {
        match who {
            Principal::ServiceRole => Rights {
                bypass_rls: true,
                ..Rights::default()
            },
            Principal::Anon | Principal::NoSub => Rights::default(),
            Principal::User(id) => {
                let user = self.user(*id);
                let roles: BTreeMap<Id, Role> =
                    user.map(|u| u.memberships.clone()).unwrap_or_default();
                Rights {
                    bypass_rls: false,
                    uid: Some(*id),
                    platform_admin: user.is_some_and(|u| u.platform_admin),
                    member: roles.keys().copied().collect(),
                    writer: roles
                        .iter()
                        .filter(|(_, r)| r.is_writer())
                        .map(|(t, _)| *t)
                        .collect(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PLATFORM_TENANT;

    #[test]
    fn a_malformed_or_foreign_context_leaves_no_effective_tenant() {
        let rights = Rights {
            uid: Some(Id::from_u128(9)),
            member: BTreeSet::from([DH_STARTUP_TENANT]),
            ..Rights::default()
        };
        assert_eq!(
            rights.effective(&Context::Empty),
            BTreeSet::from([DH_STARTUP_TENANT])
        );
        assert_eq!(
            rights.effective(&Context::Tenant(DH_STARTUP_TENANT)),
            BTreeSet::from([DH_STARTUP_TENANT])
        );
        assert!(rights
            .effective(&Context::Tenant(PLATFORM_TENANT))
            .is_empty());
        assert!(rights.effective(&Context::Malformed).is_empty());
    }
}
