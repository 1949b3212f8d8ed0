//! The operation space: every write a principal can attempt in a world, derived from
//! the model rather than picked from a menu.
//!
//! For a principal and a tenant context, each object (the resource tables, the tenancy
//! tables and the functions that write them) is paired with each *kind of row*
//! the world holds for that principal (a row of a tenant it writes, one it only reads,
//! another tenant's private or shared row, a global or platform row, its own membership,
//! an owner's, ...) and each operation (insert, rename, moves to each kind of tenant,
//! publish, unpublish, re-share, delete; add, promote, demote, remove; calls). Every
//! candidate carries its [`Cell`]: object × operation × kind × context relative to the
//! row (none, the row's own tenant, another of the principal's tenants, forged). The
//! property engine probes one candidate per cell and counts the cells, so a cell that
//! no world reached shows up in the coverage table instead of passing in silence.

use std::collections::BTreeMap;

use crate::model::{Context, Id, Object, Principal, Rights, Shape, World};

mod candidates;

pub(super) use candidates::resource_kind;
pub use candidates::{candidates, Candidate};

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
    /// Raise a member's role one rank.
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
            Principal::ServiceRole | Principal::Owner => Actor::ServiceRole,
            Principal::User(id) if world.user(*id).is_some_and(|u| u.admin) => Actor::PlatformAdmin,
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

/// One cell of the coverage table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub object: Object,
    pub op: WriteOp,
    pub kind: RowKind,
    pub context: ContextKind,
    pub actor: Actor,
}

/// The operations and kinds of rows that make sense for `object` in a tenancy of
/// `shape`: roles are promoted and demoted only where there are several, and an owner's
/// membership is a kind of row only where a role is protected.
pub fn ops_of(shape: &Shape, object: Object) -> Vec<(WriteOp, Vec<RowKind>)> {
    use RowKind::*;
    use WriteOp::*;
    let resource = vec![Writer, Member, Foreign, Shared, Global, Platform];
    match object {
        Object::Memberships => {
            let mut kinds = vec![Own, Writer, Owner, Member, Foreign];
            if shape.protected().is_none() {
                kinds.retain(|k| *k != Owner);
            }
            let ops = if shape.roles.len() > 1 {
                vec![Add, Promote, Demote, Remove]
            } else {
                vec![Add, Remove]
            };
            ops.into_iter().map(|op| (op, kinds.clone())).collect()
        }
        Object::Tenants => vec![
            (Insert, vec![New]),
            (Rename, vec![Writer, Member, Foreign]),
            (Delete, vec![Writer, Member, Foreign]),
        ],
        // A plain user has no admin row of its own to delete.
        Object::PlatformAdmins => vec![(Insert, vec![Own, Other]), (Delete, vec![Other])],
        Object::GrantAdmin | Object::Assign => vec![(Call, vec![Own, Other])],
        Object::Audit | Object::SharedView | Object::Lists(_) | Object::SetContext => Vec::new(),
        Object::Resource(_) => [
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
fn context_possible(
    shape: &Shape,
    object: Object,
    op: WriteOp,
    kind: RowKind,
    context: ContextKind,
) -> bool {
    if context == ContextKind::None {
        return true;
    }
    if !shape.context {
        return false;
    }
    if context != ContextKind::Own {
        return true;
    }
    match object {
        Object::PlatformAdmins | Object::GrantAdmin => false,
        Object::Assign => true,
        Object::Memberships if op == WriteOp::Add && kind == RowKind::Own => false,
        _ => kind.can_be_in_own_tenant(),
    }
}

/// Every cell a plain user must reach in a tenancy of `shape`: the coverage table's
/// rows.
pub fn required_cells(shape: &Shape) -> Vec<Cell> {
    let mut cells = Vec::new();
    for object in shape.write_objects() {
        for (op, kinds) in ops_of(shape, object) {
            for kind in kinds {
                for context in ContextKind::ALL {
                    if context_possible(shape, object, op, kind, context) {
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
pub fn possible_pairs(shape: &Shape, actor: Actor) -> Vec<(Object, WriteOp)> {
    let tenantless = matches!(actor, Actor::Anon | Actor::NoSub | Actor::ServiceRole);
    let mut pairs: Vec<_> = required_cells(shape)
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
    pub pairs: Vec<(Actor, Object, WriteOp)>,
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

/// The gaps of `coverage` (probes per cell) in a tenancy of `shape`.
pub fn gaps(shape: &Shape, coverage: &BTreeMap<Cell, u64>) -> Gaps {
    let reached = |cell: &Cell| coverage.get(cell).is_some_and(|n| *n > 0);
    let cells = required_cells(shape)
        .into_iter()
        .filter(|c| !reached(c))
        .collect();
    let mut pairs = Vec::new();
    for actor in OTHER_ACTORS {
        if actor == Actor::PlatformAdmin && !shape.admins {
            continue;
        }
        for (object, op) in possible_pairs(shape, actor) {
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
