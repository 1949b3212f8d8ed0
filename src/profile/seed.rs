//! The world the migrations leave behind, read through the profile from a clone of the
//! template by its owner: the seeded tenants, users with their memberships and
//! platform-admin rows, resource rows and audit trail. A value the model does not know
//! (a role the profile does not rank, a sharing mode, a resource type, a table or an
//! audit action outside the access model) is an error naming it.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{short, Profile};
use crate::connection::{ident, qualified_ident, quote_literal, Connection};
use crate::error::{Error, Result};
use crate::model::{AuditAction, AuditRow, Kind, Mode, Resource, Tenant, User, World};

fn unknown(message: String) -> Error {
    Error::Config {
        name: "the seeded rows".into(),
        message,
    }
}

/// Reads the seeded world from the database `owner` is on.
pub async fn read(owner: &Connection, profile: &Profile) -> Result<World> {
    let t = &profile.tenants;
    let tenants = format!(
        "select {}, {}::text from {} order by 2",
        ident(&t.key.name),
        ident(&t.slug.name),
        qualified_ident(&t.table.name)
    );
    let mut world = World::default();
    for row in owner.query(&tenants, &[]).await? {
        world.tenants.push(Tenant {
            id: row.get(0),
            slug: row.get(1),
        });
    }
    let assign_tenant = profile.memberships.assign.as_ref().and_then(|assign| {
        world
            .tenants
            .iter()
            .find(|t| t.slug == assign.tenant.name)
            .map(|t| t.id)
    });
    if let (Some(assign), None) = (&profile.memberships.assign, assign_tenant) {
        return Err(Error::Config {
            name: profile.location(assign.tenant.at),
            message: format!(
                "the assign function's tenant \"{}\" is not among the seeded tenants ({})",
                assign.tenant.name,
                world
                    .tenants
                    .iter()
                    .map(|t| t.slug.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    world.shape = profile.shape(assign_tenant);
    read_users(owner, profile, &mut world).await?;
    read_resources(owner, profile, &mut world).await?;
    Ok(world)
}

async fn read_users(owner: &Connection, profile: &Profile, world: &mut World) -> Result<()> {
    let m = &profile.memberships;
    let role = m.role.as_ref().map_or_else(
        || "''".to_owned(),
        |r| format!("m.{}::text", ident(&r.name)),
    );
    let admin = match &profile.admins {
        Some(a) => format!(
            "exists (select 1 from {} r where r.{} = u.id and r.{} = {})",
            qualified_ident(&a.table.name),
            ident(&a.user.name),
            ident(&a.role.name),
            quote_literal(&a.value.name)
        ),
        None => "false".to_owned(),
    };
    let users = format!(
        "select u.id, coalesce(u.email, '')::text,
                array(select m.{tenant} from {table} m where m.{user} = u.id order by m.{tenant}),
                array(select {role} from {table} m where m.{user} = u.id order by m.{tenant}),
                {admin}
           from auth.users u order by u.id",
        tenant = ident(&m.tenant.name),
        user = ident(&m.user.name),
        table = qualified_ident(&m.table.name),
    );
    for row in owner.query(&users, &[]).await? {
        let id: Uuid = row.get(0);
        let email: String = row.get(1);
        let (tenants, roles): (Vec<Uuid>, Vec<String>) = (row.get(2), row.get(3));
        let mut memberships = BTreeMap::new();
        for (tenant, role) in tenants.into_iter().zip(roles) {
            let ranked = match &m.role {
                None => crate::model::Role(0),
                Some(_) => profile.role(&role).ok_or_else(|| {
                    unknown(format!(
                        "user {id} has the role \"{role}\", which the profile does not rank"
                    ))
                })?,
            };
            memberships.insert(tenant, ranked);
        }
        world.users.push(User {
            id,
            name: email.split('@').next().unwrap_or_default().to_owned(),
            memberships,
            admin: row.get(4),
        });
    }
    Ok(())
}

async fn read_resources(owner: &Connection, profile: &Profile, world: &mut World) -> Result<()> {
    let Some(s) = &profile.sharing else {
        return Ok(());
    };
    for (i, table) in s.tables.iter().enumerate() {
        let rows = format!(
            "select {}, {}, {}::text, {}::text, {}, {}::text from {} order by 1",
            ident(&s.key.name),
            ident(&s.tenant.name),
            ident(&s.name.name),
            ident(&s.mode.name),
            ident(&s.shared_with.name),
            ident(&s.kind.name),
            qualified_ident(&table.name)
        );
        for row in owner.query(&rows, &[]).await? {
            let id: Uuid = row.get(0);
            let (mode, kind): (String, String) = (row.get(3), row.get(5));
            world.resources.push(Resource {
                table: crate::model::Table(i as u8),
                id,
                tenant: row.get(1),
                name: row.get(2),
                mode: Mode::from_name(&mode).ok_or_else(|| {
                    unknown(format!(
                        "{} {id} has the unknown sharing mode {mode}",
                        table.name
                    ))
                })?,
                shared_with: row.get(4),
                kind: Kind::from_name(&kind).ok_or_else(|| {
                    unknown(format!(
                        "{} {id} has the unknown resource type {kind}",
                        table.name
                    ))
                })?,
            });
        }
    }
    let Some(a) = &s.audit else {
        return Ok(());
    };
    let rows = super::sql::read_audit(a, 0);
    for row in owner.query(&rows, &[]).await? {
        let (table, action): (String, String) = (row.get(0), row.get(2));
        let table = s
            .tables
            .iter()
            .position(|t| short(&t.name) == table)
            .ok_or_else(|| unknown(format!("the audit trail names {table}, no resource table")))?;
        world.audit.push(AuditRow {
            table: crate::model::Table(table as u8),
            resource: row.get(1),
            action: match action.as_str() {
                "insert" => AuditAction::Insert,
                "update" => AuditAction::Update,
                "delete" => AuditAction::Delete,
                other => {
                    return Err(unknown(format!(
                        "the audit trail holds the unknown action {other}"
                    )))
                }
            },
            actor: row.get(3),
            tenant: row.get(4),
        });
    }
    Ok(())
}
