//! How the answers to the subject probes are judged against each class's rule: rows
//! read or written beyond the bound fail with `class-bound`, rows a derived view or
//! function returns that its base hides fail with `derived-containment`, and staying
//! below the bound is noted as stricter. Every answer is also kept as an observation
//! for the access matrix.

use std::collections::{BTreeMap, BTreeSet};

use super::{kind, literal, uuids, where_row, Ask, Judge, Verdicts};
use crate::actor::{Failure, Rows};
use crate::connection::quote_ident;
use crate::property::compare::{Mismatch, Probe};
use crate::property::observe::{self, Seen, Verdict};
use crate::property::space::Actor;
use crate::rule::Invariant;
use crate::scenario::Expectation;
use crate::subject::Rule;

/// Judges the subject probes of one pair against the rules.
pub fn judge(
    judge: &Judge<'_>,
    asks: Vec<(Ask, String)>,
    answers: Vec<std::result::Result<Rows, Failure>>,
) -> Verdicts {
    let mut verdicts = Verdicts::default();
    // How each probe (a read aside, judged row by row) stands against its class.
    let mut verdict_of = vec![Verdict::AsModel; asks.len()];
    let label = judge.label();
    let bases: BTreeMap<(String, Vec<String>), BTreeSet<Vec<String>>> = asks
        .iter()
        .zip(&answers)
        .filter_map(|((ask, _), answer)| match ask {
            Ask::Base { base, columns } => Some((
                (base.clone(), columns.clone()),
                answer.as_ref().map(tuples).unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    let mut fail = |invariant: Invariant,
                    object: &str,
                    action: String,
                    (sql, replay, expectation): (&str, String, Expectation),
                    expected: String,
                    actual: String| {
        verdicts.mismatches.push(Mismatch {
            invariant,
            who: judge.who,
            context: judge.context,
            probe: Probe::Subject {
                object: object.to_owned(),
                action,
                replay,
                expectation,
            },
            sql: sql.to_owned(),
            expected,
            actual,
        });
    };
    let mut stricter = BTreeSet::new();
    let known = asks
        .iter()
        .any(|(ask, _)| matches!(ask, Ask::Guarded { .. }))
        .then(|| judge.known_ids());
    let refusals: &[String] = judge.profile.map_or(&[], |p| p.refusals.as_slice());
    let forged = judge.context.is_forged_for(&judge.rights);
    for (at, ((ask, sql), answer)) in asks.iter().zip(&answers).enumerate() {
        // A forged or malformed context must grant nothing; a request refused outright
        // grants nothing (see `probe::judge`).
        if forged && matches!(answer, Err(failure) if failure.refused(refusals)) {
            continue;
        }
        match ask {
            Ask::Read { table: index } => {
                let table = &judge.subjects.tables[*index];
                let rows = &judge.population.tables[*index];
                let seen: BTreeSet<&str> = match answer {
                    Ok(result) => result
                        .rows
                        .iter()
                        .filter_map(|r| r.first().cloned().flatten())
                        .filter_map(|json| rows.iter().find(|row| row.json == json))
                        .map(|row| row.json.as_str())
                        .collect(),
                    Err(_) => BTreeSet::new(),
                };
                let exact = matches!(table.rule, Rule::Resource(_));
                for row in rows {
                    let (read, _, _) = judge.row_verdict(table, row);
                    let visible = seen.contains(row.json.as_str());
                    let replay = format!("{sql} where {}", where_row(table, row));
                    if visible && !read {
                        fail(
                            Invariant::ClassBound,
                            &table.name,
                            "read".into(),
                            (sql, replay, Expectation::Nothing),
                            format!(
                                "only rows the {} class lets it read",
                                class_name(&table.rule)
                            ),
                            format!("it reads {}", row.json),
                        );
                        break;
                    }
                    if read && !visible {
                        if exact {
                            fail(
                                Invariant::ClassBound,
                                &table.name,
                                "read".into(),
                                (sql, replay, Expectation::Count(1)),
                                format!("reads {}", row.json),
                                format!("{} rows, not that one", seen.len()),
                            );
                            break;
                        }
                        stricter.insert(format!(
                            "{}: {} cannot read rows the {} class allows",
                            table.name,
                            judge.principal_kind(),
                            class_name(&table.rule)
                        ));
                    }
                }
            }
            Ask::Write {
                table: index,
                op,
                row,
                allowed,
            } => {
                let table = &judge.subjects.tables[*index];
                let done = matches!(answer, Ok(rows) if rows.affected > 0);
                let action = format!("{op} of {row}");
                if done && !allowed {
                    verdict_of[at] = Verdict::Wider;
                    fail(
                        Invariant::ClassBound,
                        &table.name,
                        action,
                        (sql, sql.clone(), Expectation::Nothing),
                        "refused (an error or no row)".into(),
                        observed(answer),
                    );
                } else if !done && *allowed {
                    if matches!(table.rule, Rule::Resource(_)) {
                        verdict_of[at] = Verdict::Narrower;
                        fail(
                            Invariant::ClassBound,
                            &table.name,
                            action,
                            (sql, sql.clone(), Expectation::Affected(1)),
                            "done".into(),
                            observed(answer),
                        );
                    } else {
                        verdict_of[at] = Verdict::Stricter;
                        stricter.insert(format!(
                            "{}: {} cannot {op} {row}, which the {} class allows",
                            table.name,
                            judge.principal_kind(),
                            class_name(&table.rule)
                        ));
                    }
                }
            }
            Ask::Derived {
                object, mappings, ..
            } => {
                let Ok(result) = answer else { continue };
                let leaked = result.rows.iter().find(|row| {
                    let mut offset = 0;
                    let mut mapped = false;
                    let contained = mappings.iter().any(|m| {
                        let tuple: Vec<Option<String>> =
                            row[offset..offset + m.columns.len()].to_vec();
                        offset += m.columns.len();
                        if tuple.iter().any(Option::is_none) {
                            return false;
                        }
                        mapped = true;
                        let tuple: Vec<String> = tuple.into_iter().flatten().collect();
                        bases
                            .get(&(m.base.clone(), m.columns.clone()))
                            .is_some_and(|set| set.contains(&tuple))
                    });
                    mapped && !contained
                });
                if let Some(row) = leaked {
                    verdict_of[at] = Verdict::Wider;
                    let bases: Vec<&str> = mappings.iter().map(|m| m.base.as_str()).collect();
                    let columns = mappings.iter().flat_map(|m| m.columns.iter());
                    let matches: Vec<String> = columns
                        .zip(row)
                        .filter_map(|(c, v)| {
                            Some(format!("v.{} = {}", quote_ident(c), literal(v.as_deref()?)))
                        })
                        .collect();
                    let replay = format!("{sql} where {}", matches.join(" and "));
                    fail(
                        Invariant::DerivedContainment,
                        object,
                        "read".into(),
                        (sql, replay, Expectation::Nothing),
                        format!("only rows {label} reads from {} itself", bases.join(" or ")),
                        format!(
                            "a row it cannot read there: {}",
                            row.iter()
                                .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
            }
            Ask::Reach { object, .. } => {
                if answer.is_ok() {
                    verdict_of[at] = Verdict::Wider;
                    fail(
                        Invariant::ClassBound,
                        object,
                        "call".into(),
                        (sql, sql.clone(), Expectation::Nothing),
                        "refused: the function is internal".into(),
                        observed(answer),
                    );
                }
            }
            // A refusal (or any error) tells nothing; an answer may name only ids of rows
            // the caller reads. Ids of nothing in the world (a fresh uuid) say nothing.
            Ask::Guarded { object, .. } => {
                let (Ok(result), Some((readable, all))) = (answer, &known) else {
                    continue;
                };
                let text: Vec<&str> = result
                    .rows
                    .iter()
                    .flatten()
                    .flatten()
                    .map(String::as_str)
                    .collect();
                let leaked = uuids(&text.join(" "))
                    .into_iter()
                    .find(|id| all.contains(id) && !readable.contains(id));
                if let Some(id) = leaked {
                    verdict_of[at] = Verdict::Wider;
                    fail(
                        Invariant::ClassBound,
                        object,
                        "call".into(),
                        (sql, sql.clone(), Expectation::Nothing),
                        format!("a refusal, or only ids of rows {label} reads"),
                        format!("it names {}", judge.describe(id)),
                    );
                }
            }
            Ask::Base { .. } => {}
        }
    }
    verdicts.stricter = stricter;
    verdicts.observed = observations(judge, &asks, &answers, &verdict_of);
    verdicts
}

/// What each probe of an object beyond the model got, cell by cell: a read per row by
/// what the class lets the principal do with the row, a write per kind of row, a call.
fn observations(
    judge: &Judge<'_>,
    asks: &[(Ask, String)],
    answers: &[std::result::Result<Rows, Failure>],
    verdict_of: &[Verdict],
) -> Vec<(observe::Key, Seen)> {
    let actor = Actor::of(judge.world, &judge.who);
    let context = observe::principal_context(&judge.rights, &judge.context);
    // Objects beyond the model have no tenant relation of their own to judge a role in.
    let who = observe::Who::of_actor(actor);
    let key = |object: &str, op: &'static str, kind: &'static str| observe::Key {
        object: object.to_owned(),
        op,
        kind,
        context,
        actor,
        who: who.clone(),
        beyond_model: true,
    };
    let refusals: &[String] = judge.profile.map_or(&[], |p| p.refusals.as_slice());
    let forged = judge.context.is_forged_for(&judge.rights);
    let mut observed = Vec::new();
    for (at, ((ask, _), answer)) in asks.iter().zip(answers).enumerate() {
        let forgiven = forged && matches!(answer, Err(failure) if failure.refused(refusals));
        let verdict = if forgiven {
            Verdict::AsModel
        } else {
            verdict_of[at]
        };
        match ask {
            Ask::Read { table: index } => {
                let table = &judge.subjects.tables[*index];
                let seen: BTreeSet<&str> = match answer {
                    Ok(result) => result
                        .rows
                        .iter()
                        .filter_map(|r| r.first().and_then(|v| v.as_deref()))
                        .collect(),
                    Err(_) => BTreeSet::new(),
                };
                for row in &judge.population.tables[*index] {
                    let (read, write, _) = judge.row_verdict(table, row);
                    let outcome = match answer {
                        Err(failure) if failure.denial().is_some() => "denied: no privilege",
                        _ if seen.contains(row.json.as_str()) => observe::SEES,
                        _ => observe::HIDDEN,
                    };
                    let visible = seen.contains(row.json.as_str());
                    let verdict = match (visible, read) {
                        _ if forgiven => Verdict::AsModel,
                        (true, false) => Verdict::Wider,
                        (false, true) if matches!(table.rule, Rule::Resource(_)) => {
                            Verdict::Narrower
                        }
                        (false, true) => Verdict::Stricter,
                        _ => Verdict::AsModel,
                    };
                    observed.push((
                        key(&table.name, "read", kind(read, write)),
                        (outcome, verdict),
                    ));
                }
            }
            Ask::Write {
                table: index,
                op,
                row,
                ..
            } => {
                let table = &judge.subjects.tables[*index];
                let kind = [
                    "a row it may write",
                    "a row it only reads",
                    "a row hidden from it",
                ]
                .into_iter()
                .find(|kind| row.ends_with(kind))
                .unwrap_or("a row");
                let kind = if row.starts_with("a new row") {
                    match kind {
                        "a row it may write" => "a new row it may write",
                        "a row it only reads" => "a new row it only reads",
                        _ => "a new row hidden from it",
                    }
                } else {
                    kind
                };
                observed.push((
                    key(&table.name, op, kind),
                    (observe::write_outcome(answer, false), verdict),
                ));
            }
            Ask::Reach { name, .. } => {
                observed.push((
                    key(name, "call", "internal"),
                    (observe::write_outcome(answer, true), verdict),
                ));
            }
            Ask::Guarded { name, .. } => {
                observed.push((
                    key(name, "call", "guarded"),
                    (observe::write_outcome(answer, true), verdict),
                ));
            }
            Ask::Derived { name, .. } => {
                let outcome = match answer {
                    Ok(result) if !result.rows.is_empty() => observe::SEES,
                    Ok(_) => observe::HIDDEN,
                    Err(_) => "denied: no privilege",
                };
                observed.push((key(name, "read", "its rows"), (outcome, verdict)));
            }
            Ask::Base { .. } => {}
        }
    }
    observed
}

fn class_name(rule: &Rule) -> &'static str {
    match rule {
        Rule::Resource(_) => "resource",
        Rule::Tenant { .. } => "tenant",
        Rule::Child { .. } => "child",
        Rule::User { .. } => "user",
        Rule::Public { .. } => "public",
        Rule::Internal => "internal",
    }
}

fn tuples(rows: &Rows) -> BTreeSet<Vec<String>> {
    rows.rows
        .iter()
        .filter(|row| row.iter().all(Option::is_some))
        .map(|row| row.iter().flatten().cloned().collect())
        .collect()
}

fn observed(answer: &std::result::Result<Rows, Failure>) -> String {
    match answer {
        Ok(rows) => format!("done ({} rows)", rows.affected),
        Err(failure) => format!("{}: {}", failure.sqlstate, failure.message),
    }
}
