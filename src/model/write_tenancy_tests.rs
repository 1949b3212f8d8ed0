//! Tests of the tenancy writes (`user_tenants`, `user_roles`, `tenants`), the two
//! functions that write them, and of anon-like sessions, each case checked against a
//! scratch database loaded with the fixture world.

use super::super::fixture::*;
use super::super::Mode;
use super::*;

#[test]
fn nobody_escalates_through_memberships_or_roles() {
    let world = world();
    let bob = user("bob");
    let at = |who: &Principal, op: Op| world.outcome(who, &Context::Tenant(NORTH), &op);
    let add = |who: &str, tenant, role| Op::AddMember {
        user: id(who),
        tenant,
        role,
    };
    let set = |who: &str, tenant, role| Op::SetRole {
        user: id(who),
        tenant,
        role,
    };
    assert_eq!(
        at(&bob, add("eve", DH, MEMBER)),
        Outcome::Done(1),
        "context ignored"
    );
    assert_eq!(at(&bob, add("eve", DH, OWNER)), POLICY);
    assert_eq!(at(&bob, add("bob", PLATFORM, ADMIN)), POLICY);
    assert_eq!(at(&bob, add("eve", NORTH, MEMBER)), POLICY);
    assert_eq!(at(&bob, add("carol", DH, VIEWER)), UNIQUE);
    assert_eq!(at(&user("carol"), add("eve", DH, MEMBER)), POLICY);
    assert_eq!(at(&bob, set("carol", DH, ADMIN)), Outcome::Done(1));
    assert_eq!(
        at(&bob, set("carol", DH, MEMBER)),
        Outcome::Done(1),
        "same role"
    );
    assert_eq!(at(&bob, set("carol", DH, OWNER)), POLICY);
    assert_eq!(
        at(&bob, set("dave", DH, ADMIN)),
        Outcome::Done(0),
        "an owner's row"
    );
    assert_eq!(
        at(&bob, set("bob", DH, OWNER)),
        Outcome::Done(0),
        "his own row"
    );
    assert_eq!(
        at(&user("ada"), set("ada", DH, OWNER)),
        Outcome::Done(0),
        "no row"
    );
    let remove = |who: &str| Op::RemoveMember {
        user: id(who),
        tenant: DH,
    };
    assert_eq!(at(&bob, remove("dave")), Outcome::Done(0));
    assert_eq!(at(&bob, remove("bob")), Outcome::Done(0));
    assert_eq!(at(&bob, remove("carol")), Outcome::Done(1));
    // Platform roles.
    assert_eq!(at(&bob, Op::AddAdmin { user: id("bob") }), POLICY);
    assert_eq!(at(&bob, Op::GrantAdmin { user: id("bob") }), GUARD);
    assert_eq!(at(&user("ada"), Op::AddAdmin { user: id("ada") }), UNIQUE);
    assert_eq!(
        at(&user("ada"), Op::AddAdmin { user: NOWHERE }),
        FOREIGN_KEY
    );
    assert_eq!(
        at(&user("ada"), Op::GrantAdmin { user: id("ada") }),
        Outcome::Done(1)
    );
    assert_eq!(
        at(&user("ada"), Op::GrantAdmin { user: NOWHERE }),
        FOREIGN_KEY
    );
    assert_eq!(at(&user("ada"), add("eve", NOWHERE, OWNER)), FOREIGN_KEY);
    assert_eq!(
        at(
            &user("ada"),
            Op::AddMember {
                user: NOWHERE,
                tenant: DH,
                role: VIEWER
            }
        ),
        FOREIGN_KEY
    );
    // Tenants.
    let tenant = |slug: &str| Op::InsertTenant {
        id: Id::from_u128(0x77),
        slug: slug.into(),
        owner: None,
    };
    assert_eq!(at(&bob, tenant("south-1")), POLICY);
    assert_eq!(at(&user("ada"), tenant("north")), UNIQUE);
    assert_eq!(at(&user("ada"), tenant("south-1")), Outcome::Done(1));
}

#[test]
fn the_assign_function_checks_in_the_order_of_its_sql() {
    let world = world();
    // "bogus" stands for a role the profile does not rank.
    let role = |name: &str| match name {
        "owner" => OWNER,
        "admin" => ADMIN,
        "member" => MEMBER,
        _ => Role(9),
    };
    let assign = |who: &str, name: &str| Op::Assign {
        user: id(who),
        role: role(name),
    };
    let at = |by: &Principal, op: Op| world.outcome(by, &NONE, &op);
    assert_eq!(at(&Principal::Anon, assign("eve", "bogus")), GUARD);
    assert_eq!(at(&Principal::NoSub, assign("eve", "member")), GUARD);
    assert_eq!(at(&user("carol"), assign("eve", "bogus")), BAD_PARAMETER);
    assert_eq!(at(&user("bob"), assign("eve", "owner")), BAD_PARAMETER);
    assert_eq!(
        at(&Principal::ServiceRole, assign("eve", "owner")),
        BAD_PARAMETER
    );
    assert_eq!(at(&user("carol"), assign("eve", "member")), GUARD);
    assert_eq!(at(&user("bob"), assign("bob", "member")), GUARD, "himself");
    assert_eq!(
        at(&user("bob"), assign("dave", "member")),
        GUARD,
        "an owner"
    );
    assert_eq!(at(&user("bob"), assign("carol", "admin")), Outcome::Done(1));
    let ghost = Op::Assign {
        user: NOWHERE,
        role: ADMIN,
    };
    assert_eq!(at(&user("bob"), ghost.clone()), FOREIGN_KEY);
    assert_eq!(at(&user("ada"), ghost), FOREIGN_KEY);
    let mut after = world.clone();
    assert_eq!(
        after.apply(&user("bob"), &NONE, &assign("eve", "admin")),
        Outcome::Done(1)
    );
    assert_eq!(after.role_of(id("eve"), DH), Some(ADMIN));
}

#[test]
fn anon_and_claims_without_sub_write_nothing() {
    let world = world();
    let ops = [
        (Op::Insert(agent(DH, Mode::Private)), POLICY),
        (
            changed(&world, SEED_AGENT, |r| r.name = "x".into()),
            Outcome::Done(0),
        ),
        (
            Op::Delete {
                table: AGENTS,
                id: DH_PRIVATE,
            },
            Outcome::Done(0),
        ),
        (
            Op::AddMember {
                user: id("eve"),
                tenant: DH,
                role: MEMBER,
            },
            POLICY,
        ),
        (
            Op::SetRole {
                user: id("carol"),
                tenant: DH,
                role: ADMIN,
            },
            Outcome::Done(0),
        ),
        (
            Op::RemoveMember {
                user: id("carol"),
                tenant: DH,
            },
            Outcome::Done(0),
        ),
        (Op::GrantAdmin { user: id("eve") }, GUARD),
        (Op::AddAdmin { user: id("eve") }, POLICY),
        (
            Op::Assign {
                user: id("eve"),
                role: Role(9),
            },
            GUARD,
        ),
        (
            Op::InsertTenant {
                id: Id::from_u128(0x77),
                slug: "x".into(),
                owner: None,
            },
            POLICY,
        ),
    ];
    for who in [Principal::Anon, Principal::NoSub] {
        for (op, expected) in &ops {
            assert_eq!(
                world.outcome(&who, &Context::Tenant(DH), op),
                *expected,
                "{who}: {op:?}"
            );
        }
    }
}

#[test]
fn only_platform_admins_rename_or_delete_tenants_and_admin_roles() {
    let mut world = world();
    let empty = Id::from_u128(0x78);
    world.tenants.push(super::super::Tenant {
        id: empty,
        slug: "empty".into(),
        ..Default::default()
    });
    let rename = |id| Op::RenameTenant { id };
    let at = |who: &str, op: Op| world.outcome(&user(who), &NONE, &op);
    // bob writes DH, but the tenancy tables belong to platform admins: USING hides it.
    assert_eq!(at("bob", rename(DH)), Outcome::Done(0));
    assert_eq!(at("bob", Op::DeleteTenant { id: DH }), Outcome::Done(0));
    assert_eq!(at("ada", rename(DH)), Outcome::Done(1));
    assert_eq!(at("ada", rename(NOWHERE)), Outcome::Done(0));
    // DH still owns resources, whose tenant_id has no ON DELETE action.
    assert_eq!(at("ada", Op::DeleteTenant { id: DH }), FOREIGN_KEY);
    assert_eq!(at("ada", Op::DeleteTenant { id: empty }), Outcome::Done(1));
    let demote = |who: &str| Op::RemoveAdmin { user: id(who) };
    assert_eq!(at("bob", demote("ada")), Outcome::Done(0));
    assert_eq!(at("ada", demote("bob")), Outcome::Done(0), "no such row");
    assert_eq!(at("ada", demote("ada")), Outcome::Done(1));

    // A deleted tenant takes its memberships with it.
    let mut after = world.clone();
    after.users[1].memberships.insert(empty, MEMBER);
    after.apply(&user("ada"), &NONE, &Op::DeleteTenant { id: empty });
    assert!(after.tenant(empty).is_none());
    assert!(!after.users[1].memberships.contains_key(&empty));
    after.apply(&user("ada"), &NONE, &demote("ada"));
    assert!(after.admins().is_empty());
}

/// An accounts-style tenancy: owners and members, a primary owner per account, any
/// signed-in user opens an account, owners edit theirs and only remove members
/// directly, teammates read each other's memberships.
fn accounts() -> World {
    use super::super::{Creators, Editors, MembershipRules, RoleRights, Shape, Tenant, User};
    let role = |writes| RoleRights {
        writes,
        manages: writes,
        protected: false,
    };
    let shape = Shape {
        roles: vec![role(true), role(false)],
        creators: Creators::SignedIn,
        editors: Editors::Writers,
        memberships: MembershipRules {
            teammates_read: true,
            add: false,
            change: false,
            remove: true,
            own: true,
        },
        primary_owner: true,
        ..Shape::default()
    };
    let acme = Tenant {
        id: DH,
        slug: "acme".into(),
        primary_owner: Some(id("olga")),
        personal: false,
    };
    let member = |name: &str, role: u8| User {
        id: id(name),
        name: name.into(),
        memberships: [(DH, Role(role))].into(),
        admin: false,
    };
    World {
        shape: std::sync::Arc::new(shape),
        tenants: vec![acme],
        users: vec![member("olga", 0), member("otto", 0), member("mo", 1)],
        ..World::default()
    }
}

#[test]
fn an_accounts_tenancy_follows_its_profile() {
    let mut world = accounts();
    let at = |world: &World, who: &str, op: Op| world.outcome(&user(who), &NONE, &op);
    let remove = |who: &str| Op::RemoveMember {
        user: id(who),
        tenant: DH,
    };
    // Owners remove members and themselves, never the primary owner; members nobody.
    assert_eq!(at(&world, "otto", remove("mo")), Outcome::Done(1));
    assert_eq!(at(&world, "otto", remove("otto")), Outcome::Done(1));
    assert_eq!(at(&world, "otto", remove("olga")), Outcome::Done(0));
    assert_eq!(at(&world, "olga", remove("olga")), Outcome::Done(0));
    assert_eq!(at(&world, "mo", remove("otto")), Outcome::Done(0));
    // Adding and changing go through functions: refused or untouched for owners too.
    let add = Op::AddMember {
        user: id("eve"),
        tenant: DH,
        role: Role(1),
    };
    assert_eq!(at(&world, "olga", add), POLICY);
    let promote = Op::SetRole {
        user: id("mo"),
        tenant: DH,
        role: Role(0),
    };
    assert_eq!(at(&world, "olga", promote), Outcome::Done(0));
    // Owners edit their account's row; members do not.
    assert_eq!(
        at(&world, "otto", Op::RenameTenant { id: DH }),
        Outcome::Done(1)
    );
    assert_eq!(
        at(&world, "mo", Op::RenameTenant { id: DH }),
        Outcome::Done(0)
    );
    // Teammates read every membership of the account.
    assert_eq!(world.readable_memberships(&user("mo")).len(), 3);
    // Any signed-in user opens an account, becomes its primary owner and its owner.
    let open = Op::InsertTenant {
        id: NORTH,
        slug: "north".into(),
        owner: Some(id("mo")),
    };
    assert_eq!(world.apply(&user("mo"), &NONE, &open), Outcome::Done(1));
    assert_eq!(world.role_of(id("mo"), NORTH), Some(Role(0)));
    assert_eq!(world.tenant(NORTH).unwrap().primary_owner, Some(id("mo")));
    assert_eq!(
        world.outcome(&Principal::NoSub, &NONE, &Op::RenameTenant { id: NORTH }),
        Outcome::Done(0)
    );
    // The primary owner reads its account even without a membership.
    world.users.iter_mut().for_each(|u| u.memberships.clear());
    assert_eq!(
        world.readable_tenants(&user("mo")),
        [NORTH].into_iter().collect()
    );
}
