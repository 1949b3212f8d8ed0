//! What proptest generates for a sequence: a small world and the seeds of its steps.
//!
//! Sizes are tighter than the snapshot properties' (every step re-probes the whole
//! world as every principal), and the steps come first in the tuple, because proptest
//! shrinks a tuple in order: removing steps is the shrink that makes a counterexample
//! readable, and it should have the budget before the world is made smaller.

use proptest::collection::vec;
use proptest::prelude::*;

use super::super::generate::{spec_within, Bounds, Spec};
use super::step::{ContextSpec, StepSpec};
use crate::model::Shape;

/// A sequence has 3 to 12 steps: enough for a history, few enough to re-probe the
/// whole world after each one.
const STEPS: std::ops::RangeInclusive<usize> = 3..=12;

/// A world of a tenancy of `shape` and the seeds of the steps run on it.
pub fn sequences(shape: &Shape) -> impl Strategy<Value = (Spec, Vec<StepSpec>)> {
    (vec(step_spec(), STEPS), world_spec(shape)).prop_map(|(steps, spec)| (spec, steps))
}

/// Worlds of 2 to 4 tenants, 1 to 4 users (someone must act) and 0 to 2 generated
/// rows per resource table (0 to 8 in VITAL's four).
fn world_spec(shape: &Shape) -> impl Strategy<Value = Spec> {
    spec_within(
        Bounds {
            extra_tenants: 0..=2,
            users: 1..=4,
            resources_per_table: 0..=2,
            membership: 0.5,
        },
        shape,
    )
}

fn context_spec() -> impl Strategy<Value = ContextSpec> {
    let own = (0..8usize).prop_map(|pick| ContextSpec::Own { pick });
    let foreign = (0..8usize).prop_map(|pick| ContextSpec::Foreign { pick });
    prop_oneof![
        4 => Just(ContextSpec::Empty),
        3 => own,
        2 => foreign,
        1 => Just(ContextSpec::Malformed),
    ]
}

/// One step seed. `who` indexes the users first, then service_role, anon and a
/// session without `sub`, modulo their number, so users act most.
fn step_spec() -> impl Strategy<Value = StepSpec> {
    (0..12usize, context_spec(), 0..512usize).prop_map(|(who, context, op)| StepSpec {
        who,
        context,
        op,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::{labels, seeded};
    use crate::model::{Op, Principal};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    /// Seeds resolve against whatever the earlier steps left: every principal and
    /// every row a step names exists when it runs, and every insert is fresh.
    #[test]
    fn steps_resolve_against_the_current_world() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..64 {
            let (spec, seeds) = sequences(&seeded().shape)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            assert!(STEPS.contains(&seeds.len()));
            let mut world = spec.world(&seeded(), &labels());
            assert!((1..=4).contains(&world.users.len()) && world.tenants.len() <= 4);
            for (n, seed) in seeds.iter().enumerate() {
                let step = seed.resolve(&world, n, &labels());
                if let Principal::User(id) = step.who {
                    assert!(world.user(id).is_some());
                }
                match &step.op {
                    Op::Insert(new) => assert!(world.resource(new.table, new.id).is_none()),
                    Op::Update { id, new } => assert!(world.resource(new.table, *id).is_some()),
                    Op::Delete { table, id } => assert!(world.resource(*table, *id).is_some()),
                    _ => {}
                }
                // With every row deleted, a step names one that does not exist.
                let mut empty = world.clone();
                empty.resources.clear();
                let phantom = seed.resolve(&empty, n, &labels());
                let outcome = phantom.expected(&empty);
                if matches!(phantom.op, Op::Update { .. } | Op::Delete { .. }) {
                    assert!(!matches!(outcome, crate::model::Outcome::Done(1)));
                }
                // The audit trigger's rule: one row for an insert or a delete, and for
                // an update that changes the tenant or the sharing; none otherwise.
                let audited = match &step.op {
                    Op::Insert(_) | Op::Delete { .. } => true,
                    Op::Update { id, new } => world.resource(new.table, *id).is_some_and(|old| {
                        (old.tenant, old.mode, &old.shared_with)
                            != (new.tenant, new.mode, &new.shared_with)
                    }),
                    _ => false,
                };
                let before = world.audit.len();
                let outcome = world.apply(&step.who, &step.context, &step.op);
                let wrote = matches!(outcome, crate::model::Outcome::Done(n) if n > 0);
                assert_eq!(
                    world.audit.len() - before,
                    usize::from(wrote && audited),
                    "{:?} by {:?}: {outcome:?}",
                    step.op,
                    step.who
                );
            }
        }
    }
}
