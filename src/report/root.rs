//! Where the repository starts, and every reported path named from it: code scanning
//! resolves a SARIF result's URI against the repository, GitHub places an annotation
//! by a repository-relative file, and a person reads the shortest name. Paths the run
//! holds are relative to the working directory or absolute, as they were given.

use std::path::{Component, Path, PathBuf};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a URI path keeps as it is: RFC 3986's unreserved characters and the `/`
/// between segments; everything else (`%`, `,`, spaces, `#`, non-ASCII) is encoded.
const URI_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The repository's top folder, which reported paths are named from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
    cwd: PathBuf,
}

impl Root {
    /// The repository around the working directory: its nearest ancestor holding
    /// `.git` (a folder, or a file in a worktree), else the working directory itself.
    pub fn discover() -> Root {
        let cwd = std::env::current_dir().unwrap_or_default();
        let dir = cwd
            .ancestors()
            .find(|dir| dir.join(".git").exists())
            .unwrap_or(&cwd)
            .to_owned();
        Root { dir, cwd }
    }

    /// The root a user named (`--root`), relative to the working directory or not.
    pub fn at(dir: &Path) -> Root {
        let cwd = std::env::current_dir().unwrap_or_default();
        Root {
            dir: absolute(&cwd, dir),
            cwd,
        }
    }

    /// `path` as GitHub's annotations, JUnit and a person name it: relative to the root
    /// with `/` between folders, or absolute when it lies outside the root.
    pub fn relative(&self, path: &Path) -> String {
        match self.inside(path) {
            Some(relative) => slashed(&relative),
            None => absolute(&self.cwd, path).display().to_string(),
        }
    }

    /// `path` as a SARIF artifact URI: a percent-encoded reference relative to the root,
    /// or a `file://` URI when it lies outside the root (a relative reference may not
    /// start with `/`).
    pub fn uri(&self, path: &Path) -> String {
        match self.inside(path) {
            Some(relative) => utf8_percent_encode(&slashed(&relative), URI_PATH).to_string(),
            None => format!(
                "file://{}",
                utf8_percent_encode(&slashed(&absolute(&self.cwd, path)), URI_PATH)
            ),
        }
    }

    /// The root as a `file://` URI ending in `/`, for SARIF's `%SRCROOT%`.
    pub fn base_uri(&self) -> String {
        format!(
            "file://{}/",
            utf8_percent_encode(slashed(&self.dir).trim_end_matches('/'), URI_PATH)
        )
    }

    /// A root at `dir` seen from `cwd`, for tests that must not depend on where they run.
    #[cfg(test)]
    pub(crate) fn fixed(dir: &str, cwd: &str) -> Root {
        Root {
            dir: dir.into(),
            cwd: cwd.into(),
        }
    }

    fn inside(&self, path: &Path) -> Option<PathBuf> {
        let path = absolute(&self.cwd, path);
        if let Ok(relative) = path.strip_prefix(&self.dir) {
            return Some(relative.to_owned());
        }
        // A path through a symbolic link (or a root given through one) names the same
        // file by another way.
        let real = std::fs::canonicalize(&path).ok()?;
        let dir = std::fs::canonicalize(&self.dir).ok()?;
        real.strip_prefix(dir).ok().map(Path::to_owned)
    }
}

/// `path` made absolute against `cwd`, with `.` and `..` worked out by name.
fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in cwd.join(path).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn slashed(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Root {
        Root::fixed("/repo", "/repo/sub")
    }

    #[test]
    fn paths_are_named_from_the_root_whatever_the_working_directory() {
        let root = root();
        assert_eq!(
            root.relative(Path::new("../migrations/1.sql")),
            "migrations/1.sql"
        );
        assert_eq!(root.relative(Path::new("./x.toml")), "sub/x.toml");
        assert_eq!(
            root.relative(Path::new("/repo/scenarios/a.toml")),
            "scenarios/a.toml"
        );
        assert_eq!(
            root.relative(Path::new("/elsewhere/b.sql")),
            "/elsewhere/b.sql"
        );
    }

    #[test]
    fn uris_are_percent_encoded_and_absolute_outside_the_root() {
        let root = root();
        assert_eq!(
            root.uri(Path::new("/repo/migrations/2 tenants,v%2.sql")),
            "migrations/2%20tenants%2Cv%252.sql"
        );
        assert_eq!(root.uri(Path::new("/repo/é.toml")), "%C3%A9.toml");
        assert_eq!(
            root.uri(Path::new("/tmp/a b/x.sql")),
            "file:///tmp/a%20b/x.sql"
        );
        assert_eq!(root.base_uri(), "file:///repo/");
    }
}
