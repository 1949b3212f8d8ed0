//! SQL scripts, read with PostgreSQL's own parser (libpg_query, through `pg_query`):
//! splitting them into top-level statements, telling what each statement does where
//! that changes how it may run, and mapping positions back to lines.
//!
//! The migration runner sends one statement at a time, so that an error the server
//! reports without a position (a failing `DO` block, a constraint violation) still
//! points at the line where its statement starts. Splitting with the parser, rather
//! than by lexical rules, keeps together everything PostgreSQL keeps together: rules
//! with several actions (`DO ALSO (a; b)`), `BEGIN ATOMIC` bodies, dollar quotes. A
//! script the parser refuses is split up to the statement it refuses, which is sent
//! with the rest of the script so that the server reports the syntax error at its own
//! position.
//!
//! A step runs as a principal, and SQL that changes who it runs as (the role, the
//! claims, any `request.*` setting) proves nothing about that principal. Whether it
//! does is read from the parse tree, walked whole, so that no quoting (`E'...'`,
//! `U&'...'`, a quoted name in `SET`) and no computed name hides it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use pg_query::protobuf::node::Node as NodeKind;
use pg_query::ParserOptions;

/// One top-level statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement's text, without the terminating `;`.
    pub text: &'a str,
    /// Byte offset of `text` in the script.
    pub offset: usize,
    kind: Kind,
}

/// What the parser says a statement is, where that matters to a runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `BEGIN`, `COMMIT`, `SAVEPOINT`, ...
    Transaction,
    /// `COPY ... FROM STDIN`, whose rows follow the statement in psql's protocol.
    CopyFromStdin,
    /// `INSERT`, `UPDATE`, `DELETE` or `MERGE`: rows, not objects.
    RowWrite,
    /// DDL that makes objects or changes them where they stand (`CREATE`, `ALTER
    /// TABLE`, `GRANT`, `COMMENT`, ...), and so renames and moves none.
    InPlace,
    Other,
    /// The rest of a script from a statement the parser refused.
    Refused,
}

impl Statement<'_> {
    /// The first keyword, lowercased (`create`, `begin`, ...), after comments.
    pub fn keyword(&self) -> String {
        // A set operation may open with its first operand in parentheses:
        // `(select ...) except (select ...)` is a SELECT.
        let code =
            skip_comments(self.text).trim_start_matches(|c: char| c == '(' || c.is_whitespace());
        code.chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_lowercase()
    }

    /// Whether the statement begins, ends or nests a transaction (`BEGIN`, `COMMIT`,
    /// `SAVEPOINT`, ...): the runners own the transactions they run SQL in.
    pub fn controls_transaction(&self) -> bool {
        self.kind == Kind::Transaction
    }

    /// Whether the statement is `COPY ... FROM STDIN`, whose data only psql sends.
    pub fn copies_from_stdin(&self) -> bool {
        self.kind == Kind::CopyFromStdin
    }

    /// Whether the statement only writes rows (`INSERT`, `UPDATE`, `DELETE`, `MERGE`),
    /// so that it creates and alters no object, short of a trigger that runs DDL.
    pub fn writes_rows_only(&self) -> bool {
        self.kind == Kind::RowWrite
    }

    /// Whether the statement makes or changes objects only where they stand: it
    /// renames and moves none (`ALTER ... RENAME`, `SET SCHEMA`), is not `DROP`, and
    /// runs no code of its own (`DO`, a `SELECT` of a function), so that what it did
    /// can be read from the catalog rows it wrote.
    pub fn changes_in_place(&self) -> bool {
        self.kind == Kind::InPlace
    }

    /// Byte offset (in the script) of the first character that is not blank or comment.
    pub fn code_offset(&self) -> usize {
        self.offset + (self.text.len() - skip_comments(self.text).len())
    }
}

fn skip_comments(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_start();
        if let Some(rest) = trimmed.strip_prefix("--") {
            text = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if trimmed.starts_with("/*") {
            text = &trimmed[block_comment_len(trimmed)..];
        } else {
            return trimmed;
        }
    }
}

/// Length in bytes of the (possibly nested) block comment at the start of `text`.
fn block_comment_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        if bytes[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if bytes[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// Splits `script` into its non-empty top-level statements.
pub fn split(script: &str) -> Vec<Statement<'_>> {
    if let Some(statement) = one_plain_statement(script) {
        return vec![statement];
    }
    match parsed(script, 0) {
        Some(statements) => statements,
        None => split_up_to_refusal(script),
    }
}

/// `script` when it is one SELECT, VALUES, INSERT, UPDATE or DELETE, read from the
/// scanner's tokens alone: every request of a property run is one, and the scanner
/// costs a fraction of a parse (whose tree crosses from C in a protocol buffer).
/// `None` for anything else, which [`parsed`] reads; a statement the parser would
/// refuse is the server's to refuse.
fn one_plain_statement(script: &str) -> Option<Statement<'_>> {
    use pg_query::protobuf::Token;
    let tokens = pg_query::scan_tokens(script).ok()?;
    let code: Vec<(Option<Token>, usize, usize)> = tokens
        .iter()
        .map(|t| {
            (
                Token::try_from(t.token).ok(),
                t.start as usize,
                t.end as usize,
            )
        })
        .filter(|(kind, _, _)| !matches!(kind, Some(Token::SqlComment | Token::CComment)))
        .collect();
    let (first, start, _) = *code.first()?;
    let kind = match first? {
        Token::Select | Token::Values => Kind::Other,
        Token::Insert | Token::Update | Token::DeleteP => Kind::RowWrite,
        _ => return None,
    };
    let mut end = code.last()?.2;
    let mut body = &code[..];
    if let Some((Some(Token::Ascii59), at, _)) = code.last() {
        end = *at;
        body = &code[..code.len() - 1];
    }
    if body
        .iter()
        .any(|(kind, _, _)| *kind == Some(Token::Ascii59))
    {
        return None;
    }
    Some(Statement {
        text: script.get(start..end)?.trim_end(),
        offset: start,
        kind,
    })
}

/// The statements of `script[from..]` as the parser reads them, or `None` when it
/// refuses them.
fn parsed(script: &str, from: usize) -> Option<Vec<Statement<'_>>> {
    let text = &script[from..];
    let tree = pg_query::parse(text, ParserOptions::DEFAULT).ok()?;
    let statements = tree
        .protobuf
        .stmts
        .iter()
        .filter_map(|raw| {
            let start = usize::try_from(raw.stmt_location).ok()?;
            let end = match usize::try_from(raw.stmt_len).ok()? {
                0 => text.len(),
                len => start + len,
            };
            let kind = match raw.stmt.as_ref().and_then(|n| n.node.as_ref()) {
                Some(NodeKind::TransactionStmt(_)) => Kind::Transaction,
                Some(NodeKind::CopyStmt(copy))
                    if copy.is_from && !copy.is_program && copy.filename.is_empty() =>
                {
                    Kind::CopyFromStdin
                }
                Some(
                    NodeKind::InsertStmt(_)
                    | NodeKind::UpdateStmt(_)
                    | NodeKind::DeleteStmt(_)
                    | NodeKind::MergeStmt(_),
                ) => Kind::RowWrite,
                Some(
                    NodeKind::CreateStmt(_)
                    | NodeKind::AlterTableStmt(_)
                    | NodeKind::IndexStmt(_)
                    | NodeKind::CreatePolicyStmt(_)
                    | NodeKind::AlterPolicyStmt(_)
                    | NodeKind::GrantStmt(_)
                    | NodeKind::GrantRoleStmt(_)
                    | NodeKind::AlterDefaultPrivilegesStmt(_)
                    | NodeKind::AlterOwnerStmt(_)
                    | NodeKind::CreateFunctionStmt(_)
                    | NodeKind::AlterFunctionStmt(_)
                    | NodeKind::ViewStmt(_)
                    | NodeKind::RuleStmt(_)
                    | NodeKind::CreateTrigStmt(_)
                    | NodeKind::CommentStmt(_)
                    | NodeKind::CreateSeqStmt(_)
                    | NodeKind::AlterSeqStmt(_)
                    | NodeKind::CreateEnumStmt(_)
                    | NodeKind::CompositeTypeStmt(_)
                    | NodeKind::CreateDomainStmt(_)
                    | NodeKind::CreateSchemaStmt(_)
                    | NodeKind::CreateExtensionStmt(_)
                    | NodeKind::VariableSetStmt(_),
                ) => Kind::InPlace,
                _ => Kind::Other,
            };
            let statement = text.get(start..end)?;
            let code = skip_comments(statement);
            let trimmed = code.trim_end();
            (!trimmed.is_empty()).then(|| Statement {
                text: trimmed,
                offset: from + end - code.len(),
                kind,
            })
        })
        .collect();
    Some(statements)
}

/// How many of the scanner's pieces one statement may span (a `BEGIN ATOMIC` body or a
/// rule's actions hold their own `;`).
const LONGEST_STATEMENT: usize = 256;

/// Splits a script the parser refuses: the statements before the refused one, each
/// as the parser reads it, and then the rest of the script in one piece (the server
/// reports the syntax error at its position there). The pieces come from the parser's
/// scanner, grown until they parse, so that a statement with `;` inside it is not cut.
fn split_up_to_refusal(script: &str) -> Vec<Statement<'_>> {
    let refused = |from: usize| {
        let rest = &script[from..];
        let mut code = skip_comments(rest);
        while let Some(after) = code.strip_prefix(';') {
            code = skip_comments(after);
        }
        Statement {
            text: code.trim_end(),
            offset: from + rest.len() - code.len(),
            kind: Kind::Refused,
        }
    };
    let Ok(pieces) = pg_query::split_with_scanner(script) else {
        return vec![refused(0)];
    };
    let base = script.as_ptr() as usize;
    let mut statements = Vec::new();
    let (mut start, mut grown) = (0, 0);
    for piece in pieces {
        let end = piece.as_ptr() as usize - base + piece.len();
        if let Some(mut parsed) = parsed(&script[..end], start) {
            statements.append(&mut parsed);
            (start, grown) = (end, 0);
        } else {
            grown += 1;
            // No statement has this many `;` inside it: the refused one is here, and
            // growing further would parse the rest of a long file once per piece.
            if grown > LONGEST_STATEMENT {
                break;
            }
        }
    }
    if !skip_comments(&script[start..])
        .trim_end_matches(';')
        .trim()
        .is_empty()
    {
        statements.push(refused(start));
    }
    statements
}

/// Why running `sql` would leave the principal it runs as, if it would: it sets or
/// resets the role, the session authorization or a `request.*` setting (the claims,
/// the headers), calls `set_config` with a name computed at run time, or runs code the
/// parser cannot see into (a `DO` block, `query_to_xml`). SQL the parser refuses
/// changes nothing: the server refuses it too.
pub fn leaves_principal(sql: &str) -> Option<String> {
    // Every construct below has one of these in its text, however it is quoted (a
    // Unicode escape starts with `U&`); most requests have none and need no parse.
    let lower = sql.to_ascii_lowercase();
    if !["set", "do", "query_to_xml", "dblink", "u&"]
        .iter()
        .any(|word| lower.contains(word))
    {
        return None;
    }
    // A request's string constants cannot make it leave unless they name a setting,
    // and its shape with them as parameters then names it at run time: a shape that does
    // not leave clears every text of that shape, and shapes repeat where texts do not.
    if let Some((shape, _)) = parameterized(sql) {
        remembered("leaves", &shape, parse_for_leaving)?;
    }
    remembered("leaves", sql, parse_for_leaving)
}

/// What [`remembered`] has worked out: by analysis and text.
type Remembered = HashMap<(&'static str, String), Option<String>>;

/// `analyse(sql)`, remembered: a world's probes send the same statements and shapes
/// for every principal and context, so each is parsed once, not once per request.
fn remembered(
    analysis: &'static str,
    sql: &str,
    analyse: fn(&str) -> Option<String>,
) -> Option<String> {
    static READ: OnceLock<Mutex<Remembered>> = OnceLock::new();
    let key = (analysis, sql.to_owned());
    let read = READ.get_or_init(Mutex::default);
    if let Some(known) = read.lock().ok().and_then(|read| read.get(&key).cloned()) {
        return known;
    }
    let found = analyse(sql);
    if let Ok(mut read) = read.lock() {
        // Bounded: a long fuzz run sends millions of distinct texts.
        if read.len() >= 8192 {
            read.clear();
        }
        read.insert(key, found.clone());
    }
    found
}

fn parse_for_leaving(sql: &str) -> Option<String> {
    let tree = pg_query::parse(sql, ParserOptions::DEFAULT).ok()?;
    // The protocol buffer types serialize whole; walking that value reaches every node
    // of every statement, where the crate's own iterator visits only some kinds.
    let tree = serde_json::to_value(&tree.protobuf).ok()?;
    let mut why = None;
    walk(&tree, &mut |kind, node| {
        if why.is_none() {
            why = leaves_at(kind, node);
        }
    });
    why
}

/// The command (`UPDATE` or `DELETE`) of the first write in `sql` that has no `WHERE`,
/// top level or in a `WITH`, if there is one: Supabase loads pg-safeupdate for the API's
/// login, which refuses such a statement before it runs (and every PostgREST filter is a
/// `WHERE`, so no API request sends one).
pub fn unfiltered_write(sql: &str) -> Option<&'static str> {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("update") && !lower.contains("delete") {
        return None;
    }
    // Whether a write has a WHERE is its shape's, whatever its constants.
    let shape = parameterized(sql).map(|(shape, _)| shape);
    let text = shape.as_deref().unwrap_or(sql);
    match remembered("unfiltered", text, first_unfiltered_write)?.as_str() {
        "UPDATE" => Some("UPDATE"),
        _ => Some("DELETE"),
    }
}

fn first_unfiltered_write(sql: &str) -> Option<String> {
    let tree = pg_query::parse(sql, ParserOptions::DEFAULT).ok()?;
    let tree = serde_json::to_value(&tree.protobuf).ok()?;
    let mut found = None;
    walk(&tree, &mut |kind, node| {
        let command = match kind {
            "UpdateStmt" => "UPDATE",
            "DeleteStmt" => "DELETE",
            _ => return,
        };
        if found.is_none() && node["where_clause"].is_null() {
            found = Some(command.to_owned());
        }
    });
    found
}

/// What a one-statement write is, as PostgREST's preferences tell its forms apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteForm {
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub command: &'static str,
    /// Whether it has a `RETURNING` (PostgREST's `return=representation`).
    pub returns_rows: bool,
    /// `ON CONFLICT DO UPDATE` (`resolution=merge-duplicates`) or `DO NOTHING`
    /// (`resolution=ignore-duplicates`), for an INSERT that has one.
    pub on_conflict: Option<&'static str>,
}

/// The form of `sql` when it is one INSERT, UPDATE or DELETE.
pub fn write_form(sql: &str) -> Option<WriteForm> {
    use pg_query::protobuf::OnConflictAction;
    let tree = pg_query::parse(sql, ParserOptions::DEFAULT).ok()?;
    let [raw] = tree.protobuf.stmts.as_slice() else {
        return None;
    };
    let returns = |clause: &Option<pg_query::protobuf::ReturningClause>| {
        clause.as_ref().is_some_and(|c| !c.exprs.is_empty())
    };
    match raw.stmt.as_ref()?.node.as_ref()? {
        NodeKind::InsertStmt(insert) => Some(WriteForm {
            command: "INSERT",
            returns_rows: returns(&insert.returning_clause),
            on_conflict: insert.on_conflict_clause.as_ref().and_then(|clause| {
                match OnConflictAction::try_from(clause.action) {
                    Ok(OnConflictAction::OnconflictUpdate) => Some("DO UPDATE"),
                    Ok(OnConflictAction::OnconflictNothing) => Some("DO NOTHING"),
                    _ => None,
                }
            }),
        }),
        NodeKind::UpdateStmt(update) => Some(WriteForm {
            command: "UPDATE",
            returns_rows: returns(&update.returning_clause),
            on_conflict: None,
        }),
        NodeKind::DeleteStmt(delete) => Some(WriteForm {
            command: "DELETE",
            returns_rows: returns(&delete.returning_clause),
            on_conflict: None,
        }),
        _ => None,
    }
}

/// The tables and views `sql` reads or writes, schema-qualified (an unqualified name
/// is taken as `public`'s, as the API's search path finds it); empty for SQL that
/// does not parse.
pub fn relations(sql: &str) -> Vec<String> {
    let Ok(tree) = pg_query::parse(sql, ParserOptions::DEFAULT) else {
        return Vec::new();
    };
    let mut names: Vec<String> = tree
        .tables()
        .into_iter()
        .map(|name| {
            if name.contains('.') {
                name
            } else {
                format!("public.{name}")
            }
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `sql` with its string constants as parameters (`$1`, `$2`, ...), and the constants
/// as they were written; `None` when it is not one statement `PREPARE` takes, or
/// already has parameters.
///
/// Only a constant after `(`, `,`, `[`, `=` or an operator becomes a parameter: there
/// its type comes from where it stands, as the constant's does. A constant after a type
/// name (`date '2026-12-06'`) stays, since `date $1` is no SQL.
pub fn parameterized(sql: &str) -> Option<(String, Vec<String>)> {
    use pg_query::protobuf::Token;
    let tokens = pg_query::scan_tokens(sql).ok()?;
    let first = tokens.iter().find_map(|t| Token::try_from(t.token).ok())?;
    if !matches!(
        first,
        Token::Select
            | Token::Insert
            | Token::Update
            | Token::DeleteP
            | Token::With
            | Token::Values
    ) {
        return None;
    }
    let mut template = String::with_capacity(sql.len());
    let mut constants = Vec::new();
    let mut copied = 0;
    let mut previous = None;
    for token in &tokens {
        let kind = Token::try_from(token.token).ok();
        match kind {
            Some(Token::Param) => return None,
            Some(Token::Ascii59) if !sql[token.end as usize..].trim().is_empty() => return None,
            Some(Token::Sconst)
                if matches!(
                    previous,
                    Some(
                        Token::Ascii40
                            | Token::Ascii44
                            | Token::Ascii91
                            | Token::Ascii61
                            | Token::Ascii60
                            | Token::Ascii62
                            | Token::Op
                            | Token::LessEquals
                            | Token::GreaterEquals
                            | Token::NotEquals
                    )
                ) =>
            {
                let (start, end) = (token.start as usize, token.end as usize);
                constants.push(sql.get(start..end)?.to_owned());
                template.push_str(sql.get(copied..start)?);
                template.push_str(&format!("${}", constants.len()));
                copied = end;
            }
            _ => {}
        }
        if !matches!(kind, Some(Token::SqlComment | Token::CComment)) {
            previous = kind;
        }
    }
    template.push_str(sql.get(copied..)?);
    Some((template, constants))
}

/// `sql` up to the end of its last token: without the comments and `;` after it, so that
/// a clause appended to it is not commented out.
pub fn up_to_last_token(sql: &str) -> &str {
    use pg_query::protobuf::Token;
    let Ok(scanned) = pg_query::scan(sql) else {
        return sql.trim_end();
    };
    let end = scanned
        .tokens
        .iter()
        .filter(|token| {
            !matches!(
                Token::try_from(token.token),
                Ok(Token::SqlComment | Token::CComment | Token::Ascii59)
            )
        })
        .filter_map(|token| usize::try_from(token.end).ok())
        .max()
        .unwrap_or(0);
    sql.get(..end).unwrap_or(sql)
}

/// Calls `visit` with every `{"Kind": {...}}` object in `value`.
fn walk(value: &serde_json::Value, visit: &mut impl FnMut(&str, &serde_json::Value)) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                if key.starts_with(char::is_uppercase) {
                    visit(key, inner);
                }
                walk(inner, visit);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, visit)),
        _ => {}
    }
}

/// Settings a principal's request must not write: they say who it is.
fn names_the_principal(setting: &str) -> bool {
    let setting = setting.to_ascii_lowercase();
    setting == "role" || setting == "session_authorization" || setting.starts_with("request.")
}

/// Functions that run SQL given to them as text, which the parse tree cannot show.
const RUNS_TEXT: [&str; 5] = [
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "dblink",
    "dblink_exec",
];

fn leaves_at(kind: &str, node: &serde_json::Value) -> Option<String> {
    match kind {
        "VariableSetStmt" => {
            let name = node["name"].as_str().unwrap_or_default();
            let reset_all = node["kind"].as_i64() == Some(6);
            (reset_all || names_the_principal(name)).then(|| {
                if reset_all {
                    "RESET ALL".to_owned()
                } else {
                    format!("SET or RESET of {name}")
                }
            })
        }
        "DoStmt" => Some("a DO block, whose code the harness cannot read".to_owned()),
        "FuncCall" => {
            let name = node["funcname"]
                .as_array()
                .and_then(|parts| parts.last())
                .and_then(|last| last["node"]["String"]["sval"].as_str())
                .unwrap_or_default();
            if RUNS_TEXT.contains(&name) {
                return Some(format!("{name}(), which runs SQL the harness cannot read"));
            }
            if name != "set_config" {
                return None;
            }
            match constant_text(&node["args"][0]) {
                Some(setting) if !names_the_principal(setting) => None,
                Some(setting) => Some(format!("set_config('{setting}', ...)")),
                None => Some("set_config() of a setting named at run time".to_owned()),
            }
        }
        _ => None,
    }
}

/// The text of a string constant, through any casts (`'role'::text`).
fn constant_text(node: &serde_json::Value) -> Option<&str> {
    let inner = &node["node"];
    if let Some(cast) = inner.get("TypeCast") {
        return constant_text(&cast["arg"]);
    }
    inner["AConst"]["val"]["Sval"]["sval"].as_str()
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Byte offset of the server's 1-based character `position` within `statement`.
pub fn byte_of_position(statement: &str, position: u32) -> usize {
    statement
        .char_indices()
        .nth((position as usize).saturating_sub(1))
        .map_or(statement.len(), |(byte, _)| byte)
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
