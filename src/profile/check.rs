//! The profile held against the catalog, both ways: every table, column and function it
//! names must exist, each mistake at the profile's line with the name probably meant;
//! and every role the schema allows (the role column's CHECK list or enum) must be
//! ranked, so that a migration adding a role stops the gate until someone decides what
//! the role may do.

use super::{callable, Key, Profile};
use crate::catalog::{Catalog, Object, Relation};
use crate::located::{unknown, FileError};

/// Collects located mistakes about what the profile names.
struct Mistakes<'a> {
    profile: &'a Profile,
    catalog: &'a Catalog,
    names: Vec<String>,
    errors: Vec<FileError>,
}

impl<'a> Mistakes<'a> {
    fn push(&mut self, key: &Key, message: String) {
        self.errors.push(FileError {
            file: self.profile.file.clone(),
            line: key.at.line,
            column: key.at.column,
            message,
        });
    }

    /// The relation `key` names, or a mistake saying there is none.
    fn relation(&mut self, key: &Key, what: &str) -> Option<&'a Relation> {
        let found = self.catalog.relation(&key.name);
        if found.is_none() {
            let known: Vec<&str> = self.names.iter().map(String::as_str).collect();
            let message = format!(
                "the profile's {what}: {}",
                unknown("table", &key.name, &known)
            );
            self.push(key, message);
        }
        found
    }

    /// Each column `keys` names in `relation`.
    fn columns(&mut self, relation: Option<&Relation>, keys: &[&Key]) {
        let Some(relation) = relation else { return };
        let known: Vec<&str> = relation.columns.iter().map(|c| c.name.as_str()).collect();
        for key in keys {
            if relation.column(&key.name).is_none() {
                let message = format!(
                    "{}: {}",
                    relation.qualified(),
                    unknown("column", &key.name, &known)
                );
                self.push(key, message);
            }
        }
    }

    /// The function `key` names (`schema.name(types)`, or `schema.name` when only one
    /// has that name).
    fn function(&mut self, key: &Key, what: &str) {
        match self.catalog.find(&key.name) {
            Ok(Object::Function(_)) => {}
            Ok(other) => {
                let message = format!("the profile's {what}: {other} is not a function");
                self.push(key, message);
            }
            Err(message) if !message.is_empty() => self.push(key, message),
            Err(_) => {
                let functions: Vec<String> = self
                    .catalog
                    .functions
                    .iter()
                    .map(|f| f.qualified())
                    .collect();
                let known: Vec<&str> = functions.iter().map(String::as_str).collect();
                let message = format!(
                    "the profile's {what}: {}",
                    unknown("function", callable(&key.name), &known)
                );
                self.push(key, message);
            }
        }
    }
}

impl Profile {
    /// The mistakes only the catalog shows, each at its line in the profile.
    pub fn check_against(&self, catalog: &Catalog) -> Vec<FileError> {
        let mut m = Mistakes {
            profile: self,
            catalog,
            names: catalog.names(),
            errors: Vec::new(),
        };
        let t = &self.tenants;
        let tenants = m.relation(&t.table, "tenants table");
        m.columns(tenants, &[&t.key, &t.slug]);
        let owned: Vec<&Key> = t.primary_owner.iter().chain(&t.personal).collect();
        m.columns(tenants, &owned);
        self.check_memberships(&mut m);
        if let Some(p) = &self.admins {
            let table = m.relation(&p.table, "platform-admin table");
            m.columns(table, &[&p.user, &p.role]);
            if let Some(grant) = &p.grant {
                m.function(grant, "grant function");
            }
        }
        if let Some(c) = &self.context {
            m.function(&c.function, "context function");
            if let Some(pre) = &c.pre_request {
                m.function(pre, "pre-request function");
            }
        }
        if let Some(s) = &self.sharing {
            for table in &s.tables {
                let relation = m.relation(table, "resource table");
                let columns = [
                    &s.key,
                    &s.tenant,
                    &s.name,
                    &s.mode,
                    &s.flag,
                    &s.shared_with,
                    &s.kind,
                ];
                m.columns(relation, &columns);
            }
            if let Some(lists) = &s.lists {
                for table in &s.tables {
                    let name = lists.name.replace("{table}", super::short(&table.name));
                    let key = Key { name, at: lists.at };
                    m.function(&key, "list function");
                }
            }
            if let Some(v) = &s.view {
                let view = m.relation(&v.view, "view of shared resources");
                m.columns(view, &[&v.table, &v.id]);
            }
            if let Some(a) = &s.audit {
                let audit = m.relation(&a.table, "audit trail");
                let columns = [
                    &a.resource_table,
                    &a.resource,
                    &a.action,
                    &a.actor,
                    &a.tenant,
                    &a.order,
                ];
                m.columns(audit, &columns);
            }
        }
        m.errors
    }

    fn check_memberships(&self, m: &mut Mistakes<'_>) {
        let ms = &self.memberships;
        let table = m.relation(&ms.table, "memberships table");
        let mut columns = vec![&ms.user, &ms.tenant];
        columns.extend(&ms.role);
        m.columns(table, &columns);
        if let Some(assign) = &ms.assign {
            m.function(&assign.function, "assign function");
        }
        let (Some(table), Some(column)) = (table, &ms.role) else {
            return;
        };
        let Some(allowed) = table.allowed_values(&column.name) else {
            return;
        };
        let ranked: Vec<&str> = ms.roles.iter().map(|r| r.name.as_str()).collect();
        for value in &allowed {
            if !ranked.contains(&value.as_str()) {
                let message = format!(
                    "{} allows the role \"{value}\", which the profile does not rank: add it \
                     to roles (highest rights first) and say whether it writes, manages or is \
                     protected",
                    table.qualified()
                );
                m.push(column, message);
            }
        }
        for role in &ms.roles {
            if !allowed.contains(&role.name) {
                let message = format!(
                    "{}.{} does not allow the role \"{}\" (it allows {})",
                    table.qualified(),
                    column.name,
                    role.name,
                    allowed.join(", ")
                );
                m.push(role, message);
            }
        }
    }
}
