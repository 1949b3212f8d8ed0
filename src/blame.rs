//! Which policy let it through. A read or write the model forbids was admitted by at
//! least one permissive policy, or by a missing one (row security off). For a property
//! failure, the counterexample scenario is replayed once per permissive policy of the
//! table the failing probe acted on, with that policy dropped inside the scenario's
//! rolled-back transaction: a policy without which the failure goes away is the one
//! that admits it, and its `CREATE POLICY` line is where the finding belongs.

use std::path::Path;

use crate::catalog::{Command, Relation};
use crate::connection::quote_ident;
use crate::error::Result;
use crate::harness::{Harness, Template};
use crate::model::{Object, Op};
use crate::origin::Location;
use crate::property::{Counterexample, Probe};
use crate::scenario;
use crate::schema::Schema;

/// Who admitted a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blame {
    /// The table, `schema.name`.
    pub table: String,
    /// The policies without which the failure goes away, with their lines.
    pub admitted_by: Vec<(String, Option<Location>)>,
    /// The table's other permissive policies for the command: dropping any one of them
    /// alone leaves the failure. When some policy is blamed, these refuse the row (had
    /// one admitted it too, dropping the blamed one would not have cleared it).
    pub others: Vec<String>,
    /// Row security is off on the table: nothing filters its rows.
    pub rls_off: Option<Option<Location>>,
}

impl Blame {
    /// The line a finding should point at: the admitting policy, or the table whose
    /// row security is off.
    pub fn location(&self) -> Option<&Location> {
        match &self.rls_off {
            Some(table) => table.as_ref(),
            None => self.admitted_by.iter().find_map(|(_, at)| at.as_ref()),
        }
    }
}

impl std::fmt::Display for Blame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(at) = &self.rls_off {
            write!(f, "row security is off on {}", self.table)?;
            if let Some(at) = at {
                write!(f, " ({at})")?;
            }
            return Ok(());
        }
        if self.admitted_by.is_empty() {
            return write!(
                f,
                "no single policy of {} admits it alone (several do, or a grant or function does)",
                self.table
            );
        }
        let admitted: Vec<String> = self
            .admitted_by
            .iter()
            .map(|(name, at)| match at {
                Some(at) => format!("`{name}` ({at})"),
                None => format!("`{name}`"),
            })
            .collect();
        write!(f, "admitted by {}", admitted.join(", "))?;
        if !self.others.is_empty() {
            let others: Vec<String> = self.others.iter().map(|n| format!("`{n}`")).collect();
            let verb = if others.len() == 1 {
                "refuses"
            } else {
                "refuse"
            };
            write!(f, "; {} {verb} it", others.join(", "))?;
        }
        Ok(())
    }
}

/// The table and command the failing probe of `found` acted on, from the catalog.
fn target<'c>(
    found: &Counterexample,
    schema: &Schema,
    template: &'c Template,
) -> Option<(&'c Relation, Command)> {
    let profile = schema.profile()?;
    let name = |object: Object| profile.name(object);
    let (table, command) = match &found.mismatch.probe {
        Probe::Read(object) => (name(*object), Command::Select),
        Probe::Write(op) => match op {
            Op::Insert(row) => (name(Object::Resource(row.table)), Command::Insert),
            Op::Update { new, .. } => (name(Object::Resource(new.table)), Command::Update),
            Op::Delete { table, .. } => (name(Object::Resource(*table)), Command::Delete),
            Op::AddMember { .. } => (name(Object::Memberships), Command::Insert),
            Op::SetRole { .. } => (name(Object::Memberships), Command::Update),
            Op::RemoveMember { .. } => (name(Object::Memberships), Command::Delete),
            Op::AddAdmin { .. } => (name(Object::PlatformAdmins), Command::Insert),
            Op::RemoveAdmin { .. } => (name(Object::PlatformAdmins), Command::Delete),
            Op::InsertTenant { .. } => (name(Object::Tenants), Command::Insert),
            Op::RenameTenant { .. } => (name(Object::Tenants), Command::Update),
            Op::DeleteTenant { .. } => (name(Object::Tenants), Command::Delete),
            Op::GrantAdmin { .. } | Op::Assign { .. } => return None,
        },
        Probe::Subject { object, action, .. } => {
            let command = match action.split_whitespace().next() {
                Some("insert") => Command::Insert,
                Some("update" | "move") => Command::Update,
                Some("delete") => Command::Delete,
                _ => Command::Select,
            };
            (object.clone(), command)
        }
        _ => return None,
    };
    template
        .catalog
        .relation(&table)
        .map(|relation| (relation, command))
}

/// Replays `found` without each permissive policy in turn; `None` when the failure is
/// not on a table, or its scenario does not fail as it is.
pub async fn blame(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
    found: &Counterexample,
) -> Result<Option<Blame>> {
    let Some((relation, command)) = target(found, schema, template) else {
        return Ok(None);
    };
    let table = relation.qualified();
    if !relation.rls_enabled {
        return Ok(Some(Blame {
            table,
            admitted_by: Vec::new(),
            others: Vec::new(),
            rls_off: Some(relation.history.origin().cloned()),
        }));
    }
    let Some(path) = &found.path else {
        return Ok(None);
    };
    let root = path.parent().unwrap_or(Path::new("."));
    let Ok(replay) = scenario::load(root, path, schema.profile(), &schema.seeded_tenants()) else {
        return Ok(None);
    };
    if passes(harness, template, schema, &replay).await? {
        return Ok(None);
    }
    let mut blame = Blame {
        table: table.clone(),
        admitted_by: Vec::new(),
        others: Vec::new(),
        rls_off: None,
    };
    let candidates = relation
        .policies
        .iter()
        .filter(|p| p.permissive && (p.command == command || p.command == Command::All));
    for policy in candidates {
        let mut without = replay.clone();
        let drop = format!(
            "drop policy {} on {}.{};\n",
            quote_ident(&policy.name),
            quote_ident(&relation.schema),
            quote_ident(&relation.name)
        );
        without.fixtures = Some(drop + without.fixtures.as_deref().unwrap_or(""));
        if passes(harness, template, schema, &without).await? {
            blame
                .admitted_by
                .push((policy.name.clone(), policy.history.origin().cloned()));
        } else {
            blame.others.push(policy.name.clone());
        }
    }
    Ok(Some(blame))
}

async fn passes(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
    replay: &scenario::Scenario,
) -> Result<bool> {
    let report = scenario::run(
        harness,
        template,
        schema,
        replay,
        &crate::snapshot::Store::read_only(),
    )
    .await?;
    Ok(report.passed())
}
