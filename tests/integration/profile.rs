//! The profile is the one place that names the schema: it is held against the catalog
//! both ways, each mistake at its line, and a schema without VITAL's objects (and
//! without a profile) still gets the survey, the lints and its scenario files.

use rls_harness::survey;

use crate::support::{cli, config_with, template_with};

const NOTES: &str = "tests/fixtures/notes";

/// A migration that adds a role the profile does not rank stops the gate, naming the
/// role and the key to set, until someone decides what the role may do.
#[tokio::test]
async fn a_role_the_schema_allows_and_the_profile_does_not_rank_is_a_config_error() {
    let guest = "alter table public.user_tenants drop constraint user_tenants_role_check; \
                 alter table public.user_tenants add constraint user_tenants_role_check \
                 check (role in ('owner', 'admin', 'member', 'viewer', 'guest'));";
    let (_dir, template) = template_with("20991231000099_guest.sql", guest).await;
    let (_c, config) = config_with("");
    let found = survey(&template.catalog, &config);
    let [error] = found.config_errors.as_slice() else {
        panic!("one config error expected: {:?}", found.config_errors);
    };
    let shipped = std::fs::read_to_string("rls-harness.toml").unwrap();
    let line = 1 + shipped
        .lines()
        .position(|l| l.starts_with("role = \"role\""))
        .unwrap();
    assert_eq!(error.line, line, "{error}");
    assert!(
        error.message.starts_with(
            "public.user_tenants allows the role \"guest\", which the profile does not rank"
        ),
        "{error}"
    );
}

/// A profile naming what the schema lacks is located at its key, with the name meant.
#[tokio::test]
async fn a_profile_that_names_what_the_schema_lacks_says_where() {
    let (_dir, template) = template_with("20991231000099_nothing.sql", "select 1;").await;
    let shipped = std::fs::read_to_string("rls-harness.toml").unwrap();
    let broken = shipped.replace(
        "function = \"public.set_tenant_context(uuid)\"",
        "function = \"public.set_tenant_contxt(uuid)\"",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rls-harness.toml");
    std::fs::write(&path, &broken).unwrap();
    let config = rls_harness::Config::load(&path).unwrap_or_else(|e| panic!("{e:?}"));
    let found = survey(&template.catalog, &config);
    let [error] = found.config_errors.as_slice() else {
        panic!("one config error expected: {:?}", found.config_errors);
    };
    assert_eq!(
        error.message,
        "the profile's context function: unknown function \"public.set_tenant_contxt\", \
         did you mean \"public.set_tenant_context(uuid)\"?"
    );
}

/// A schema with none of VITAL's objects and no profile: `lint` classes its objects,
/// a focused scenario run passes, and a full `check` says the properties need a
/// profile (a check that could not run, exit 1), not the absence of VITAL's tables.
#[test]
fn a_schema_without_vitals_objects_gets_the_survey_and_its_scenarios() {
    let common = [
        "--migrations",
        "tests/fixtures/notes/migrations",
        "--config",
        "tests/fixtures/notes/rls-harness.toml",
    ];
    let lint = cli(&[&["lint"][..], &common].concat()).output().unwrap();
    let stdout = String::from_utf8_lossy(&lint.stdout);
    assert_eq!(lint.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("public.notes  user (by user_id) (recognised)"),
        "{stdout}"
    );

    let scenarios = format!("{NOTES}/scenarios");
    let focused = cli(&[
        &["check", &scenarios, "--scenarios", &scenarios][..],
        &common,
    ]
    .concat())
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&focused.stdout);
    assert_eq!(focused.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("ok: 2 checks, 2 passed"), "{stdout}");

    let full = cli(&[&["check", "--scenarios", &scenarios][..], &common].concat())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&full.stdout);
    assert_eq!(full.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "FAIL worlds: could not run: the generated worlds: the config has no [profile]"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("0 failing lints"), "{stdout}");
}

/// A scenario file that writes tenancy rows without a profile is told so at its line,
/// before any server starts.
#[test]
fn a_scenario_that_needs_a_profile_says_so_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("member.toml");
    std::fs::write(
        &file,
        "[users.ann]\ntenants = { acme = \"member\" }\n\n[[step]]\nas = \"ann\"\nsql = \"select 1\"\ncount = 1\n",
    )
    .unwrap();
    let errors = rls_harness::validate_scenario(dir.path(), &file, None).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        format!(
            "{}:2:11: a membership is written through the profile's tables, and \
             rls-harness.toml has no [profile] (README.md, \"The profile\")",
            file.display()
        )
    );
}

/// A profile key naming a column of another type than the model reads is an error at
/// that key when the seeded rows are read, not a crash.
#[tokio::test]
async fn a_profile_column_of_the_wrong_type_is_an_error_at_its_key() {
    let (_, template) = crate::support::vital().await;
    let shipped = std::fs::read_to_string("rls-harness.toml").unwrap();
    let wrong = shipped.replace(
        "shared_with = \"shared_with\"",
        "shared_with = \"sharing_mode\"",
    );
    let line = 1 + wrong
        .lines()
        .position(|l| l.starts_with("shared_with = \"sharing_mode\""))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rls-harness.toml");
    std::fs::write(&path, &wrong).unwrap();
    let config = rls_harness::Config::load(&path).unwrap();
    let read = rls_harness::Schema::read(crate::support::harness().await, &template, &config).await;
    let Err(error) = read else {
        panic!("a text column was read as the tenants a row is shared with")
    };
    let error = error.to_string();
    assert!(
        error.starts_with(&format!("{}:{line}:", path.display()))
            && error.contains("the seeded rows' sharing_mode cannot be read"),
        "{error}"
    );
}
