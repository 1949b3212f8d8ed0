//! Another tenancy than VITAL's, checked with a profile alone: an accounts-style
//! schema written for these tests (personal and team accounts with a primary owner,
//! owners and members, teammates who read each other's memberships, no platform
//! admins, context or sharing). `check` probes its tables through the profile and
//! stays green; a planted leak in each kind of object fails it, naming the policy that
//! admits it.

use std::path::Path;

use crate::support::cli;

const ACCOUNTS: &str = "tests/fixtures/accounts";

/// `check` on the accounts schema with `extra` migrations added, on the shared server.
fn check_with(extra: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(ACCOUNTS).join("migrations");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    for (name, sql) in extra {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let snapshots = tempfile::tempdir().unwrap();
    let output = cli(&[
        "check",
        "--migrations",
        dir.path().to_str().unwrap(),
        "--config",
        &format!("{ACCOUNTS}/rls-harness.toml"),
        "--scenarios",
        &format!("{ACCOUNTS}/scenarios"),
        "--snapshots",
        snapshots.path().to_str().unwrap(),
        // The blame is tested here, not how small a failing world shrinks.
        "--shrink-time",
        "1",
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.code(), format!("{stdout}{stderr}"))
}

#[test]
fn an_accounts_tenancy_is_probed_through_its_profile_and_stays_green() {
    let (code, output) = check_with(&[]);
    assert_eq!(code, Some(0), "{output}");
    let class_of = |name: &str| {
        output
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some(name))
            .map(|line| {
                line.split_whitespace()
                    .skip(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
    };
    let modelled = Some("modelled (named by the profile)".to_owned());
    assert_eq!(class_of("teams.accounts"), modelled, "{output}");
    assert_eq!(class_of("teams.account_members"), modelled, "{output}");
    // A tenant table is recognised by its key to the accounts, not by its name.
    assert_eq!(
        class_of("teams.notes"),
        Some("tenant (by account_id) (recognised)".to_owned()),
        "{output}"
    );
    // A function that takes an account is recognised as guarded by its argument,
    // named like a column that references the accounts, and probed.
    assert_eq!(
        class_of("teams.account_summary(uuid)"),
        Some("guarded (recognised)".to_owned()),
        "{output}"
    );
    for probed in ["teams.notes  ", "teams.account_summary(uuid)  "] {
        assert!(
            output
                .lines()
                .any(|l| l.trim_start().starts_with(probed) && l.ends_with(" probes")),
            "{probed}\n{output}"
        );
    }
    assert!(
        !output.contains("stricter than the class allows"),
        "{output}"
    );
    assert!(output.contains("9 steps of 1 scenario file"), "{output}");
}

/// Each planted leak fails the gate at the policy that admits it.
#[test]
fn a_leak_in_an_accounts_tenancy_fails_at_the_admitting_policy() {
    let leaks = [
        (
            "members may edit their account's row, which only owners may",
            "create policy \"members edit accounts\" on teams.accounts\n\
             for update to authenticated using (teams.has_role(id));",
            "admitted by `members edit accounts` (",
            1,
        ),
        (
            "every signed-in user reads every membership",
            "create policy \"everyone reads memberships\" on teams.account_members\n\
             for select to authenticated using (true);",
            "admitted by `everyone reads memberships` (",
            1,
        ),
        (
            "a new account table readable by every signed-in user",
            "create table teams.invoices (\n\
               id uuid primary key default gen_random_uuid(),\n\
               account_id uuid not null references teams.accounts (id),\n\
               total numeric\n\
             );\n\
             grant select on teams.invoices to authenticated;\n\
             alter table teams.invoices enable row level security;\n\
             create policy \"signed-in users read invoices\" on teams.invoices\n\
             for select to authenticated using (auth.uid() is not null);",
            "admitted by `signed-in users read invoices` (",
            8,
        ),
    ];
    // A guarded function without its guard names an account the caller may not read.
    let unguarded = "create or replace function teams.account_summary(account_id uuid) \
                     returns jsonb language sql stable security definer set search_path = '' \
                     as $$ select jsonb_build_object('id', a.id, 'slug', a.slug) \
                     from teams.accounts a where a.id = account_summary.account_id $$;";
    let (code, output) = check_with(&[("20250201000000_leak.sql", unguarded)]);
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("invariant: class-bound") && output.contains("teams.account_summary("),
        "{output}"
    );
    assert!(output.contains("which it may not read"), "{output}");
    // A function that writes as its owner without its guard changes a role the caller
    // may not change itself; what it wrote is the finding.
    let promoting = "create or replace function teams.set_member_role(account_id uuid, \
                     user_id uuid, new_role teams.member_role) returns void language sql \
                     security definer set search_path = '' as $$ update teams.account_members m \
                     set member_role = set_member_role.new_role \
                     where m.account_id = set_member_role.account_id \
                     and m.user_id = set_member_role.user_id $$;";
    let (code, output) = check_with(&[("20250201000000_leak.sql", promoting)]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("teams.set_member_role("), "{output}");
    assert!(
        output.contains("changed the role of user") && output.contains("may not do itself"),
        "{output}"
    );
    for (what, sql, blame, line) in leaks {
        let (code, output) = check_with(&[("20250201000000_leak.sql", sql)]);
        assert_eq!(code, Some(1), "{what}:\n{output}");
        assert!(output.contains(blame), "{what}:\n{output}");
        let at = format!("20250201000000_leak.sql:{line})");
        assert!(output.contains(&at), "{what}: {at}\n{output}");
    }
}
