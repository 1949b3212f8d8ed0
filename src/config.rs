//! `rls-harness.toml`: what the gate is told about the schema, reviewed like code.
//!
//! The catalog shows what exists; the config says what it means where the catalog
//! cannot: the profile of the tenancy (`[profile]`, read by `crate::profile`), the class
//! of an object that no column gives away (or a different tenant column, or members as
//! writers), and lints allowed for one object with the reason why. A file is read and checked in two steps: its syntax,
//! keys, class and lint names before any server starts, its object names once the
//! catalog is known. Every mistake is located (`rls-harness.toml:12:5: ...`) with the
//! name that was probably meant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::catalog::{Catalog, Object};
pub use crate::located::At;
use crate::located::{self, unknown, FileError, Reader};
use crate::profile::{Profile, RawProfile};
use crate::rule::Lint;

/// The file `check` and `lint` read unless told otherwise.
pub const DEFAULT_FILE: &str = "rls-harness.toml";

/// An object class of the access model ("Every other object: classes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassName {
    Resource,
    Tenant,
    Child,
    User,
    Public,
    Internal,
    Guarded,
}

impl ClassName {
    pub const ALL: [ClassName; 7] = [
        ClassName::Resource,
        ClassName::Tenant,
        ClassName::Child,
        ClassName::User,
        ClassName::Public,
        ClassName::Internal,
        ClassName::Guarded,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            ClassName::Resource => "resource",
            ClassName::Tenant => "tenant",
            ClassName::Child => "child",
            ClassName::User => "user",
            ClassName::Public => "public",
            ClassName::Internal => "internal",
            ClassName::Guarded => "guarded",
        }
    }
}

/// Who writes a `tenant` table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Writers {
    /// Owners and admins of the tenant (`E(u) ∩ W(u)`), the default.
    #[default]
    Writers,
    /// Every member (`E(u)`).
    Members,
}

/// An object's class, as the config declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// As written: `schema.name` for relations, `schema.name(types)` for functions.
    pub object: String,
    pub class: ClassName,
    pub tenant_column: Option<String>,
    pub writers: Writers,
    pub user_column: Option<String>,
    /// For `public`: anon reads it too.
    pub anon: bool,
    pub reason: Option<String>,
    pub at: At,
}

/// A lint allowed for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    pub lint: Lint,
    pub object: String,
    pub reason: String,
    pub at: At,
}

/// Rows to put into a classed table when none can be derived from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    pub table: String,
    pub sql: String,
    pub at: At,
}

/// Whether the API roles get privileges on new objects by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grants {
    /// Supabase today (new projects since 2026-05-30, every project since 2026-10-30):
    /// none; migrations grant what they mean.
    #[default]
    None,
    /// Supabase before: every new table, sequence and function in `public` granted to
    /// `anon`, `authenticated` and `service_role`.
    Legacy,
}

impl Grants {
    pub fn name(&self) -> &'static str {
        match self {
            Grants::None => "none",
            Grants::Legacy => "legacy",
        }
    }
}

impl std::str::FromStr for Grants {
    type Err = String;

    fn from_str(text: &str) -> Result<Grants, String> {
        match text {
            "none" => Ok(Grants::None),
            "legacy" => Ok(Grants::Legacy),
            other => Err(unknown("grants setting", other, &["none", "legacy"])),
        }
    }
}

/// A checked `rls-harness.toml` (or the defaults, when there is none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The file it was read from, if any.
    pub path: Option<PathBuf>,
    /// How tenancy works in the schema; `None` when the file says nothing of it.
    pub profile: Option<Profile>,
    /// Default privileges of the API roles, when the config says (a flag may too).
    pub grants: Option<Grants>,
    pub declarations: Vec<Declaration>,
    pub allowances: Vec<Allowance>,
    pub fixtures: Vec<Fixture>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    grants: Option<Spanned<String>>,
    profile: Option<RawProfile>,
    /// The section the profile replaced, refused with a pointer to it.
    tenancy: Option<Spanned<toml::Value>>,
    #[serde(default)]
    objects: BTreeMap<Spanned<String>, Spanned<RawObject>>,
    #[serde(default)]
    allow: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<RawAllowance>>>,
    #[serde(default)]
    fixtures: BTreeMap<Spanned<String>, Spanned<RawFixture>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObject {
    class: Spanned<String>,
    tenant_column: Option<Spanned<String>>,
    writers: Option<Spanned<String>>,
    user_column: Option<Spanned<String>>,
    anon: Option<Spanned<bool>>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowance {
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFixture {
    sql: String,
}

impl Config {
    /// Reads `path`, or gives the defaults when `path` is the default file and it does
    /// not exist (a file asked for by name must exist).
    pub fn load_or_default(path: &Path, asked: bool) -> Result<Config, Vec<FileError>> {
        if !asked && !path.exists() {
            return Ok(Config::default());
        }
        Config::load(path)
    }

    /// Reads and checks `path`: syntax, keys, class names, lint names, reasons. Every
    /// mistake of the file at once, each located.
    pub fn load(path: &Path) -> Result<Config, Vec<FileError>> {
        let source = located::read(path).map_err(|error| vec![error])?;
        let reader = Reader {
            path,
            source: &source,
        };
        let raw: RawConfig = reader
            .parse(&["grants"], "[table]")
            .map_err(|error| vec![error])?;
        let at = |offset: usize| {
            let (line, column) = crate::script::line_column(&source, offset);
            At { line, column }
        };
        let mut errors = Vec::new();
        let mut config = Config {
            path: Some(path.to_owned()),
            ..Config::default()
        };
        if let Some(old) = &raw.tenancy {
            errors.push(reader.at(
                old,
                "[tenancy] is now [profile]: the tenants, memberships, platform admins, \
                 context and sharing of the schema (README.md, \"The profile\")",
            ));
        }
        if let Some(profile) = raw.profile {
            match profile.check(path, &source) {
                Ok(profile) => config.profile = Some(profile),
                Err(mistakes) => errors.extend(mistakes),
            }
        }
        if let Some(grants) = &raw.grants {
            match grants.get_ref().parse() {
                Ok(parsed) => config.grants = Some(parsed),
                Err(message) => errors.push(reader.at(grants, message)),
            }
        }
        let classes: Vec<&str> = ClassName::ALL.iter().map(ClassName::name).collect();
        for (object, raw) in raw.objects {
            let body = raw.get_ref();
            let Some(class) = ClassName::ALL
                .into_iter()
                .find(|c| c.name() == body.class.get_ref())
            else {
                errors.push(reader.at(
                    &body.class,
                    unknown("class", body.class.get_ref(), &classes),
                ));
                continue;
            };
            let writers = match body.writers.as_ref().map(|w| w.get_ref().as_str()) {
                None | Some("writers") => Writers::Writers,
                Some("members") => Writers::Members,
                Some(other) => {
                    let spanned = body.writers.as_ref().expect("matched Some");
                    errors.push(
                        reader.at(spanned, unknown("writers", other, &["writers", "members"])),
                    );
                    continue;
                }
            };
            let misplaced = [
                (
                    "tenant_column",
                    body.tenant_column.as_ref().map(Spanned::span),
                    ClassName::Tenant,
                ),
                (
                    "writers",
                    body.writers.as_ref().map(Spanned::span),
                    ClassName::Tenant,
                ),
                (
                    "user_column",
                    body.user_column.as_ref().map(Spanned::span),
                    ClassName::User,
                ),
                (
                    "anon",
                    body.anon.as_ref().map(Spanned::span),
                    ClassName::Public,
                ),
            ];
            for (key, given, belongs) in misplaced {
                if let Some(given) = given.filter(|_| class != belongs) {
                    errors.push(reader.error(
                        given.start,
                        format!(
                            "`{key}` applies to class \"{}\" only, not \"{}\"",
                            belongs.name(),
                            class.name()
                        ),
                    ));
                }
            }
            config.declarations.push(Declaration {
                object: object.get_ref().clone(),
                class,
                tenant_column: body.tenant_column.as_ref().map(|c| c.get_ref().clone()),
                writers,
                user_column: body.user_column.as_ref().map(|c| c.get_ref().clone()),
                anon: body.anon.as_ref().is_some_and(|a| *a.get_ref()),
                reason: body.reason.clone(),
                at: at(object.span().start),
            });
        }
        for (lint, objects) in raw.allow {
            let Ok(parsed) = lint.get_ref().parse::<Lint>() else {
                errors.push(reader.at(&lint, unknown("lint", lint.get_ref(), &Lint::names())));
                continue;
            };
            for (object, allowance) in objects {
                match allowance.get_ref().reason.as_deref().map(str::trim) {
                    Some(reason) if !reason.is_empty() => config.allowances.push(Allowance {
                        lint: parsed,
                        object: object.get_ref().clone(),
                        reason: reason.to_owned(),
                        at: at(object.span().start),
                    }),
                    _ => errors.push(reader.at(
                        &object,
                        format!(
                            "allowing {} for {} needs a reason: reason = \"why it is safe\"",
                            parsed,
                            object.get_ref()
                        ),
                    )),
                }
            }
        }
        for (table, fixture) in raw.fixtures {
            config.fixtures.push(Fixture {
                table: table.get_ref().clone(),
                sql: fixture.get_ref().sql.clone(),
                at: at(table.span().start),
            });
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// The mistakes that only the catalog shows: declarations, allowances and fixtures
    /// naming no object, or a column the object lacks.
    pub fn check_against(&self, catalog: &Catalog) -> Vec<FileError> {
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
        let error = |at: At, message: String| FileError {
            file: path.clone(),
            line: at.line,
            column: at.column,
            message,
        };
        let mut errors = Vec::new();
        if let Some(profile) = &self.profile {
            errors.extend(profile.check_against(catalog));
        }
        let names = catalog.names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for declaration in &self.declarations {
            match catalog.find(&declaration.object) {
                Err(message) => errors.push(error(
                    declaration.at,
                    message_with(&message, &declaration.object, &names),
                )),
                Ok(Object::Relation(relation)) => {
                    for column in [&declaration.tenant_column, &declaration.user_column]
                        .into_iter()
                        .flatten()
                    {
                        if relation.column(column).is_none() {
                            let columns: Vec<&str> =
                                relation.columns.iter().map(|c| c.name.as_str()).collect();
                            errors.push(error(
                                declaration.at,
                                format!(
                                    "{}: {}",
                                    declaration.object,
                                    unknown("column", column, &columns)
                                ),
                            ));
                        }
                    }
                }
                Ok(Object::Function(_)) => {
                    if !matches!(
                        declaration.class,
                        ClassName::Public | ClassName::Internal | ClassName::Guarded
                    ) {
                        errors.push(error(
                            declaration.at,
                            format!(
                                "{} is a function: its class is \"guarded\", \"public\" or \"internal\", not \"{}\"",
                                declaration.object,
                                declaration.class.name()
                            ),
                        ));
                    }
                }
            }
        }
        for allowance in &self.allowances {
            if let Err(message) = catalog.find(&allowance.object) {
                errors.push(error(
                    allowance.at,
                    message_with(&message, &allowance.object, &names),
                ));
            }
        }
        for fixture in &self.fixtures {
            match catalog.find(&fixture.table) {
                Ok(Object::Relation(r)) if r.kind.is_table() => {}
                Ok(other) => errors.push(error(
                    fixture.at,
                    format!("{other} is not a table: fixtures fill tables"),
                )),
                Err(message) => errors.push(error(
                    fixture.at,
                    message_with(&message, &fixture.table, &names),
                )),
            }
        }
        errors
    }

    /// The declaration for `object`, if any.
    pub fn declaration(&self, catalog: &Catalog, object: &Object<'_>) -> Option<&Declaration> {
        self.declarations.iter().find(|d| {
            catalog
                .find(&d.object)
                .is_ok_and(|found| found.qualified() == object.qualified())
        })
    }

    /// The allowance of `lint` for `object`, if any.
    pub fn allowance(&self, catalog: &Catalog, lint: Lint, object: &str) -> Option<&Allowance> {
        self.allowances.iter().find(|a| {
            a.lint == lint
                && catalog
                    .find(&a.object)
                    .is_ok_and(|found| found.qualified() == object)
        })
    }

    /// Where the config says something, for findings and errors about it.
    pub fn location(&self, at: At) -> String {
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
        format!("{}:{}:{}", path.display(), at.line, at.column)
    }
}

fn message_with(message: &str, name: &str, known: &[&str]) -> String {
    match message {
        "" => unknown("object", name, known),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rls-harness.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
                .collect()
        })
    }

    #[test]
    fn a_full_file_reads_into_declarations_allowances_and_fixtures() {
        let config = load(
            r#"
[objects."public.notes"]
class = "tenant"
tenant_column = "org_id"
writers = "members"

[objects."public.is_platform_admin()"]
class = "public"
reason = "answers for the caller only"

[allow."owner-rights-view"."public.v"]
reason = "filters by auth.uid()"

[fixtures."public.x"]
sql = "insert into public.x default values"
"#,
        )
        .unwrap();
        assert_eq!(config.profile, None);
        assert_eq!(config.declarations.len(), 2);
        let notes = &config.declarations[1];
        assert_eq!(
            (notes.object.as_str(), notes.class, notes.writers),
            ("public.notes", ClassName::Tenant, Writers::Members)
        );
        assert_eq!(
            notes.at,
            At {
                line: 2,
                column: 10
            }
        );
        assert_eq!(config.allowances[0].lint, Lint::OwnerRightsView);
        assert_eq!(config.fixtures[0].table, "public.x");
    }

    #[test]
    fn every_mistake_is_located_with_a_suggestion() {
        let errors = load(
            r#"
[objects."public.a"]
class = "tenent"

[objects."public.b"]
class = "public"
tenant_column = "org_id"

[allow."owner-rights-veiw"."public.v"]
reason = "x"

[allow."rls-disabled"."public.t"]
reason = "  "
"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "3:9: unknown class \"tenent\", did you mean \"tenant\"?",
                "7:17: `tenant_column` applies to class \"tenant\" only, not \"public\"",
                "9:8: unknown lint \"owner-rights-veiw\", did you mean \"owner-rights-view\"?",
                "12:23: allowing rls-disabled for public.t needs a reason: reason = \"why it is safe\"",
            ]
        );
        let unknown_key =
            load("[objects.\"public.a\"]\nclass = \"user\"\nuser_colum = \"x\"\n").unwrap_err();
        assert_eq!(
            unknown_key,
            ["3:1: unknown key `user_colum`, did you mean `user_column`?"]
        );
    }
}
