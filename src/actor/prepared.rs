//! Prepared statements for pipelined requests, the way PostgREST sends its own.
//!
//! PostgREST prepares every statement it sends, with the request's values as
//! parameters, so the server parses, analyses and plans a statement shape once per
//! connection and only binds values after that. The property probes send the same
//! shapes thousands of times (a read of each table, a write of each kind, the call's
//! settings, the pre-request function), so preparing them is most of what the server can
//! be spared.
//!
//! A statement's string constants become its parameters (see
//! [`crate::script::parameterized`]), and the constants are passed back to `EXECUTE` as
//! they were written, so a prepared statement means what its text means. A shape is sent
//! as text the first time it is seen; right after that request, still as the request's
//! principal with its search path, a `PREPARE` of its own follows, in the request's
//! savepoint, and the later requests of the same pipeline already execute it, as that
//! role only (see [`Key`]). A shape the server cannot prepare (a parameter whose type
//! nothing decides, a schema the principal may not use) is sent as text from then on, and
//! a pipeline that executed it in the meantime is sent again, so no answer depends on a
//! `PREPARE`. Prepared statements outlive the rollbacks around them, so a worker's later
//! worlds reuse what its first prepared.

use super::{statement, Failure, Rows};
use crate::connection::{Connection, Statements};
use crate::error::Result;

/// One message of a pipeline: statements sent in one simple-protocol query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub parts: Vec<Part>,
    /// Whether this message is a request in the savepoint `request`, which the next
    /// message rolls back to: a `PREPARE` may follow it there.
    pub in_request: bool,
    /// The role the message's queries run as: a statement prepared as one role is
    /// only ever executed as that role (see [`Key`]).
    pub role: Option<&'static str>,
}

/// One statement of a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Sent as it is: transaction control, `SET CONSTRAINTS`.
    Control(String),
    /// A query that may be sent as a prepared statement.
    Query(String),
}

#[cfg(test)]
impl Message {
    /// The message as text, every query as written.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Control(sql) | Part::Query(sql) => sql.as_str(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Sends `messages` pipelined on `connection` and returns their answers in order, each
/// query that has been prepared on this session before sent as `EXECUTE`, and every
/// shape seen for the first time prepared right after the request that sent it.
///
/// A later message of the same pipeline already executes that statement: the server
/// runs the messages in order, so the `PREPARE` has run by then. Should it have failed,
/// those messages were answered by a missing statement, so the whole pipeline is sent
/// again, that shape as text: every message rolls back to a savepoint, so the first
/// attempt left nothing behind.
pub async fn send(
    connection: &Connection,
    messages: &[Message],
) -> Result<Vec<std::result::Result<Rows, Failure>>> {
    // After the first attempt every shape it claimed is prepared or refused, so the
    // second sends the refused ones as text and executes nothing it prepares itself.
    for _ in 0..2 {
        let plan = Plan::of(connection.statements(), messages);
        let answers =
            futures_util::future::join_all(plan.texts.iter().map(|sql| statement(connection, sql)))
                .await;
        let mut answers: Vec<Option<std::result::Result<Rows, Failure>>> = answers
            .into_iter()
            .map(|a| a.map(Some))
            .collect::<Result<_>>()?;
        if plan.settle(connection.statements(), &answers) {
            continue;
        }
        return Ok(plan
            .answer_of
            .into_iter()
            .map(|at| answers[at].take().expect("each message has one answer"))
            .collect());
    }
    Err(crate::error::Error::backend(
        "property",
        "a pipeline sent again as text still executed a statement that failed to prepare",
    ))
}

/// What a prepared statement is registered under: its shape and the role it was
/// prepared as. A statement prepared as one role and executed as another skips the
/// checks that parse analysis makes (a schema the role may not use), so its answer
/// would depend on which principal happened to send the shape first, and a
/// counterexample, replayed as text, might not fail again.
struct Key(String);

impl Key {
    fn new(role: Option<&str>, template: &str) -> Key {
        Key(format!("{}\n{template}", role.unwrap_or("")))
    }
}

/// The texts a pipeline sends: its messages, and the `PREPARE`s after them.
struct Plan {
    texts: Vec<String>,
    /// Where each message's answer is among the answers.
    answer_of: Vec<usize>,
    /// Which text prepares which shape, by its [`Key`].
    preparing: Vec<(usize, String)>,
    /// The keys executed by this pipeline after the `PREPARE` it sent for them.
    executed_early: std::collections::HashSet<String>,
}

impl Plan {
    /// Records how each `PREPARE` went, from `answers`; whether a message executed a
    /// statement that does not exist, so that its answer means nothing.
    fn settle(
        &self,
        statements: &Statements,
        answers: &[Option<std::result::Result<Rows, Failure>>],
    ) -> bool {
        let mut executed_missing = false;
        for (at, template) in &self.preparing {
            let prepared = matches!(answers[*at], Some(Ok(_)));
            statements.settle(template, prepared);
            executed_missing |= !prepared && self.executed_early.contains(template);
        }
        executed_missing
    }

    fn of(statements: &Statements, messages: &[Message]) -> Plan {
        let mut plan = Plan {
            texts: Vec::with_capacity(messages.len()),
            answer_of: Vec::with_capacity(messages.len()),
            preparing: Vec::new(),
            executed_early: Default::default(),
        };
        // Shapes claimed by this pipeline: waiting for a request to follow, and sent.
        let mut pending: Vec<(String, Key, String)> = Vec::new();
        let mut sent_here: std::collections::HashMap<String, String> = Default::default();
        let (mut queries, mut executed) = (0, 0);
        for message in messages {
            let mut sent = Vec::with_capacity(message.parts.len());
            for part in &message.parts {
                let sql = match part {
                    Part::Control(sql) => {
                        sent.push(sql.clone());
                        continue;
                    }
                    Part::Query(sql) => sql,
                };
                queries += 1;
                let Some((template, constants)) = crate::script::parameterized(sql) else {
                    sent.push(sql.clone());
                    continue;
                };
                let key = Key::new(message.role, &template);
                let name = match (statements.prepared(&key.0), sent_here.get(&key.0)) {
                    (Some(name), _) => name,
                    (None, Some(name)) => {
                        plan.executed_early.insert(key.0.clone());
                        name.clone()
                    }
                    (None, None) => {
                        if let Some(name) = statements.claim(&key.0) {
                            pending.push((name, key, template));
                        }
                        sent.push(sql.clone());
                        continue;
                    }
                };
                executed += 1;
                sent.push(match constants.is_empty() {
                    true => format!("execute {name}"),
                    false => format!("execute {name}({})", constants.join(", ")),
                });
            }
            plan.answer_of.push(plan.texts.len());
            plan.texts.push(sent.join("; "));
            if message.in_request {
                for (name, key, template) in pending.drain(..) {
                    plan.texts.push(format!(
                        "rollback to savepoint request; prepare {name} as {template}"
                    ));
                    plan.preparing.push((plan.texts.len() - 1, key.0.clone()));
                    sent_here.insert(key.0, name);
                }
            }
        }
        statements.count_sent(queries, executed);
        // A shape seen after the last request is prepared another time.
        for (_, key, _) in pending {
            statements.forget(&key.0);
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: Option<&str> = Some("authenticated");

    fn request_as(role: &'static str, queries: &[&str]) -> Message {
        let mut parts = vec![Part::Control("rollback to savepoint request".into())];
        parts.extend(queries.iter().map(|sql| Part::Query((*sql).into())));
        Message {
            parts,
            in_request: true,
            role: Some(role),
        }
    }

    fn request(queries: &[&str]) -> Message {
        request_as("authenticated", queries)
    }

    fn entry(query: &str) -> Message {
        Message {
            parts: vec![Part::Query(query.into())],
            in_request: false,
            role: ROLE,
        }
    }

    fn key(template: &str) -> String {
        Key::new(ROLE, template).0
    }

    const READ: &str = "select id::text from public.agents where name = 'a'";
    const CALL: &str = "select public.apply_tenant_context()";

    #[test]
    fn a_new_shape_is_prepared_after_its_first_request_and_executed_in_the_next() {
        let statements = Statements::default();
        let plan = Plan::of(
            &statements,
            &[
                request(&[CALL, READ]),
                request(&[CALL, READ.replace("'a'", "'b'").as_str()]),
            ],
        );
        assert_eq!(
            plan.texts,
            [
                format!("rollback to savepoint request; {CALL}; {READ}"),
                format!("rollback to savepoint request; prepare rls_harness_1 as {CALL}"),
                "rollback to savepoint request; prepare rls_harness_2 as \
                 select id::text from public.agents where name = $1"
                    .to_owned(),
                "rollback to savepoint request; execute rls_harness_1; \
                 execute rls_harness_2('b')"
                    .to_owned(),
            ]
        );
        assert_eq!(plan.answer_of, [0, 3]);
        assert_eq!(plan.executed_early.len(), 2);
        assert_eq!(statements.sent(), (4, 2));
    }

    #[test]
    fn a_prepared_shape_is_executed_and_a_refused_one_stays_text() {
        let statements = Statements::default();
        let prepared = statements.claim(&key(CALL)).unwrap();
        statements.settle(&key(CALL), true);
        let refused = key("select id::text from public.agents where name = $1");
        statements.claim(&refused).unwrap();
        statements.settle(&refused, false);
        let plan = Plan::of(&statements, &[request(&[CALL, READ]), request(&[READ])]);
        assert_eq!(
            plan.texts,
            [
                format!("rollback to savepoint request; execute {prepared}; {READ}"),
                format!("rollback to savepoint request; {READ}"),
            ]
        );
        assert!(plan.preparing.is_empty() && plan.executed_early.is_empty());
    }

    #[test]
    fn a_shape_no_request_follows_is_claimed_again_later() {
        let statements = Statements::default();
        let plan = Plan::of(&statements, &[entry(CALL)]);
        assert_eq!(plan.texts, [CALL]);
        assert!(plan.preparing.is_empty());
        assert_eq!(
            statements.claim(&key(CALL)).as_deref(),
            Some("rls_harness_2")
        );
    }

    #[test]
    fn a_failed_prepare_that_was_executed_sends_the_pipeline_again_as_text() {
        let statements = Statements::default();
        let messages = [request(&[CALL]), request(&[CALL])];
        let plan = Plan::of(&statements, &messages);
        let missing = Failure {
            sqlstate: "42P18".into(),
            message: "could not determine data type of parameter $1".into(),
            routine: String::new(),
            while_setting_context: false,
        };
        let answers = [
            Some(Ok(Rows::default())),
            Some(Err(missing)),
            Some(Ok(Rows::default())),
        ];
        assert!(
            plan.settle(&statements, &answers),
            "the pipeline goes again"
        );
        let again = Plan::of(&statements, &messages);
        let text = format!("rollback to savepoint request; {CALL}");
        assert_eq!(again.texts, [text.clone(), text]);
        assert!(!again.settle(
            &statements,
            &[Some(Ok(Rows::default())), Some(Ok(Rows::default()))]
        ));
    }

    #[test]
    fn a_failed_prepare_nothing_executed_needs_no_second_pipeline() {
        let statements = Statements::default();
        let plan = Plan::of(&statements, &[request(&[CALL])]);
        let failed = Failure {
            sqlstate: "42501".into(),
            message: "permission denied for schema private".into(),
            routine: String::new(),
            while_setting_context: false,
        };
        assert!(!plan.settle(&statements, &[Some(Ok(Rows::default())), Some(Err(failed))]));
        assert_eq!(statements.prepared(&key(CALL)), None);
    }

    #[test]
    fn a_statement_prepared_as_one_role_is_never_executed_as_another() {
        let statements = Statements::default();
        let plan = Plan::of(&statements, &[request_as("anon", &[CALL])]);
        let denied = Failure {
            sqlstate: "42501".into(),
            message: "permission denied for schema teams".into(),
            routine: String::new(),
            while_setting_context: false,
        };
        assert!(!plan.settle(&statements, &[Some(Err(denied.clone())), Some(Err(denied))]));
        // What anon could not prepare, authenticated still prepares for itself.
        let plan = Plan::of(
            &statements,
            &[
                request(&[CALL]),
                request_as("anon", &[CALL]),
                request(&[CALL]),
            ],
        );
        assert_eq!(
            plan.texts,
            [
                format!("rollback to savepoint request; {CALL}"),
                format!("rollback to savepoint request; prepare rls_harness_2 as {CALL}"),
                format!("rollback to savepoint request; {CALL}"),
                "rollback to savepoint request; execute rls_harness_2".to_owned(),
            ]
        );
    }
}
