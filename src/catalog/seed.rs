//! The rows the migrations leave behind in the tables the access model speaks of: the
//! seeded tenants, users and their memberships, resources, and audit trail. Read from a
//! clone of the template as plain data; the model turns it into its world.

use uuid::Uuid;

use crate::config::Tenancy;
use crate::connection::{quote_ident, Connection};
use crate::error::Result;

/// A seeded user, with its memberships (tenant, role) and whether it is a platform
/// admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedUser {
    pub id: Uuid,
    pub email: String,
    pub memberships: Vec<(Uuid, String)>,
    pub platform_admin: bool,
}

/// A seeded row of a resource table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedResource {
    pub table: String,
    pub id: Uuid,
    pub tenant: Option<Uuid>,
    pub name: String,
    pub mode: String,
    pub shared_with: Vec<Uuid>,
    pub kind: String,
}

/// A seeded row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedAudit {
    pub table: String,
    pub resource: Uuid,
    pub action: String,
    pub actor: Option<Uuid>,
    pub tenant: Option<Uuid>,
}

/// Everything the migrations seeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seed {
    /// `(id, slug)`, by slug.
    pub tenants: Vec<(Uuid, String)>,
    pub users: Vec<SeedUser>,
    pub resources: Vec<SeedResource>,
    pub audit: Vec<SeedAudit>,
}

/// `schema.name` quoted as an identifier pair.
fn qualified(name: &str) -> String {
    match name.split_once('.') {
        Some((schema, table)) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(name),
    }
}

/// Reads the seed from the database `connection` is on, as its owner: the tenancy
/// tables `tenancy` names, the resource tables `resources` (`schema.name`), and the
/// audit trail `audit` (or none).
pub async fn read(
    connection: &Connection,
    tenancy: &Tenancy,
    resources: &[String],
    audit: Option<&str>,
) -> Result<Seed> {
    let mut seed = Seed::default();
    let tenants = format!(
        "select id, slug::text from {} order by slug",
        qualified(&tenancy.tenants)
    );
    for row in connection.query(&tenants, &[]).await? {
        seed.tenants.push((row.get(0), row.get(1)));
    }
    let users = format!(
        "select u.id, coalesce(u.email, '')::text,
                array(select m.tenant_id from {memberships} m where m.user_id = u.id order by m.tenant_id),
                array(select m.role::text from {memberships} m where m.user_id = u.id order by m.tenant_id),
                exists (select 1 from {roles} r where r.user_id = u.id and r.role = 'platform_admin')
           from auth.users u order by u.id",
        memberships = qualified(&tenancy.memberships),
        roles = qualified(&tenancy.platform_roles),
    );
    for row in connection.query(&users, &[]).await? {
        let (tenants, roles): (Vec<Uuid>, Vec<String>) = (row.get(2), row.get(3));
        seed.users.push(SeedUser {
            id: row.get(0),
            email: row.get(1),
            memberships: tenants.into_iter().zip(roles).collect(),
            platform_admin: row.get(4),
        });
    }
    for table in resources {
        let short = table.rsplit('.').next().unwrap_or(table).to_owned();
        let rows = format!(
            "select id, tenant_id, name::text, sharing_mode::text, shared_with, resource_type::text
               from {} order by id",
            qualified(table)
        );
        for row in connection.query(&rows, &[]).await? {
            seed.resources.push(SeedResource {
                table: short.clone(),
                id: row.get(0),
                tenant: row.get(1),
                name: row.get(2),
                mode: row.get(3),
                shared_with: row.get(4),
                kind: row.get(5),
            });
        }
    }
    if let Some(audit) = audit {
        let rows = format!(
            "select table_name::text, resource_id, action::text, actor_id, tenant_id from {} order by id",
            qualified(audit)
        );
        for row in connection.query(&rows, &[]).await? {
            seed.audit.push(SeedAudit {
                table: row.get(0),
                resource: row.get(1),
                action: row.get(2),
                actor: row.get(3),
                tenant: row.get(4),
            });
        }
    }
    Ok(seed)
}
