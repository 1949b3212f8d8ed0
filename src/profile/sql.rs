//! The SQL that stands for the model, in the profile's names: a world loaded by the
//! owner, the rows a scenario file declares, and each read, write and function call a
//! principal is probed with. Columns the profile does not name but a new row needs (not
//! null, no default) get the row's label when they hold text, else a value of their type
//! (`catalog::typed_value`).

use super::{callable, short, Audit, Profile};
use crate::catalog::Catalog;
use crate::connection::{ident, qualified_ident, quote_literal};
use crate::model::{AuditRow, Id, Object, Op, Resource, Table, World};

pub fn uuid(id: Id) -> String {
    format!("'{id}'::uuid")
}

fn uuid_array(ids: &[Id]) -> String {
    let items: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    format!("'{{{}}}'::uuid[]", items.join(","))
}

/// The audit trail's rows after the first `offset`, oldest first: resource table and
/// action as text, resource, actor, tenant. The seed reads the migrations' trail with it
/// and a counterexample replays its own.
pub(super) fn read_audit(a: &Audit, offset: usize) -> String {
    format!(
        "select {}::text, {}, {}::text, {}, {}\nfrom {} order by {} offset {offset}",
        ident(&a.resource_table.name),
        ident(&a.resource.name),
        ident(&a.action.name),
        ident(&a.actor.name),
        ident(&a.tenant.name),
        qualified_ident(&a.table.name),
        ident(&a.order.name)
    )
}

/// A row of Supabase's `auth.users`, with the metadata its claims carry.
pub fn insert_user(id: Id, email: &str, app_meta: &str, user_meta: &str) -> String {
    format!(
        "insert into auth.users (id, email, aud, role, raw_app_meta_data, raw_user_meta_data) \
         values ({}, {}, 'authenticated', 'authenticated', {}, {})",
        uuid(id),
        quote_literal(email),
        quote_literal(app_meta),
        quote_literal(user_meta)
    )
}

/// A column a new row needs that the profile does not name: text gets the row's label.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Needed {
    Label(String),
    Value { column: String, value: String },
}

/// Writes the model's SQL for one profile and the catalog it was checked against.
#[derive(Debug, Clone)]
pub struct Sql {
    profile: Profile,
    /// What a new tenant row needs beyond its key and slug.
    tenant_needs: Vec<Needed>,
    /// What a new row of each resource table needs beyond the sharing columns.
    resource_needs: Vec<Vec<Needed>>,
    /// The column a reviewer reads the view of shared resources by: the resources'
    /// name where the view shows it, else its id column.
    view_label: String,
}

/// The not-null columns without a default of `table` that `named` leaves out.
fn needs(catalog: &Catalog, table: &str, named: &[&str]) -> Vec<Needed> {
    let Some(relation) = catalog.relation(table) else {
        return Vec::new();
    };
    relation
        .columns
        .iter()
        .filter(|c| c.not_null && c.default.is_none() && !named.contains(&c.name.as_str()))
        .map(|c| {
            let text = matches!(
                c.type_name.as_str(),
                "text" | "character varying" | "varchar" | "citext"
            );
            match crate::catalog::typed_value(&c.type_name) {
                // The type's value is an expression of a row number `n`.
                Some(value) if !text => Needed::Value {
                    column: c.name.clone(),
                    value: format!("(select {value} from (select 1 as n) s)"),
                },
                _ => Needed::Label(c.name.clone()),
            }
        })
        .collect()
}

impl Sql {
    pub fn new(profile: &Profile, catalog: &Catalog) -> Sql {
        let t = &profile.tenants;
        let tenant_needs = needs(
            catalog,
            &t.table.name,
            &[t.key.name.as_str(), t.slug.name.as_str()],
        );
        let resource_needs = match &profile.sharing {
            Some(s) => s
                .tables
                .iter()
                .map(|table| {
                    let named = [
                        s.key.name.as_str(),
                        s.tenant.name.as_str(),
                        s.name.name.as_str(),
                        s.mode.name.as_str(),
                        s.flag.name.as_str(),
                        s.shared_with.name.as_str(),
                        s.kind.name.as_str(),
                    ];
                    needs(catalog, &table.name, &named)
                })
                .collect(),
            None => Vec::new(),
        };
        let view_label = profile
            .sharing
            .as_ref()
            .and_then(|s| {
                let view = s.view.as_ref()?;
                let shows_name = catalog
                    .relation(&view.view.name)
                    .is_some_and(|r| r.column(&s.name.name).is_some());
                Some(if shows_name { &s.name } else { &view.id }.name.clone())
            })
            .unwrap_or_default();
        Sql {
            profile: profile.clone(),
            tenant_needs,
            resource_needs,
            view_label,
        }
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// How reports and generated rows name the resource tables, by position.
    pub fn labels(&self) -> Vec<String> {
        self.profile.sharing.as_ref().map_or_else(Vec::new, |s| {
            s.tables.iter().map(|t| short(&t.name).to_owned()).collect()
        })
    }

    fn name(&self, object: Object) -> String {
        qualified_ident(callable(&self.profile.name(object)))
    }

    /// `(columns, values)` of what `needs` asks for a row labelled `label`.
    fn needed(needs: &[Needed], label: &str) -> (String, String) {
        let mut columns = String::new();
        let mut values = String::new();
        for need in needs {
            let (column, value) = match need {
                Needed::Label(column) => (column, quote_literal(label)),
                Needed::Value { column, value } => (column, value.clone()),
            };
            columns.push_str(&format!(", {}", ident(column)));
            values.push_str(&format!(", {value}"));
        }
        (columns, values)
    }

    /// A new tenant row; `columns` are given values (a scenario file's), which replace
    /// what the row would need otherwise.
    pub fn insert_tenant(&self, id: Id, slug: &str, columns: &[(String, String)]) -> String {
        let t = &self.profile.tenants;
        let needs: Vec<Needed> = self
            .tenant_needs
            .iter()
            .filter(|n| {
                let column = match n {
                    Needed::Label(c) | Needed::Value { column: c, .. } => c,
                };
                !columns.iter().any(|(given, _)| given == column)
            })
            .cloned()
            .collect();
        let (mut names, mut values) = Self::needed(&needs, slug);
        for (column, value) in columns {
            names.push_str(&format!(", {}", ident(column)));
            values.push_str(&format!(", {}", quote_literal(value)));
        }
        format!(
            "insert into {} ({}, {}{names}) values ({}, {}{values})",
            qualified_ident(&t.table.name),
            ident(&t.key.name),
            ident(&t.slug.name),
            uuid(id),
            quote_literal(slug)
        )
    }

    /// A tenant that is nobody's personal one, owned by `owner` where tenants have a
    /// primary owner (given explicitly, as a client that sets it would).
    pub fn insert_team_tenant(&self, id: Id, slug: &str, owner: Option<Id>) -> String {
        let t = &self.profile.tenants;
        let mut columns = Vec::new();
        if let (Some(column), Some(owner)) = (&t.primary_owner, owner) {
            columns.push((column.name.clone(), owner.to_string()));
        }
        if let Some(column) = &t.personal {
            columns.push((column.name.clone(), "false".to_owned()));
        }
        self.insert_tenant(id, slug, &columns)
    }

    /// A membership with `role` (the role column's value; ignored without a column).
    pub fn insert_membership(&self, user: Id, tenant: Id, role: &str) -> String {
        let m = &self.profile.memberships;
        match &m.role {
            Some(column) => format!(
                "insert into {} ({}, {}, {}) values ({}, {}, {})",
                qualified_ident(&m.table.name),
                ident(&m.user.name),
                ident(&m.tenant.name),
                ident(&column.name),
                uuid(user),
                uuid(tenant),
                quote_literal(role)
            ),
            None => format!(
                "insert into {} ({}, {}) values ({}, {})",
                qualified_ident(&m.table.name),
                ident(&m.user.name),
                ident(&m.tenant.name),
                uuid(user),
                uuid(tenant)
            ),
        }
    }

    /// The row that makes `user` a platform admin (empty without platform admins).
    pub fn insert_admin(&self, user: Id) -> String {
        let Some(p) = &self.profile.admins else {
            return String::new();
        };
        format!(
            "insert into {} ({}, {}) values ({}, {})",
            qualified_ident(&p.table.name),
            ident(&p.user.name),
            ident(&p.role.name),
            uuid(user),
            quote_literal(&p.value.name)
        )
    }

    /// The owner's `INSERT` of `resource`, with every column its table requires: the
    /// statement a world's rows and insert probes are made of.
    pub fn insert(&self, resource: &Resource) -> String {
        let Some(s) = &self.profile.sharing else {
            return String::new();
        };
        let needs = self
            .resource_needs
            .get(resource.table.0 as usize)
            .map_or(&[][..], Vec::as_slice);
        let (extra_columns, extra_values) = Self::needed(needs, &resource.name);
        format!(
            "insert into {} ({}, {}, {}, {}, {}, {}, {}{extra_columns}) \
             values ({}, {}, {}, '{}', {}, {}, '{}'{extra_values})",
            self.name(Object::Resource(resource.table)),
            ident(&s.key.name),
            ident(&s.tenant.name),
            ident(&s.name.name),
            ident(&s.mode.name),
            ident(&s.flag.name),
            ident(&s.shared_with.name),
            ident(&s.kind.name),
            uuid(resource.id),
            resource.tenant.map_or("null".into(), uuid),
            quote_literal(&resource.name),
            resource.mode.name(),
            resource.is_shared(),
            uuid_array(&resource.shared_with),
            resource.kind.name()
        )
    }

    /// The owner's SQL that adds to the seeded database what `world` has beyond
    /// `seeded`.
    pub fn load(&self, world: &World, seeded: &World) -> String {
        let mut sql = String::new();
        let mut push = |statement: String| {
            if !statement.is_empty() {
                sql.push_str(&statement);
                sql.push_str(";\n");
            }
        };
        // Users first: a tenant's primary owner is one. A personal tenant is the
        // schema's to make when its user signs up.
        let users: Vec<_> = world
            .users
            .iter()
            .filter(|u| !seeded.users.contains(u))
            .collect();
        for user in &users {
            let email = format!("{}@example.test", user.name);
            push(insert_user(user.id, &email, "{}", "{}"));
        }
        for tenant in world
            .tenants
            .iter()
            .filter(|t| !t.personal && !seeded.tenants.contains(t))
        {
            push(self.insert_team_tenant(tenant.id, &tenant.slug, tenant.primary_owner));
        }
        let personal: Vec<Id> = world
            .tenants
            .iter()
            .filter(|t| t.personal)
            .map(|t| t.id)
            .collect();
        for user in &users {
            for (tenant, role) in user
                .memberships
                .iter()
                .filter(|(t, _)| !personal.contains(t))
            {
                push(self.insert_membership(user.id, *tenant, self.profile.role_name(*role)));
            }
            if user.admin {
                push(self.insert_admin(user.id));
            }
        }
        for resource in world
            .resources
            .iter()
            .filter(|r| !seeded.resources.contains(r))
        {
            push(self.insert(resource));
        }
        sql
    }

    /// The statement an [`Op`] stands for in `world`. An update sets only the columns
    /// it changes, as a PostgREST `PATCH` does (all of them when `world` lacks the row).
    pub fn op(&self, world: &World, op: &Op) -> String {
        let p = &self.profile;
        let m = &p.memberships;
        let t = &p.tenants;
        let memberships = qualified_ident(&m.table.name);
        let tenants = qualified_ident(&t.table.name);
        let member_is = |user: Id, tenant: Id| {
            format!(
                "{} = {} and {} = {}",
                ident(&m.user.name),
                uuid(user),
                ident(&m.tenant.name),
                uuid(tenant)
            )
        };
        match op {
            Op::Insert(resource) => self.insert(resource),
            Op::Update { id, new } => self.update(world, *id, new),
            Op::Delete { table, id } => format!(
                "delete from {} where {} = {}",
                self.name(Object::Resource(*table)),
                self.resource_key(),
                uuid(*id)
            ),
            Op::AddMember { user, tenant, role } => {
                self.insert_membership(*user, *tenant, p.role_name(*role))
            }
            // The parser gives a profile roles only with the column that holds them,
            // and the model changes a role only where there are two or more, so a
            // profile without a role column never gets here.
            Op::SetRole { user, tenant, role } => match &m.role {
                Some(column) => format!(
                    "update {memberships} set {} = {} where {}",
                    ident(&column.name),
                    quote_literal(p.role_name(*role)),
                    member_is(*user, *tenant)
                ),
                None => {
                    debug_assert!(false, "a role change without a role column");
                    String::new()
                }
            },
            Op::RemoveMember { user, tenant } => format!(
                "delete from {memberships} where {}",
                member_is(*user, *tenant)
            ),
            Op::GrantAdmin { user } => {
                format!("select {}({})", self.name(Object::GrantAdmin), uuid(*user))
            }
            Op::AddAdmin { user } => self.insert_admin(*user),
            Op::Assign { user, role } => format!(
                "select {}({}, {})",
                self.name(Object::Assign),
                uuid(*user),
                quote_literal(p.role_name(*role))
            ),
            Op::InsertTenant { id, slug, owner } => self.insert_team_tenant(*id, slug, *owner),
            Op::RenameTenant { id } => format!(
                "update {tenants} set {slug} = {slug} where {} = {}",
                ident(&t.key.name),
                uuid(*id),
                slug = ident(&t.slug.name)
            ),
            Op::DeleteTenant { id } => format!(
                "delete from {tenants} where {} = {}",
                ident(&t.key.name),
                uuid(*id)
            ),
            Op::RemoveAdmin { user } => match &p.admins {
                Some(a) => format!(
                    "delete from {} where {} = {} and {} = {}",
                    qualified_ident(&a.table.name),
                    ident(&a.user.name),
                    uuid(*user),
                    ident(&a.role.name),
                    quote_literal(&a.value.name)
                ),
                None => String::new(),
            },
        }
    }

    fn resource_key(&self) -> String {
        self.profile
            .sharing
            .as_ref()
            .map_or_else(String::new, |s| ident(&s.key.name))
    }

    /// `update` of a resource row, setting only the columns that change.
    fn update(&self, world: &World, id: Id, new: &Resource) -> String {
        let Some(s) = &self.profile.sharing else {
            return String::new();
        };
        let old = world.resource(new.table, id);
        let changed = |same: &dyn Fn(&Resource) -> bool| old.is_none_or(|old| !same(old));
        let mut set: Vec<String> = Vec::new();
        let assign = |set: &mut Vec<String>, column: &str, value: String| {
            set.push(format!("{} = {value}", ident(column)));
        };
        if changed(&|old| old.id == new.id) {
            assign(&mut set, &s.key.name, uuid(new.id));
        }
        if changed(&|old| old.tenant == new.tenant) {
            assign(
                &mut set,
                &s.tenant.name,
                new.tenant.map_or("null".into(), uuid),
            );
        }
        if changed(&|old| old.name == new.name) {
            assign(&mut set, &s.name.name, quote_literal(&new.name));
        }
        if changed(&|old| old.mode == new.mode) {
            assign(&mut set, &s.mode.name, format!("'{}'", new.mode.name()));
            assign(&mut set, &s.flag.name, new.is_shared().to_string());
        }
        if changed(&|old| old.shared_with == new.shared_with) {
            assign(&mut set, &s.shared_with.name, uuid_array(&new.shared_with));
        }
        if changed(&|old| old.kind == new.kind) {
            assign(&mut set, &s.kind.name, format!("'{}'", new.kind.name()));
        }
        // An update that changes nothing still runs, and the policies still judge it.
        if set.is_empty() {
            assign(&mut set, &s.name.name, quote_literal(&new.name));
        }
        format!(
            "update {} set {} where {} = {}",
            self.name(Object::Resource(new.table)),
            set.join(", "),
            self.resource_key(),
            uuid(id)
        )
    }

    /// The ids of the rows of a resource table a principal reads.
    pub fn read_resources(&self, table: Table) -> String {
        format!(
            "select {}::text from {}",
            self.resource_key(),
            self.name(Object::Resource(table))
        )
    }

    pub fn read_tenants(&self) -> String {
        let t = &self.profile.tenants;
        format!(
            "select {}::text from {}",
            ident(&t.key.name),
            qualified_ident(&t.table.name)
        )
    }

    pub fn read_memberships(&self) -> String {
        let m = &self.profile.memberships;
        format!(
            "select {}::text, {}::text from {}",
            ident(&m.user.name),
            ident(&m.tenant.name),
            qualified_ident(&m.table.name)
        )
    }

    pub fn read_admins(&self) -> String {
        let Some(a) = &self.profile.admins else {
            return String::new();
        };
        format!(
            "select {}::text from {} where {} = {}",
            ident(&a.user.name),
            qualified_ident(&a.table.name),
            ident(&a.role.name),
            quote_literal(&a.value.name)
        )
    }

    /// The audit trail, in insertion order, one line per row as [`Sql::audit_line`]
    /// writes the model's.
    pub fn read_audit(&self) -> String {
        let Some(a) = self.profile.sharing.as_ref().and_then(|s| s.audit.as_ref()) else {
            return String::new();
        };
        format!(
            "select {}, {}::text, {}, coalesce({}::text, ''), coalesce({}::text, '') \
             from {} order by {}",
            ident(&a.resource_table.name),
            ident(&a.resource.name),
            ident(&a.action.name),
            ident(&a.actor.name),
            ident(&a.tenant.name),
            qualified_ident(&a.table.name),
            ident(&a.order.name)
        )
    }

    /// A row of the model's audit trail as [`Sql::read_audit`] reads it.
    pub fn audit_line(&self, row: &AuditRow) -> String {
        format!(
            "{} {} {} {} {}",
            short(self.profile.table_name(row.table)),
            row.resource,
            row.action.name(),
            row.actor.map(|id| id.to_string()).unwrap_or_default(),
            row.tenant.map(|id| id.to_string()).unwrap_or_default()
        )
    }

    pub fn read_shared_view(&self) -> String {
        let Some(v) = self.profile.sharing.as_ref().and_then(|s| s.view.as_ref()) else {
            return String::new();
        };
        format!(
            "select {}, {}::text from {}",
            ident(&v.table.name),
            ident(&v.id.name),
            qualified_ident(&v.view.name)
        )
    }

    /// A call of the list function of `table` for `tenant`.
    pub fn accessible(&self, table: Table, tenant: Id) -> String {
        format!(
            "select {}::text from {}({})",
            self.resource_key(),
            self.name(Object::Lists(table)),
            uuid(tenant)
        )
    }

    /// Sets the tenant context through the schema's function, which checks the caller.
    pub fn set_context(&self, tenant: Id) -> String {
        format!("select {}({})", self.name(Object::SetContext), uuid(tenant))
    }

    /// The read a counterexample file replays for `object`, as a reviewer writes it:
    /// rows by their names and tenants by their slugs, in order where the model has
    /// one. Functions are called with `argument` (a SQL literal).
    pub fn replay_read(&self, object: Object, argument: &str) -> String {
        let p = &self.profile;
        let name = || {
            p.sharing
                .as_ref()
                .map_or_else(String::new, |s| ident(&s.name.name))
        };
        match object {
            Object::Resource(_) => format!(
                "select {n} from {} order by {n}",
                self.name(object),
                n = name()
            ),
            Object::Lists(_) => format!(
                "select {n} from {}({argument}) order by {n}",
                self.name(object),
                n = name()
            ),
            Object::Tenants => format!(
                "select {slug} from {} order by {slug}",
                qualified_ident(&p.tenants.table.name),
                slug = ident(&p.tenants.slug.name)
            ),
            Object::Memberships => {
                let m = &p.memberships;
                format!(
                    "select {}, {} from {}",
                    ident(&m.user.name),
                    ident(&m.tenant.name),
                    qualified_ident(&m.table.name)
                )
            }
            Object::PlatformAdmins => self.read_admins().replace("::text", ""),
            Object::Audit => format!("select * from {}", self.name(object)),
            Object::SharedView => format!(
                "select {label} from {} order by {label}",
                self.name(object),
                label = ident(&self.view_label)
            ),
            Object::SetContext | Object::GrantAdmin | Object::Assign => {
                format!("select {}({argument})", self.name(object))
            }
        }
    }

    /// The owner's read of the audit trail after its first `offset` rows, in the
    /// columns [`Sql::audit_line`] writes.
    pub fn replay_audit(&self, offset: usize) -> String {
        match self.profile.sharing.as_ref().and_then(|s| s.audit.as_ref()) {
            Some(audit) => read_audit(audit, offset),
            None => String::new(),
        }
    }

    /// Whether [`Sql::replay_read`] reads the view of shared resources by name (else by
    /// id).
    pub fn view_by_name(&self) -> bool {
        self.profile
            .sharing
            .as_ref()
            .is_some_and(|s| s.name.name == self.view_label)
    }

    /// How the audit trail names a resource table (its name without schema).
    pub fn audit_table(&self, table: Table) -> &str {
        short(self.profile.table_name(table))
    }
}
