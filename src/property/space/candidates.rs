//! Every write a principal can attempt in a world, one candidate per cell of the
//! operation space: writes of each resource table on each kind of row, the tenancy
//! tables' memberships and tenants, and the functions that write them.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::{Actor, Cell, ContextKind, RowKind, WriteOp};
use crate::model::{Context, Id, Kind, Mode, Object, Op, Principal, Resource, Rights, Role};
use crate::model::{Table, World};
use crate::property::generate::GHOST_TENANT;

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
/// fresh for a sequence step (rows inserted by earlier steps stay in the world);
/// `labels` name the resource tables in the rows it inserts.
pub fn candidates(
    world: &World,
    who: &Principal,
    context: &Context,
    salt: usize,
    labels: &[String],
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
    let mut push = |object: Object, op: WriteOp, kind: RowKind, tenant: Option<Id>, write: Op| {
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
    for table in world.shape.tables() {
        let label = labels
            .get(table.0 as usize)
            .map_or("resource", String::as_str);
        resources(world, &rights, &tenants, (table, label), salt, &mut push);
    }
    memberships(world, who, &rights, &tenants, &mut push);
    tenancy(world, who, &rights, &tenants, salt, &mut push);
    out
}

type Push<'a> = dyn FnMut(Object, WriteOp, RowKind, Option<Id>, Op) + 'a;

/// The kind of a resource row for a principal with `rights`.
pub(in crate::property) fn resource_kind(rights: &Rights, row: &Resource) -> RowKind {
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
        format!("{}:{}:{salt}", table.0, kind.name()).as_bytes(),
    )
}

fn resources(
    world: &World,
    rights: &Rights,
    tenants: &Tenants,
    (table, label): (Table, &str),
    salt: usize,
    push: &mut Push<'_>,
) {
    let object = Object::Resource(table);
    // Inserts: the kind is the new row's.
    let new =
        |tenant: Id, kind: RowKind, mode: Mode, shared_with: Vec<Id>, platform: bool| Resource {
            table,
            id: fresh_id(table, kind, salt),
            tenant: Some(tenant),
            name: format!("probe-{label}-{}", kind.name()),
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

fn memberships(
    world: &World,
    who: &Principal,
    rights: &Rights,
    tenants: &Tenants,
    push: &mut Push<'_>,
) {
    let object = Object::Memberships;
    let shape = &world.shape;
    let me = who.uid();
    let kind_of = |user: Id, tenant: Id, role: Role| {
        if Some(user) == me {
            RowKind::Own
        } else if rights.writer.contains(&tenant) && rights.protected.contains(&role) {
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
        // With a single role (or none) there is nothing to promote or demote.
        if shape.roles.len() > 1 {
            let promote = Op::SetRole {
                user,
                tenant,
                role: role.promoted(),
            };
            let demote = Op::SetRole {
                user,
                tenant,
                role: shape.demoted(role),
            };
            push(object, WriteOp::Promote, kind, Some(tenant), promote);
            push(object, WriteOp::Demote, kind, Some(tenant), demote);
        }
        let remove = Op::RemoveMember { user, tenant };
        push(object, WriteOp::Remove, kind, Some(tenant), remove);
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
    let plain = shape.plain();
    add(RowKind::Own, me, joinable, plain);
    add(
        RowKind::Writer,
        writer.and_then(|t| newcomer(*t)),
        writer,
        plain,
    );
    if let Some(owner) = shape.protected() {
        add(
            RowKind::Owner,
            writer.and_then(|t| newcomer(*t)),
            writer,
            owner,
        );
    }
    let member = tenants.member.first();
    add(
        RowKind::Member,
        member.and_then(|t| newcomer(*t)),
        member,
        plain,
    );
    add(
        RowKind::Foreign,
        joinable.and_then(|t| newcomer(*t)),
        joinable,
        plain,
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
        Object::Tenants,
        WriteOp::Insert,
        RowKind::New,
        Some(id),
        Op::InsertTenant {
            id,
            slug,
            // A signed-in caller owns what it creates; the roles that bypass row
            // security name an owner; a caller without identity names none.
            owner: match who {
                Principal::ServiceRole | Principal::Owner => world.users.first().map(|u| u.id),
                _ => who.uid(),
            },
        },
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
            let (rename, delete) = (Op::RenameTenant { id }, Op::DeleteTenant { id });
            push(Object::Tenants, WriteOp::Rename, kind, Some(id), rename);
            push(Object::Tenants, WriteOp::Delete, kind, Some(id), delete);
        }
    }

    let shape = &world.shape;
    let me = who.uid();
    let other = world.users.iter().map(|u| u.id).find(|u| Some(*u) != me);
    let admin_other = world
        .users
        .iter()
        .find(|u| Some(u.id) != me && u.admin)
        .map(|u| u.id);
    let targets = [(RowKind::Own, me), (RowKind::Other, other)];
    for (kind, user) in targets {
        let Some(user) = user else { continue };
        if shape.admins {
            let add = Op::AddAdmin { user };
            push(Object::PlatformAdmins, WriteOp::Insert, kind, None, add);
        }
        if shape.grant_admin {
            let grant = Op::GrantAdmin { user };
            push(Object::GrantAdmin, WriteOp::Call, kind, None, grant);
        }
        if let Some(assign) = &shape.assign {
            // A manager of the tenant assigns a plain role; anyone else tries the
            // highest role the function gives.
            let highest = assign.roles.iter().min().copied().unwrap_or(shape.plain());
            let role = if rights.writer.contains(&assign.tenant) {
                shape.plain()
            } else {
                highest
            };
            let call = Op::Assign { user, role };
            push(
                Object::Assign,
                WriteOp::Call,
                kind,
                Some(assign.tenant),
                call,
            );
        }
    }
    if !shape.admins {
        return;
    }
    if let Some(user) = admin_other.or(other) {
        let remove = Op::RemoveAdmin { user };
        push(
            Object::PlatformAdmins,
            WriteOp::Delete,
            RowKind::Other,
            None,
            remove,
        );
    }
    if rights.admin {
        if let Some(user) = me {
            let remove = Op::RemoveAdmin { user };
            push(
                Object::PlatformAdmins,
                WriteOp::Delete,
                RowKind::Own,
                None,
                remove,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::*;
    use crate::property::space::required_cells;

    fn cells(
        world: &World,
        who: &Principal,
        context: Context,
    ) -> BTreeSet<(String, String, String, String)> {
        candidates(world, who, &context, 0, &labels())
            .into_iter()
            .map(|c| {
                (
                    label(c.cell.object).to_owned(),
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
        for table in world.shape.tables() {
            world.resources.push(resource(
                table,
                Id::from_u128(0xf000 + u128::from(table.0)),
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
        let forged = cells(&world, &user("bob"), Context::Tenant(PLATFORM));
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
        let dh_private = world.resource(AGENTS, DH_PRIVATE).unwrap();
        let dh_selective = world.resource(AGENTS, DH_SELECTIVE).unwrap();
        let seed = world.resource(AGENTS, SEED_AGENT).unwrap();
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
        let required: BTreeSet<Cell> = required_cells(&world.shape).into_iter().collect();
        for who in ["bob", "carol", "dave", "eve", "vic"] {
            for context in [
                Context::Empty,
                Context::Malformed,
                Context::Tenant(NORTH),
                Context::Tenant(DH),
            ] {
                for candidate in candidates(&world, &user(who), &context, 0, &labels()) {
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
            candidates(&world, &user("bob"), &Context::Empty, salt, &labels())
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
