//! What a function did to the world, as the writes that would have done it, and
//! whether the caller may make them all itself.
//!
//! A function the API roles call may write on their behalf (a SECURITY DEFINER RPC
//! that changes a member's role, edits an account). Its effect is read as two states
//! of the world, before and after the call; [`World::changes`] turns their difference
//! into [`Op`]s, and [`World::first_forbidden`] holds each against the write rules:
//! what the caller could not do itself, it may not do through a function either. The
//! one allowance is for membership writes: a tenancy may keep some of them off the
//! table (managers change roles only through a function), so a function may make any
//! membership change the membership rules let a manager make.

use std::sync::Arc;

use super::{Context, Op, Outcome, Principal, Shape, World};

impl World {
    /// The writes that turn this world into `after`, in an order they can be made in:
    /// new tenants (with their primary owners), edited tenants, memberships added or
    /// changed, platform admins added, resources inserted, updated and deleted,
    /// memberships and platform admins removed, tenants deleted (their memberships go
    /// with them). Users themselves (`auth.users`) and the audit trail are not writes
    /// of the API.
    pub fn changes(&self, after: &World) -> Vec<Op> {
        let mut ops = Vec::new();
        for tenant in &after.tenants {
            match self.tenant(tenant.id) {
                None => ops.push(Op::InsertTenant {
                    id: tenant.id,
                    slug: tenant.slug.clone(),
                    owner: tenant.primary_owner,
                }),
                Some(old) if old != tenant => ops.push(Op::RenameTenant { id: tenant.id }),
                Some(_) => {}
            }
        }
        let mut removals = Vec::new();
        for user in &after.users {
            let old = self.user(user.id);
            for (tenant, role) in &user.memberships {
                match old.and_then(|u| u.memberships.get(tenant)) {
                    None => ops.push(Op::AddMember {
                        user: user.id,
                        tenant: *tenant,
                        role: *role,
                    }),
                    Some(old) if old != role => ops.push(Op::SetRole {
                        user: user.id,
                        tenant: *tenant,
                        role: *role,
                    }),
                    Some(_) => {}
                }
            }
            if user.admin && !old.is_some_and(|u| u.admin) {
                ops.push(Op::AddAdmin { user: user.id });
            }
        }
        for user in &self.users {
            let now = after.user(user.id);
            for tenant in user.memberships.keys() {
                let tenant_stays = after.tenant(*tenant).is_some();
                if tenant_stays && !now.is_some_and(|u| u.memberships.contains_key(tenant)) {
                    removals.push(Op::RemoveMember {
                        user: user.id,
                        tenant: *tenant,
                    });
                }
            }
            if user.admin && now.is_some_and(|u| !u.admin) {
                removals.push(Op::RemoveAdmin { user: user.id });
            }
        }
        for new in &after.resources {
            match self.resource(new.table, new.id) {
                None => ops.push(Op::Insert(new.clone())),
                Some(old) if old != new => ops.push(Op::Update {
                    id: new.id,
                    new: new.clone(),
                }),
                Some(_) => {}
            }
        }
        for old in &self.resources {
            if after.resource(old.table, old.id).is_none() {
                ops.push(Op::Delete {
                    table: old.table,
                    id: old.id,
                });
            }
        }
        ops.extend(removals);
        for tenant in &self.tenants {
            if after.tenant(tenant.id).is_none() {
                ops.push(Op::DeleteTenant { id: tenant.id });
            }
        }
        ops
    }

    /// The first of `ops` (as [`World::changes`] orders them) that `who` could not make
    /// itself in `ctx`, with what the database would have answered; `None` when it may
    /// make them all. A change an earlier one already made (the creator's membership of
    /// the tenant it opens) is not judged again.
    pub fn first_forbidden(
        &self,
        who: &Principal,
        ctx: &Context,
        ops: &[Op],
    ) -> Option<(Op, Outcome)> {
        let mut world = self.clone();
        let mut shape: Shape = (*world.shape).clone();
        shape.memberships.add = true;
        shape.memberships.change = true;
        shape.memberships.remove = true;
        world.shape = Arc::new(shape);
        for op in ops {
            let made = match op {
                Op::AddMember { user, tenant, role } | Op::SetRole { user, tenant, role } => {
                    world.role_of(*user, *tenant) == Some(*role)
                }
                Op::RemoveMember { user, tenant } => world.role_of(*user, *tenant).is_none(),
                _ => false,
            };
            if made {
                continue;
            }
            match world.apply(who, ctx, op) {
                Outcome::Done(n) if n > 0 => {}
                outcome => return Some((op.clone(), outcome)),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, id, user, DH, NORTH, VIEWER};
    use super::super::Role;
    use super::*;

    /// `world` with `name`'s membership of `tenant` set to `role` (removed for `None`).
    fn with_role(world: &World, name: &str, tenant: crate::model::Id, role: Option<Role>) -> World {
        let mut after = world.clone();
        let member = after.user_mut(id(name)).expect("a fixture user");
        match role {
            Some(role) => member.memberships.insert(tenant, role),
            None => member.memberships.remove(&tenant),
        };
        after
    }

    #[test]
    fn no_change_is_no_write() {
        let world = fixture::world();
        assert!(world.changes(&world.clone()).is_empty());
    }

    /// bob administers DH, carol is a member of it: bob may demote carol through a
    /// function, even where the table itself takes no role changes; carol may not.
    #[test]
    fn a_role_changed_by_a_function_is_judged_as_a_role_change_by_a_manager() {
        let mut world = fixture::world();
        let mut shape = (*world.shape).clone();
        shape.memberships.change = false;
        world.shape = Arc::new(shape);
        let after = with_role(&world, "carol", DH, Some(VIEWER));
        let ops = world.changes(&after);
        let demote = Op::SetRole {
            user: id("carol"),
            tenant: DH,
            role: VIEWER,
        };
        assert_eq!(ops, vec![demote.clone()]);
        assert_eq!(
            world.first_forbidden(&user("bob"), &Context::Empty, &ops),
            None
        );
        let (forbidden, _) = world
            .first_forbidden(&user("carol"), &Context::Empty, &ops)
            .expect("a member does not change roles");
        assert_eq!(forbidden, demote);
    }

    /// bob is a plain member of north: a function that lets him add vic's colleague
    /// there writes what he may not.
    #[test]
    fn a_membership_of_a_tenant_one_does_not_manage_is_forbidden() {
        let world = fixture::world();
        let after = with_role(&world, "carol", NORTH, Some(VIEWER));
        let ops = world.changes(&after);
        assert!(matches!(ops.as_slice(), [Op::AddMember { tenant, .. }] if *tenant == NORTH));
        assert!(world
            .first_forbidden(&user("bob"), &Context::Empty, &ops)
            .is_some());
        assert_eq!(
            world.first_forbidden(&user("ada"), &Context::Empty, &ops),
            None,
            "a platform admin manages every tenant"
        );
    }

    #[test]
    fn a_deleted_row_of_another_tenant_is_forbidden() {
        let world = fixture::world();
        let foreign = world
            .resources
            .iter()
            .find(|r| r.tenant == Some(NORTH))
            .expect("north's private agent")
            .clone();
        let mut after = world.clone();
        after.resources.retain(|r| r.id != foreign.id);
        let ops = world.changes(&after);
        let delete = Op::Delete {
            table: foreign.table,
            id: foreign.id,
        };
        assert_eq!(ops, vec![delete.clone()]);
        assert_eq!(
            world.first_forbidden(&user("dave"), &Context::Empty, &ops),
            Some((delete, Outcome::Done(0)))
        );
    }

    /// A tenant opened by a function brings its creator's membership with it: the
    /// membership is part of the opening, not a second write to judge.
    #[test]
    fn a_tenant_opened_with_its_creator_as_owner_is_one_write() {
        let mut world = fixture::world();
        let mut shape = (*world.shape).clone();
        shape.creators = crate::model::Creators::SignedIn;
        shape.primary_owner = true;
        world.shape = Arc::new(shape);
        let opened = crate::model::Id::from_u128(0xabc);
        let mut after = world.clone();
        after.tenants.push(crate::model::Tenant {
            primary_owner: Some(id("eve")),
            ..crate::model::Tenant::new(opened, "opened".into())
        });
        let after = with_role(&after, "eve", opened, Some(Role(0)));
        let ops = world.changes(&after);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!(
            world.first_forbidden(&user("eve"), &Context::Empty, &ops),
            None
        );
        assert!(
            world
                .first_forbidden(&user("carol"), &Context::Empty, &ops)
                .is_some(),
            "carol may open a tenant, but not make eve its owner"
        );
    }
}
