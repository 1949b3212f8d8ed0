//! The SQL that stands for the model: a world loaded by the owner, and each read,
//! write and function call a principal is probed with. The tenancy tables and the
//! tenant context are the schema's (from `rls-harness.toml`); the resource tables,
//! the audit trail, the shared view and the functions are the ones the model speaks of.

use crate::config::Tenancy;
use crate::connection::quote_literal;
use crate::model::{Id, Op, Resource, Table, World};

pub fn uuid(id: Id) -> String {
    format!("'{id}'::uuid")
}

fn uuid_array(ids: &[Id]) -> String {
    let items: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    format!("'{{{}}}'::uuid[]", items.join(","))
}

/// The audit trail, in insertion order, as the owner or a principal reads it.
pub const READ_AUDIT: &str =
    "select table_name, resource_id::text, action, coalesce(actor_id::text, ''), \
     coalesce(tenant_id::text, '') from public.resource_sharing_audit order by id";
pub const READ_SHARED_VIEW: &str =
    "select resource_table, id::text from public.mv_platform_shared_resources";

/// Columns that some resource tables require beyond the shared ones.
fn required_columns(table: Table) -> (&'static str, &'static str) {
    match table {
        Table::Prompts => (", content", ", 'generated'"),
        _ => ("", ""),
    }
}

/// The owner's `INSERT` of `resource`, with every column its table requires: the
/// statement a world's rows and insert probes are made of.
pub fn insert(resource: &Resource) -> String {
    let (extra_columns, extra_values) = required_columns(resource.table);
    format!(
        "insert into public.{} (id, tenant_id, name, sharing_mode, is_shared, shared_with, resource_type{extra_columns}) \
         values ({}, {}, {}, '{}', {}, {}, '{}'{extra_values})",
        resource.table.name(),
        uuid(resource.id),
        resource.tenant.map_or("null".into(), uuid),
        quote_literal(&resource.name),
        resource.mode.name(),
        resource.is_shared(),
        uuid_array(&resource.shared_with),
        resource.kind.name()
    )
}

/// Writes the model's SQL for a schema whose tenancy is `tenancy`.
#[derive(Debug, Clone)]
pub struct Sql {
    tenancy: Tenancy,
}

impl Sql {
    pub fn new(tenancy: &Tenancy) -> Sql {
        Sql {
            tenancy: tenancy.clone(),
        }
    }

    /// The owner's SQL that adds to the seeded database what `world` has beyond
    /// `seeded`.
    pub fn load(&self, world: &World, seeded: &World) -> String {
        let t = &self.tenancy;
        let mut sql = String::new();
        for tenant in world.tenants.iter().filter(|t| !seeded.tenants.contains(t)) {
            sql.push_str(&format!(
                "insert into {} (id, slug, name, type, subscription_tier) values ({}, {}, {}, 'industry', 'professional');\n",
                t.tenants,
                uuid(tenant.id),
                quote_literal(&tenant.slug),
                quote_literal(&tenant.slug)
            ));
        }
        for user in world.users.iter().filter(|u| !seeded.users.contains(u)) {
            sql.push_str(&format!(
                "insert into auth.users (id, email, aud, role) values ({}, {}, 'authenticated', 'authenticated');\n",
                uuid(user.id),
                quote_literal(&format!("{}@example.test", user.name))
            ));
            for (tenant, role) in &user.memberships {
                sql.push_str(&format!(
                    "insert into {} (user_id, tenant_id, role) values ({}, {}, '{}');\n",
                    t.memberships,
                    uuid(user.id),
                    uuid(*tenant),
                    role.name()
                ));
            }
            if user.platform_admin {
                sql.push_str(&format!(
                    "insert into {} (user_id, role) values ({}, 'platform_admin');\n",
                    t.platform_roles,
                    uuid(user.id)
                ));
            }
        }
        for resource in world
            .resources
            .iter()
            .filter(|r| !seeded.resources.contains(r))
        {
            sql.push_str(&insert(resource));
            sql.push_str(";\n");
        }
        sql
    }

    /// The statement an [`Op`] stands for in `world`. An update sets only the columns
    /// it changes, as a PostgREST `PATCH` does (all of them when `world` lacks the row).
    pub fn op(&self, world: &World, op: &Op) -> String {
        let t = &self.tenancy;
        match op {
            Op::Insert(resource) => insert(resource),
            Op::Update { id, new } => update(world, *id, new),
            Op::Delete { table, id } => {
                format!("delete from public.{} where id = {}", table.name(), uuid(*id))
            }
            Op::AddMember { user, tenant, role } => format!(
                "insert into {} (user_id, tenant_id, role) values ({}, {}, '{}')",
                t.memberships,
                uuid(*user),
                uuid(*tenant),
                role.name()
            ),
            Op::SetRole { user, tenant, role } => format!(
                "update {} set role = '{}' where user_id = {} and tenant_id = {}",
                t.memberships,
                role.name(),
                uuid(*user),
                uuid(*tenant)
            ),
            Op::RemoveMember { user, tenant } => format!(
                "delete from {} where user_id = {} and tenant_id = {}",
                t.memberships,
                uuid(*user),
                uuid(*tenant)
            ),
            Op::GrantAdmin { user } => {
                format!("select public.grant_platform_admin({})", uuid(*user))
            }
            Op::InsertUserRole { user } => format!(
                "insert into {} (user_id, role) values ({}, 'platform_admin')",
                t.platform_roles,
                uuid(*user)
            ),
            Op::AssignDh { user, role } => format!(
                "select public.assign_user_to_dh_startup({}, {})",
                uuid(*user),
                quote_literal(role)
            ),
            Op::InsertTenant { id, slug } => format!(
                "insert into {} (id, slug, name, type, subscription_tier) values ({}, {}, {}, 'industry', 'professional')",
                t.tenants,
                uuid(*id),
                quote_literal(slug),
                quote_literal(slug)
            ),
            Op::RenameTenant { id, name } => format!(
                "update {} set name = {} where id = {}",
                t.tenants,
                quote_literal(name),
                uuid(*id)
            ),
            Op::DeleteTenant { id } => format!("delete from {} where id = {}", t.tenants, uuid(*id)),
            Op::DeleteUserRole { user } => format!(
                "delete from {} where user_id = {} and role = 'platform_admin'",
                t.platform_roles,
                uuid(*user)
            ),
        }
    }

    /// Every resource a principal reads, one row per `(table, id)`.
    pub fn read_resources(&self) -> String {
        Table::ALL
            .iter()
            .map(|t| format!("select '{0}', id::text from public.{0}", t.name()))
            .collect::<Vec<_>>()
            .join(" union all ")
    }

    pub fn read_tenants(&self) -> String {
        format!("select id::text from {}", self.tenancy.tenants)
    }

    pub fn read_memberships(&self) -> String {
        format!(
            "select user_id::text, tenant_id::text from {}",
            self.tenancy.memberships
        )
    }

    pub fn read_admins(&self) -> String {
        format!(
            "select user_id::text from {} where role = 'platform_admin'",
            self.tenancy.platform_roles
        )
    }

    pub fn accessible(&self, table: Table, tenant: Id) -> String {
        format!(
            "select id::text from public.get_accessible_{}({})",
            table.name(),
            uuid(tenant)
        )
    }

    /// Sets the tenant context through the schema's function, which checks the caller.
    pub fn set_context(&self, tenant: Id) -> String {
        self.tenancy.set_context_sql(tenant)
    }
}

/// `update` of a resource row, setting only the columns that change.
fn update(world: &World, id: Id, new: &Resource) -> String {
    let old = world.resource(new.table, id);
    let changed = |same: &dyn Fn(&Resource) -> bool| old.is_none_or(|old| !same(old));
    let mut set = Vec::new();
    if changed(&|old| old.id == new.id) {
        set.push(format!("id = {}", uuid(new.id)));
    }
    if changed(&|old| old.tenant == new.tenant) {
        set.push(format!(
            "tenant_id = {}",
            new.tenant.map_or("null".into(), uuid)
        ));
    }
    if changed(&|old| old.name == new.name) {
        set.push(format!("name = {}", quote_literal(&new.name)));
    }
    if changed(&|old| old.mode == new.mode) {
        set.push(format!("sharing_mode = '{}'", new.mode.name()));
        set.push(format!("is_shared = {}", new.is_shared()));
    }
    if changed(&|old| old.shared_with == new.shared_with) {
        set.push(format!("shared_with = {}", uuid_array(&new.shared_with)));
    }
    if changed(&|old| old.kind == new.kind) {
        set.push(format!("resource_type = '{}'", new.kind.name()));
    }
    // An update that changes nothing still runs, and the policies still judge it.
    if set.is_empty() {
        set.push(format!("name = {}", quote_literal(&new.name)));
    }
    format!(
        "update public.{} set {} where id = {}",
        new.table.name(),
        set.join(", "),
        uuid(id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Mode};

    #[test]
    fn inserts_name_every_sharing_column_and_what_the_table_requires() {
        let prompt = Resource {
            table: Table::Prompts,
            id: Id::from_u128(1),
            tenant: Some(Id::from_u128(2)),
            name: "it's".into(),
            mode: Mode::Selective,
            shared_with: vec![Id::from_u128(3)],
            kind: Kind::Custom,
        };
        let sql = Sql::new(&Tenancy::default()).op(&World::default(), &Op::Insert(prompt));
        assert!(sql.starts_with("insert into public.prompts (id, tenant_id, name, sharing_mode, is_shared, shared_with, resource_type, content)"), "{sql}");
        assert!(sql.contains("'it''s', 'selective', true, '{00000000-0000-0000-0000-000000000003}'::uuid[], 'custom', 'generated'"), "{sql}");
    }
}

#[cfg(test)]
mod update_tests {
    use super::*;
    use crate::model::{Kind, Mode};

    /// Like a PATCH: a rename sets the name, a publish the mode and its flag, and
    /// nothing else, so the primary key and the indexes stay as they are.
    #[test]
    fn updates_set_only_what_they_change() {
        let row = Resource {
            table: Table::Tools,
            id: Id::from_u128(1),
            tenant: Some(Id::from_u128(2)),
            name: "t".into(),
            mode: Mode::Private,
            shared_with: vec![],
            kind: Kind::Custom,
        };
        let world = World {
            resources: vec![row.clone()],
            ..World::default()
        };
        let rename = Op::Update {
            id: row.id,
            new: Resource {
                name: "u".into(),
                ..row.clone()
            },
        };
        assert_eq!(
            Sql::new(&Tenancy::default()).op(&world, &rename),
            "update public.tools set name = 'u' where id = '00000000-0000-0000-0000-000000000001'::uuid"
        );
        let publish = Op::Update {
            id: row.id,
            new: Resource {
                mode: Mode::Global,
                ..row.clone()
            },
        };
        assert!(Sql::new(&Tenancy::default())
            .op(&world, &publish)
            .contains("set sharing_mode = 'global', is_shared = true where"));
        // Without the row, every column is set.
        let sql = Sql::new(&Tenancy::default()).op(&World::default(), &publish);
        assert!(
            sql.contains("id = ")
                && sql.contains("tenant_id = ")
                && sql.contains("resource_type = "),
            "{sql}"
        );
    }
}
