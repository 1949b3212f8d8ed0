//! What the probes observed, agreeing with the model or not: for every object, class
//! of principal, operation, kind of row and context, the outcomes the database gave
//! (a write allowed, denied and by what, or touching no row; a row seen or hidden).
//! The access matrix and its diff are built from this, so they show behaviour, not
//! policy text.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::space::{resource_kind, Actor, Cell, ContextKind};
use crate::actor::{Denial, Failure, Rows};
use crate::model::{Context, Principal, Table, World};

/// One cell of the access matrix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// The object: a model table's or function's name, or an object beyond the model,
    /// qualified.
    pub object: String,
    /// `read`, `call`, or the write operation's name (`insert`, `move-foreign`).
    pub op: &'static str,
    /// The kind of row, relative to the principal: for the model's tables its tenant
    /// relation (`writer`, `member`, `foreign`, ...), for objects beyond the model what
    /// the class bound lets the principal do with it (`a row it may write`, ...).
    pub kind: &'static str,
    /// For objects beyond the model, `own` means the context names one of the
    /// principal's tenants (the row kind already says how the row relates to it).
    pub context: ContextKind,
    pub actor: Actor,
}

impl Key {
    /// The matrix cell of a write probe's cell, its object named `object`.
    pub fn of(cell: Cell, object: String) -> Key {
        Key {
            object,
            op: cell.op.name(),
            kind: cell.kind.name(),
            context: cell.context,
            actor: cell.actor,
        }
    }
}

/// The context of a probe of an object beyond the model, which has no tenant relation
/// of its own to the context (see [`Key::context`]).
pub fn principal_context(rights: &crate::model::Rights, context: &Context) -> ContextKind {
    match context {
        Context::Empty => ContextKind::None,
        Context::Tenant(tenant) if rights.member.contains(tenant) => ContextKind::Own,
        _ => ContextKind::Forged,
    }
}

/// Outcomes per cell, over every world probed.
pub type Observed = BTreeMap<Key, BTreeSet<&'static str>>;

/// An outcome that grants something: what a widening is made of.
pub fn grants(outcome: &str) -> bool {
    matches!(outcome, ALLOWED | SEES)
}

pub const ALLOWED: &str = "allowed";
pub const SEES: &str = "sees";
pub const HIDDEN: &str = "hidden";
pub const NO_ROW: &str = "no row touched";

/// What a write got; a function `call` answers with a row whatever it did, so any
/// success of a call is allowed.
pub fn write_outcome(answer: &std::result::Result<Rows, Failure>, call: bool) -> &'static str {
    match answer {
        Ok(rows) if call || rows.affected > 0 => ALLOWED,
        Ok(_) => NO_ROW,
        Err(failure) => match failure.denial() {
            Some(Denial::Policy) => "denied by policy",
            Some(Denial::Privilege) => "denied: no privilege",
            Some(Denial::Guard) => "denied by a guard",
            None => "failed (another error)",
        },
    }
}

/// What `who` in `context` saw of resource table `table`: for every row of it in the
/// world, whether the answer (the ids read) held it. `labels` name the tables.
pub fn reads(
    world: &World,
    who: &Principal,
    context: &Context,
    table: Table,
    answer: &std::result::Result<Rows, Failure>,
    labels: &[String],
) -> Vec<(Key, &'static str)> {
    let actor = Actor::of(world, who);
    let rights = world.rights(who);
    let seen: BTreeSet<Uuid> = match answer {
        Ok(rows) => rows
            .rows
            .iter()
            .filter_map(|row| Uuid::parse_str(row.first().cloned().flatten()?.as_str()).ok())
            .collect(),
        Err(_) => BTreeSet::new(),
    };
    world
        .resources_of(table)
        .map(|row| {
            let key = Key {
                object: labels
                    .get(row.table.0 as usize)
                    .cloned()
                    .unwrap_or_default(),
                op: "read",
                kind: resource_kind(&rights, row).name(),
                context: ContextKind::of(&rights, context, row.tenant),
                actor,
            };
            let outcome = match answer {
                Err(failure) if failure.denial().is_some() => "denied: no privilege",
                _ if seen.contains(&row.id) => SEES,
                _ => HIDDEN,
            };
            (key, outcome)
        })
        .collect()
}

/// Adds `more` to `into`.
pub fn merge(into: &mut Observed, more: Vec<(Key, &'static str)>) {
    for (key, outcome) in more {
        into.entry(key).or_default().insert(outcome);
    }
}

/// Adds every outcome of `more` to `into`.
pub fn merge_observed(into: &mut Observed, more: &Observed) {
    for (key, outcomes) in more {
        into.entry(key.clone())
            .or_default()
            .extend(outcomes.iter().copied());
    }
}

/// A cell whose outcomes differ between two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: Key,
    pub before: BTreeSet<&'static str>,
    pub after: BTreeSet<&'static str>,
}

impl Change {
    /// Whether the head grants what the base did not.
    pub fn widens(&self) -> bool {
        self.after
            .iter()
            .any(|outcome| grants(outcome) && !self.before.contains(outcome))
    }
}

/// The cells that changed from `base` to `head`, widenings first; cells present on one
/// side only (objects added or removed) included, with nothing on the other side.
pub fn diff(base: &Observed, head: &Observed) -> Vec<Change> {
    let keys: BTreeSet<&Key> = base.keys().chain(head.keys()).collect();
    let mut changes: Vec<Change> = keys
        .into_iter()
        .filter_map(|key| {
            let before = base.get(key).cloned().unwrap_or_default();
            let after = head.get(key).cloned().unwrap_or_default();
            (before != after).then(|| Change {
                key: (*key).clone(),
                before,
                after,
            })
        })
        .collect();
    changes.sort_by_key(|change| !change.widens());
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::property::space::{RowKind, WriteOp};

    fn key(op: &'static str) -> Key {
        Key {
            object: "agents".into(),
            op,
            kind: RowKind::Member.name(),
            context: ContextKind::Own,
            actor: Actor::User,
        }
    }

    #[test]
    fn a_diff_puts_widenings_first_and_ignores_equal_cells() {
        let mut base = Observed::new();
        let mut head = Observed::new();
        for (observed, insert, read) in [
            (&mut base, "denied by policy", HIDDEN),
            (&mut head, ALLOWED, HIDDEN),
        ] {
            observed.entry(key("read")).or_default().insert(read);
            observed.entry(key("insert")).or_default().insert(insert);
        }
        head.entry(key("delete")).or_default().insert(NO_ROW);
        let changes = diff(&base, &head);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].key.op, "insert");
        assert!(changes[0].widens());
        assert!(
            !changes[1].widens(),
            "a new cell touching no row widens nothing"
        );
        assert!(diff(&base, &base).is_empty());
    }

    #[test]
    fn write_outcomes_name_the_kind_of_denial() {
        let failure = |routine: &str| Failure {
            sqlstate: "42501".into(),
            message: String::new(),
            routine: routine.into(),
            while_setting_context: false,
        };
        assert_eq!(
            write_outcome(&Err(failure("ExecWithCheckOptions")), false),
            "denied by policy"
        );
        assert_eq!(write_outcome(&Ok(Rows::default()), false), NO_ROW);
        let written = Rows {
            affected: 1,
            ..Rows::default()
        };
        assert_eq!(write_outcome(&Ok(written), false), ALLOWED);
        let cell = Cell {
            object: crate::model::Object::Tenants,
            op: WriteOp::Insert,
            kind: RowKind::Writer,
            context: ContextKind::Own,
            actor: Actor::User,
        };
        assert_eq!(Key::of(cell, "tenants".into()).op, WriteOp::Insert.name());
    }
}
