//! Tests of the resource write predictions and of the audit trail they leave, each
//! case checked against a scratch database loaded with the fixture world.

use super::super::fixture::{id as user_id, *};
use super::super::{Kind, Mode};
use super::*;

#[test]
fn writers_insert_into_their_effective_tenants_only() {
    let world = world();
    let bob = user("bob");
    let at = |who: &Principal, ctx, r| world.outcome(who, &ctx, &Op::Insert(r));
    assert_eq!(at(&bob, NONE, agent(DH, Mode::Private)), Outcome::Done(1));
    assert_eq!(
        at(&bob, Context::Tenant(DH), agent(DH, Mode::Selective)),
        Outcome::Done(1)
    );
    // Publishing globally and platform resources are for platform admins.
    assert_eq!(at(&bob, NONE, agent(DH, Mode::Global)), POLICY);
    let platform = Resource {
        kind: Kind::Platform,
        ..agent(DH, Mode::Private)
    };
    assert_eq!(at(&bob, NONE, platform.clone()), POLICY);
    // north, where bob is only a member; DH while his context is north or garbage.
    assert_eq!(at(&bob, NONE, agent(NORTH, Mode::Private)), POLICY);
    assert_eq!(
        at(&bob, Context::Tenant(NORTH), agent(DH, Mode::Private)),
        POLICY
    );
    assert_eq!(
        at(&bob, Context::Malformed, agent(DH, Mode::Private)),
        POLICY
    );
    assert_eq!(at(&user("carol"), NONE, agent(DH, Mode::Private)), POLICY);
    // No tenant at all: NULL = any(...) is never true.
    assert_eq!(
        at(
            &bob,
            NONE,
            Resource {
                tenant: None,
                ..agent(DH, Mode::Private)
            }
        ),
        POLICY
    );
    // An id taken in another tenant: the policy passes, the primary key does not.
    let taken = Resource {
        id: NORTH_PRIVATE,
        ..agent(DH, Mode::Private)
    };
    assert_eq!(at(&bob, NONE, taken.clone()), UNIQUE);
    // ada may do it all; a missing tenant is then the foreign key's business.
    assert_eq!(
        at(&user("ada"), Context::Tenant(NORTH), platform),
        Outcome::Done(1)
    );
    assert_eq!(
        at(&user("ada"), NONE, agent(NOWHERE, Mode::Global)),
        FOREIGN_KEY
    );
    assert_eq!(
        at(
            &user("ada"),
            NONE,
            Resource {
                tenant: Some(NOWHERE),
                ..taken
            }
        ),
        UNIQUE
    );
}

#[test]
fn updates_cannot_move_publish_or_reach_foreign_rows() {
    let world = world();
    let bob = user("bob");
    let rename = changed(&world, DH_PRIVATE, |r| r.name = "renamed".into());
    assert_eq!(world.outcome(&bob, &NONE, &rename), Outcome::Done(1));
    assert_eq!(
        world.outcome(&bob, &Context::Tenant(NORTH), &rename),
        Outcome::Done(0)
    );
    let to_north = changed(&world, DH_PRIVATE, |r| r.tenant = Some(NORTH));
    assert_eq!(world.outcome(&bob, &NONE, &to_north), POLICY);
    let global = changed(&world, DH_PRIVATE, |r| r.mode = Mode::Global);
    assert_eq!(world.outcome(&bob, &NONE, &global), POLICY);
    // Rows of other tenants, even shared with one's own, are untouched without error.
    let foreign = changed(&world, NORTH_PRIVATE, |r| r.name = "mine".into());
    assert_eq!(world.outcome(&bob, &NONE, &foreign), Outcome::Done(0));
    let shared = changed(&world, DH_SELECTIVE, |r| r.mode = Mode::Private);
    assert_eq!(
        world.outcome(&user("vic"), &NONE, &shared),
        Outcome::Done(0)
    );
    let seed = changed(&world, SEED_AGENT, |r| r.mode = Mode::Private);
    assert_eq!(
        world.outcome(&user("dave"), &Context::Tenant(DH), &seed),
        Outcome::Done(0)
    );
    // The platform's owner cannot even rename a seeded row: the new row is still a
    // global platform resource, which only platform admins write. Making it a private
    // custom row passes; so does deleting it.
    assert_eq!(world.outcome(&user("dave"), &NONE, &seed), POLICY);
    let rename = changed(&world, SEED_AGENT, |r| r.name = "x".into());
    assert_eq!(world.outcome(&user("dave"), &NONE, &rename), POLICY);
    let demote = changed(&world, SEED_AGENT, |r| {
        (r.mode, r.kind) = (Mode::Private, Kind::Custom)
    });
    assert_eq!(
        world.outcome(&user("dave"), &NONE, &demote),
        Outcome::Done(1)
    );
    // A new id that exists: 23505 for a writer, policy first when the row is refused.
    let clash = changed(&world, DH_PRIVATE, |r| r.id = DH_SELECTIVE);
    assert_eq!(world.outcome(&bob, &NONE, &clash), UNIQUE);
    let clash_north = changed(&world, DH_PRIVATE, |r| {
        (r.id, r.tenant) = (NORTH_PRIVATE, Some(NORTH))
    });
    assert_eq!(world.outcome(&bob, &NONE, &clash_north), POLICY);
    let nowhere = changed(&world, DH_PRIVATE, |r| r.tenant = Some(NOWHERE));
    assert_eq!(world.outcome(&user("ada"), &NONE, &nowhere), FOREIGN_KEY);
    let missing = Op::Update {
        id: Id::from_u128(0xbad),
        new: agent(DH, Mode::Private),
    };
    assert_eq!(
        world.outcome(&Principal::ServiceRole, &NONE, &missing),
        Outcome::Done(0)
    );
}

#[test]
fn deletes_follow_the_effective_writer_tenants() {
    let world = world();
    let delete = |id| Op::Delete { table: AGENTS, id };
    assert_eq!(
        world.outcome(&user("bob"), &NONE, &delete(DH_SELECTIVE)),
        Outcome::Done(1)
    );
    assert_eq!(
        world.outcome(&user("bob"), &NONE, &delete(NORTH_PRIVATE)),
        Outcome::Done(0)
    );
    assert_eq!(
        world.outcome(&user("bob"), &NONE, &delete(SEED_AGENT)),
        Outcome::Done(0)
    );
    assert_eq!(
        world.outcome(&user("carol"), &NONE, &delete(DH_PRIVATE)),
        Outcome::Done(0)
    );
    assert_eq!(
        world.outcome(&user("ada"), &Context::Malformed, &delete(SEED_AGENT)),
        Outcome::Done(1)
    );
    let wrong_table = Op::Delete {
        table: TOOLS,
        id: DH_PRIVATE,
    };
    assert_eq!(
        world.outcome(&user("ada"), &NONE, &wrong_table),
        Outcome::Done(0)
    );
}

#[test]
fn the_audit_trail_has_one_row_per_sharing_change_naming_its_actor() {
    let mut world = world();
    let start = world.audit.len();
    let bob = user("bob");
    let new = agent(DH, Mode::Private);
    let id = new.id;
    assert_eq!(world.apply(&bob, &NONE, &Op::Insert(new)), Outcome::Done(1));
    type Edit = fn(&mut Resource);
    let steps: [(&Principal, Edit); 6] = [
        (&bob, |r| r.name = "renamed".into()), // no row
        (&bob, |_| {}),                        // no row
        (&bob, |r| {
            (r.mode, r.shared_with) = (Mode::Selective, vec![NORTH])
        }),
        (&bob, |r| r.shared_with = vec![NORTH, PLATFORM]),
        (&user("ada"), |r| r.shared_with = vec![PLATFORM, NORTH]), // order counts
        (&Principal::ServiceRole, |r| r.tenant = Some(NORTH)),
    ];
    for (who, f) in steps {
        let op = changed(&world, id, f);
        assert_eq!(world.apply(who, &NONE, &op), Outcome::Done(1));
    }
    // Refused and filtered writes leave nothing.
    assert_eq!(
        world.apply(&bob, &NONE, &Op::Delete { table: AGENTS, id }),
        Outcome::Done(0)
    );
    assert_eq!(
        world.apply(&user("ada"), &NONE, &Op::Delete { table: AGENTS, id }),
        Outcome::Done(1)
    );
    let trail: Vec<_> = world.audit[start..]
        .iter()
        .map(|a| (a.action, a.actor, a.tenant, a.resource))
        .collect();
    let (b, a) = (Some(user_id("bob")), Some(user_id("ada")));
    assert_eq!(
        trail,
        [
            (AuditAction::Insert, b, Some(DH), id),
            (AuditAction::Update, b, Some(DH), id),
            (AuditAction::Update, b, Some(DH), id),
            (AuditAction::Update, a, Some(DH), id),
            (AuditAction::Update, None, Some(NORTH), id),
            (AuditAction::Delete, a, Some(NORTH), id),
        ]
    );
    // Who reads them: bob (DH admin) the DH rows, not the north ones; vic none.
    assert_eq!(world.readable_audit(&bob).len(), 4);
    assert!(world.readable_audit(&user("vic")).is_empty());
}
