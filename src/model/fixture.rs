//! The world the model's unit tests act in: the seeded world plus a third tenant, a
//! cast of users covering every role, and a private, a selective and a foreign row.
//! The same world was loaded into a scratch database to check the predictions.

use std::collections::BTreeMap;

use super::{Context, Id, Kind, Mode, Op, Principal, Resource, Role, Table, Tenant, User, World};
use crate::plan::{DH_STARTUP_TENANT as DH, PLATFORM_TENANT as PLATFORM};

pub const NORTH: Id = Id::from_u128(3);
/// A tenant id that names no tenant (selective sharing may still name it).
pub const NOWHERE: Id = Id::from_u128(0x9999);

pub const DH_PRIVATE: Id = Id::from_u128(0xdd01);
pub const DH_SELECTIVE: Id = Id::from_u128(0xdd02);
pub const NORTH_PRIVATE: Id = Id::from_u128(0xdd03);
pub const SEED_AGENT: Id = Id::from_u128(0xa000_0000_0000_4000_8000_0000_0000_0001);

pub fn id(name: &str) -> Id {
    crate::plan::user_id(name)
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

/// ada: platform admin, no tenant. bob: admin of DH, member of north. carol: member of
/// DH. dave: owner of the platform and of DH. eve: no row anywhere. vic: viewer of
/// north.
pub fn world() -> World {
    let mut world = World::seeded();
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
