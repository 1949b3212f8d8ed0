//! The operation space: every write a principal can attempt in a world, derived from
//! the model rather than picked from a menu.
//!
//! For a principal and a tenant context, each object (the four resource tables, the
//! tenancy tables and the functions that write them) is paired with each *kind of row*
//! the world holds for that principal (a row of a tenant it writes, one it only reads,
//! another tenant's private or shared row, a global or platform row, its own membership,
//! an owner's, ...) and each operation (insert, rename, moves to each kind of tenant,
//! publish, unpublish, re-share, delete; add, promote, demote, remove; calls). Every
//! candidate carries its [`Cell`]: object × operation × kind × context relative to the
//! row (none, the row's own tenant, another of the principal's tenants, forged). The
//! property engine probes one candidate per cell and counts the cells, so a cell that
//! no world reached shows up in the coverage table instead of passing in silence.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::generate::GHOST_TENANT;
use crate::model::{Context, Id, Kind, Mode, Op, Principal, Resource, Rights, Role, Table, World};
use crate::plan::DH_STARTUP_TENANT;

/// Who a row is to the acting principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RowKind {
    /// A row of a tenant the principal writes (owner or admin there).
    Writer,
    /// A row of a tenant where the principal is only a member or viewer.
    Member,
    /// Another tenant's private row (or, for tenancy rows, another tenant's row).
    Foreign,
    /// Another tenant's selective row shared with one of the principal's tenants.
    Shared,
    /// A global custom row.
    Global,
    /// A platform resource.
    Platform,
    /// The principal's own membership, admin role, or itself as a function's argument.
    Own,
    /// Another user's owner membership in a tenant the principal writes.
    Owner,
    /// Another user, as a function's argument or by its admin role.
    Other,
    /// A row that does not exist yet (a new tenant).
    New,
}

impl RowKind {
    pub const ALL: [RowKind; 10] = [
        RowKind::Writer,
        RowKind::Member,
        RowKind::Foreign,
        RowKind::Shared,
        RowKind::Global,
        RowKind::Platform,
        RowKind::Own,
        RowKind::Owner,
        RowKind::Other,
        RowKind::New,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            RowKind::Writer => "writer",
            RowKind::Member => "member",
            RowKind::Foreign => "foreign",
            RowKind::Shared => "shared",
            RowKind::Global => "global",
            RowKind::Platform => "platform",
            RowKind::Own => "own",
            RowKind::Owner => "owner",
            RowKind::Other => "other",
            RowKind::New => "new",
        }
    }

    /// Whether a row of this kind can belong to one of the principal's tenants, so
    /// that a context naming the row's own tenant is possible at all.
    fn can_be_in_own_tenant(&self) -> bool {
        !matches!(
            self,
            RowKind::Foreign | RowKind::Shared | RowKind::Other | RowKind::New
        )
    }
}

/// The tenant context of a probe, relative to the row it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContextKind {
    /// No context: `E(u) = M(u)`.
    None,
    /// The context names the row's own tenant, which the principal belongs to.
    Own,
    /// The context names another tenant the principal belongs to.
    OutOfContext,
    /// The context names a tenant the principal does not belong to, or is malformed.
    Forged,
}

impl ContextKind {
    pub const ALL: [ContextKind; 4] = [
        ContextKind::None,
        ContextKind::Own,
        ContextKind::OutOfContext,
        ContextKind::Forged,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            ContextKind::None => "none",
            ContextKind::Own => "own",
            ContextKind::OutOfContext => "out-of-context",
            ContextKind::Forged => "forged",
        }
    }

    /// The context relative to a row of `tenant` (`None` for rows without a tenant).
    pub fn of(rights: &Rights, context: &Context, tenant: Option<Id>) -> ContextKind {
        match context {
            Context::Empty => ContextKind::None,
            Context::Malformed => ContextKind::Forged,
            Context::Tenant(t) if !rights.member.contains(t) => ContextKind::Forged,
            Context::Tenant(t) if Some(*t) == tenant => ContextKind::Own,
            Context::Tenant(_) => ContextKind::OutOfContext,
        }
    }
}

/// What a write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WriteOp {
    Insert,
    Rename,
    /// Update the row into another tenant the principal writes.
    MoveToWriter,
    /// ... into a tenant where it is only a member or viewer.
    MoveToMember,
    /// ... into a tenant it does not belong to.
    MoveToForeign,
    /// Make the row global.
    Publish,
    /// Make the row private.
    Unpublish,
    /// Make the row selective, shared with another tenant.
    Reshare,
    Delete,
    /// Add a membership.
    Add,
    /// Raise a member's role one step (viewer → member → admin → owner).
    Promote,
    /// Lower a member's role one step.
    Demote,
    /// Remove a membership.
    Remove,
    /// Call a function that writes.
    Call,
}

impl WriteOp {
    pub fn name(&self) -> &'static str {
        match self {
            WriteOp::Insert => "insert",
            WriteOp::Rename => "rename",
            WriteOp::MoveToWriter => "move-writer",
            WriteOp::MoveToMember => "move-member",
            WriteOp::MoveToForeign => "move-foreign",
            WriteOp::Publish => "publish",
            WriteOp::Unpublish => "unpublish",
            WriteOp::Reshare => "reshare",
            WriteOp::Delete => "delete",
            WriteOp::Add => "add",
            WriteOp::Promote => "promote",
            WriteOp::Demote => "demote",
            WriteOp::Remove => "remove",
            WriteOp::Call => "call",
        }
    }
}

/// Who acts, as the coverage table groups principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Actor {
    /// An authenticated user who is not a platform admin: the rules depend on the row's
    /// kind and the context, so every cell is required.
    User,
    PlatformAdmin,
    Anon,
    NoSub,
    ServiceRole,
}

impl Actor {
    pub fn of(world: &World, who: &Principal) -> Actor {
        match who {
            Principal::Anon => Actor::Anon,
            Principal::NoSub => Actor::NoSub,
            Principal::ServiceRole => Actor::ServiceRole,
            Principal::User(id) if world.user(*id).is_some_and(|u| u.platform_admin) => {
                Actor::PlatformAdmin
            }
            Principal::User(_) => Actor::User,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Actor::User => "user",
            Actor::PlatformAdmin => "platform admin",
            Actor::Anon => "anon",
            Actor::NoSub => "claims without sub",
            Actor::ServiceRole => "service_role",
        }
    }
}

/// The objects whose writes the space covers, in report order.
pub const OBJECTS: [&str; 9] = [
    "agents",
    "tools",
    "prompts",
    "workflows",
    "user_tenants",
    "tenants",
    "user_roles",
    "grant_platform_admin",
    "assign_user_to_dh_startup",
];

/// One cell of the coverage table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub object: &'static str,
    pub op: WriteOp,
    pub kind: RowKind,
    pub context: ContextKind,
    pub actor: Actor,
}

/// The operations and kinds of rows that make sense for `object`.
pub fn ops_of(object: &str) -> Vec<(WriteOp, Vec<RowKind>)> {
    use RowKind::*;
    use WriteOp::*;
    let resource = vec![Writer, Member, Foreign, Shared, Global, Platform];
    match object {
        "user_tenants" => [Add, Promote, Demote, Remove]
            .into_iter()
            .map(|op| (op, vec![Own, Writer, Owner, Member, Foreign]))
            .collect(),
        "tenants" => vec![
            (Insert, vec![New]),
            (Rename, vec![Writer, Member, Foreign]),
            (Delete, vec![Writer, Member, Foreign]),
        ],
        // A plain user has no admin row of its own to delete.
        "user_roles" => vec![(Insert, vec![Own, Other]), (Delete, vec![Other])],
        "grant_platform_admin" | "assign_user_to_dh_startup" => vec![(Call, vec![Own, Other])],
        _ => [
            Insert,
            Rename,
            MoveToWriter,
            MoveToMember,
            MoveToForeign,
            Publish,
            Unpublish,
            Reshare,
            Delete,
        ]
        .into_iter()
        .map(|op| (op, resource.clone()))
        .collect(),
    }
}

/// Whether the context kind can occur for `op` on a row of `object` and `kind`: a
/// context can name a row's own tenant only when the row has one and the principal
/// belongs to it (joining a tenant oneself is always joining a foreign one). The
/// kinds of a function's argument say who the argument is, not whose tenant.
fn context_possible(object: &str, op: WriteOp, kind: RowKind, context: ContextKind) -> bool {
    if context != ContextKind::Own {
        return true;
    }
    match object {
        "user_roles" | "grant_platform_admin" => false,
        "assign_user_to_dh_startup" => true,
        "user_tenants" if op == WriteOp::Add && kind == RowKind::Own => false,
        _ => kind.can_be_in_own_tenant(),
    }
}

/// Every cell a plain user must reach: the coverage table's rows.
pub fn required_cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for object in OBJECTS {
        for (op, kinds) in ops_of(object) {
            for kind in kinds {
                for context in ContextKind::ALL {
                    if context_possible(object, op, kind, context) {
                        cells.push(Cell {
                            object,
                            op,
                            kind,
                            context,
                            actor: Actor::User,
                        });
                    }
                }
            }
        }
    }
    cells
}

/// The object-operation pairs `actor` can attempt at all: those who belong to no
/// tenant (anon, claims without `sub`, service_role) have no tenant of their own to
/// move a row into.
pub fn possible_pairs(actor: Actor) -> Vec<(&'static str, WriteOp)> {
    let tenantless = matches!(actor, Actor::Anon | Actor::NoSub | Actor::ServiceRole);
    let mut pairs: Vec<_> = required_cells()
        .into_iter()
        .map(|cell| (cell.object, cell.op))
        .filter(|(_, op)| {
            !(tenantless && matches!(op, WriteOp::MoveToWriter | WriteOp::MoveToMember))
        })
        .collect();
    pairs.dedup();
    pairs
}

/// What a run's write probes left out: the required cells no plain user's probe
/// reached, and for every other principal class the object-operation pairs it never
/// tried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gaps {
    pub cells: Vec<Cell>,
    pub pairs: Vec<(Actor, &'static str, WriteOp)>,
}

impl Gaps {
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.pairs.is_empty()
    }
}

/// The principal classes besides plain users, in report order.
pub const OTHER_ACTORS: [Actor; 4] = [
    Actor::PlatformAdmin,
    Actor::Anon,
    Actor::NoSub,
    Actor::ServiceRole,
];

/// The gaps of `coverage` (probes per cell).
pub fn gaps(coverage: &BTreeMap<Cell, u64>) -> Gaps {
    let reached = |cell: &Cell| coverage.get(cell).is_some_and(|n| *n > 0);
    let cells = required_cells()
        .into_iter()
        .filter(|c| !reached(c))
        .collect();
    let mut pairs = Vec::new();
    for actor in OTHER_ACTORS {
        for (object, op) in possible_pairs(actor) {
            let tried = coverage
                .iter()
                .any(|(c, n)| c.actor == actor && c.object == object && c.op == op && *n > 0);
            if !tried {
                pairs.push((actor, object, op));
            }
        }
    }
    Gaps { cells, pairs }
}

/// A write a principal can attempt, with the cell it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub op: Op,
    pub cell: Cell,
}

/// The tenants of the world as the principal sees them.
struct Tenants {
    writer: Vec<Id>,
    member: Vec<Id>,
    foreign: Vec<Id>,
}

/// Every write `who` can attempt under `context` in `world`: one per object,
/// operation and kind of row the world holds. `salt` makes the ids of inserted rows
/// fresh for a sequence step (rows inserted by earlier steps stay in the world).
pub fn candidates(
    world: &World,
    who: &Principal,
    context: &Context,
    salt: usize,
) -> Vec<Candidate> {
    let rights = world.rights(who);
    let actor = Actor::of(world, who);
    let all: Vec<Id> = world.tenants.iter().map(|t| t.id).collect();
    let tenants = Tenants {
        writer: all
            .iter()
            .copied()
            .filter(|t| rights.writer.contains(t))
            .collect(),
        member: all
            .iter()
            .copied()
            .filter(|t| rights.member.contains(t) && !rights.writer.contains(t))
            .collect(),
        foreign: all
            .iter()
            .copied()
            .filter(|t| !rights.member.contains(t))
            .chain([GHOST_TENANT])
            .collect(),
    };
    let mut out = Vec::new();
    let mut push =
        |object: &'static str, op: WriteOp, kind: RowKind, tenant: Option<Id>, write: Op| {
            out.push(Candidate {
                op: write,
                cell: Cell {
                    object,
                    op,
                    kind,
                    context: ContextKind::of(&rights, context, tenant),
                    actor,
                },
            });
        };
    for table in Table::ALL {
        resources(world, &rights, &tenants, table, salt, &mut push);
    }
    memberships(world, who, &rights, &tenants, &mut push);
    tenancy(world, who, &rights, &tenants, salt, &mut push);
    out
}

type Push<'a> = dyn FnMut(&'static str, WriteOp, RowKind, Option<Id>, Op) + 'a;

/// The kind of a resource row for a principal with `rights`.
pub(super) fn resource_kind(rights: &Rights, row: &Resource) -> RowKind {
    let tenant = row.tenant.unwrap_or(GHOST_TENANT);
    if row.kind == Kind::Platform {
        RowKind::Platform
    } else if row.mode == Mode::Global {
        RowKind::Global
    } else if rights.writer.contains(&tenant) {
        RowKind::Writer
    } else if rights.member.contains(&tenant) {
        RowKind::Member
    } else if row.mode == Mode::Selective
        && row.shared_with.iter().any(|t| rights.member.contains(t))
    {
        RowKind::Shared
    } else {
        RowKind::Foreign
    }
}

/// A fresh id for a row a probe inserts: not in the world, the same for the same
/// table, kind and salt.
fn fresh_id(table: Table, kind: RowKind, salt: usize) -> Id {
    const NAMESPACE: Uuid = Uuid::from_u128(0x9e0b_0000_0000_4000_8000_0000_0000_0000);
    Uuid::new_v5(
        &NAMESPACE,
        format!("{}:{}:{salt}", table.name(), kind.name()).as_bytes(),
    )
}

fn resources(
    world: &World,
    rights: &Rights,
    tenants: &Tenants,
    table: Table,
    salt: usize,
    push: &mut Push<'_>,
) {
    let object = table.name();
    // Inserts: the kind is the new row's.
    let new =
        |tenant: Id, kind: RowKind, mode: Mode, shared_with: Vec<Id>, platform: bool| Resource {
            table,
            id: fresh_id(table, kind, salt),
            tenant: Some(tenant),
            name: format!("probe-{object}-{}", kind.name()),
            mode,
            shared_with,
            kind: if platform {
                Kind::Platform
            } else {
                Kind::Custom
            },
        };
    let mine: Vec<Id> = rights.member.iter().copied().collect();
    let inserts = [
        (
            RowKind::Writer,
            tenants.writer.first(),
            Mode::Private,
            vec![],
            false,
        ),
        (
            RowKind::Member,
            tenants.member.first(),
            Mode::Private,
            vec![],
            false,
        ),
        (
            RowKind::Foreign,
            tenants.foreign.first(),
            Mode::Private,
            vec![],
            false,
        ),
        (
            RowKind::Shared,
            tenants.foreign.first(),
            Mode::Selective,
            mine.first().copied().into_iter().collect(),
            false,
        ),
        (
            RowKind::Global,
            tenants.writer.first(),
            Mode::Global,
            vec![],
            false,
        ),
        (
            RowKind::Platform,
            tenants.writer.first(),
            Mode::Private,
            vec![],
            true,
        ),
    ];
    for (kind, tenant, mode, shared_with, platform) in inserts {
        // A shared row needs a tenant of the principal's to name.
        if kind == RowKind::Shared && shared_with.is_empty() {
            continue;
        }
        if let Some(&tenant) = tenant {
            let row = new(tenant, kind, mode, shared_with, platform);
            push(object, WriteOp::Insert, kind, Some(tenant), Op::Insert(row));
        }
    }

    // Updates and deletes: one row of each kind, the first the world holds.
    let mut seen = BTreeSet::new();
    for row in world.resources_of(table) {
        let kind = resource_kind(rights, row);
        if !seen.insert(kind) {
            continue;
        }
        let other_than = |list: &[Id]| list.iter().copied().find(|t| Some(*t) != row.tenant);
        let foreign_tenant = other_than(&tenants.foreign);
        let update = |f: &dyn Fn(&mut Resource)| {
            let mut new = row.clone();
            f(&mut new);
            Op::Update { id: row.id, new }
        };
        let mut write = |op: WriteOp, write: Op| push(object, op, kind, row.tenant, write);
        write(
            WriteOp::Rename,
            update(&|r| r.name = format!("{}-renamed", r.name)),
        );
        for (op, to) in [
            (WriteOp::MoveToWriter, other_than(&tenants.writer)),
            (WriteOp::MoveToMember, other_than(&tenants.member)),
            (WriteOp::MoveToForeign, foreign_tenant),
        ] {
            if let Some(to) = to {
                write(op, update(&|r| r.tenant = Some(to)));
            }
        }
        write(
            WriteOp::Publish,
            update(&|r| {
                r.mode = Mode::Global;
                r.shared_with.clear();
            }),
        );
        write(
            WriteOp::Unpublish,
            update(&|r| {
                r.mode = Mode::Private;
                r.shared_with.clear();
            }),
        );
        // Shared with a tenant the row was not shared with before.
        let target = world
            .tenants
            .iter()
            .map(|t| t.id)
            .find(|t| Some(*t) != row.tenant && !row.shared_with.contains(t));
        if let Some(target) = target {
            write(
                WriteOp::Reshare,
                update(&|r| {
                    r.mode = Mode::Selective;
                    r.shared_with = vec![target];
                }),
            );
        }
        write(WriteOp::Delete, Op::Delete { table, id: row.id });
    }
}

/// The next role up and down; an owner stays owner, a viewer stays viewer.
fn promoted(role: Role) -> Role {
    match role {
        Role::Viewer => Role::Member,
        Role::Member => Role::Admin,
        Role::Admin | Role::Owner => Role::Owner,
    }
}

fn demoted(role: Role) -> Role {
    match role {
        Role::Owner => Role::Admin,
        Role::Admin => Role::Member,
        Role::Member | Role::Viewer => Role::Viewer,
    }
}

fn memberships(
    world: &World,
    who: &Principal,
    rights: &Rights,
    tenants: &Tenants,
    push: &mut Push<'_>,
) {
    let object = "user_tenants";
    let me = who.uid();
    let kind_of = |user: Id, tenant: Id, role: Role| {
        if Some(user) == me {
            RowKind::Own
        } else if rights.writer.contains(&tenant) && role == Role::Owner {
            RowKind::Owner
        } else if rights.writer.contains(&tenant) {
            RowKind::Writer
        } else if rights.member.contains(&tenant) {
            RowKind::Member
        } else {
            RowKind::Foreign
        }
    };
    // Existing rows: promote, demote, remove one of each kind.
    let mut seen = BTreeMap::new();
    for (user, tenant, role) in world.membership_rows() {
        seen.entry(kind_of(user, tenant, role))
            .or_insert((user, tenant, role));
    }
    for (kind, (user, tenant, role)) in seen {
        for (op, write) in [
            (
                WriteOp::Promote,
                Op::SetRole {
                    user,
                    tenant,
                    role: promoted(role),
                },
            ),
            (
                WriteOp::Demote,
                Op::SetRole {
                    user,
                    tenant,
                    role: demoted(role),
                },
            ),
            (WriteOp::Remove, Op::RemoveMember { user, tenant }),
        ] {
            push(object, op, kind, Some(tenant), write);
        }
    }
    // New rows: someone who is not yet a member of the target tenant.
    let newcomer = |tenant: Id| {
        world
            .users
            .iter()
            .map(|u| u.id)
            .find(|u| Some(*u) != me && world.role_of(*u, tenant).is_none())
    };
    let mut add = |kind: RowKind, user: Option<Id>, tenant: Option<&Id>, role: Role| {
        if let (Some(user), Some(&tenant)) = (user, tenant) {
            push(
                object,
                WriteOp::Add,
                kind,
                Some(tenant),
                Op::AddMember { user, tenant, role },
            );
        }
    };
    let writer = tenants.writer.first();
    let joinable = tenants.foreign.iter().find(|t| **t != GHOST_TENANT);
    add(RowKind::Own, me, joinable, Role::Member);
    add(
        RowKind::Writer,
        writer.and_then(|t| newcomer(*t)),
        writer,
        Role::Member,
    );
    add(
        RowKind::Owner,
        writer.and_then(|t| newcomer(*t)),
        writer,
        Role::Owner,
    );
    let member = tenants.member.first();
    add(
        RowKind::Member,
        member.and_then(|t| newcomer(*t)),
        member,
        Role::Member,
    );
    add(
        RowKind::Foreign,
        joinable.and_then(|t| newcomer(*t)),
        joinable,
        Role::Member,
    );
}

fn tenancy(
    world: &World,
    who: &Principal,
    rights: &Rights,
    tenants: &Tenants,
    salt: usize,
    push: &mut Push<'_>,
) {
    let slug = format!("probe-{salt}");
    const NAMESPACE: Uuid = Uuid::from_u128(0x7e4a_0000_0000_4000_8000_0000_0000_0000);
    let id = Uuid::new_v5(&NAMESPACE, slug.as_bytes());
    push(
        "tenants",
        WriteOp::Insert,
        RowKind::New,
        Some(id),
        Op::InsertTenant { id, slug },
    );
    for (kind, tenant) in [
        (RowKind::Writer, tenants.writer.first()),
        (RowKind::Member, tenants.member.first()),
        (
            RowKind::Foreign,
            tenants.foreign.iter().find(|t| **t != GHOST_TENANT),
        ),
    ] {
        if let Some(&id) = tenant {
            let name = "Renamed".to_owned();
            push(
                "tenants",
                WriteOp::Rename,
                kind,
                Some(id),
                Op::RenameTenant { id, name },
            );
            push(
                "tenants",
                WriteOp::Delete,
                kind,
                Some(id),
                Op::DeleteTenant { id },
            );
        }
    }

    let me = who.uid();
    let other = world.users.iter().map(|u| u.id).find(|u| Some(*u) != me);
    let admin_other = world
        .users
        .iter()
        .find(|u| Some(u.id) != me && u.platform_admin)
        .map(|u| u.id);
    let targets = [(RowKind::Own, me), (RowKind::Other, other)];
    for (kind, user) in targets {
        let Some(user) = user else { continue };
        push(
            "user_roles",
            WriteOp::Insert,
            kind,
            None,
            Op::InsertUserRole { user },
        );
        push(
            "grant_platform_admin",
            WriteOp::Call,
            kind,
            None,
            Op::GrantAdmin { user },
        );
        let role = if rights.writer.contains(&DH_STARTUP_TENANT) {
            "member"
        } else {
            "admin"
        };
        push(
            "assign_user_to_dh_startup",
            WriteOp::Call,
            kind,
            Some(DH_STARTUP_TENANT),
            Op::AssignDh {
                user,
                role: role.into(),
            },
        );
    }
    if let Some(user) = admin_other.or(other) {
        push(
            "user_roles",
            WriteOp::Delete,
            RowKind::Other,
            None,
            Op::DeleteUserRole { user },
        );
    }
    if rights.platform_admin {
        if let Some(user) = me {
            push(
                "user_roles",
                WriteOp::Delete,
                RowKind::Own,
                None,
                Op::DeleteUserRole { user },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::*;
    use crate::plan::{DH_STARTUP_TENANT as DH, PLATFORM_TENANT};

    fn cells(
        world: &World,
        who: &Principal,
        context: Context,
    ) -> BTreeSet<(String, String, String, String)> {
        candidates(world, who, &context, 0)
            .into_iter()
            .map(|c| {
                (
                    c.cell.object.to_owned(),
                    c.cell.op.name().to_owned(),
                    c.cell.kind.name().to_owned(),
                    c.cell.context.name().to_owned(),
                )
            })
            .collect()
    }

    fn has(set: &BTreeSet<(String, String, String, String)>, cell: [&str; 4]) -> bool {
        set.contains(&(
            cell[0].to_owned(),
            cell[1].to_owned(),
            cell[2].to_owned(),
            cell[3].to_owned(),
        ))
    }

    /// bob writes DH and reads north: with the context on north, DH's rows are his to
    /// write but outside the context, and the space asks about every one of them.
    #[test]
    fn a_writer_out_of_context_is_asked_about_every_table() {
        let mut world = world();
        for table in Table::ALL {
            world.resources.push(resource(
                table,
                Id::from_u128(0xf000 + table as u128),
                DH,
                Mode::Private,
                &[],
            ));
        }
        let found = cells(&world, &user("bob"), Context::Tenant(NORTH));
        for table in ["agents", "tools", "prompts", "workflows"] {
            for op in ["insert", "rename", "move-foreign", "publish", "delete"] {
                assert!(
                    has(&found, [table, op, "writer", "out-of-context"]),
                    "{table} {op}"
                );
            }
        }
        let forged = cells(&world, &user("bob"), Context::Tenant(PLATFORM_TENANT));
        assert!(has(&forged, ["tools", "delete", "writer", "forged"]));
        let own = cells(&world, &user("bob"), Context::Tenant(DH));
        assert!(has(&own, ["workflows", "reshare", "writer", "own"]));
        assert!(has(&own, ["user_tenants", "remove", "writer", "own"]));
    }

    #[test]
    fn kinds_follow_the_principal_not_the_row() {
        let world = world();
        let bob = world.rights(&user("bob"));
        let vic = world.rights(&user("vic"));
        let dh_private = world.resource(Table::Agents, DH_PRIVATE).unwrap();
        let dh_selective = world.resource(Table::Agents, DH_SELECTIVE).unwrap();
        let seed = world.resource(Table::Agents, SEED_AGENT).unwrap();
        assert_eq!(resource_kind(&bob, dh_private), RowKind::Writer);
        assert_eq!(resource_kind(&vic, dh_private), RowKind::Foreign);
        assert_eq!(resource_kind(&vic, dh_selective), RowKind::Shared);
        assert_eq!(resource_kind(&bob, seed), RowKind::Platform);
        assert_eq!(
            ContextKind::of(&bob, &Context::Tenant(NORTH), Some(DH)),
            ContextKind::OutOfContext
        );
        assert_eq!(
            ContextKind::of(&bob, &Context::Malformed, Some(DH)),
            ContextKind::Forged
        );
    }

    #[test]
    fn every_candidate_lands_in_a_cell_of_the_table() {
        let world = world();
        let required: BTreeSet<Cell> = required_cells().into_iter().collect();
        for who in ["bob", "carol", "dave", "eve", "vic"] {
            for context in [
                Context::Empty,
                Context::Malformed,
                Context::Tenant(NORTH),
                Context::Tenant(DH),
            ] {
                for candidate in candidates(&world, &user(who), &context, 0) {
                    assert!(
                        required.contains(&candidate.cell),
                        "{who}: {:?} is outside the table",
                        candidate.cell
                    );
                }
            }
        }
    }

    #[test]
    fn inserted_ids_are_fresh_and_salted() {
        let world = world();
        let ids = |salt| -> BTreeSet<Id> {
            candidates(&world, &user("bob"), &Context::Empty, salt)
                .into_iter()
                .filter_map(|c| match c.op {
                    Op::Insert(row) => Some(row.id),
                    _ => None,
                })
                .collect()
        };
        let (first, second) = (ids(0), ids(1));
        assert!(!first.is_empty() && first.is_disjoint(&second));
        assert!(first
            .iter()
            .all(|id| world.resources.iter().all(|r| r.id != *id)));
    }
}
