//! Throughput of the harness on this machine: cluster start, migrations, scenario
//! steps per second, and generated worlds and model checks per second on one and
//! more connections. The incumbent, pgTAP through pg_prove, runs about 350
//! assertions per second here after a 0.6 s cluster start.
//!
//! When `pg_prove` is installed (Debian: `postgresql-15-pgtap` and
//! `libtap-parser-sourcehandler-pgtap-perl`), the same run measures pgTAP side by side:
//! a pgTAP file of the same kind of probe (the rows a principal sees in a table,
//! compared with the expected ones) against a clone of the same template, and prints the ratio.
//!
//! `cargo bench` (or `cargo bench --bench throughput -- --cases N`) prints the
//! figures; it asserts nothing.

use std::path::Path;
use std::time::Instant;

use rls_harness::{
    check_worlds, default_migrations_dir, discover_scenarios, load_scenario, run_scenario, user_id,
    BackendOptions, Config, Harness, PropertyConfig, Schema, Template, CHECK_CONNECTIONS,
    DH_STARTUP_TENANT, PLATFORM_TENANT,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cases: u32 = std::env::args()
        .skip_while(|arg| arg != "--cases")
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(48);

    let clock = Instant::now();
    let harness = Harness::start(&BackendOptions::from_env()?).await?;
    let started = clock.elapsed();
    println!("rls-harness throughput, {} backend", harness.backend());
    println!(
        "  backend start + supabase shim  {:>8.0} ms",
        started.as_secs_f64() * 1e3
    );

    let clock = Instant::now();
    let template = harness.template_from_dir(&default_migrations_dir()).await?;
    println!(
        "  migrations (template)          {:>8.0} ms",
        clock.elapsed().as_secs_f64() * 1e3
    );

    // Scenario steps, one scenario after another: each step is one principal's
    // request with its session checks, and a negative step also runs its control.
    let config = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rls-harness.toml"))
        .map_err(|errors| anyhow::anyhow!("{errors:?}"))?;
    let schema = Schema::read(&harness, &template, &config).await?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let scenarios = discover_scenarios(&root)?
        .iter()
        .map(|file| load_scenario(&root, file, &schema.seeded_tenants()))
        .collect::<Result<Vec<_>, _>>()?;
    let clock = Instant::now();
    let mut steps = 0;
    for scenario in &scenarios {
        steps += run_scenario(&harness, &template, &schema, scenario)
            .await?
            .steps
            .len();
    }
    let seconds = clock.elapsed().as_secs_f64();
    println!(
        "  scenarios: {} files, {steps} steps in {seconds:.2} s = {:.0} steps/s (each scenario rolled back on a leased clone)",
        scenarios.len(),
        steps as f64 / seconds
    );

    let mut default_rate = None;
    for connections in [1, 2, 4] {
        let property = PropertyConfig {
            cases,
            seed: 42,
            connections,
            ..PropertyConfig::check()
        };
        let report = check_worlds(&harness, &template, &schema, &property, &|_| {}).await?;
        let seconds = report.duration.as_secs_f64();
        println!(
            "  properties, {connections} connection(s): {} worlds, {} checks in {seconds:.2} s = {:.1} worlds/s, {:.0} checks/s{}",
            report.worlds,
            report.checks,
            report.worlds as f64 / seconds,
            report.checks as f64 / seconds,
            if report.failure.is_some() { " (a mismatch was found!)" } else { "" }
        );
        if connections == CHECK_CONNECTIONS {
            default_rate = Some(report.checks as f64 / seconds);
        }
    }

    let pg_prove = pg_prove_rate(&harness, &template, &schema).await;
    harness.shutdown().await?;
    match (pg_prove?, default_rate) {
        (Some((assertions, seconds)), Some(ours)) => {
            let theirs = assertions as f64 / seconds;
            println!(
                "  pgTAP via pg_prove, same template: {assertions} assertions in {seconds:.2} s = {theirs:.0} assertions/s"
            );
            println!(
                "  ratio: {:.1}x pg_prove's rate with the default {CHECK_CONNECTIONS} connections",
                ours / theirs
            );
        }
        (None, _) => println!(
            "  pgTAP via pg_prove: not measured (install postgresql-15-pgtap and \
             libtap-parser-sourcehandler-pgtap-perl to compare side by side)"
        ),
        (Some(_), None) => {}
    }
    Ok(())
}

/// Runs pg_prove on a pgTAP file of read probes against a clone of `template`: each
/// principal (anon, a viewer, a member, an admin of another tenant, a user without a
/// tenant) compares the rows it sees in each table with the expected ones
/// (`results_eq`, pgTAP's cheapest row comparison; `set_eq` runs about 70/s here), as a
/// property's read check compares them with the model, one assertion each, repeated
/// to about 1,200 assertions. The expected rows are read first as the same principals, so the
/// file passes; the figure is pg_prove's wall time, which includes its psql start, as
/// a user of pgTAP would pay it. `None` when pg_prove or pgTAP is missing.
async fn pg_prove_rate(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
) -> anyhow::Result<Option<(usize, f64)>> {
    let installed = std::process::Command::new("pg_prove")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        return Ok(None);
    }
    let database = harness.database(template).await?;
    let owner = database.owner().await?;
    if owner
        .batch("create extension if not exists pgtap")
        .await
        .is_err()
    {
        database.close().await?;
        return Ok(None);
    }
    let tenancy = &schema.tenancy;
    let users = [
        ("bench-viewer", Some((DH_STARTUP_TENANT, "viewer"))),
        ("bench-member", Some((DH_STARTUP_TENANT, "member"))),
        ("bench-admin", Some((PLATFORM_TENANT, "admin"))),
        ("bench-nobody", None),
    ];
    let mut principals = vec![("anon", r#"{"role":"anon"}"#.to_owned())];
    for (name, membership) in users {
        let id = user_id(name);
        owner
            .batch(&format!(
                "insert into auth.users (id, email) values ('{id}', '{name}@bench.test')"
            ))
            .await?;
        if let Some((tenant, role)) = membership {
            owner
                .batch(&format!(
                    "insert into {} (user_id, tenant_id, role) values ('{id}', '{tenant}', '{role}')",
                    tenancy.memberships
                ))
                .await?;
        }
        principals.push((
            "authenticated",
            format!(r#"{{"sub":"{id}","role":"authenticated","email":"{name}@bench.test"}}"#),
        ));
    }
    let tables = [
        "agents",
        "tools",
        "prompts",
        "workflows",
        "tenants",
        "user_tenants",
    ];
    let mut probes = Vec::new();
    for (role, claims) in &principals {
        for table in tables {
            let switch = format!(
                "select set_config('request.jwt.claims', '{claims}', true); set local role {role};"
            );
            owner.batch(&format!("begin; {switch}")).await?;
            let ids: String = owner
                .query_one(
                    &format!(
                        "select coalesce(array_agg(id::text order by id), '{{}}')::text from public.{table}"
                    ),
                    &[],
                )
                .await?
                .get(0);
            owner.batch("rollback").await?;
            probes.push((switch, table, ids));
        }
    }
    let rounds = 1200 / probes.len();
    let mut file = format!("begin;\nselect plan({});\n", rounds * probes.len());
    for round in 0..rounds {
        for (switch, table, ids) in &probes {
            file.push_str(&format!(
                "{switch}\nselect results_eq('select id::text from public.{table} order by id', '{ids}'::text[], '{table} {round}');\nreset role;\n"
            ));
        }
    }
    file.push_str("select * from finish();\nrollback;\n");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("rls.sql");
    std::fs::write(&path, file)?;
    let endpoint = database.owner_endpoint();
    let clock = Instant::now();
    let output = tokio::process::Command::new("pg_prove")
        .args(["-h", &endpoint.host, "-p", &endpoint.port.to_string()])
        .args(["-U", &endpoint.user, "-d", &endpoint.dbname])
        .arg(&path)
        .env("PGPASSWORD", endpoint.password.clone().unwrap_or_default())
        .output()
        .await?;
    let seconds = clock.elapsed().as_secs_f64();
    drop(owner);
    database.close().await?;
    anyhow::ensure!(
        output.status.success(),
        "pg_prove failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(Some((rounds * probes.len(), seconds)))
}
