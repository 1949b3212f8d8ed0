//! Which invariant of the access model a mismatch breaks, by the names of its last
//! table (see `rule::Invariant`), so that the property tester
//! reports a difference between the database and the model under the promise it
//! breaks, not merely as "the rows differ".
//!
//! The most specific cause wins: anon and sub-less sessions first, then platform
//! admins, then the object or operation.

use super::{Context, Id, Mode, Object, Op, Principal, Table, World};
use crate::rule::Invariant;

/// The invariant a wrong read of `object` (a table, the view of shared resources, a
/// list function or the context function) by `who` breaks. For a resource table read
/// by a user this is the coarse `private-hiding`; [`World::invariant_of_row`] names the
/// invariant of one row.
pub fn invariant_of_read(object: Object, who: &Principal) -> Invariant {
    match (who, object) {
        (Principal::Anon | Principal::NoSub, _) => Invariant::AnonDenied,
        (_, Object::SharedView | Object::Lists(_)) => Invariant::DerivedContainment,
        (_, Object::SetContext) => Invariant::FunctionGuard,
        (_, Object::Audit) => Invariant::AuditTrail,
        (Principal::ServiceRole, _) => Invariant::PlatformAdminOverride,
        _ => Invariant::PrivateHiding,
    }
}

/// The invariant a wrong prediction of `op` by `who` breaks: writes to resources and
/// members of others are `write-isolation`; anything that could raise the caller's own
/// rights, give out a protected role or touch one is `no-escalation`; a function acting
/// on someone else is `function-guard`.
pub fn invariant_of_op(op: &Op, who: &Principal, world: &World) -> Invariant {
    let rights = world.rights(who);
    if rights.uid.is_none() && !rights.bypass_rls {
        return Invariant::AnonDenied;
    }
    if rights.admin {
        return Invariant::PlatformAdminOverride;
    }
    let own = |user: &Id| rights.uid == Some(*user);
    let protected = |role: &super::Role| rights.protected.contains(role);
    match op {
        Op::Insert(_)
        | Op::Update { .. }
        | Op::Delete { .. }
        | Op::InsertTenant { .. }
        | Op::RenameTenant { .. }
        | Op::DeleteTenant { .. } => Invariant::WriteIsolation,
        Op::AddMember { user, tenant, role } | Op::SetRole { user, tenant, role } => {
            let owner =
                protected(role) || world.role_of(*user, *tenant).is_some_and(|r| protected(&r));
            if own(user) || owner {
                Invariant::NoEscalation
            } else {
                Invariant::WriteIsolation
            }
        }
        Op::RemoveMember { user, tenant } => {
            if own(user) || world.role_of(*user, *tenant).is_some_and(|r| protected(&r)) {
                Invariant::NoEscalation
            } else {
                Invariant::WriteIsolation
            }
        }
        Op::AddAdmin { .. } => Invariant::NoEscalation,
        Op::RemoveAdmin { user } => {
            if own(user) {
                Invariant::NoEscalation
            } else {
                Invariant::WriteIsolation
            }
        }
        Op::GrantAdmin { user } | Op::Assign { user, .. } => {
            if own(user) {
                Invariant::NoEscalation
            } else {
                Invariant::FunctionGuard
            }
        }
    }
}

/// The invariant a wrong prediction of `op` by `who` under `ctx` breaks: as
/// [`invariant_of_op`], except that a plain user's resource write under a context
/// naming none of its tenants is `context-forgery`, because the context is what the
/// write tried to abuse.
pub fn invariant_of_write(world: &World, who: &Principal, ctx: &Context, op: &Op) -> Invariant {
    let rights = world.rights(who);
    let forged = match ctx {
        Context::Empty => false,
        Context::Tenant(tenant) => !rights.member.contains(tenant),
        Context::Malformed => true,
    };
    let resource = matches!(op, Op::Insert(_) | Op::Update { .. } | Op::Delete { .. });
    if forged && resource && rights.uid.is_some() && !rights.admin {
        Invariant::ContextForgery
    } else {
        invariant_of_op(op, who, world)
    }
}

impl World {
    /// The invariant a wrong answer about one row of `table` breaks, read by `who`
    /// under `ctx`: the row's sharing mode decides, unless the caller is anon-like, a
    /// platform admin, or reads under a context that names none of its tenants.
    /// A row the model does not know at all is a private row that leaked.
    pub fn invariant_of_row(
        &self,
        who: &Principal,
        ctx: &Context,
        table: Table,
        id: Id,
    ) -> Invariant {
        let rights = self.rights(who);
        if rights.uid.is_none() && !rights.bypass_rls {
            return Invariant::AnonDenied;
        }
        if rights.bypass_rls || rights.admin {
            return Invariant::PlatformAdminOverride;
        }
        let forged = match ctx {
            Context::Empty => false,
            Context::Tenant(t) => !rights.member.contains(t),
            Context::Malformed => true,
        };
        match self.resource(table, id).map(|r| r.mode) {
            Some(Mode::Global) => Invariant::GlobalVisibility,
            _ if forged => Invariant::ContextForgery,
            Some(Mode::Selective) => Invariant::SelectiveSharing,
            Some(Mode::Private) | None => Invariant::PrivateHiding,
        }
    }

    /// The invariant a wrong answer of a list function called with `tenant` breaks: the
    /// guard's when the caller may not name `tenant`, containment otherwise.
    pub fn invariant_of_accessible(&self, who: &Principal, tenant: Id) -> Invariant {
        match self.tenant_guard(who, tenant) {
            Err(_) => Invariant::FunctionGuard,
            Ok(()) if matches!(who, Principal::NoSub) => Invariant::AnonDenied,
            Ok(()) => Invariant::DerivedContainment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::{Kind, Resource};
    use super::*;

    #[test]
    fn names_are_those_of_the_access_model() {
        let world = world();
        let mut names = vec![
            invariant_of_read(Object::Resource(AGENTS), &Principal::Anon),
            invariant_of_read(Object::SharedView, &user("eve")),
            invariant_of_read(Object::Lists(TOOLS), &user("eve")),
            invariant_of_read(Object::Audit, &user("bob")),
            invariant_of_read(Object::SetContext, &user("bob")),
            world.invariant_of_row(&user("eve"), &Context::Empty, AGENTS, SEED_AGENT),
            world.invariant_of_row(&user("vic"), &Context::Empty, AGENTS, DH_SELECTIVE),
            world.invariant_of_row(&user("carol"), &Context::Tenant(NORTH), AGENTS, DH_PRIVATE),
            world.invariant_of_row(&user("vic"), &Context::Empty, AGENTS, DH_PRIVATE),
            world.invariant_of_row(&user("ada"), &Context::Empty, AGENTS, DH_PRIVATE),
        ];
        let promote = Op::SetRole {
            user: id("carol"),
            tenant: DH,
            role: OWNER,
        };
        let insert = Op::Insert(Resource {
            kind: Kind::Custom,
            ..world.resource(AGENTS, DH_PRIVATE).unwrap().clone()
        });
        names.extend([
            invariant_of_op(&promote, &user("bob"), &world),
            invariant_of_op(&insert, &user("bob"), &world),
            invariant_of_op(&Op::GrantAdmin { user: id("eve") }, &user("bob"), &world),
            invariant_of_op(&insert, &Principal::NoSub, &world),
        ]);
        let names: Vec<&str> = names.iter().map(Invariant::name).collect();
        assert_eq!(
            names,
            [
                "anon-denied",
                "derived-containment",
                "derived-containment",
                "audit-trail",
                "function-guard",
                "global-visibility",
                "selective-sharing",
                "context-forgery",
                "private-hiding",
                "platform-admin-override",
                "no-escalation",
                "write-isolation",
                "function-guard",
                "anon-denied",
            ]
        );

        assert_eq!(
            world.invariant_of_accessible(&user("carol"), NORTH),
            "function-guard"
        );
        assert_eq!(
            world.invariant_of_accessible(&user("carol"), DH),
            "derived-containment"
        );
    }
}
