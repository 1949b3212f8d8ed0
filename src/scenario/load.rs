//! Reading and checking scenario files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{
    relative_name, tenant_id, Expectation, Scenario, ScenarioError, Step, TenantSpec, UserSpec, Who,
};
use crate::actor::Claims;
use crate::located::{closest, unknown, Reader};
use crate::model::user_id;
use crate::profile::Profile;
use crate::script::line_column;

const PRINCIPALS: [&str; 3] = ["anon", "service_role", "owner"];
pub(super) const DENIALS: [&str; 4] = ["policy", "privilege", "guard", "any"];
/// What a file that writes tenancy rows without a profile is told.
const NO_PROFILE: &str = "{what} is written through the profile's tables, and \
                          rls-harness.toml has no [profile] (README.md, \"The profile\")";
/// The keys of a scenario file that TOML would put into a table by mistake.
const TOP_LEVEL: [&str; 4] = ["description", "invariant", "fixtures", "migrated_to"];

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Option<String>,
    invariant: Option<Spanned<String>>,
    /// Each tenant's columns (`name = "North Clinic"`), beyond its key and slug.
    #[serde(default)]
    tenants: BTreeMap<Spanned<String>, BTreeMap<String, toml::Value>>,
    #[serde(default)]
    users: BTreeMap<Spanned<String>, Spanned<RawUser>>,
    fixtures: Option<Spanned<String>>,
    /// The scenario starts from the migrations up to and including this version.
    migrated_to: Option<Spanned<String>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    tenants: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    admin: Option<Spanned<bool>>,
    email: Option<String>,
    claims: Option<toml::Table>,
    #[serde(default)]
    without_claims: Vec<String>,
}

/// `sqlstate = "22P02"`, or `sqlstate = ["22P02", "42501"]` for any of them.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Codes {
    One(String),
    Any(Vec<String>),
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) name: Option<String>,
    #[serde(rename = "as")]
    pub(super) who: Option<Spanned<String>>,
    pub(super) context: Option<Spanned<String>>,
    pub(super) sql: Option<Spanned<String>>,
    /// A migration to apply as the step, by version or file name.
    pub(super) apply: Option<Spanned<String>>,
    pub(super) rows: Option<Spanned<Vec<Vec<toml::Value>>>>,
    #[serde(default)]
    pub(super) unordered: bool,
    pub(super) count: Option<u64>,
    pub(super) affected: Option<u64>,
    pub(super) denied: Option<Spanned<String>>,
    pub(super) sqlstate: Option<Spanned<Codes>>,
    pub(super) notice: Option<String>,
    pub(super) snapshot: Option<Spanned<String>>,
    pub(super) nothing: Option<Spanned<bool>>,
    pub(super) invariant: Option<Spanned<String>>,
    pub(super) control: Option<Spanned<String>>,
    pub(super) control_context: Option<Spanned<String>>,
    pub(super) no_control: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub(super) transaction: bool,
    /// PostgREST's `Prefer` header for a write (`return=representation`, ...).
    pub(super) prefer: Option<Spanned<String>>,
}

/// The `*.toml` scenario files under `path` (or `path` itself), sorted. A folder is
/// read once, however many links lead to it, so that a link back up the tree neither
/// loops nor runs a file twice.
pub fn discover(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut found = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        if !seen.insert(std::fs::canonicalize(&dir)?) {
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "toml") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Reads and checks the scenario at `path`; `root` is the scenarios folder its name
/// is relative to.
///
/// `profile` is the tenancy its tenants, memberships and roles are written through (a
/// file that declares none needs none); `seeded` are the tenants the migrations seed,
/// by slug: a scenario uses them without declaring them.
pub fn load(
    root: &Path,
    path: &Path,
    profile: Option<&Profile>,
    seeded: &[(String, uuid::Uuid)],
) -> Result<Scenario, ScenarioError> {
    let source = crate::located::read(path)?;
    let reader = Reader {
        path,
        source: &source,
    };
    let raw: RawScenario = reader.parse(&TOP_LEVEL, "[table] or [[step]]")?;
    reader.check(root, raw, profile, Some(seeded))
}

/// Checks the scenario at `path` as far as it can be without a server: everything but
/// whether the tenants it uses without declaring them are seeded. `check` runs this on
/// every file before it starts Postgres, so a typo costs no server start.
///
/// Every mistake is reported, not only the first: a step with a mistake is set aside
/// and the rest checked again, until what is left is sound or the mistake is outside
/// the steps.
pub fn validate(
    root: &Path,
    path: &Path,
    profile: Option<&Profile>,
) -> Result<(), Vec<ScenarioError>> {
    let source = crate::located::read(path).map_err(|error| vec![error])?;
    let reader = Reader {
        path,
        source: &source,
    };
    let mut raw: RawScenario = reader
        .parse(&TOP_LEVEL, "[table] or [[step]]")
        .map_err(|error| vec![error])?;
    let mut errors = Vec::new();
    while let Err(error) = reader.check(root, raw.clone(), profile, None) {
        // A step's span is its `[[step]]` header: the step runs to the next header.
        let in_step = raw
            .step
            .iter()
            .rposition(|step| line_column(&source, step.span().start).0 <= error.line);
        if errors.contains(&error) {
            break;
        }
        errors.push(error);
        match in_step {
            Some(index) if raw.step.len() > 1 => {
                raw.step.remove(index);
            }
            _ => break,
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

impl Reader<'_> {
    fn check(
        &self,
        root: &Path,
        raw: RawScenario,
        profile: Option<&Profile>,
        seeded: Option<&[(String, uuid::Uuid)]>,
    ) -> Result<Scenario, ScenarioError> {
        // Without the seeded tenants (before a server runs), any tenant slug is taken:
        // the placeholders' tenants stand in for the seeded ones.
        let lenient = seeded.is_none();
        let guessed: Vec<(String, uuid::Uuid)> = placeholders_in(self.source)
            .into_iter()
            .filter_map(|placeholder| placeholder.strip_prefix("tenant."))
            .filter(|slug| {
                !raw.tenants
                    .keys()
                    .any(|declared| declared.get_ref() == slug)
            })
            .map(|slug| (slug.to_owned(), tenant_id(slug)))
            .collect();
        let seeded = seeded.unwrap_or(&guessed);
        let invariant = raw
            .invariant
            .as_ref()
            .map(|name| self.invariant(name))
            .transpose()?;

        let mut tenants: Vec<TenantSpec> = seeded
            .iter()
            .map(|(slug, id)| TenantSpec {
                slug: slug.clone(),
                id: *id,
                declared: None,
                line: 1,
            })
            .collect();
        for (slug, columns) in &raw.tenants {
            if profile.is_none() {
                return Err(self.at(slug, NO_PROFILE.replace("{what}", "a tenant")));
            }
            if !lenient && seeded.iter().any(|(seeded, _)| seeded == slug.get_ref()) {
                return Err(self.at(
                    slug,
                    format!(
                        "tenant \"{}\" is seeded by the migrations; use it without declaring it",
                        slug.get_ref()
                    ),
                ));
            }
            let columns = columns
                .iter()
                .map(|(column, value)| {
                    let text = match value {
                        toml::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (column.clone(), text)
                })
                .collect();
            tenants.push(TenantSpec {
                slug: slug.get_ref().clone(),
                id: tenant_id(slug.get_ref()),
                declared: Some(columns),
                line: line_column(self.source, slug.span().start).0,
            });
        }
        let tenant_slugs: Vec<&str> = tenants.iter().map(|t| t.slug.as_str()).collect();
        let find_tenant = |slug: &Spanned<String>| -> Result<uuid::Uuid, ScenarioError> {
            match tenants.iter().find(|t| &t.slug == slug.get_ref()) {
                Some(tenant) => Ok(tenant.id),
                None if lenient => Ok(tenant_id(slug.get_ref())),
                None => Err(self.at(slug, unknown("tenant", slug.get_ref(), &tenant_slugs))),
            }
        };

        let mut users = Vec::new();
        for (name, user) in &raw.users {
            if PRINCIPALS.contains(&name.get_ref().as_str()) {
                return Err(self.at(
                    name,
                    format!(
                        "\"{}\" is a built-in principal; give the user another name",
                        name.get_ref()
                    ),
                ));
            }
            let user = user.get_ref();
            let mut memberships = Vec::new();
            if let (Some(tenants), None) = (&user.tenants, profile) {
                return Err(self.at(tenants, NO_PROFILE.replace("{what}", "a membership")));
            }
            let roles: Vec<&str> = profile.map_or_else(Vec::new, |p| {
                p.memberships
                    .roles
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect()
            });
            for (slug, role) in user.tenants.iter().flat_map(|t| t.get_ref()) {
                // Without a role column any value stands for plain membership.
                if !roles.is_empty() && !roles.contains(&role.get_ref().as_str()) {
                    return Err(self.at(role, unknown("role", role.get_ref(), &roles)));
                }
                memberships.push((find_tenant(slug)?, role.get_ref().clone()));
            }
            let admin = match &user.admin {
                Some(flag) if *flag.get_ref() => {
                    if profile.is_none_or(|p| p.admins.is_none()) {
                        return Err(self.at(
                            flag,
                            "the profile has no platform admins ([profile.admins] in \
                             rls-harness.toml)",
                        ));
                    }
                    true
                }
                _ => false,
            };
            let id = user_id(name.get_ref());
            let email = user
                .email
                .clone()
                .unwrap_or_else(|| format!("{}@example.test", name.get_ref()));
            let mut claims = Claims::for_user(id, &email);
            if let Some(overrides) = &user.claims {
                let overrides = serde_json::to_value(overrides)
                    .ok()
                    .and_then(|value| value.as_object().cloned())
                    .unwrap_or_default();
                claims = claims.with_overrides(&overrides);
            }
            for claim in &user.without_claims {
                claims.0.remove(claim);
            }
            users.push(UserSpec {
                name: name.get_ref().clone(),
                id,
                email,
                memberships,
                admin,
                claims,
                line: line_column(self.source, name.span().start).0,
            });
        }
        let user_names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();

        let mut scenario = Scenario {
            path: self.path.to_owned(),
            name: relative_name(root, self.path),
            description: raw.description.clone().unwrap_or_default(),
            invariant,
            tenants: tenants.clone(),
            users: users.clone(),
            fixtures: None,
            migrated_to: raw.migrated_to.as_ref().map(|version| {
                let (line, _) = line_column(self.source, version.span().start);
                (version.get_ref().clone(), line)
            }),
            // The line of the string's first character: TOML drops the newline right
            // after an opening `"""`.
            fixtures_line: raw.fixtures.as_ref().map_or(1, |text| {
                let start = text.span().start;
                let line = line_column(self.source, start).0;
                let opening = &self.source[start..];
                if opening.starts_with("\"\"\"\n") || opening.starts_with("'''\n") {
                    line + 1
                } else {
                    line
                }
            }),
            steps: Vec::new(),
        };
        let names = scenario.names();
        let placeholders: Vec<String> = names.iter().map(|(_, p)| p.clone()).collect();
        let expand = |text: &Spanned<String>| self.expand(text, &names, &placeholders);
        scenario.fixtures = raw.fixtures.as_ref().map(expand).transpose()?;
        if let (Some(fixtures), Some(expanded)) = (&raw.fixtures, &scenario.fixtures) {
            self.refuse_transaction_control(fixtures, expanded)?;
        }

        if raw.step.is_empty() {
            return Err(self.error(self.source.len(), "the scenario has no [[step]]"));
        }
        for (index, step) in raw.step.iter().enumerate() {
            let span = step.span();
            let step = step.get_ref();
            let (sql, apply, who) = self.action(span.clone(), step)?;
            let who = match who.get_ref().as_str() {
                "anon" => Who::Anon,
                "service_role" => Who::ServiceRole,
                "owner" => Who::Owner,
                name if user_names.contains(&name) => Who::User(name.to_owned()),
                name => {
                    let known: Vec<&str> = PRINCIPALS
                        .iter()
                        .copied()
                        .chain(user_names.iter().copied())
                        .collect();
                    return Err(self.at(&who, unknown("user", name, &known)));
                }
            };
            let header = profile
                .and_then(|p| p.context.as_ref())
                .map(|c| c.header.name.as_str());
            if let (Some(context), None) = (
                step.context.as_ref().or(step.control_context.as_ref()),
                header,
            ) {
                return Err(self.at(
                    context,
                    "the profile has no tenant context ([profile.context] in rls-harness.toml), \
                     so there is no header to send it in",
                ));
            }
            let context = step
                .context
                .as_ref()
                .map(|slug| find_tenant(slug).map(|id| (slug.get_ref().clone(), id)))
                .transpose()?;
            let expect = self.expectation(span.clone(), step, &placeholders)?;
            if apply.is_some()
                && !matches!(expect, Expectation::Notice(_) | Expectation::SqlState(_))
            {
                return Err(self.error(
                    span.start,
                    "a migration step expects a notice it raises, or the SQLSTATE it fails with",
                ));
            }
            let control = self.control(span.clone(), step, &expect, &user_names, &find_tenant)?;
            let (line, _) = line_column(self.source, span.start);
            // Counted in the expanded SQL: the parser cannot read a `${...}` placeholder.
            let expanded = expand(&sql)?;
            let statements = crate::script::split(&expanded).len();
            if statements > 1 && !step.transaction {
                return Err(self.at(
                    &sql,
                    format!(
                        "the step has {statements} statements, and a request runs one: split it \
                         into steps, send what the app sends as headers (headers = {{ {} = \"...\" }}), \
                         or say transaction = true for a service-side flow no API client can send",
                        header.unwrap_or("name")
                    ),
                ));
            }
            let mut headers = Vec::new();
            let expanded = match &step.prefer {
                Some(prefer) => {
                    headers.push(("prefer".to_owned(), prefer.get_ref().clone()));
                    self.preferred(prefer, expanded)?
                }
                None => expanded,
            };
            for (name, value) in &step.headers {
                headers.push((
                    name.to_ascii_lowercase(),
                    self.expand_bare(value, &names, &placeholders)?,
                ));
            }
            scenario.steps.push(Step {
                line,
                name: step
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("step {}", index + 1)),
                who,
                context,
                sql: expanded,
                apply,
                expect,
                invariant: step
                    .invariant
                    .as_ref()
                    .map(|name| self.invariant(name))
                    .transpose()?,
                control,
                headers,
                transaction: step.transaction,
            });
        }
        Ok(scenario)
    }

    /// Fixtures run inside the scenario's transaction on a clone that must stay equal to
    /// its template: a COMMIT there would make the rest of the scenario autocommit.
    /// `expanded` is the fixtures' SQL with its placeholders replaced, which is what
    /// the parser can read.
    fn refuse_transaction_control(
        &self,
        fixtures: &Spanned<String>,
        expanded: &str,
    ) -> Result<(), ScenarioError> {
        let text = expanded;
        let Some(statement) = crate::script::split(text)
            .into_iter()
            .find(|statement| statement.controls_transaction())
        else {
            return Ok(());
        };
        // Find the statement's first line in the file (the TOML string may be escaped,
        // so fall back to the string's start).
        let code = &text[statement.code_offset()..];
        let first_line = code.lines().next().unwrap_or(code);
        let raw = &self.source[fixtures.span()];
        let offset = fixtures.span().start + raw.find(first_line).unwrap_or(0);
        Err(self.error(
            offset,
            format!(
                "the fixtures control the transaction ({}); remove it: the scenario runs in one \
                 transaction that is rolled back after the last step",
                statement.keyword().to_uppercase()
            ),
        ))
    }

    /// Replaces `${user.x}` and `${tenant.y}` with complete SQL literals.
    fn expand(
        &self,
        text: &Spanned<String>,
        names: &[(uuid::Uuid, String)],
        placeholders: &[String],
    ) -> Result<String, ScenarioError> {
        let mut expanded = text.get_ref().clone();
        for placeholder in placeholders_in(text.get_ref()) {
            let token = format!("${{{placeholder}}}");
            match names.iter().find(|(_, known)| *known == token) {
                Some((id, _)) => expanded = expanded.replace(&token, &format!("'{id}'::uuid")),
                None => {
                    // Point at the placeholder itself in the file, not at the string.
                    let raw = &self.source[text.span()];
                    let offset = text.span().start + raw.find(&token).unwrap_or(0);
                    return Err(self.error(offset, unknown_placeholder(placeholder, placeholders)));
                }
            }
        }
        Ok(expanded)
    }

    /// Like [`Reader::expand`], for a header value: a placeholder becomes the bare id.
    fn expand_bare(
        &self,
        text: &Spanned<String>,
        names: &[(uuid::Uuid, String)],
        placeholders: &[String],
    ) -> Result<String, ScenarioError> {
        let literal = self.expand(text, names, placeholders)?;
        Ok(names.iter().fold(literal, |text, (id, _)| {
            text.replace(&format!("'{id}'::uuid"), &id.to_string())
        }))
    }
}

/// The names inside `${...}` in `text`, in order.
pub(super) fn placeholders_in(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                found.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}

pub(super) fn unknown_placeholder(placeholder: &str, known: &[String]) -> String {
    let known: Vec<&str> = known
        .iter()
        .map(|p| p.trim_start_matches("${").trim_end_matches('}'))
        .collect();
    let mut message = format!("placeholder ${{{placeholder}}} names nothing");
    if let Some(best) = closest(placeholder, &known) {
        message.push_str(&format!("; did you mean ${{{best}}}?"));
    } else {
        message.push_str("; placeholders are ${user.NAME} and ${tenant.SLUG}");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_back_up_the_tree_neither_loops_nor_repeats_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("attacks")).unwrap();
        std::fs::write(dir.path().join("attacks/a.toml"), "").unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("attacks/up")).unwrap();
        let found = discover(dir.path()).unwrap();
        assert_eq!(found, [dir.path().join("attacks/a.toml")]);
    }

    #[test]
    fn placeholders_are_found_in_order() {
        assert_eq!(
            placeholders_in("a ${user.dana} b ${tenant.x-y}${oops"),
            ["user.dana", "tenant.x-y"]
        );
    }
}
