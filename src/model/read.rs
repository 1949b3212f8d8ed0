//! Reads: which rows each principal sees with SELECT on every table and derived
//! object, and the two kinds of function that take a tenant id (the context function,
//! and the functions that list what a tenant may read), which share one guard.
//!
//! The tenancy tables and the audit trail ignore the context (`M(u)` and `W(u)`
//! decide), so their readers take no `Context`; only the resource tables do.

use std::collections::BTreeSet;

use super::{AuditRow, Context, Denial, Id, Mode, Outcome, Principal, Table, World};

impl World {
    /// The ids of `table` that the principal sees with SELECT under `ctx`.
    pub fn readable(&self, who: &Principal, ctx: &Context, table: Table) -> BTreeSet<Id> {
        let rights = self.rights(who);
        self.resources_of(table)
            .filter(|r| rights.reads(ctx, r))
            .map(|r| r.id)
            .collect()
    }

    /// The tenants table: `P(u)`, the tenant is in `M(u)`, or `u` is its primary owner,
    /// whatever the context.
    pub fn readable_tenants(&self, who: &Principal) -> BTreeSet<Id> {
        let rights = self.rights(who);
        self.tenants
            .iter()
            .filter(|t| {
                rights.bypass_rls
                    || rights.admin
                    || rights.member.contains(&t.id)
                    || (rights.uid.is_some() && t.primary_owner == rights.uid)
            })
            .map(|t| t.id)
            .collect()
    }

    /// Memberships as `(user, tenant)`: `P(u)`, `u`'s own rows, and every row of a
    /// tenant `u` manages (or, where teammates read each other, of every tenant of `u`).
    pub fn readable_memberships(&self, who: &Principal) -> BTreeSet<(Id, Id)> {
        let rights = self.rights(who);
        self.memberships()
            .into_iter()
            .filter(|(user, tenant)| {
                rights.bypass_rls
                    || rights.admin
                    || rights.uid == Some(*user)
                    || rights.manager.contains(tenant)
                    || (self.shape.memberships.teammates_read && rights.member.contains(tenant))
            })
            .collect()
    }

    /// The users whose platform-admin row the principal sees: all of them for `P(u)`,
    /// else its own.
    pub fn readable_admins(&self, who: &Principal) -> BTreeSet<Id> {
        let rights = self.rights(who);
        self.admins()
            .into_iter()
            .filter(|user| rights.bypass_rls || rights.admin || rights.uid == Some(*user))
            .collect()
    }

    /// The audit trail, in insertion order: `P(u)`, or the row's tenant is in `W(u)`.
    /// A row without tenant is for platform admins only.
    pub fn readable_audit(&self, who: &Principal) -> Vec<AuditRow> {
        let rights = self.rights(who);
        self.audit
            .iter()
            .filter(|a| {
                rights.bypass_rls
                    || rights.admin
                    || a.tenant.is_some_and(|t| rights.writer.contains(&t))
            })
            .cloned()
            .collect()
    }

    /// The view of shared resources: the `global` rows of every resource table, kept
    /// fresh by the triggers. `anon` has no grant on it.
    ///
    /// Claims without `sub` get the empty set, not a privilege error: their role,
    /// `authenticated`, has the grant, but the access model treats them like anon, and
    /// containment says every row of the view must be readable through its base table,
    /// where they read nothing. (A materialized view has no row security; the first
    /// version of migration 3 let such sessions read every global row through it.)
    pub fn shared_view(&self, who: &Principal) -> Result<BTreeSet<(Table, Id)>, Outcome> {
        match who {
            Principal::Anon => Err(Outcome::Denied(Denial::Privilege)),
            Principal::NoSub => Ok(BTreeSet::new()),
            Principal::User(_) | Principal::ServiceRole | Principal::Owner => Ok(self
                .resources
                .iter()
                .filter(|r| r.mode == Mode::Global)
                .map(|r| (r.table, r.id))
                .collect()),
        }
    }

    /// The list function of `table` called with `tenant`: after the guard, the rows
    /// tenant `tenant` may read (its own, global, selective naming it), whoever the
    /// caller is: the function is SECURITY DEFINER and reads past row security.
    pub fn accessible(
        &self,
        who: &Principal,
        table: Table,
        tenant: Id,
    ) -> Result<BTreeSet<Id>, Outcome> {
        self.tenant_guard(who, tenant)?;
        Ok(self
            .resources_of(table)
            .filter(|r| {
                r.tenant == Some(tenant)
                    || r.mode == Mode::Global
                    || (r.mode == Mode::Selective && r.shared_with.contains(&tenant))
            })
            .map(|r| r.id)
            .collect())
    }

    /// A call of the context function with `tenant`: one row on success.
    pub fn set_context(&self, who: &Principal, tenant: Id) -> Outcome {
        match self.tenant_guard(who, tenant) {
            Ok(()) => Outcome::Done(1),
            Err(refused) => refused,
        }
    }

    /// The tenant guard: service_role passes; no `sub` is "not authenticated"; then
    /// `P(u)` or `tenant ∈ M(u)`, else "no access to tenant". The tenant need not exist
    /// for those who pass.
    pub(super) fn tenant_guard(&self, who: &Principal, tenant: Id) -> Result<(), Outcome> {
        let rights = self.rights(who);
        if rights.bypass_rls
            || rights.admin
            || (rights.uid.is_some() && rights.member.contains(&tenant))
        {
            Ok(())
        } else {
            Err(Outcome::Denied(Denial::Guard))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    fn agents(world: &World, who: &Principal, ctx: Context) -> BTreeSet<Id> {
        world.readable(who, &ctx, AGENTS)
    }

    fn seed_agents(world: &World) -> BTreeSet<Id> {
        world
            .resources_of(AGENTS)
            .filter(|r| r.mode == Mode::Global)
            .map(|r| r.id)
            .collect()
    }

    fn with(base: &BTreeSet<Id>, extra: &[Id]) -> BTreeSet<Id> {
        base.iter().chain(extra).copied().collect()
    }

    #[test]
    fn global_rows_are_read_by_every_user_in_any_context() {
        let world = world();
        let globals = seed_agents(&world);
        assert_eq!(globals.len(), 3);
        for ctx in [Context::Empty, Context::Tenant(NORTH), Context::Malformed] {
            assert_eq!(agents(&world, &user("eve"), ctx), globals);
            assert!(agents(&world, &user("carol"), ctx).is_superset(&globals));
        }
        // A sub that names no user at all still reads the global rows.
        assert_eq!(
            agents(&world, &Principal::User(NOWHERE), Context::Empty),
            globals
        );
    }

    #[test]
    fn private_and_selective_rows_follow_the_effective_tenants() {
        let world = world();
        let globals = seed_agents(&world);
        // carol (DH member): DH's rows; not north's private row.
        assert_eq!(
            agents(&world, &user("carol"), Context::Empty),
            with(&globals, &[DH_PRIVATE, DH_SELECTIVE])
        );
        // vic (north viewer): the DH row shared with north, not DH's private one.
        assert_eq!(
            agents(&world, &user("vic"), Context::Empty),
            with(&globals, &[DH_SELECTIVE, NORTH_PRIVATE])
        );
        // bob, member of both: the context narrows E(u) to north; the selective row
        // stays readable as shared with north, the DH private one goes.
        assert_eq!(
            agents(&world, &user("bob"), Context::Tenant(NORTH)),
            with(&globals, &[DH_SELECTIVE, NORTH_PRIVATE])
        );
        assert_eq!(
            agents(&world, &user("bob"), Context::Tenant(DH)),
            with(&globals, &[DH_PRIVATE, DH_SELECTIVE])
        );
        // shared_with naming a tenant that does not exist gives nothing to anyone else.
        assert_eq!(
            agents(&world, &user("dave"), Context::Tenant(PLATFORM)),
            globals
        );
    }

    #[test]
    fn forged_and_malformed_contexts_grant_nothing() {
        let world = world();
        let globals = seed_agents(&world);
        // carol forges north (set_config directly): not even her own DH rows remain.
        assert_eq!(
            agents(&world, &user("carol"), Context::Tenant(NORTH)),
            globals
        );
        assert_eq!(agents(&world, &user("carol"), Context::Malformed), globals);
        // ... and set_tenant_context refuses to store it in the first place.
        assert_eq!(
            world.set_context(&user("carol"), NORTH),
            Outcome::Denied(Denial::Guard)
        );
        assert_eq!(world.set_context(&user("carol"), DH), Outcome::Done(1));
    }

    #[test]
    fn platform_admins_and_service_role_read_every_row() {
        let world = world();
        let all: BTreeSet<Id> = world.resources_of(AGENTS).map(|r| r.id).collect();
        for who in [user("ada"), Principal::ServiceRole] {
            for ctx in [Context::Empty, Context::Tenant(NORTH), Context::Malformed] {
                assert_eq!(agents(&world, &who, ctx), all);
            }
            assert_eq!(world.readable_tenants(&who), world.tenant_ids());
            assert_eq!(world.readable_memberships(&who), world.memberships());
            assert_eq!(world.readable_audit(&who), world.audit);
            assert_eq!(world.set_context(&who, NOWHERE), Outcome::Done(1));
        }
    }

    #[test]
    fn anon_and_claims_without_sub_read_nothing() {
        let world = world();
        for who in [Principal::Anon, Principal::NoSub] {
            for table in world.shape.tables() {
                assert!(world.readable(&who, &Context::Empty, table).is_empty());
            }
            assert!(world.readable_tenants(&who).is_empty());
            assert!(world.readable_memberships(&who).is_empty());
            assert!(world.readable_admins(&who).is_empty());
            assert!(world.readable_audit(&who).is_empty());
            assert_eq!(world.set_context(&who, DH), Outcome::Denied(Denial::Guard));
            assert_eq!(
                world.accessible(&who, TOOLS, DH),
                Err(Outcome::Denied(Denial::Guard))
            );
        }
        assert_eq!(
            world.shared_view(&Principal::Anon),
            Err(Outcome::Denied(Denial::Privilege))
        );
        assert_eq!(world.shared_view(&Principal::NoSub), Ok(BTreeSet::new()));
        assert_eq!(world.shared_view(&user("eve")).unwrap().len(), 8);
    }

    #[test]
    fn tenancy_rows_follow_membership_and_writer_roles() {
        let world = world();
        // bob, DH admin: all of DH's memberships, and his own north row, not vic's.
        let bob = world.readable_memberships(&user("bob"));
        assert!(bob.contains(&(id("dave"), DH)) && bob.contains(&(id("bob"), NORTH)));
        assert!(!bob.contains(&(id("vic"), NORTH)) && !bob.contains(&(id("dave"), PLATFORM)));
        assert_eq!(
            world.readable_memberships(&user("carol")),
            BTreeSet::from([(id("carol"), DH)])
        );
        // Tenants ignore the context: bob lists both of his tenants.
        assert_eq!(
            world.readable_tenants(&user("bob")),
            BTreeSet::from([DH, NORTH])
        );
        assert!(world.readable_tenants(&user("eve")).is_empty());
        assert_eq!(
            world.readable_admins(&user("ada")),
            BTreeSet::from([id("ada")])
        );
        assert!(world.readable_admins(&user("bob")).is_empty());
        // The audit trail: writers of the row's tenant; dave owns the platform.
        assert_eq!(world.readable_audit(&user("dave")).len(), 8);
        assert!(world.readable_audit(&user("bob")).is_empty());
        assert!(world.readable_audit(&user("carol")).is_empty());
    }

    #[test]
    fn get_accessible_checks_the_caller_and_answers_for_the_tenant() {
        let world = world();
        let globals = seed_agents(&world);
        assert_eq!(
            world.accessible(&user("carol"), AGENTS, NORTH),
            Err(Outcome::Denied(Denial::Guard))
        );
        assert_eq!(
            world.accessible(&user("carol"), AGENTS, DH),
            Ok(with(&globals, &[DH_PRIVATE, DH_SELECTIVE]))
        );
        // ada may ask for any tenant, even one that does not exist: north's view, not hers.
        assert_eq!(
            world.accessible(&user("ada"), AGENTS, NORTH),
            Ok(with(&globals, &[DH_SELECTIVE, NORTH_PRIVATE]))
        );
        assert_eq!(
            world.accessible(&Principal::ServiceRole, AGENTS, NOWHERE),
            Ok(with(&globals, &[DH_SELECTIVE]))
        );
        assert_eq!(
            world.accessible(&user("vic"), TOOLS, NORTH).unwrap().len(),
            3
        );
    }
}
