//! The objects the model does not name: a table no fixture row can be derived for, or
//! a derived object whose rows cannot be mapped to a base, is an error that says what
//! to declare, never a silent skip; rows given by hand in the config fill such a
//! table, and its probes run.

use rls_harness::{check_worlds, survey, PropertyConfig, Schema, Survey};

use crate::support::{config_with, explain, template_with, vital};

/// A tenant table with a column of a type the harness cannot make a value of.
/// The objects the probes cannot check, as the report shows them: `file:line: message`.
fn unprobed(survey: &Survey<'_>) -> Vec<String> {
    survey
        .findings
        .iter()
        .filter(|f| f.lint.name() == "unprobed-object")
        .map(|f| match &f.location {
            Some(at) => format!("{at}: {}", f.message),
            None => f.message.clone(),
        })
        .collect()
}

const READINGS: &str = "create table public.readings (\n\
    id        uuid primary key default gen_random_uuid(),\n\
    tenant_id uuid not null references public.tenants (id),\n\
    terms     tsvector not null\n\
);\n\
alter table public.readings enable row level security;\n\
grant select, insert, update, delete on public.readings to authenticated;\n\
create policy readings_read on public.readings for select to authenticated\n\
    using ((select public.is_platform_admin())\n\
           or tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));\n\
create policy readings_write on public.readings for all to authenticated\n\
    using ((select public.is_platform_admin())\n\
           or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))\n\
    with check ((select public.is_platform_admin())\n\
           or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));\n";

#[tokio::test]
async fn a_table_no_row_can_be_made_for_names_the_column_and_the_config_key() {
    let (_dir, template) = template_with("20991231000099_readings.sql", READINGS).await;
    let (_c, config) = config_with("");
    let survey = survey(&template.catalog, &config);
    let found = unprobed(&survey);
    let [error] = found.as_slice() else {
        panic!("one unprobed object expected: {found:?}");
    };
    for needle in [
        "20991231000099_readings.sql:1",
        "table public.readings",
        "column terms (tsvector)",
        "[fixtures.\"public.readings\"]",
    ] {
        assert!(error.contains(needle), "{needle} missing from: {error}");
    }
    assert!(!survey.passed());
}

/// Rows given by hand, once per tenant of each generated world, fill the table; its
/// class-bound probes then run, and a correct policy stays green.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_given_by_hand_fill_a_table_and_its_probes_run() {
    let (_dir, template) = template_with("20991231000099_readings.sql", READINGS).await;
    let (_c, config) = config_with(
        "[fixtures.\"public.readings\"]\n\
         sql = \"insert into public.readings (tenant_id, terms) values (${tenant}, to_tsvector('simple', 'x'))\"\n",
    );
    let survey = survey(&template.catalog, &config);
    assert!(survey.passed(), "{:?}", survey.findings);
    let (harness, _) = vital().await;
    let schema = Schema::read(harness, &template, &config).await.unwrap();
    let report = check_worlds(
        harness,
        &template,
        &schema,
        &PropertyConfig::from_env(2).unwrap(),
        &|_| {},
    )
    .await
    .unwrap();
    assert!(report.failure.is_none(), "{}", explain(&report));
    assert!(
        report
            .objects
            .get("public.readings")
            .is_some_and(|n| *n > 0),
        "{:?}",
        report.objects
    );
}

/// A tenant table whose CHECK the generated row does not meet.
const CODES: &str = "create table public.codes (\n\
        id        uuid primary key default gen_random_uuid(),\n\
        tenant_id uuid not null references public.tenants (id),\n\
        code      text not null constraint codes_code_is_eight check (length(code) = 8)\n\
    );\n\
    alter table public.codes enable row level security;\n\
    grant select on public.codes to authenticated;\n\
    create policy codes_read on public.codes for select to authenticated\n\
        using (tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));\n";

/// A CHECK the derived row does not meet makes that table unprobed, named with the
/// constraint and the config key; the run goes on (every other object is probed) and
/// fails on it.
#[tokio::test]
async fn a_check_the_derived_row_fails_names_the_constraint() {
    let (_dir, template) = template_with("20991231000099_codes.sql", CODES).await;
    let (_c, config) = config_with("");
    let (harness, _) = vital().await;
    let schema = Schema::read(harness, &template, &config).await.unwrap();
    let [unprobed] = schema.unprobed.as_slice() else {
        panic!("one unprobed table expected: {:?}", schema.unprobed);
    };
    assert_eq!(unprobed.object, "public.codes");
    assert!(schema.subjects.table("public.codes").is_none());
    let location = unprobed.location.as_ref().expect("the table's line");
    assert!(
        location.to_string().ends_with("20991231000099_codes.sql:1"),
        "{location}"
    );
    for needle in ["codes_code_is_eight", "[fixtures.\"public.codes\"]"] {
        let message = &unprobed.message;
        assert!(message.contains(needle), "{needle} missing from: {message}");
    }
}

/// A view whose rows carry neither a base's key nor a tenant column cannot be checked
/// for containment: it must be declared.
#[tokio::test]
async fn a_view_that_cannot_be_mapped_must_be_declared() {
    let sql = "create view public.agent_names with (security_invoker = true) as\n\
                   select name, sharing_mode from public.agents;\n\
               grant select on public.agent_names to authenticated;\n";
    let (_dir, template) = template_with("20991231000099_names.sql", sql).await;
    let (_c, config) = config_with("");
    let survey = survey(&template.catalog, &config);
    let found = unprobed(&survey);
    let [error] = found.as_slice() else {
        panic!("one unprobed object expected: {found:?}");
    };
    for needle in [
        "20991231000099_names.sql:1",
        "view public.agent_names",
        "[objects.\"public.agent_names\"]",
    ] {
        assert!(error.contains(needle), "{needle} missing from: {error}");
    }
    let (_c, declared) = config_with(
        "[objects.\"public.agent_names\"]\nclass = \"public\"\nreason = \"names and modes only\"\n",
    );
    let survey = rls_harness::survey(&template.catalog, &declared);
    assert!(unprobed(&survey).is_empty(), "{:?}", survey.findings);
}

/// One object the generator cannot fill hides no other finding: `check` names it (exit
/// 1, not 2) beside the lints, and the scenarios and properties still run.
#[test]
fn an_object_no_row_can_be_made_for_fails_by_name_and_the_rest_still_runs() {
    let sql = format!(
        "{CODES}create table public.open_notes (id uuid primary key default gen_random_uuid(), body text);\n\
         grant select on public.open_notes to authenticated;\n"
    );
    let (code, stdout) = check_with("20991231000099_codes.sql", &sql, 2);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("unprobed-object") && stdout.contains("codes_code_is_eight"),
        "{stdout}"
    );
    assert!(stdout.contains("20991231000099_codes.sql:1"), "{stdout}");
    // The other finding, and the other checks, are still there.
    assert!(stdout.contains("rls-disabled"), "{stdout}");
    assert!(stdout.contains("2 property runs"), "{stdout}");
}

/// `check` on the shipped migrations plus `sql` in `file`, with `worlds` generated
/// worlds and one sequence: the exit code, and stdout followed by stderr.
fn check_with(file: &str, sql: &str, worlds: u32) -> (Option<i32>, String) {
    let migrations = crate::support::migrations_with(&[(file, sql)]);
    let output = crate::support::cli(&[
        "check",
        "--migrations",
        migrations.path().to_str().unwrap(),
        "--property-cases",
        &worlds.to_string(),
        "--sequence-cases",
        "1",
        // What is found and named is tested here, not how small its world shrinks.
        "--shrink-time",
        "1",
    ])
    .output()
    .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// `pairs` tenant tables secured as the tenant class asks, each with a child table
/// secured through it, except that the child of pair `leaky` shows every row.
fn tenant_tables(pairs: usize, leaky: usize) -> String {
    let mut sql = String::new();
    for i in 0..pairs {
        let child_read = if i == leaky {
            "parent_id is not null".to_owned()
        } else {
            format!("exists (select 1 from public.many_{i} p where p.id = parent_id)")
        };
        sql.push_str(&format!(
            "create table public.many_{i} (
    id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references public.tenants (id)
);
alter table public.many_{i} enable row level security;
grant select on public.many_{i} to authenticated;
create policy many_{i}_read on public.many_{i} for select to authenticated
    using (tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));
create table public.many_{i}_items (
    id uuid primary key default gen_random_uuid(),
    parent_id uuid not null references public.many_{i} (id)
);
alter table public.many_{i}_items enable row level security;
grant select on public.many_{i}_items to authenticated;
create policy many_{i}_items_read on public.many_{i}_items for select to authenticated
    using ({child_read});
"
        ));
    }
    sql
}

/// With many tables their probes take turns across the worlds, and a leak in one of
/// them is still found and named: 16 tables in 4 worlds, each probe in two of them.
#[test]
fn a_leak_in_one_of_many_tables_is_named_while_their_probes_take_turns() {
    let sql = tenant_tables(8, 5);
    let (code, stdout) = check_with("20991231000098_many.sql", &sql, 4);
    assert_eq!(code, Some(1), "{stdout}");
    let failures: Vec<&str> = stdout
        .lines()
        .filter(|line| {
            line.trim_start()
                .starts_with("sql: select to_jsonb(t)::text from")
        })
        .collect();
    assert!(
        !failures.is_empty()
            && failures
                .iter()
                .all(|line| line.ends_with("from public.many_5_items t")),
        "{stdout}"
    );
    assert!(stdout.contains("invariant: class-bound"), "{stdout}");
}

/// A table whose INSERT policy admits a writer but whose SELECT policy hides the new
/// row takes the minimal insert, and refuses the one supabase-js's `.insert().select()`
/// sends: that one is reported (as stricter than the class, not as a leak).
#[test]
fn an_insert_the_app_reads_back_is_probed_in_that_form() {
    let (code, stdout) = check_with("20991231000097_dropbox.sql", crate::support::DROPBOX, 4);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "public.dropbox: a user cannot insert with return=representation a new row like a row it may write"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.contains("public.dropbox: a user cannot insert a new row"),
        "{stdout}"
    );
}
