//! The world the model's unit tests act in: VITAL's seeded world (the shape of its
//! profile, its two tenants and seeded rows) plus a third tenant, a cast of users
//! covering every role, and a private, a selective and a foreign row. The same world
//! was loaded into a scratch database to check the predictions.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    Assign, AuditAction, AuditRow, Context, Id, Kind, Mode, Op, Principal, Resource, Role,
    RoleRights, Shape, Table, Tenant, User, World,
};

/// VITAL's seeded tenants: `vital-platform` and `digital-health-startup`.
pub const PLATFORM: Id = Id::from_u128(1);
pub const DH: Id = Id::from_u128(2);

/// VITAL's resource tables, in the order of its profile.
pub const AGENTS: Table = Table(0);
pub const TOOLS: Table = Table(1);
pub const PROMPTS: Table = Table(2);

/// VITAL's roles, by rank.
pub const OWNER: Role = Role(0);
pub const ADMIN: Role = Role(1);
pub const MEMBER: Role = Role(2);
pub const VIEWER: Role = Role(3);

/// VITAL's resource tables as its profile labels them.
pub fn labels() -> Vec<String> {
    ["agents", "tools", "prompts", "workflows"]
        .map(str::to_owned)
        .to_vec()
}

/// How VITAL's profile labels each object.
pub fn label(object: super::Object) -> &'static str {
    use super::Object;
    match object {
        Object::Resource(t) => ["agents", "tools", "prompts", "workflows"][t.0 as usize],
        Object::Lists(t) => [
            "get_accessible_agents",
            "get_accessible_tools",
            "get_accessible_prompts",
            "get_accessible_workflows",
        ][t.0 as usize],
        Object::Tenants => "tenants",
        Object::Memberships => "user_tenants",
        Object::PlatformAdmins => "user_roles",
        Object::Audit => "resource_sharing_audit",
        Object::SharedView => "mv_platform_shared_resources",
        Object::SetContext => "set_tenant_context",
        Object::GrantAdmin => "grant_platform_admin",
        Object::Assign => "assign_user_to_dh_startup",
    }
}

/// The shape of VITAL's profile (`rls-harness.toml`).
pub fn shape() -> Arc<Shape> {
    let role = |writes, protected| RoleRights {
        writes,
        manages: writes,
        protected,
    };
    Arc::new(Shape {
        tables: 4,
        roles: vec![
            role(true, true),
            role(true, false),
            role(false, false),
            role(false, false),
        ],
        admins: true,
        context: true,
        audit: true,
        shared_view: true,
        lists: true,
        grant_admin: true,
        assign: Some(Assign {
            tenant: DH,
            roles: vec![ADMIN, MEMBER],
        }),
        ..Shape::default()
    })
}

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
        name: format!("{} {id}", table.0),
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
    let agent =
        |n: u128, name: &str| seed(AGENTS, 0xa000_0000_0000_4000_8000_0000_0000_0000 + n, name);
    let tool =
        |n: u128, name: &str| seed(TOOLS, 0xb000_0000_0000_4000_8000_0000_0000_0000 + n, name);
    let prompt =
        |n: u128, name: &str| seed(PROMPTS, 0xc000_0000_0000_4000_8000_0000_0000_0000 + n, name);
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
            action: if r.table == AGENTS {
                AuditAction::Update
            } else {
                AuditAction::Insert
            },
            actor: None,
            tenant: Some(PLATFORM),
        })
        .collect();
    World {
        shape: shape(),
        tenants: vec![
            Tenant {
                id: PLATFORM,
                slug: "vital-platform".into(),
                ..Default::default()
            },
            Tenant {
                id: DH,
                slug: "digital-health-startup".into(),
                ..Default::default()
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
        tenant: Some(PLATFORM),
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
        ..Default::default()
    });
    let person = |name: &str, admin: bool, roles: &[(Id, Role)]| User {
        id: id(name),
        name: name.into(),
        memberships: roles.iter().copied().collect::<BTreeMap<_, _>>(),
        admin,
    };
    world.users = vec![
        person("ada", true, &[]),
        person("bob", false, &[(DH, ADMIN), (NORTH, MEMBER)]),
        person("carol", false, &[(DH, MEMBER)]),
        person("dave", false, &[(PLATFORM, OWNER), (DH, OWNER)]),
        person("eve", false, &[]),
        person("vic", false, &[(NORTH, VIEWER)]),
    ];
    // Fixtures are written by the owner in the database: they leave audit rows, but
    // the tests only look at the rows their own writes append.
    world.resources.extend([
        resource(AGENTS, DH_PRIVATE, DH, Mode::Private, &[]),
        resource(AGENTS, DH_SELECTIVE, DH, Mode::Selective, &[NORTH, NOWHERE]),
        resource(AGENTS, NORTH_PRIVATE, NORTH, Mode::Private, &[]),
    ]);
    world
}

/// A fresh custom agent of `tenant`, not in the world.
pub fn agent(tenant: Id, mode: Mode) -> Resource {
    resource(AGENTS, Id::from_u128(0xee01), tenant, mode, &[])
}

/// The update that turns agent `id` into what `f` makes of it.
pub fn changed(world: &World, id: Id, f: impl FnOnce(&mut Resource)) -> Op {
    let mut new = world.resource(AGENTS, id).unwrap().clone();
    f(&mut new);
    Op::Update { id, new }
}

pub const NONE: Context = Context::Empty;
