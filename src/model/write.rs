//! Writes: what Postgres answers to each [`Op`], and how a successful one changes the
//! world, audit rows included.
//!
//! The order of the checks is Postgres's own, verified on a scratch database: a
//! `USING` that hides the row first (0 rows, no error), then `WITH CHECK` (42501),
//! then check constraints (23514), then unique indexes (23505), then foreign keys
//! (23503, fired after the row). So a writer who inserts an id that exists in another
//! tenant gets 23505, not a policy denial; a non-writer never reaches the constraints.
//! Functions follow their own SQL: guard, then argument checks, then permission.

use super::world::Rights;
use super::{AuditAction, AuditRow, Context, Denial, Id, Op, Outcome, Principal, Resource, Role};
use super::{Creators, Editors, Tenant, World};

/// Which write of a membership row is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Add,
    Role,
    Remove,
}

const UNIQUE: Outcome = Outcome::SqlState("23505");
const FOREIGN_KEY: Outcome = Outcome::SqlState("23503");
const BAD_PARAMETER: Outcome = Outcome::SqlState("22023");
const POLICY: Outcome = Outcome::Denied(Denial::Policy);
const GUARD: Outcome = Outcome::Denied(Denial::Guard);

impl World {
    /// What the database answers to `op`, without changing the world.
    pub fn outcome(&self, who: &Principal, ctx: &Context, op: &Op) -> Outcome {
        let rights = self.rights(who);
        match op {
            Op::Insert(new) => self.insert_resource(&rights, ctx, new),
            Op::Update { id, new } => self.update_resource(&rights, ctx, *id, new),
            Op::Delete { table, id } => match self.resource(*table, *id) {
                Some(old) if rights.may_delete(ctx, old) => Outcome::Done(1),
                _ => Outcome::Done(0),
            },
            Op::AddMember { user, tenant, role } => {
                if !self.may_write_membership(&rights, Change::Add, *user, *tenant, *role) {
                    POLICY
                } else if self.role_of(*user, *tenant).is_some() {
                    UNIQUE
                } else if self.user(*user).is_none() || self.tenant(*tenant).is_none() {
                    FOREIGN_KEY
                } else {
                    Outcome::Done(1)
                }
            }
            Op::SetRole { user, tenant, role } => match self.role_of(*user, *tenant) {
                Some(old)
                    if self.may_write_membership(&rights, Change::Role, *user, *tenant, old) =>
                {
                    if self.may_write_membership(&rights, Change::Role, *user, *tenant, *role) {
                        Outcome::Done(1)
                    } else {
                        POLICY
                    }
                }
                _ => Outcome::Done(0),
            },
            Op::RemoveMember { user, tenant } => match self.role_of(*user, *tenant) {
                Some(old)
                    if self.may_write_membership(&rights, Change::Remove, *user, *tenant, old) =>
                {
                    Outcome::Done(1)
                }
                _ => Outcome::Done(0),
            },
            Op::GrantAdmin { user } => {
                // Guard before the argument check; ON CONFLICT DO NOTHING for an admin.
                if !(rights.bypass_rls || (rights.uid.is_some() && rights.admin)) {
                    GUARD
                } else if self.user(*user).is_none() {
                    FOREIGN_KEY
                } else {
                    Outcome::Done(1)
                }
            }
            Op::AddAdmin { user } => {
                if !(rights.bypass_rls || rights.admin) {
                    POLICY
                } else if self.user(*user).is_some_and(|u| u.admin) {
                    UNIQUE
                } else if self.user(*user).is_none() {
                    FOREIGN_KEY
                } else {
                    Outcome::Done(1)
                }
            }
            Op::Assign { user, role } => self.assign(&rights, *user, *role),
            Op::InsertTenant { id, slug, owner } => {
                let creator = match self.shape.creators {
                    Creators::PlatformAdmins => false,
                    Creators::SignedIn => rights.uid.is_some(),
                };
                if !(rights.bypass_rls || rights.admin || creator) {
                    POLICY
                } else if self.tenants.iter().any(|t| t.id == *id || t.slug == *slug) {
                    UNIQUE
                } else if self.shape.primary_owner && owner.is_none_or(|o| self.user(o).is_none()) {
                    FOREIGN_KEY
                } else {
                    Outcome::Done(1)
                }
            }
            // Only those who may edit the row pass USING; for anyone else it is not there.
            Op::RenameTenant { id, .. } => {
                let editor = match self.shape.editors {
                    Editors::PlatformAdmins => false,
                    Editors::Writers => rights.writer.contains(id),
                };
                let admin = rights.bypass_rls || rights.admin || editor;
                Outcome::Done(u64::from(admin && self.tenant(*id).is_some()))
            }
            Op::DeleteTenant { id } => {
                if !(rights.bypass_rls || rights.admin) || self.tenant(*id).is_none() {
                    Outcome::Done(0)
                } else if self.resources.iter().any(|r| r.tenant == Some(*id)) {
                    // The resources' tenant_id has no ON DELETE action; memberships cascade.
                    FOREIGN_KEY
                } else {
                    Outcome::Done(1)
                }
            }
            Op::RemoveAdmin { user } => {
                let admin = rights.bypass_rls || rights.admin;
                let has_row = self.user(*user).is_some_and(|u| u.admin);
                Outcome::Done(u64::from(admin && has_row))
            }
        }
    }

    /// Predicts `op`, and when it succeeds changes the world as the database would,
    /// appending the rows the audit trigger writes.
    pub fn apply(&mut self, who: &Principal, ctx: &Context, op: &Op) -> Outcome {
        let outcome = self.outcome(who, ctx, op);
        if matches!(outcome, Outcome::Done(n) if n > 0) {
            // The trigger's actor: auth.uid(), NULL for the BYPASSRLS service_role.
            let actor = self.rights(who).uid;
            self.perform(actor, op);
        }
        outcome
    }

    fn insert_resource(&self, rights: &Rights, ctx: &Context, new: &Resource) -> Outcome {
        if !rights.may_insert(ctx, new) {
            POLICY
        } else if self.resource(new.table, new.id).is_some() {
            UNIQUE
        } else if new.tenant.is_some_and(|t| self.tenant(t).is_none()) {
            FOREIGN_KEY
        } else {
            Outcome::Done(1)
        }
    }

    /// The old row must pass the delete rule (else it is not touched), the new row the
    /// insert rule (else 42501).
    fn update_resource(&self, rights: &Rights, ctx: &Context, id: Id, new: &Resource) -> Outcome {
        let Some(old) = self.resource(new.table, id) else {
            return Outcome::Done(0);
        };
        if !rights.may_delete(ctx, old) {
            Outcome::Done(0)
        } else if !rights.may_insert(ctx, new) {
            POLICY
        } else if new.id != id && self.resource(new.table, new.id).is_some() {
            UNIQUE
        } else if new.tenant.is_some_and(|t| self.tenant(t).is_none()) {
            FOREIGN_KEY
        } else {
            Outcome::Done(1)
        }
    }

    /// The assign function, in the order of VITAL's SQL (`assign_user_to_dh_startup`):
    /// no `sub` → 42501; a role it does not assign → 22023; then the caller must be
    /// privileged, a platform admin, or allowed to write that membership row (a manager
    /// of the tenant, not about itself, not about a protected role) → else 42501.
    fn assign(&self, rights: &Rights, user: Id, role: Role) -> Outcome {
        let Some(assign) = &self.shape.assign else {
            return GUARD;
        };
        if !rights.bypass_rls && rights.uid.is_none() {
            return GUARD;
        }
        if !assign.roles.contains(&role) {
            return BAD_PARAMETER;
        }
        let tenant = assign.tenant;
        let manager = rights.manager.contains(&tenant)
            && rights.uid != Some(user)
            && self
                .role_of(user, tenant)
                .is_none_or(|old| !rights.protected.contains(&old));
        if !(rights.bypass_rls || rights.admin || manager) {
            GUARD
        } else if self.user(user).is_none() || self.tenant(tenant).is_none() {
            FOREIGN_KEY
        } else {
            Outcome::Done(1)
        }
    }

    /// The write rule of memberships, for one (old or new) row: a platform admin, or a
    /// manager of the tenant making a change the tenancy lets managers make, on another
    /// member's row (or its own, where the tenancy allows), never about a protected
    /// role nor the tenant's primary owner (whose own role only it changes).
    fn may_write_membership(
        &self,
        rights: &Rights,
        change: Change,
        user: Id,
        tenant: Id,
        role: Role,
    ) -> bool {
        let rules = &self.shape.memberships;
        let allowed = match change {
            Change::Add => rules.add,
            Change::Role => rules.change,
            Change::Remove => rules.remove,
        };
        // Nobody removes a tenant's primary owner or changes its role, but the primary
        // owner itself may change its own role where members write their own rows.
        let primary_owner = self
            .tenant(tenant)
            .is_some_and(|t| t.primary_owner == Some(user))
            && !(change == Change::Role && rights.uid == Some(user));
        rights.bypass_rls
            || rights.admin
            || (allowed
                && rights.manager.contains(&tenant)
                && (rules.own || rights.uid != Some(user))
                && !rights.protected.contains(&role)
                && !primary_owner)
    }

    /// Changes the world for an `op` already judged successful.
    fn perform(&mut self, actor: Option<Id>, op: &Op) {
        match op {
            Op::Insert(new) => {
                self.resources.push(new.clone());
                self.audit_row(actor, new, AuditAction::Insert);
            }
            Op::Update { id, new } => {
                let Some(old) = self
                    .resources
                    .iter_mut()
                    .find(|r| r.table == new.table && r.id == *id)
                else {
                    return;
                };
                // is_shared follows the mode, so these three cover the trigger's four.
                let changed = old.tenant != new.tenant
                    || old.mode != new.mode
                    || old.shared_with != new.shared_with;
                *old = new.clone();
                if changed {
                    self.audit_row(actor, new, AuditAction::Update);
                }
            }
            Op::Delete { table, id } => {
                if let Some(at) = self
                    .resources
                    .iter()
                    .position(|r| r.table == *table && r.id == *id)
                {
                    let old = self.resources.remove(at);
                    self.audit_row(actor, &old, AuditAction::Delete);
                }
            }
            Op::AddMember { user, tenant, role } | Op::SetRole { user, tenant, role } => {
                self.set_membership(*user, *tenant, Some(*role));
            }
            Op::RemoveMember { user, tenant } => self.set_membership(*user, *tenant, None),
            Op::GrantAdmin { user } | Op::AddAdmin { user } => {
                if let Some(u) = self.user_mut(*user) {
                    u.admin = true;
                }
            }
            Op::Assign { user, role } => {
                if let Some(assign) = &self.shape.assign {
                    self.set_membership(*user, assign.tenant, Some(*role));
                }
            }
            Op::InsertTenant { id, slug, owner } => {
                self.tenants.push(Tenant {
                    id: *id,
                    slug: slug.clone(),
                    primary_owner: owner.filter(|_| self.shape.primary_owner),
                    personal: false,
                });
                // A signed-in creator joins its new tenant with the highest role.
                if self.shape.creators == Creators::SignedIn {
                    if let Some(creator) = actor.filter(|a| *owner == Some(*a)) {
                        self.set_membership(creator, *id, Some(Role(0)));
                    }
                }
            }
            // The model keeps no tenant names.
            Op::RenameTenant { .. } => {}
            Op::DeleteTenant { id } => {
                self.tenants.retain(|t| t.id != *id);
                for user in &mut self.users {
                    user.memberships.remove(id);
                }
            }
            Op::RemoveAdmin { user } => {
                if let Some(u) = self.user_mut(*user) {
                    u.admin = false;
                }
            }
        }
    }

    fn set_membership(&mut self, user: Id, tenant: Id, role: Option<Role>) {
        if let Some(u) = self.user_mut(user) {
            match role {
                Some(role) => u.memberships.insert(tenant, role),
                None => u.memberships.remove(&tenant),
            };
        }
    }

    /// `tenant` is the row's tenant after the change: `r` is the new row, or the old
    /// one for a delete.
    fn audit_row(&mut self, actor: Option<Id>, r: &Resource, action: AuditAction) {
        self.audit.push(AuditRow {
            table: r.table,
            resource: r.id,
            action,
            actor,
            tenant: r.tenant,
        });
    }
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "write_tenancy_tests.rs"]
mod tenancy_tests;
