//! The audit trail of a sequence: the rows the owner's load adds, and the owner's read
//! of `resource_sharing_audit` compared with the model's trail after a step.
//!
//! The comparison is the `audit-trail` invariant itself: exactly one row per sharing
//! change, in order, each naming its table, resource, action, actor and tenant. It is
//! read by the owner because no principal sees the whole trail except service_role,
//! whose own writes leave no actor to check.

use super::super::compare::{Mismatch, Probe};
use crate::actor;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::model::{AuditAction, AuditRow, Context, Object, Principal, World};
use crate::profile::Sql;
use crate::rule::Invariant;

/// Who acted in a step, in what context, and how long the model's trail was after it.
pub type Acted = (Principal, Context, usize);

/// `world` as the owner's load leaves it: the trigger writes an audit row, with no
/// actor, for every resource the owner inserts.
pub fn loaded(mut world: World, seeded: &World) -> World {
    if !world.shape.audit {
        return world;
    }
    let inserted: Vec<AuditRow> = world
        .resources
        .iter()
        .filter(|r| !seeded.resources.contains(r))
        .map(|r| AuditRow {
            table: r.table,
            resource: r.id,
            action: AuditAction::Insert,
            actor: None,
            tenant: r.tenant,
        })
        .collect();
    world.audit.extend(inserted);
    world
}

/// The owner's read of `resource_sharing_audit` against the model's trail: one row
/// per sharing change, in order, naming its table, resource, action, actor and tenant.
pub async fn mismatch(
    owner: &Connection,
    sql: &Sql,
    world: &World,
    acted: &[Acted],
) -> Result<Option<Mismatch>> {
    let rows = actor::statement(owner, &sql.read_audit())
        .await?
        .map_err(|failure| {
            Error::backend(
                "property",
                format!("reading the audit trail: {}", failure.message),
            )
        })?;
    let actual: Vec<String> = rows
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| v.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let expected: Vec<String> = world.audit.iter().map(|row| sql.audit_line(row)).collect();
    let Some(at) =
        (0..expected.len().max(actual.len())).find(|&i| expected.get(i) != actual.get(i))
    else {
        return Ok(None);
    };
    // Blame the step that wrote (or should have written) the first differing row.
    let (who, context) = acted
        .iter()
        .find(|(_, _, after)| *after > at)
        .or(acted.last())
        .map_or(
            (Principal::ServiceRole, Context::Empty),
            |(who, context, _)| (*who, *context),
        );
    let line = |rows: &[String]| {
        rows.get(at)
            .map_or_else(|| "no row".to_owned(), |row| named(world, row))
    };
    Ok(Some(Mismatch {
        invariant: Invariant::AuditTrail,
        who,
        context,
        probe: Probe::Read(Object::Audit),
        sql: sql.read_audit(),
        expected: format!(
            "{} rows; row {}: {}",
            expected.len(),
            at + 1,
            line(&expected)
        ),
        actual: format!("{} rows; row {}: {}", actual.len(), at + 1, line(&actual)),
    }))
}

/// An audit line with the ids of users and tenants written as their names.
fn named(world: &World, line: &str) -> String {
    let mut out = line.to_owned();
    for user in &world.users {
        out = out.replace(&user.id.to_string(), &format!("by {}", user.name));
    }
    for tenant in &world.tenants {
        out = out.replace(&tenant.id.to_string(), &format!("in {}", tenant.slug));
    }
    out
}
