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

pub(super) use crate::plan::{DH_STARTUP_TENANT, PLATFORM_TENANT};

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
    /// Exactly what the four migrations leave: the two tenants, the three legacy agents
    /// made global platform resources, three tools and two prompts, no user, and the
    /// audit rows of migration 4's own writes (it runs after migration 3 created the
    /// trigger; the owner is the actor, so `actor` is NULL).
    pub fn seeded() -> World {
        let agent = |n: u128, name: &str| {
            seed(
                Table::Agents,
                0xa000_0000_0000_4000_8000_0000_0000_0000 + n,
                name,
            )
        };
        let tool = |n: u128, name: &str| {
            seed(
                Table::Tools,
                0xb000_0000_0000_4000_8000_0000_0000_0000 + n,
                name,
            )
        };
        let prompt = |n: u128, name: &str| {
            seed(
                Table::Prompts,
                0xc000_0000_0000_4000_8000_0000_0000_0000 + n,
                name,
            )
        };
        let resources = vec![
            agent(1, "Dr. Sarah Chen"),
            agent(2, "Dr. Marcus Webb"),
            agent(3, "Dr. Priya Raman"),
            tool(1, "PubMed Search"),
            tool(2, "FDA Device Lookup"),
            tool(3, "Clinical Calculator"),
            prompt(1, "Clinical Evidence Summary"),
            prompt(2, "Regulatory Pathway Assessment"),
        ];
        // The agents existed before the trigger and were updated into the platform
        // tenant (tenant, mode, shared all change); tools and prompts were inserted.
        let audit = resources
            .iter()
            .map(|r| AuditRow {
                table: r.table,
                resource: r.id,
                action: if r.table == Table::Agents {
                    AuditAction::Update
                } else {
                    AuditAction::Insert
                },
                actor: None,
                tenant: Some(PLATFORM_TENANT),
            })
            .collect();
        World {
            tenants: vec![
                Tenant {
                    id: PLATFORM_TENANT,
                    slug: "vital-platform".into(),
                },
                Tenant {
                    id: DH_STARTUP_TENANT,
                    slug: "digital-health-startup".into(),
                },
            ],
            users: Vec::new(),
            resources,
            audit,
        }
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

fn seed(table: Table, id: u128, name: &str) -> Resource {
    Resource {
        table,
        id: Id::from_u128(id),
        tenant: Some(PLATFORM_TENANT),
        name: name.into(),
        mode: Mode::Global,
        shared_with: Vec::new(),
        kind: Kind::Platform,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_world_is_what_the_migrations_leave() {
        let world = World::seeded();
        assert_eq!(
            world.tenant_ids(),
            BTreeSet::from([PLATFORM_TENANT, DH_STARTUP_TENANT])
        );
        let count = |t| world.resources_of(t).count();
        assert_eq!(
            Table::ALL.map(count),
            [3, 3, 2, 0],
            "agents, tools, prompts, workflows"
        );
        let sarah = world
            .resource(
                Table::Agents,
                "a0000000-0000-4000-8000-000000000001".parse().unwrap(),
            )
            .unwrap();
        assert_eq!(sarah.name, "Dr. Sarah Chen");
        assert_eq!(
            (sarah.mode, sarah.kind, sarah.tenant),
            (Mode::Global, Kind::Platform, Some(PLATFORM_TENANT))
        );
        // Read back from a freshly migrated database: ids 1-3 update agents, 4-8 insert.
        let actions: Vec<_> = world
            .audit
            .iter()
            .map(|a| (a.table.name(), a.action.name()))
            .collect();
        assert_eq!(
            actions,
            [
                ("agents", "update"),
                ("agents", "update"),
                ("agents", "update"),
                ("tools", "insert"),
                ("tools", "insert"),
                ("tools", "insert"),
                ("prompts", "insert"),
                ("prompts", "insert"),
            ]
        );
        assert!(world
            .audit
            .iter()
            .all(|a| a.actor.is_none() && a.tenant == Some(PLATFORM_TENANT)));
        assert_eq!(
            world.audit[3].resource,
            "b0000000-0000-4000-8000-000000000001"
                .parse::<Id>()
                .unwrap()
        );
    }

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
