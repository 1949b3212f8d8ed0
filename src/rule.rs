//! The registry of everything a finding can be reported under: the access model's
//! invariants (what the properties, scenarios and probes check) and the security lints
//! (what the catalog is judged by). Each has a stable kebab-case name, which reports,
//! scenario files, `rls-harness.toml` allowances and SARIF rule ids all use.

use std::fmt;
use std::str::FromStr;

/// An invariant of the access model (`shared/design/access-model.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(into = "&'static str")]
pub enum Invariant {
    GlobalVisibility,
    PrivateHiding,
    SelectiveSharing,
    PlatformAdminOverride,
    WriteIsolation,
    ContextForgery,
    NoEscalation,
    FunctionGuard,
    DerivedContainment,
    ClassBound,
    AnonDenied,
    AuditTrail,
}

impl Invariant {
    pub const ALL: [Invariant; 12] = [
        Invariant::GlobalVisibility,
        Invariant::PrivateHiding,
        Invariant::SelectiveSharing,
        Invariant::PlatformAdminOverride,
        Invariant::WriteIsolation,
        Invariant::ContextForgery,
        Invariant::NoEscalation,
        Invariant::FunctionGuard,
        Invariant::DerivedContainment,
        Invariant::ClassBound,
        Invariant::AnonDenied,
        Invariant::AuditTrail,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Invariant::GlobalVisibility => "global-visibility",
            Invariant::PrivateHiding => "private-hiding",
            Invariant::SelectiveSharing => "selective-sharing",
            Invariant::PlatformAdminOverride => "platform-admin-override",
            Invariant::WriteIsolation => "write-isolation",
            Invariant::ContextForgery => "context-forgery",
            Invariant::NoEscalation => "no-escalation",
            Invariant::FunctionGuard => "function-guard",
            Invariant::DerivedContainment => "derived-containment",
            Invariant::ClassBound => "class-bound",
            Invariant::AnonDenied => "anon-denied",
            Invariant::AuditTrail => "audit-trail",
        }
    }

    /// Every name, for suggestions in errors.
    pub fn names() -> Vec<&'static str> {
        Invariant::ALL.iter().map(Invariant::name).collect()
    }

    /// What must hold, as the access model states it.
    pub fn statement(&self) -> &'static str {
        match self {
            Invariant::GlobalVisibility => "A global resource is readable by every authenticated user, whatever their tenant or context.",
            Invariant::PrivateHiding => "A private resource is readable only by the members of its tenant (with the context the model asks for) and by platform admins.",
            Invariant::SelectiveSharing => "A selectively shared resource is readable by exactly its tenant and the tenants it is shared with.",
            Invariant::PlatformAdminOverride => "A platform admin reads and writes every row.",
            Invariant::WriteIsolation => "Inserts, updates and deletes follow the read rules and the tenant roles, moves between tenants included.",
            Invariant::ContextForgery => "Setting the tenant context to a tenant one does not belong to grants nothing.",
            Invariant::NoEscalation => "No user can grant itself a tenant role or the platform-admin role.",
            Invariant::FunctionGuard => "Every function that takes a tenant or user id refuses callers without the right to name it.",
            Invariant::DerivedContainment => "Views, materialized views and functions expose nothing the base tables' policies hide.",
            Invariant::ClassBound => "An object the access model does not name reads and writes no more than its class allows.",
            Invariant::AnonDenied => "anon and claims without sub read nothing and write nothing protected.",
            Invariant::AuditTrail => "Every sharing change leaves exactly one audit row naming its actor.",
        }
    }

    /// How grave a break is, on code scanning's `security-severity` scale (0 to 10):
    /// a leak or a write past the rules is critical, an access the model grants but
    /// the database refuses is a fault of availability.
    pub fn severity(&self) -> f32 {
        match self {
            Invariant::GlobalVisibility | Invariant::PlatformAdminOverride => 4.0,
            Invariant::AuditTrail => 6.5,
            _ => 9.1,
        }
    }
}

impl From<Invariant> for &'static str {
    fn from(invariant: Invariant) -> &'static str {
        invariant.name()
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Invariant {
    type Err = ();

    fn from_str(name: &str) -> Result<Invariant, ()> {
        Invariant::ALL
            .into_iter()
            .find(|i| i.name() == name)
            .ok_or(())
    }
}

impl PartialEq<&str> for Invariant {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

/// How much a lint finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Reported, for the record: the object is closed, or stricter than needed.
    Info,
    /// Reported, does not fail the gate.
    Warn,
    /// Fails the gate.
    Error,
}

impl Level {
    pub fn name(&self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// A security lint over the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(into = "&'static str")]
pub enum Lint {
    /// An exposed object fits no class and is declared in no config.
    Unclassified,
    /// A classed object the probes cannot check: no row can be made for it, or no base
    /// to map its rows to.
    Unprobed,
    RlsDisabled,
    PoliciesWithoutRls,
    RlsWithoutPolicy,
    OwnerRightsView,
    MaterializedViewExposed,
    DefinerWithoutSearchPath,
    DefinerTakesId,
    DefinerReturnsProtectedRows,
    PolicyReadsUserMetadata,
    PermissiveTruePolicy,
    PolicyForPublic,
    UnsafeTablePrivilege,
    AuthUsersExposed,
    ApiRoleWidened,
}

impl Lint {
    pub const ALL: [Lint; 16] = [
        Lint::Unclassified,
        Lint::Unprobed,
        Lint::RlsDisabled,
        Lint::PoliciesWithoutRls,
        Lint::RlsWithoutPolicy,
        Lint::OwnerRightsView,
        Lint::MaterializedViewExposed,
        Lint::DefinerWithoutSearchPath,
        Lint::DefinerTakesId,
        Lint::DefinerReturnsProtectedRows,
        Lint::PolicyReadsUserMetadata,
        Lint::PermissiveTruePolicy,
        Lint::PolicyForPublic,
        Lint::UnsafeTablePrivilege,
        Lint::AuthUsersExposed,
        Lint::ApiRoleWidened,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Lint::Unclassified => "unclassified-object",
            Lint::Unprobed => "unprobed-object",
            Lint::RlsDisabled => "rls-disabled",
            Lint::PoliciesWithoutRls => "policies-without-rls",
            Lint::RlsWithoutPolicy => "rls-without-policy",
            Lint::OwnerRightsView => "owner-rights-view",
            Lint::MaterializedViewExposed => "materialized-view-exposed",
            Lint::DefinerWithoutSearchPath => "definer-without-search-path",
            Lint::DefinerTakesId => "definer-takes-id",
            Lint::DefinerReturnsProtectedRows => "definer-returns-protected-rows",
            Lint::PolicyReadsUserMetadata => "policy-reads-user-metadata",
            Lint::PermissiveTruePolicy => "permissive-true-policy",
            Lint::PolicyForPublic => "policy-for-public",
            Lint::UnsafeTablePrivilege => "unsafe-table-privilege",
            Lint::AuthUsersExposed => "auth-users-exposed",
            Lint::ApiRoleWidened => "api-role-widened",
        }
    }

    pub fn level(&self) -> Level {
        match self {
            Lint::RlsWithoutPolicy => Level::Info,
            Lint::DefinerTakesId | Lint::DefinerReturnsProtectedRows => Level::Warn,
            _ => Level::Error,
        }
    }

    /// One sentence of remedy.
    pub fn remedy(&self) -> &'static str {
        match self {
            Lint::Unclassified => "give it the columns of a class, or declare its class in rls-harness.toml ([objects.\"<name>\"] class = \"...\")",
            Lint::Unprobed => "give its rows by hand with [fixtures.\"<name>\"] sql = \"insert into ...\" in rls-harness.toml, or declare its class, so that the probes can check it",
            Lint::RlsDisabled => "enable row level security and add policies, or revoke the API roles' privileges",
            Lint::PoliciesWithoutRls => "its policies do nothing until row level security is enabled: alter table ... enable row level security",
            Lint::RlsWithoutPolicy => "the API roles can reach no row: add policies if they should",
            Lint::OwnerRightsView => "create it with (security_invoker = true), or allow it in rls-harness.toml with the reason its owner's rights are safe",
            Lint::MaterializedViewExposed => "a materialized view has no row security: move it to a schema the API roles cannot use, behind a view that filters",
            Lint::DefinerWithoutSearchPath => "pin its search path: alter function ... set search_path = ''",
            Lint::DefinerTakesId => "it runs with its owner's rights: it must check that the caller may name the row that id keys (a tenant, a user or any other)",
            Lint::DefinerReturnsProtectedRows => "it returns the rows with its owner's rights, past the table's policies: filter them as the policies would, or make it SECURITY INVOKER; the probes hold what it returns to what the caller reads",
            Lint::PolicyReadsUserMetadata => "users edit their own user_metadata: decide on app_metadata or a table the user cannot write",
            Lint::PermissiveTruePolicy => "a permissive policy is OR-ed with the others, so `true` opens every row: state the condition",
            Lint::PolicyForPublic => "a policy for PUBLIC applies to anon too: name the roles (to authenticated)",
            Lint::UnsafeTablePrivilege => "TRUNCATE ignores row security and TRIGGER and REFERENCES are no business of API users: revoke them",
            Lint::AuthUsersExposed => "auth.users holds every user's email and metadata: expose only what the caller may see, through a table of your own",
            Lint::ApiRoleWidened => "every API request runs as anon or authenticated: revoke the membership or attribute, or reset the setting, and grant what is needed table by table",
        }
    }

    /// Every name, for suggestions in errors.
    pub fn names() -> Vec<&'static str> {
        Lint::ALL.iter().map(Lint::name).collect()
    }

    /// What the lint finds, in a sentence.
    pub fn finding(&self) -> &'static str {
        match self {
            Lint::Unclassified => "An object the API roles can reach fits no class and no config entry declares one, so nothing holds it to any rule.",
            Lint::Unprobed => "A classed object the probes cannot check: no row can be made for it, or its rows map to no base.",
            Lint::RlsDisabled => "A table the API roles hold privileges on has row level security disabled: every row is open to them.",
            Lint::PoliciesWithoutRls => "A table has policies but row level security is disabled, so the policies do nothing.",
            Lint::RlsWithoutPolicy => "A table has row level security enabled and no policy: the API roles reach no row.",
            Lint::OwnerRightsView => "An exposed view runs with its owner's rights, past the policies of the tables it reads.",
            Lint::MaterializedViewExposed => "An exposed materialized view has no row security: every row it holds is readable.",
            Lint::DefinerWithoutSearchPath => "A SECURITY DEFINER function has no pinned search path, so a caller's objects can stand in for the ones it means.",
            Lint::DefinerTakesId => "An exposed SECURITY DEFINER function takes an id and runs with its owner's rights: it must check that the caller may name that row.",
            Lint::DefinerReturnsProtectedRows => "An exposed SECURITY DEFINER function returns rows of a protected table with its owner's rights.",
            Lint::PolicyReadsUserMetadata => "A policy reads the JWT's user_metadata, which users edit themselves.",
            Lint::PermissiveTruePolicy => "A permissive policy's condition is true, which opens every row whatever the other policies say.",
            Lint::PolicyForPublic => "A policy applies to PUBLIC, so anon gets it too.",
            Lint::UnsafeTablePrivilege => "An API role holds TRUNCATE, TRIGGER or REFERENCES on a table: TRUNCATE ignores row security.",
            Lint::AuthUsersExposed => "auth.users is reachable through the API, with every user's email and metadata.",
            Lint::ApiRoleWidened => "A migration lifted an API role past row security: a BYPASSRLS attribute, a membership of a role that bypasses it, or row_security = off.",
        }
    }

    /// How grave a finding is, on code scanning's `security-severity` scale (0 to 10),
    /// by its level.
    pub fn severity(&self) -> f32 {
        match self.level() {
            Level::Error => 7.5,
            Level::Warn => 5.0,
            Level::Info => 2.0,
        }
    }
}

impl From<Lint> for &'static str {
    fn from(lint: Lint) -> &'static str {
        lint.name()
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Lint {
    type Err = ();

    fn from_str(name: &str) -> Result<Lint, ()> {
        Lint::ALL.into_iter().find(|l| l.name() == name).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case_unique_and_round_trip() {
        let mut names: Vec<&str> = Invariant::names();
        names.extend(Lint::names());
        for name in &names {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{name}"
            );
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        for invariant in Invariant::ALL {
            assert_eq!(invariant.name().parse::<Invariant>(), Ok(invariant));
        }
        for lint in Lint::ALL {
            assert_eq!(lint.name().parse::<Lint>(), Ok(lint));
        }
    }
}
