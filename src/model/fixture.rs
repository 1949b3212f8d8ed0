//! The world the model's unit tests act in: the seeded world plus a third tenant, a
//! cast of users covering every role, and a private, a selective and a foreign row.
//! The same world was loaded into a scratch database to check the predictions.

use std::collections::BTreeMap;

use super::{
    AuditAction, AuditRow, Context, Id, Kind, Mode, Op, Principal, Resource, Role, Table, Tenant,
    User, World,
};
use crate::plan::{DH_STARTUP_TENANT, PLATFORM_TENANT};
use crate::plan::{DH_STARTUP_TENANT as DH, PLATFORM_TENANT as PLATFORM};

pub const NORTH: Id = Id::from_u128(3);
/// A tenant id that names no tenant (selective sharing may still name it).
pub const NOWHERE: Id = Id::from_u128(0x9999);

pub const DH_PRIVATE: Id = Id::from_u128(0xdd01);
pub const DH_SELECTIVE: Id = Id::from_u128(0xdd02);
pub const NORTH_PRIVATE: Id = Id::from_u128(0xdd03);
pub const SEED_AGENT: Id = Id::from_u128(0xa000_0000_0000_4000_8000_0000_0000_0001);

pub fn id(name: &str) -> Id {
    super::user_id(name)
}

pub fn user(name: &str) -> Principal {
    Principal::User(id(name))
}

pub fn resource(table: Table, id: Id, tenant: Id, mode: Mode, shared_with: &[Id]) -> Resource {
    Resource {
        table,
        id,
        tenant: Some(tenant),
        name: format!("{} {id}", table.name()),
        mode,
        shared_with: shared_with.to_vec(),
        kind: Kind::Custom,
    }
}

/// Exactly what the shipped migrations leave (the integration tests read the same rows
/// from a migrated template): the two tenants, the three legacy agents
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

/// ada: platform admin, no tenant. bob: admin of DH, member of north. carol: member of
/// DH. dave: owner of the platform and of DH. eve: no row anywhere. vic: viewer of
/// north.
pub fn world() -> World {
    let mut world = seeded();
    world.tenants.push(Tenant {
        id: NORTH,
        slug: "north".into(),
    });
    let person = |name: &str, admin: bool, roles: &[(Id, Role)]| User {
        id: id(name),
        name: name.into(),
        memberships: roles.iter().copied().collect::<BTreeMap<_, _>>(),
        platform_admin: admin,
    };
    world.users = vec![
        person("ada", true, &[]),
        person("bob", false, &[(DH, Role::Admin), (NORTH, Role::Member)]),
        person("carol", false, &[(DH, Role::Member)]),
        person("dave", false, &[(PLATFORM, Role::Owner), (DH, Role::Owner)]),
        person("eve", false, &[]),
        person("vic", false, &[(NORTH, Role::Viewer)]),
    ];
    // Fixtures are written by the owner in the database: they leave audit rows, but
    // the tests only look at the rows their own writes append.
    world.resources.extend([
        resource(Table::Agents, DH_PRIVATE, DH, Mode::Private, &[]),
        resource(
            Table::Agents,
            DH_SELECTIVE,
            DH,
            Mode::Selective,
            &[NORTH, NOWHERE],
        ),
        resource(Table::Agents, NORTH_PRIVATE, NORTH, Mode::Private, &[]),
    ]);
    world
}

/// A fresh custom agent of `tenant`, not in the world.
pub fn agent(tenant: Id, mode: Mode) -> Resource {
    resource(Table::Agents, Id::from_u128(0xee01), tenant, mode, &[])
}

/// The update that turns agent `id` into what `f` makes of it.
pub fn changed(world: &World, id: Id, f: impl FnOnce(&mut Resource)) -> Op {
    let mut new = world.resource(Table::Agents, id).unwrap().clone();
    f(&mut new);
    Op::Update { id, new }
}

pub const NONE: Context = Context::Empty;
