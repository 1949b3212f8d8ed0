//! What the probes observed, agreeing with the model or not: for every object, class
//! of principal, operation, kind of row and context, the outcomes the database gave
//! (a write allowed, denied and by what, or touching no row; a row seen or hidden).
//! The access matrix and its diff are built from this, so they show behaviour, not
//! policy text.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::space::{resource_kind, Actor, Cell, ContextKind};
use crate::actor::{Denial, Failure, Rows};
use crate::model::{Context, Id, Principal, Table, World};
use crate::profile::Profile;

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
    /// The principal as a reviewer names it: a plain user by its role in the row's
    /// tenant (the profile's name, or `outsider` without one).
    pub who: Who,
    /// Judged against the class bound of an object the model does not name, not
    /// against the model.
    pub beyond_model: bool,
}

impl Key {
    /// The matrix cell of a write probe's cell, its object named `object`, acted on by
    /// `who`.
    pub fn of(cell: Cell, object: String, who: Who) -> Key {
        Key {
            object,
            op: cell.op.name(),
            kind: cell.kind.name(),
            context: cell.context,
            actor: cell.actor,
            who,
            beyond_model: false,
        }
    }
}

/// A principal as the matrix's rows name it, ranked: the tenancy's roles from the
/// fewest rights up, then users with no role in the row's tenant, platform admins,
/// anon and claims without `sub`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Who {
    pub rank: u8,
    pub name: String,
}

impl Who {
    /// `who` acting on a row of `tenant` (none for rows outside any tenant): a plain
    /// user by its role there, named as the profile names roles.
    pub fn of(world: &World, who: &Principal, tenant: Option<Id>, profile: &Profile) -> Who {
        let actor = Actor::of(world, who);
        let (Actor::User, Principal::User(user), Some(tenant)) = (actor, who, tenant) else {
            return Who::of_actor(actor);
        };
        match world.role_of(*user, tenant) {
            // Ranked from the fewest rights up: role 0 is the highest.
            Some(role) => Who {
                rank: 100u8.saturating_sub(role.0),
                name: profile.role_name(role).to_owned(),
            },
            None => Who {
                rank: 110,
                name: OUTSIDER.to_owned(),
            },
        }
    }

    /// A principal whatever row it acts on: a plain user is `user`.
    pub fn of_actor(actor: Actor) -> Who {
        let rank = match actor {
            Actor::User => 120,
            Actor::PlatformAdmin => 130,
            Actor::Anon => 140,
            Actor::NoSub => 150,
            Actor::ServiceRole => 160,
        };
        Who {
            rank,
            name: actor.name().to_owned(),
        }
    }
}

/// A signed-in user with no role in the row's tenant.
pub const OUTSIDER: &str = "outsider";

/// How an observation stands against the model (or, for an object the model does not
/// name, against its class bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// What the model says.
    AsModel,
    /// Grants what the model withholds: a leak.
    Wider,
    /// Withholds, or answers otherwise, what the model grants.
    Narrower,
    /// Beyond the model: withholds what the object's class would allow, which no rule
    /// requires.
    Stricter,
}

impl Verdict {
    /// Whether it departs from the model: a failure of the check.
    pub fn deviates(self) -> bool {
        matches!(self, Verdict::Wider | Verdict::Narrower)
    }

    /// The verdict of `outcome` where the judge found a disagreement (`disagrees`).
    pub fn judged(outcome: &str, disagrees: bool) -> Verdict {
        match (disagrees, grants(outcome)) {
            (false, _) => Verdict::AsModel,
            (true, true) => Verdict::Wider,
            (true, false) => Verdict::Narrower,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::AsModel => "as the model says",
            Verdict::Wider => "wider than the model",
            Verdict::Narrower => "narrower than the model",
            Verdict::Stricter => "stricter than its class",
        }
    }
}

/// One outcome of a cell and how it stands against the model.
pub type Seen = (&'static str, Verdict);

/// The context of a probe of an object beyond the model, which has no tenant relation
/// of its own to the context (see [`Key::context`]).
pub fn principal_context(rights: &crate::model::Rights, context: &Context) -> ContextKind {
    match context {
        Context::Empty => ContextKind::None,
        Context::Tenant(tenant) if rights.member.contains(tenant) => ContextKind::Own,
        _ => ContextKind::Forged,
    }
}

/// Outcomes per cell, over every world probed, each with its verdict.
pub type Observed = BTreeMap<Key, BTreeSet<Seen>>;

/// How a cell stands against the model: the furthest any of its outcomes departs (a
/// leak before a refusal the model does not make, before a stricter object).
pub fn cell_verdict(seen: &BTreeSet<Seen>) -> Verdict {
    let severity = |verdict: &Verdict| match verdict {
        Verdict::AsModel => 0,
        Verdict::Stricter => 1,
        Verdict::Narrower => 2,
        Verdict::Wider => 3,
    };
    seen.iter()
        .map(|(_, verdict)| *verdict)
        .max_by_key(severity)
        .unwrap_or(Verdict::AsModel)
}

/// The outcomes of a cell, verdicts aside.
pub fn outcomes(seen: &BTreeSet<Seen>) -> BTreeSet<&'static str> {
    seen.iter().map(|(outcome, _)| *outcome).collect()
}

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
/// world, whether the answer (the ids read) held it, and whether the model lets `who`
/// read it there. `labels` name the tables.
pub fn reads(
    world: &World,
    (who, context): (&Principal, &Context),
    table: Table,
    answer: &std::result::Result<Rows, Failure>,
    (profile, labels): (&Profile, &[String]),
) -> Vec<(Key, Seen)> {
    let actor = Actor::of(world, who);
    let rights = world.rights(who);
    let readable = world.readable(who, context, table);
    // A refusal of a forged or malformed context grants nothing, which is all the
    // model asks of one (see `probe::judge`).
    let refused = matches!(answer, Err(failure) if failure.refused(&profile.refusals));
    let forgiven = refused && context.is_forged_for(&rights);
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
                who: Who::of(world, who, row.tenant, profile),
                beyond_model: false,
            };
            let outcome = match answer {
                Err(failure) if failure.denial().is_some() => "denied: no privilege",
                _ if seen.contains(&row.id) => SEES,
                _ => HIDDEN,
            };
            let verdict = match (seen.contains(&row.id), readable.contains(&row.id)) {
                (true, false) => Verdict::Wider,
                (false, true) if !forgiven => Verdict::Narrower,
                _ => Verdict::AsModel,
            };
            (key, (outcome, verdict))
        })
        .collect()
}

/// Adds `more` to `into`.
pub fn merge(into: &mut Observed, more: Vec<(Key, Seen)>) {
    for (key, seen) in more {
        into.entry(key).or_default().insert(seen);
    }
}

/// Adds every outcome of `more` to `into`.
pub fn merge_observed(into: &mut Observed, more: &Observed) {
    for (key, seen) in more {
        into.entry(key.clone())
            .or_default()
            .extend(seen.iter().copied());
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
            let before = base.get(key).map(outcomes).unwrap_or_default();
            let after = head.get(key).map(outcomes).unwrap_or_default();
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
            who: Who {
                rank: 98,
                name: "member".into(),
            },
            beyond_model: false,
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
            observed
                .entry(key("read"))
                .or_default()
                .insert((read, Verdict::AsModel));
            observed
                .entry(key("insert"))
                .or_default()
                .insert((insert, Verdict::judged(insert, insert == ALLOWED)));
        }
        head.entry(key("delete"))
            .or_default()
            .insert((NO_ROW, Verdict::AsModel));
        let changes = diff(&base, &head);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].key.op, "insert");
        assert!(changes[0].widens());
        assert!(
            !changes[1].widens(),
            "a new cell touching no row widens nothing"
        );
        assert!(diff(&base, &base).is_empty());
        assert_eq!(cell_verdict(&head[&key("insert")]), Verdict::Wider);
        assert_eq!(cell_verdict(&head[&key("read")]), Verdict::AsModel);
    }

    #[test]
    fn a_cell_stands_as_far_from_the_model_as_its_furthest_outcome() {
        assert_eq!(Verdict::judged(SEES, true), Verdict::Wider);
        assert_eq!(Verdict::judged(HIDDEN, true), Verdict::Narrower);
        assert_eq!(Verdict::judged(SEES, false), Verdict::AsModel);
        let seen = BTreeSet::from([
            (SEES, Verdict::AsModel),
            (HIDDEN, Verdict::Stricter),
            ("denied by policy", Verdict::Narrower),
        ]);
        assert_eq!(cell_verdict(&seen), Verdict::Narrower);
        assert!(cell_verdict(&seen).deviates());
        assert!(!Verdict::Stricter.deviates());
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
        assert_eq!(
            Key::of(cell, "tenants".into(), key("x").who).op,
            WriteOp::Insert.name()
        );
    }
}
