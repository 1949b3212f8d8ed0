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
//! [`crate::script::parameterized`]), and
//! the constants are passed back to `EXECUTE` as they were written, so a prepared
//! statement means what its text means. A shape is sent as text the first time it is
//! seen; right after that request, still as the request's principal with its search path,
//! a `PREPARE` of its own follows, in the request's savepoint, so that a shape the server
//! cannot prepare (a parameter whose type nothing decides) is only sent as text from then
//! on, and no request's answer ever depends on a `PREPARE`. Prepared statements outlive
//! the rollbacks around them, so a worker's later worlds reuse what its first prepared.

use super::{statement, Failure, Rows};
use crate::connection::Connection;
use crate::error::Result;

/// One message of a pipeline: statements sent in one simple-protocol query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub parts: Vec<Part>,
    /// Whether this message is a request in the savepoint `request`, which the next
    /// message rolls back to: a `PREPARE` may follow it there.
    pub in_request: bool,
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
pub async fn send(
    connection: &Connection,
    messages: &[Message],
) -> Result<Vec<std::result::Result<Rows, Failure>>> {
    let mut texts = Vec::with_capacity(messages.len());
    // Where each message's answer is among the answers, and which `PREPARE`s were sent.
    let mut answer_of = Vec::with_capacity(messages.len());
    let mut preparing: Vec<(usize, String)> = Vec::new();
    let mut pending: Vec<(String, String)> = Vec::new();
    for message in messages {
        let mut sent = Vec::with_capacity(message.parts.len());
        for part in &message.parts {
            match part {
                Part::Control(sql) => sent.push(sql.clone()),
                Part::Query(sql) => match crate::script::parameterized(sql) {
                    Some((template, constants)) => match connection.prepared(&template) {
                        Some(name) if constants.is_empty() => sent.push(format!("execute {name}")),
                        Some(name) => {
                            sent.push(format!("execute {name}({})", constants.join(", ")))
                        }
                        None => {
                            if let Some(name) = connection.claim_statement_name(&template) {
                                pending.push((name, template));
                            }
                            sent.push(sql.clone());
                        }
                    },
                    None => sent.push(sql.clone()),
                },
            }
        }
        answer_of.push(texts.len());
        texts.push(sent.join("; "));
        if message.in_request {
            for (name, template) in pending.drain(..) {
                texts.push(format!(
                    "rollback to savepoint request; prepare {name} as {template}"
                ));
                preparing.push((texts.len() - 1, template));
            }
        }
    }
    // A shape seen after the last request is prepared another time.
    for (_, template) in pending {
        connection.forget_statement(&template);
    }
    let answers =
        futures_util::future::join_all(texts.iter().map(|sql| statement(connection, sql))).await;
    let mut answers: Vec<Option<std::result::Result<Rows, Failure>>> = answers
        .into_iter()
        .map(|a| a.map(Some))
        .collect::<Result<_>>()?;
    for (at, template) in preparing {
        let prepared = matches!(answers[at], Some(Ok(_)));
        connection.settle_statement(&template, prepared);
    }
    Ok(answer_of
        .into_iter()
        .map(|at| answers[at].take().expect("each message has one answer"))
        .collect())
}
