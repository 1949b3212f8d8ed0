//! proptest strategies for whole worlds: tenants, users with memberships and roles,
//! platform admins, and resources in every sharing mode.
//!
//! What proptest generates is a [`Spec`], a small description that shrinks well
//! (fewer users, fewer resources, lower indices); [`Spec::world`] turns it into a
//! model world on top of the seeded one. Ids derive from names exactly as scenario
//! files derive them, so that a shrunk counterexample becomes a scenario file as is.

use std::ops::RangeInclusive;

use proptest::collection::vec;
use proptest::prelude::*;
use uuid::Uuid;

use crate::model::{tenant_id, user_id};
use crate::model::{Id, Kind, Mode, Resource, Role, Shape, Table, Tenant, User, World};

/// How many tenants a world may add to the two seeded ones.
const MAX_EXTRA_TENANTS: usize = 3;
/// The most tenants a world has: the seeded two and the extra ones.
const MAX_TENANTS: usize = 2 + MAX_EXTRA_TENANTS;
/// A tenant id no tenant has, for `shared_with` lists that name the unknown.
pub const GHOST_TENANT: Id = Uuid::from_u128(0x6405_7000_0000_4000_8000_0000_0000_0001);

#[derive(Debug, Clone)]
pub struct UserSpec {
    /// Role per tenant index (only the world's tenants count).
    pub memberships: Vec<Option<Role>>,
    pub admin: bool,
}

#[derive(Debug, Clone)]
pub struct ResourceSpec {
    pub table: Table,
    pub tenant: usize,
    pub mode: Mode,
    /// Tenant indices; `MAX_TENANTS` stands for [`GHOST_TENANT`].
    pub shared_with: Vec<usize>,
    pub platform: bool,
}

/// A generated world, before it is turned into one.
#[derive(Debug, Clone)]
pub struct Spec {
    pub extra_tenants: usize,
    pub users: Vec<UserSpec>,
    pub resources: Vec<ResourceSpec>,
}

/// Any role of the tenancy (`Role(0)` where memberships carry none).
pub(super) fn role(shape: &Shape) -> impl Strategy<Value = Role> {
    let mut roles: Vec<Role> = shape.roles().collect();
    if roles.is_empty() {
        roles.push(Role(0));
    }
    prop::sample::select(roles)
}

/// Private and selective rows twice as often as global ones: they are the rows whose
/// visibility depends on the reader, and selective rows make the shared kind.
fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![2 => Just(Mode::Private), 2 => Just(Mode::Selective), 1 => Just(Mode::Global)]
}

/// How large generated worlds get, and how often a user belongs to a tenant.
pub(super) struct Bounds {
    pub extra_tenants: RangeInclusive<usize>,
    pub users: RangeInclusive<usize>,
    /// Rows per resource table, so that every table holds rows of several kinds.
    pub resources_per_table: RangeInclusive<usize>,
    pub membership: f64,
}

/// Worlds of 3 to 5 tenants, 1 to 8 users and 1 to 6 generated rows per resource
/// table (4 to 24 in all), on top of the seeded rows. At least three tenants, half of
/// them joined by each user, so that users who write in two tenants and read a third
/// are common, and so are the kinds of rows the write probes need (see `space`).
const SNAPSHOT_WORLDS: Bounds = Bounds {
    extra_tenants: 1..=MAX_EXTRA_TENANTS,
    users: 1..=8,
    resources_per_table: 1..=6,
    membership: 0.5,
};

fn user(shape: &Shape, membership: f64) -> impl Strategy<Value = UserSpec> {
    // Without platform admins, the draw stays (so worlds of the same seed keep their
    // shape) and always comes out false.
    let admins = if shape.admins { 0.15 } else { 0.0 };
    (
        vec(prop::option::weighted(membership, role(shape)), MAX_TENANTS),
        prop::bool::weighted(admins),
    )
        .prop_map(|(memberships, admin)| UserSpec { memberships, admin })
}

fn resource(table: Table) -> impl Strategy<Value = ResourceSpec> {
    (
        Just(table),
        0..MAX_TENANTS,
        mode(),
        // Selective rows name one or two tenants (or the ghost) to be shared with.
        vec(0..=MAX_TENANTS, 1..3),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(table, tenant, mode, shared_with, platform)| ResourceSpec {
                table,
                tenant,
                mode,
                shared_with,
                platform,
            },
        )
}

/// Worlds within `bounds`, of a tenancy of `shape`.
pub(super) fn spec_within(bounds: Bounds, shape: &Shape) -> impl Strategy<Value = Spec> {
    let tables: Vec<_> = shape
        .tables()
        .map(|table| vec(resource(table), bounds.resources_per_table.clone()))
        .collect();
    (
        bounds.extra_tenants,
        vec(user(shape, bounds.membership), bounds.users),
        tables,
    )
        .prop_map(|(extra_tenants, users, tables)| Spec {
            extra_tenants,
            users,
            resources: tables.concat(),
        })
}

/// The worlds of the snapshot properties.
pub fn spec(shape: &Shape) -> impl Strategy<Value = Spec> {
    spec_within(SNAPSHOT_WORLDS, shape)
}

/// The slug of the `i`-th extra tenant.
pub fn extra_slug(i: usize) -> String {
    format!("t{i}")
}

/// The name of the `i`-th generated user.
pub fn user_name(i: usize) -> String {
    format!("u{i}")
}

impl Spec {
    /// The `seeded` world plus what this spec adds; `labels` name the resource tables
    /// in the rows' names.
    pub fn world(&self, seeded: &World, labels: &[String]) -> World {
        let mut world = seeded.clone();
        for i in 0..self.extra_tenants {
            let slug = extra_slug(i);
            world.tenants.push(Tenant::new(tenant_id(&slug), slug));
        }
        let tenants: Vec<Id> = world.tenants.iter().map(|t| t.id).collect();
        let tenant_at = |index: usize| {
            if index >= MAX_TENANTS {
                GHOST_TENANT
            } else {
                tenants[index % tenants.len()]
            }
        };
        for (i, spec) in self.users.iter().enumerate() {
            let name = user_name(i);
            let memberships = spec
                .memberships
                .iter()
                .take(tenants.len())
                .enumerate()
                .filter_map(|(index, role)| role.map(|role| (tenants[index], role)))
                .collect();
            world.users.push(User {
                id: user_id(&name),
                name,
                memberships,
                admin: spec.admin,
            });
        }
        if world.shape.primary_owner {
            // Each new tenant's primary owner: a member with the highest role, else any
            // member, else the first user (an owner who is not a member).
            let new_tenants = seeded.tenants.len()..world.tenants.len();
            for at in new_tenants {
                let id = world.tenants[at].id;
                let holding = |highest: bool| {
                    world
                        .users
                        .iter()
                        .find(|u| u.memberships.get(&id).is_some_and(|r| !highest || r.0 == 0))
                };
                let owner = holding(true)
                    .or_else(|| holding(false))
                    .or(world.users.first())
                    .map(|u| u.id);
                world.tenants[at].primary_owner = owner;
            }
        }
        for (i, spec) in self.resources.iter().enumerate() {
            let mut shared_with: Vec<Id> = spec
                .shared_with
                .iter()
                .map(|&index| tenant_at(index))
                .collect();
            shared_with.dedup();
            world.resources.push(Resource {
                table: spec.table,
                id: resource_id(i),
                tenant: Some(tenants[spec.tenant % tenants.len()]),
                name: format!(
                    "{}-{i}",
                    labels
                        .get(spec.table.0 as usize)
                        .map_or("resource", String::as_str)
                ),
                mode: spec.mode,
                shared_with,
                kind: if spec.platform {
                    Kind::Platform
                } else {
                    Kind::Custom
                },
            });
        }
        world
    }
}

/// The id of the `i`-th generated resource.
pub fn resource_id(i: usize) -> Id {
    const NAMESPACE: Uuid = Uuid::from_u128(0x3c9e_27b4_51aa_4d0c_8f61_0b7e_92d4_e503);
    Uuid::new_v5(&NAMESPACE, format!("resource:{i}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::{labels, seeded};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn worlds_stay_within_bounds_and_keep_the_seed() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..64 {
            let world = spec(&seeded().shape)
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .world(&seeded(), &labels());
            assert!((3..=5).contains(&world.tenants.len()));
            assert!((1..=8).contains(&world.users.len()));
            let seeded = seeded();
            assert!(world.resources.len() <= seeded.resources.len() + 24);
            for table in seeded.shape.tables() {
                let generated =
                    world.resources_of(table).count() - seeded.resources_of(table).count();
                assert!(generated <= 6, "{table:?}: {generated}");
            }
            assert!(seeded.resources.iter().all(|r| world.resources.contains(r)));
            for user in &world.users {
                assert!(user
                    .memberships
                    .keys()
                    .all(|t| world.tenants.iter().any(|tenant| tenant.id == *t)));
            }
        }
    }

    #[test]
    fn ids_match_the_scenario_format() {
        let spec = Spec {
            extra_tenants: 1,
            users: vec![UserSpec {
                memberships: vec![None; MAX_TENANTS],
                admin: false,
            }],
            resources: vec![],
        };
        let world = spec.world(&seeded(), &labels());
        assert_eq!(world.users[0].id, user_id("u0"));
        assert_eq!(world.tenants.last().unwrap().id, tenant_id("t0"));
    }
}
