//! The world the migrations leave behind, read through the profile from a clone of the
//! template by its owner: the seeded tenants, users with their memberships and
//! platform-admin rows, resource rows and audit trail. A value the model does not know
//! (a role the profile does not rank, a sharing mode, a resource type, a table or an
//! audit action outside the access model) is an error naming it.

use std::collections::BTreeMap;

use uuid::Uuid;

use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

use super::{short, Key, Profile};
use crate::connection::{ident, qualified_ident, quote_literal, Connection};
use crate::error::{Error, Result};
use crate::model::{AuditAction, AuditRow, Kind, Mode, Resource, Tenant, User, World};

/// A seeded value the model does not know, at the profile key whose column holds it.
fn unknown(profile: &Profile, key: &Key, message: String) -> Error {
    Error::Config {
        name: profile.location(key.at),
        message: format!("the seeded rows: {message}"),
    }
}

/// Value `index` of a seeded row, or an error at the profile key that names its column:
/// a column of another type than the model reads, or NULL where the model needs a value.
fn value<'r, T: FromSql<'r>>(
    row: &'r Row,
    index: usize,
    profile: &Profile,
    key: &Key,
) -> Result<T> {
    row.try_get(index).map_err(|error| Error::Config {
        name: profile.location(key.at),
        message: format!(
            "the seeded rows' {} cannot be read ({error}): name a column of the type the \
             profile documents, or seed it with values",
            key.name
        ),
    })
}

/// Reads the seeded world from the database `owner` is on.
pub async fn read(owner: &Connection, profile: &Profile) -> Result<World> {
    let mut world = World {
        tenants: read_tenants(owner, profile, false).await?,
        ..World::default()
    };
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

/// The tenants (only the personal ones, if `personal_only`), with their primary owners.
/// A personal tenant without a slug is named after its owner.
async fn read_tenants(
    owner: &Connection,
    profile: &Profile,
    personal_only: bool,
) -> Result<Vec<Tenant>> {
    let t = &profile.tenants;
    let primary_owner = t
        .primary_owner
        .as_ref()
        .map_or_else(|| "null::uuid".to_owned(), |k| ident(&k.name));
    let personal = t
        .personal
        .as_ref()
        .map_or_else(|| "false".to_owned(), |k| ident(&k.name));
    let filter = if personal_only {
        format!("where {personal}")
    } else {
        String::new()
    };
    let tenants = format!(
        "select {}, coalesce({}::text, ''), {primary_owner}, {personal}
           from {} {filter} order by 2, 1",
        ident(&t.key.name),
        ident(&t.slug.name),
        qualified_ident(&t.table.name)
    );
    let mut read = Vec::new();
    for row in owner.query(&tenants, &[]).await? {
        let primary_owner: Option<Uuid> = match &t.primary_owner {
            Some(key) => value(&row, 2, profile, key)?,
            None => None,
        };
        let personal: bool = match &t.personal {
            Some(key) => value(&row, 3, profile, key)?,
            None => false,
        };
        let mut slug: String = value(&row, 1, profile, &t.slug)?;
        if slug.is_empty() && personal {
            slug = format!("personal-{}", primary_owner.unwrap_or_default());
        }
        read.push(Tenant {
            id: value(&row, 0, profile, &t.key)?,
            slug,
            primary_owner,
            personal,
        });
    }
    Ok(read)
}

/// `world` with the personal tenants its users got at signup, which the schema made
/// while it was loaded, and their memberships: two queries, whatever the world's size.
pub async fn with_personal(owner: &Connection, profile: &Profile, world: World) -> Result<World> {
    let mut world = world;
    let Some(personal) = &profile.tenants.personal else {
        return Ok(world);
    };
    let new: Vec<Tenant> = read_tenants(owner, profile, true)
        .await?
        .into_iter()
        .filter(|t| world.tenant(t.id).is_none())
        .collect();
    if new.is_empty() {
        return Ok(world);
    }
    let (m, t) = (&profile.memberships, &profile.tenants);
    let role = m.role.as_ref().map_or_else(
        || "''".to_owned(),
        |r| format!("m.{}::text", ident(&r.name)),
    );
    let members = format!(
        "select m.{user}, m.{tenant}, {role} from {} m join {} t on t.{key} = m.{tenant} \
         where t.{personal}",
        qualified_ident(&m.table.name),
        qualified_ident(&t.table.name),
        user = ident(&m.user.name),
        tenant = ident(&m.tenant.name),
        key = ident(&t.key.name),
        personal = ident(&personal.name),
    );
    for row in owner.query(&members, &[]).await? {
        let user: Uuid = value(&row, 0, profile, &m.user)?;
        let tenant: Uuid = value(&row, 1, profile, &m.tenant)?;
        if !new.iter().any(|t| t.id == tenant) {
            continue;
        }
        let role: String = row.get(2);
        let ranked = match &m.role {
            None => crate::model::Role(0),
            Some(column) => profile.role(&role).ok_or_else(|| {
                unknown(
                    profile,
                    column,
                    format!(
                        "signup gave user {user} the role \"{role}\" in its personal tenant, \
                         which the profile does not rank: add it to roles, highest rights first"
                    ),
                )
            })?,
        };
        if let Some(member) = world.user_mut(user) {
            member.memberships.insert(tenant, ranked);
        }
    }
    world.tenants.extend(new);
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
        let tenants: Vec<Uuid> = value(&row, 2, profile, &m.tenant)?;
        let roles: Vec<String> = match &m.role {
            Some(column) => value(&row, 3, profile, column)?,
            None => row.get(3),
        };
        let mut memberships = BTreeMap::new();
        for (tenant, role) in tenants.into_iter().zip(roles) {
            let ranked = match &m.role {
                None => crate::model::Role(0),
                Some(column) => profile.role(&role).ok_or_else(|| {
                    unknown(
                        profile,
                        column,
                        format!(
                            "user {id} has the role \"{role}\", which the profile does not \
                             rank: add it to roles, highest rights first"
                        ),
                    )
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
            let id: Uuid = value(&row, 0, profile, &s.key)?;
            let mode: String = value(&row, 3, profile, &s.mode)?;
            let kind: String = value(&row, 5, profile, &s.kind)?;
            world.resources.push(Resource {
                table: crate::model::Table(i as u8),
                id,
                tenant: value(&row, 1, profile, &s.tenant)?,
                name: value(&row, 2, profile, &s.name)?,
                mode: Mode::from_name(&mode).ok_or_else(|| {
                    unknown(
                        profile,
                        &s.mode,
                        format!(
                            "{} {id} has the sharing mode \"{mode}\", and the access model \
                             knows private, selective and global",
                            table.name
                        ),
                    )
                })?,
                shared_with: value(&row, 4, profile, &s.shared_with)?,
                kind: Kind::from_name(&kind).ok_or_else(|| {
                    unknown(
                        profile,
                        &s.kind,
                        format!(
                            "{} {id} has the resource type \"{kind}\", and the access model \
                             knows platform and custom",
                            table.name
                        ),
                    )
                })?,
            });
        }
    }
    let Some(a) = &s.audit else {
        return Ok(());
    };
    let rows = super::sql::read_audit(a, 0);
    for row in owner.query(&rows, &[]).await? {
        let table: String = value(&row, 0, profile, &a.resource_table)?;
        let action: String = value(&row, 2, profile, &a.action)?;
        let table = s
            .tables
            .iter()
            .position(|t| short(&t.name) == table)
            .ok_or_else(|| {
                unknown(
                    profile,
                    &a.resource_table,
                    format!(
                        "the audit trail names {table}, which is not among the profile's \
                         resource tables"
                    ),
                )
            })?;
        world.audit.push(AuditRow {
            table: crate::model::Table(table as u8),
            resource: value(&row, 1, profile, &a.resource)?,
            action: match action.as_str() {
                "insert" => AuditAction::Insert,
                "update" => AuditAction::Update,
                "delete" => AuditAction::Delete,
                other => {
                    return Err(unknown(
                        profile,
                        &a.action,
                        format!(
                            "the audit trail holds the action \"{other}\", and the model \
                             knows insert, update and delete"
                        ),
                    ))
                }
            },
            actor: value(&row, 3, profile, &a.actor)?,
            tenant: value(&row, 4, profile, &a.tenant)?,
        });
    }
    Ok(())
}
