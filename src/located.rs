//! Mistakes in the files people write (scenario files, `rls-harness.toml`), located to
//! the line and column, with the name that was probably meant.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;

use crate::script::line_column;

/// A file that could not be read, located in it: `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct FileError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Where in a file something is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct At {
    pub line: usize,
    pub column: usize,
}

/// Reads a file people write, or says why not at its first line.
pub fn read(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|error| FileError {
        file: path.to_owned(),
        line: 1,
        column: 1,
        message: format!("cannot read the file: {error}"),
    })
}

/// A file's text, to turn byte offsets and spans into located errors.
pub struct Reader<'a> {
    pub path: &'a Path,
    pub source: &'a str,
}

impl Reader<'_> {
    pub fn error(&self, offset: usize, message: impl Into<String>) -> FileError {
        let (line, column) = line_column(self.source, offset);
        FileError {
            file: self.path.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    pub fn at<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> FileError {
        self.error(spanned.span().start, message)
    }

    /// Parses the file as TOML into `T`; a syntax error or an unknown key is located,
    /// with a suggestion. `top_level` names the keys that belong above every table,
    /// which TOML would otherwise put into the table before them; `tables` says what
    /// the file's tables look like (`[table] or [[step]]`).
    pub fn parse<T: DeserializeOwned>(
        &self,
        top_level: &[&str],
        tables: &str,
    ) -> Result<T, FileError> {
        toml::from_str(self.source).map_err(|error| {
            let message = with_field_suggestion(error.message().trim_end(), top_level, tables);
            self.error(error.span().map_or(0, |span| span.start), message)
        })
    }
}

/// "unknown `kind` "`name`"", with the closest known name or the list of them.
pub fn unknown(kind: &str, name: &str, known: &[&str]) -> String {
    match closest(name, known) {
        Some(best) => format!("unknown {kind} \"{name}\", did you mean \"{best}\"?"),
        None if known.is_empty() => format!("unknown {kind} \"{name}\""),
        None if known.len() > 12 => format!("unknown {kind} \"{name}\""),
        None => format!("unknown {kind} \"{name}\" (known: {})", known.join(", ")),
    }
}

/// The known name closest to `name`, when it is close enough to be a typo.
pub fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), *candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// Adds "did you mean" to serde's "unknown field `x`, expected one of `a`, `b`".
fn with_field_suggestion(message: &str, top_level: &[&str], tables: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_owned();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_owned();
    };
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(field, &known) {
        Some(best) => format!("unknown key `{field}`, did you mean `{best}`?"),
        // TOML puts every key after a [table] header into that table.
        None if top_level.contains(&field) => {
            format!("`{field}` is a top-level key: move it above the first {tables}")
        }
        None => format!("unknown key `{field}`{expected}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_and_far_ones_are_not() {
        assert_eq!(closest("dnaa", &["dana", "mo"]), Some("dana"));
        assert_eq!(closest("zebra", &["dana", "mo"]), None);
        assert_eq!(
            unknown("user", "dnaa", &["dana", "mo"]),
            "unknown user \"dnaa\", did you mean \"dana\"?"
        );
    }

    #[test]
    fn unknown_field_messages_gain_a_suggestion() {
        let serde = "unknown field `tenents`, expected one of `tenants`, `admin`, `email`";
        assert_eq!(
            with_field_suggestion(serde, &[], "[table]"),
            "unknown key `tenents`, did you mean `tenants`?"
        );
        let misplaced = "unknown field `fixtures`, expected one of `tenants`, `email`";
        assert_eq!(
            with_field_suggestion(misplaced, &["fixtures"], "[table] or [[step]]"),
            "`fixtures` is a top-level key: move it above the first [table] or [[step]]"
        );
    }
}
