//! SQL scripts: splitting them into top-level statements and mapping positions back to
//! lines.
//!
//! The migration runner sends one statement at a time, so that an error the server
//! reports without a position (a failing `DO` block, a constraint violation) still
//! points at the line where its statement starts. The splitter knows PostgreSQL's
//! lexical rules that can hide a `;`: quoted strings (including `E''` escapes), quoted
//! identifiers, dollar quoting, line and nested block comments, and the SQL-standard
//! function bodies of PostgreSQL 14 (`BEGIN ATOMIC ... END`), whose inner statements end
//! in `;` too. For those it follows psql's rule: inside `CREATE [OR REPLACE] FUNCTION` or
//! `PROCEDURE`, a `;` ends the statement only outside every `BEGIN`/`CASE` ... `END`.

/// One top-level statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement's text, without the terminating `;`.
    pub text: &'a str,
    /// Byte offset of `text` in the script.
    pub offset: usize,
}

impl Statement<'_> {
    /// The first keyword, lowercased (`create`, `begin`, ...), after comments.
    pub fn keyword(&self) -> String {
        let code = skip_comments(self.text);
        code.chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_lowercase()
    }

    /// Whether the statement begins, ends or nests a transaction (`BEGIN`, `COMMIT`,
    /// `SAVEPOINT`, ...): the runners own the transactions they run SQL in.
    pub fn controls_transaction(&self) -> bool {
        matches!(
            self.keyword().as_str(),
            "begin" | "commit" | "end" | "rollback" | "abort" | "start" | "savepoint" | "release"
        )
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

/// The dollar-quote tag (`$$`, `$body$`) starting at `text`, if there is one.
fn dollar_tag(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('$')?;
    let end = rest.find('$')?;
    let tag = &rest[..end];
    let valid = tag
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_alphabetic() || (i > 0 && c.is_ascii_digit()));
    valid.then(|| &text[..end + 2])
}

/// Splits `script` into its non-empty top-level statements.
pub fn split<'a>(script: &'a str) -> Vec<Statement<'a>> {
    let bytes = script.as_bytes();
    let mut statements = Vec::new();
    let (mut start, mut i) = (0usize, 0usize);
    let mut words = StatementWords::default();
    let push = |from: usize, to: usize, statements: &mut Vec<Statement<'a>>| {
        let text = &script[from..to];
        if !skip_comments(text).is_empty() {
            statements.push(Statement { text, offset: from });
        }
    };
    while i < bytes.len() {
        // Every byte matched below is ASCII, so slicing at `i` is always on a character
        // boundary; other bytes (including those inside multibyte characters) are skipped.
        let rest = || &script[i..];
        match bytes[i] {
            b';' if words.depth > 0 => i += 1,
            b';' => {
                push(start, i, &mut statements);
                i += 1;
                start = i;
                words = StatementWords::default();
            }
            byte if (byte.is_ascii_alphabetic() || byte == b'_')
                && (i == 0 || !is_ident_byte(bytes[i - 1])) =>
            {
                let len = bytes[i..]
                    .iter()
                    .position(|&b| !is_ident_byte(b) && b != b'$')
                    .unwrap_or(bytes.len() - i);
                words.see(&script[i..i + len]);
                i += len;
            }
            b'-' if rest().starts_with("--") => {
                i += rest().find('\n').unwrap_or(rest().len());
            }
            b'/' if rest().starts_with("/*") => i += block_comment_len(rest()),
            b'\'' => {
                // E'' strings take backslash escapes; standard strings only double quotes.
                let escapes = i > 0
                    && matches!(bytes[i - 1], b'e' | b'E')
                    && (i < 2 || !is_ident_byte(bytes[i - 2]));
                i = end_of_quoted(bytes, i, b'\'', escapes);
            }
            b'"' => i = end_of_quoted(bytes, i, b'"', false),
            b'$' if i == 0 || !is_ident_byte(bytes[i - 1]) => match dollar_tag(rest()) {
                Some(tag) => {
                    let body = &rest()[tag.len()..];
                    i += tag.len() + body.find(tag).map_or(body.len(), |end| end + tag.len());
                }
                None => i += 1,
            },
            _ => i += 1,
        }
    }
    push(start, bytes.len(), &mut statements);
    statements
}

/// The bare words of the statement being split, as far as psql looks at them: enough to
/// know whether it creates a routine and how deep its `BEGIN ATOMIC` body is nested.
#[derive(Default)]
struct StatementWords {
    count: usize,
    routine: bool,
    prefix_ok: bool,
    depth: usize,
}

impl StatementWords {
    fn see(&mut self, word: &str) {
        let word = word.to_ascii_lowercase();
        // The statement must start with CREATE [OR REPLACE] FUNCTION|PROCEDURE.
        match (self.count, word.as_str()) {
            (0, "create") => self.prefix_ok = true,
            (1 | 3, "function" | "procedure") if self.prefix_ok => self.routine = true,
            (1, "or") | (2, "replace") if self.prefix_ok => {}
            (0..=3, _) if !self.routine => self.prefix_ok = false,
            _ => {}
        }
        self.count += 1;
        if self.routine {
            match word.as_str() {
                "begin" | "case" => self.depth += 1,
                "end" => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
    }
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// Index just past the quoted text opening at `open`; a doubled quote is an escape.
fn end_of_quoted(bytes: &[u8], open: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if backslash_escapes && bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
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
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<&str> {
        split(script).into_iter().map(|s| s.text.trim()).collect()
    }

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let script = "create table a (x text default ';');\n\
                      select 'it''s; fine', \"we;ird\";\n\
                      -- a comment; with a semicolon\n\
                      /* block; /* nested; */ still; */ select 1;\n\
                      do $body$ begin perform 1; end $body$;\n\
                      select $$a;b$$, E'\\';', $1;";
        assert_eq!(
            texts(script),
            vec![
                "create table a (x text default ';')",
                "select 'it''s; fine', \"we;ird\"",
                "-- a comment; with a semicolon\n/* block; /* nested; */ still; */ select 1",
                "do $body$ begin perform 1; end $body$",
                "select $$a;b$$, E'\\';', $1",
            ]
        );
    }

    #[test]
    fn empty_statements_and_trailing_comments_are_dropped() {
        assert_eq!(texts(";;  -- nothing here\n"), Vec::<&str>::new());
        assert_eq!(texts("select 1;\n-- done"), vec!["select 1"]);
    }

    #[test]
    fn keyword_and_code_offset_skip_comments() {
        let script = "select 1;\n-- start a transaction\n  BEGIN;";
        let second = &split(script)[1];
        assert_eq!(second.keyword(), "begin");
        assert_eq!(line_column(script, second.code_offset()), (3, 3));
    }

    #[test]
    fn server_positions_map_to_lines_and_columns() {
        let script = "select 1;\nselect é,\n  nope from t;";
        let second = &split(script)[1];
        let position = second.text.find("nope").unwrap() as u32; // bytes; é is 2 bytes
        let byte = second.offset + byte_of_position(second.text, position);
        assert_eq!(line_column(script, byte), (3, 3));
    }

    #[test]
    fn every_routine_body_form_stays_one_statement() {
        let script = "create function a() returns int language sql\n\
                        begin atomic select 1; select case when true then 2 end; end;\n\
                      CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC insert into t values (1); END;\n\
                      create function b() returns text language plpgsql as $outer$\n\
                        begin return $inner$ ; $inner$; end $outer$;\n\
                      create procedure q() language plpgsql as $$ begin commit; end $$;\n\
                      do $$ begin perform 1; end $$;\n\
                      begin; select 1; end;\n\
                      create table begin_end (x int);\n\
                      select 3";
        let texts = texts(script);
        assert_eq!(texts.len(), 10, "{texts:#?}");
        assert!(texts[0].ends_with("select case when true then 2 end; end"));
        assert!(texts[1].ends_with("insert into t values (1); END"));
        assert!(texts[2].ends_with("end $outer$"));
        assert_eq!(&texts[5..8], ["begin", "select 1", "end"]);
        assert_eq!(split(script)[7].keyword(), "end");
    }

    #[test]
    fn identifiers_with_dollars_are_not_dollar_quotes() {
        assert_eq!(
            texts("select a$b; select 2"),
            vec!["select a$b", "select 2"]
        );
    }
}
