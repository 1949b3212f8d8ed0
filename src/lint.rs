//! Security lints over the catalog: what the text of the schema already gives away,
//! before anyone acts. Each finding names its lint (a stable name, see `rule::Lint`),
//! its level, the object, the migration line that made the problem (the statement that
//! created the object, granted the privilege or wrote the policy), and what to do.
//!
//! Lints judge text; only the probes prove behaviour. A lint allowed for one object in
//! `rls-harness.toml` is still reported, with its reason, and does not fail the gate.

use std::collections::BTreeSet;

use crate::catalog::{
    ApiRole, Catalog, Function, Object, Policy, Privilege, Relation, RelationKind,
};
use crate::class::Classes;
use crate::config::Config;
use crate::origin::Location;
use crate::rule::{Level, Lint};

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub lint: Lint,
    pub level: Level,
    /// The object, qualified: `public.agents`, `public.f(uuid)`.
    pub object: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The migration line that made it so, when the migrations made it.
    pub location: Option<Location>,
    /// The reason `rls-harness.toml` gives for allowing it, if it does.
    pub allowed: Option<String>,
}

impl Finding {
    /// Whether it fails the gate: an error nobody allowed.
    pub fn fails(&self) -> bool {
        self.level == Level::Error && self.allowed.is_none()
    }
}

/// Every finding of every lint, in a stable order (object, then lint).
pub fn lint(catalog: &Catalog, classes: &Classes<'_>, config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |lint: Lint, object: String, message: String, location: Option<&Location>| {
        let allowed = config
            .allowance(catalog, lint, &object)
            .map(|a| a.reason.clone());
        findings.push(Finding {
            lint,
            level: lint.level(),
            object,
            message,
            location: location.cloned(),
            allowed,
        });
    };

    for object in &classes.unclassified {
        let reach = match object {
            Object::Relation(r) => describe_reach(r),
            Object::Function(f) => format!(
                "executable by {}",
                f.executable_by
                    .iter()
                    .map(ApiRole::name)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        };
        add(
            Lint::Unclassified,
            object.qualified(),
            format!(
                "{object} is {reach} and fits no class; declare it: [objects.\"{}\"] class = \"{}\"",
                object.qualified(),
                match object {
                    Object::Function(_) => "guarded",
                    Object::Relation(_) => "tenant",
                }
            ),
            object.history().origin(),
        );
    }

    for relation in &catalog.relations {
        if !catalog.exposed_schemas.contains(&relation.schema) {
            continue;
        }
        tables(relation, classes, &mut add);
        views(relation, &mut add);
    }
    for function in &catalog.functions {
        functions(function, &mut add);
        if let Some(table) = protected_rows_returned(catalog, function) {
            add(
                Lint::DefinerReturnsProtectedRows,
                function.qualified(),
                format!(
                    "SECURITY DEFINER function {} returns rows of {table}, which has row security, with its owner's rights",
                    function.qualified()
                ),
                function.history.created.as_ref(),
            );
        }
    }
    roles(catalog, &mut add);
    findings.sort_by(|a, b| (&a.object, a.lint).cmp(&(&b.object, b.lint)));
    findings
}

/// The table with row security whose rows an exposed SECURITY DEFINER function returns:
/// its owner reads them past the policies, so only the function's own filter stands
/// between the caller and every row.
fn protected_rows_returned(catalog: &Catalog, function: &Function) -> Option<String> {
    if !function.security_definer || !function.exposed() {
        return None;
    }
    let returned = function.returns_relation.as_deref()?;
    catalog
        .relations
        .iter()
        .any(|r| r.rls_enabled && r.qualified() == returned)
        .then(|| returned.to_owned())
}

type Add<'a> = dyn FnMut(Lint, String, String, Option<&Location>) + 'a;

/// An API role lifted past row security (its own BYPASSRLS, or membership of a role
/// that bypasses it or is a superuser), or with row security switched off by a setting:
/// every policy stops speaking for the requests that run as it.
fn roles(catalog: &Catalog, add: &mut Add<'_>) {
    // Located where the migrations last changed the role's attributes, memberships or
    // settings.
    let mut widened = |role: &str, message: String| {
        let location = catalog
            .role_histories
            .get(role)
            .and_then(|h| h.changed.as_ref());
        add(
            Lint::ApiRoleWidened,
            format!("role {role}"),
            message,
            location,
        );
    };
    for widening in &catalog.widened_roles {
        let role = &widening.role;
        let what = if widening.superuser {
            "is a superuser"
        } else {
            "bypasses row security"
        };
        let message = if widening.through == *role {
            format!("role {role}, which every API request of its kind runs as, {what}")
        } else {
            format!(
                "role {role} is a member of {}, which {what}: it inherits that role's \
                 privileges and every policy written for it",
                widening.through
            )
        };
        widened(role, message);
    }
    for (role, name, value) in &catalog.role_settings {
        if name == "row_security" && value == "off" {
            widened(
                role,
                format!(
                    "role {role} has row_security = off: its requests read past row security \
                     where it bypasses it, and fail on every protected table where it does not"
                ),
            );
        }
    }
}

/// `SELECT, INSERT to anon; SELECT to authenticated`, or that nobody holds anything.
fn describe_reach(relation: &Relation) -> String {
    let parts: Vec<String> = ApiRole::ALL
        .iter()
        .filter_map(|role| {
            let privileges = relation.privileges_of(*role);
            (!privileges.is_empty()).then(|| {
                let names: Vec<&str> = privileges.iter().map(Privilege::name).collect();
                format!("{} to {}", names.join(", "), role.name())
            })
        })
        .collect();
    format!("granted {}", parts.join("; "))
}

fn tables(relation: &Relation, classes: &Classes<'_>, add: &mut Add<'_>) {
    if !relation.kind.is_table() {
        return;
    }
    let name = relation.qualified();
    let history = &relation.history;
    let api_policies: Vec<&Policy> = relation
        .policies
        .iter()
        .filter(|p| ApiRole::ALL.iter().any(|role| p.applies_to(*role)))
        .collect();
    if !relation.rls_enabled {
        if !relation.policies.is_empty() {
            add(
                Lint::PoliciesWithoutRls,
                name.clone(),
                format!(
                    "table {name} has {} policies but row level security is disabled, so none of them applies",
                    relation.policies.len()
                ),
                history.row_security.as_ref().or(history.origin()),
            );
        } else if relation.exposed() {
            add(
                Lint::RlsDisabled,
                name.clone(),
                format!(
                    "table {name} is {} with row level security disabled: every row is theirs",
                    describe_reach(relation)
                ),
                history.row_security.as_ref().or(history.origin()),
            );
        }
        return;
    }
    if relation.exposed() && api_policies.is_empty() {
        add(
            Lint::RlsWithoutPolicy,
            name.clone(),
            format!("table {name} has row level security and no policy for the API roles: they reach no row"),
            history.origin(),
        );
    }
    let unsafe_privileges: BTreeSet<(ApiRole, Privilege)> = ApiRole::ALL
        .iter()
        .flat_map(|role| {
            relation
                .privileges_of(*role)
                .into_iter()
                .filter(|p| {
                    matches!(
                        p,
                        Privilege::Truncate | Privilege::References | Privilege::Trigger
                    )
                })
                .map(move |p| (*role, p))
        })
        .collect();
    if !unsafe_privileges.is_empty() {
        let list: Vec<String> = unsafe_privileges
            .iter()
            .map(|(role, p)| format!("{} to {}", p.name(), role.name()))
            .collect();
        add(
            Lint::UnsafeTablePrivilege,
            name.clone(),
            format!(
                "table {name} grants {} although it relies on row security",
                list.join(", ")
            ),
            history.grants.as_ref().or(history.origin()),
        );
    }
    let owns_rows = classes.of(&name).is_some_and(|c| c.class.owns_rows());
    for policy in &relation.policies {
        let location = policy
            .history
            .changed
            .as_ref()
            .or(policy.history.created.as_ref());
        let texts = [policy.using.as_deref(), policy.check.as_deref()];
        if texts
            .iter()
            .flatten()
            .any(|t| t.contains("user_metadata") || t.contains("raw_user_meta_data"))
        {
            add(
                Lint::PolicyReadsUserMetadata,
                name.clone(),
                format!(
                    "policy {} on {name} decides on user metadata, which every user edits for itself",
                    policy.name
                ),
                location,
            );
        }
        if !owns_rows || !ApiRole::ALL.iter().any(|role| policy.applies_to(*role)) {
            continue;
        }
        if policy.permissive && texts.iter().flatten().any(|t| is_true(t)) {
            add(
                Lint::PermissiveTruePolicy,
                name.clone(),
                format!(
                    "permissive policy {} on {name} ({}) admits every row",
                    policy.name,
                    policy.command.name()
                ),
                location,
            );
        }
        // Only a table anon holds a privilege on lets a PUBLIC policy reach anon; a
        // later grant to anon is the moment it starts to matter, and is linted then.
        let anon_reaches = !relation.privileges_of(ApiRole::Anon).is_empty();
        if anon_reaches && policy.roles.iter().any(|r| r == "public") {
            add(
                Lint::PolicyForPublic,
                name.clone(),
                format!(
                    "policy {} on {name} applies to PUBLIC, so to anon as well",
                    policy.name
                ),
                location,
            );
        }
    }
}

/// Whether a policy expression is the constant `true`, however it is parenthesised.
fn is_true(expression: &str) -> bool {
    expression
        .trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace())
        .eq_ignore_ascii_case("true")
}

fn views(relation: &Relation, add: &mut Add<'_>) {
    let Some(view) = &relation.view else { return };
    if !relation.exposed() {
        return;
    }
    let name = relation.qualified();
    let history = &relation.history;
    let selectable = ApiRole::ALL
        .iter()
        .any(|role| relation.privileges_of(*role).contains(&Privilege::Select));
    if relation.kind == RelationKind::MaterializedView && selectable {
        add(
            Lint::MaterializedViewExposed,
            name.clone(),
            format!(
                "materialized view {name} is {} and has no row security",
                describe_reach(relation)
            ),
            history.grants.as_ref().or(history.origin()),
        );
    }
    if relation.kind == RelationKind::View && !view.security_invoker && view.reads_rls_table {
        add(
            Lint::OwnerRightsView,
            name.clone(),
            format!(
                "view {name} reads tables with row security with its owner's rights (no security_invoker) and is {}",
                describe_reach(relation)
            ),
            history.options.as_ref().or(history.origin()),
        );
    }
    if view.reads_auth_users && !view.security_invoker {
        add(
            Lint::AuthUsersExposed,
            name.clone(),
            format!("view {name} shows auth.users to the API roles"),
            history.origin(),
        );
    }
}

fn functions(function: &Function, add: &mut Add<'_>) {
    if !function.security_definer {
        return;
    }
    let name = function.qualified();
    let location = function
        .history
        .changed
        .as_ref()
        .or(function.history.created.as_ref());
    if function.search_path.is_none() {
        add(
            Lint::DefinerWithoutSearchPath,
            name.clone(),
            format!(
                "SECURITY DEFINER function {name} runs with its owner's rights and the caller's search_path"
            ),
            location,
        );
    }
    if !function.exposed() {
        return;
    }
    let ids: Vec<&str> = function
        .arguments
        .iter()
        // Every uuid is the key of some row, whatever the argument is called
        // (`p_id`, `account`, `tenant_id`): the function must check the caller may
        // name it.
        .filter(|a| a.type_name == "uuid" || a.type_name == "uuid[]")
        .map(|a| {
            if a.name.is_empty() {
                "an unnamed uuid"
            } else {
                a.name.as_str()
            }
        })
        .collect();
    if !ids.is_empty() {
        add(
            Lint::DefinerTakesId,
            name.clone(),
            format!(
                "SECURITY DEFINER function {name} takes {} and runs with its owner's rights",
                ids.join(", ")
            ),
            location,
        );
    }
    if function.reads_auth_users {
        add(
            Lint::AuthUsersExposed,
            name.clone(),
            format!(
                "SECURITY DEFINER function {name} reads auth.users and the API roles may call it"
            ),
            location,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::is_true;

    #[test]
    fn true_is_true_however_it_is_written() {
        assert!(is_true("true"));
        assert!(is_true("(true)"));
        assert!(is_true(" ( TRUE ) "));
        assert!(!is_true("(auth.uid() IS NOT NULL)"));
        assert!(!is_true("true_flag"));
    }
}

/// What the gate makes of a catalog before any probe: the class of every exposed
/// object, the lint findings, the mistakes of the config that only the catalog shows
/// (names of objects that do not exist, columns they lack, the profile's among them),
/// and the objects the probes cannot check.
#[derive(Debug, Clone)]
pub struct Survey<'c> {
    pub classes: Classes<'c>,
    pub findings: Vec<Finding>,
    pub config_errors: Vec<crate::located::FileError>,
}

impl Survey<'_> {
    /// Whether the gate may pass on what the survey found: no unallowed error, no
    /// unclassified object, no mistake in the config.
    pub fn passed(&self) -> bool {
        self.config_errors.is_empty() && !self.findings.iter().any(Finding::fails)
    }
}

/// An object the probes cannot check, as the finding that fails the gate on it.
pub fn unprobed_finding(unprobed: crate::subject::Unprobed) -> Finding {
    Finding {
        lint: Lint::Unprobed,
        level: Lint::Unprobed.level(),
        object: unprobed.object,
        message: unprobed.message,
        location: unprobed.location,
        allowed: None,
    }
}

/// Classes the exposed objects of `catalog` and lints it.
pub fn survey<'c>(catalog: &'c Catalog, config: &Config) -> Survey<'c> {
    let classes = crate::class::classify(catalog, config);
    let mut findings = lint(catalog, &classes, config);
    let unprobed = crate::subject::plan(catalog, &classes, config).1;
    findings.extend(unprobed.into_iter().map(unprobed_finding));
    findings.sort_by(|a, b| (&a.object, a.lint).cmp(&(&b.object, b.lint)));
    Survey {
        classes,
        findings,
        config_errors: config.check_against(catalog),
    }
}
