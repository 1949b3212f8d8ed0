//! Which policy let it through. A read or write the model forbids was admitted by at
//! least one permissive policy, or by a missing one (row security off). A failing
//! scenario (a property's counterexample, as it was built) is replayed once per
//! permissive policy of the table its failure acted on, with that policy dropped inside
//! the scenario's rolled-back transaction: a policy without which the failure goes away
//! is the one that admits it, and its `CREATE POLICY` line is where the finding belongs.

use crate::catalog::Command;
use crate::connection::quote_ident;
use crate::error::Result;
use crate::harness::{Harness, Template};
use crate::origin::Location;
use crate::scenario::{self, Scenario};
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
    /// The replay passed as it was: the failure did not show in one scenario, so no
    /// policy could be tried.
    pub not_reproduced: bool,
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
        if self.not_reproduced {
            return write!(
                f,
                "no policy of {} could be blamed: the counterexample passes when replayed alone",
                self.table
            );
        }
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

/// Replays `replay`, which fails, without each permissive policy of `table` for
/// `command` in turn; `None` when `table` is no table of the catalog.
pub async fn blame(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
    replay: &Scenario,
    (table, command): (&str, Command),
) -> Result<Option<Blame>> {
    let Some(relation) = template.catalog.relation(table) else {
        return Ok(None);
    };
    let mut blame = Blame {
        table: relation.qualified(),
        admitted_by: Vec::new(),
        others: Vec::new(),
        rls_off: None,
        not_reproduced: false,
    };
    if !relation.rls_enabled {
        blame.rls_off = Some(relation.history.origin().cloned());
        return Ok(Some(blame));
    }
    if passes(harness, template, schema, replay).await? {
        blame.not_reproduced = true;
        return Ok(Some(blame));
    }
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
    replay: &Scenario,
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
