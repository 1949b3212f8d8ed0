//! Throughput of the harness on this machine: cluster start, migrations, scenario
//! steps per second, and generated worlds and model checks per second on one and
//! more connections, and the scale curve of `check` as tables are added.
//!
//! When `pg_prove` is installed (Debian: `postgresql-15-pgtap` and
//! `libtap-parser-sourcehandler-pgtap-perl`), the same run measures pgTAP side by side:
//! a pgTAP file of the probes a world gets (reads and writes, each principal in each
//! context, sent as the same requests) against a clone of the same template, and
//! prints the ratio.
//!
//! `cargo bench` (or `cargo bench --bench throughput -- --cases N`) prints the
//! figures; it asserts nothing.

use std::path::Path;
use std::time::Instant;

use rls_harness::{
    check_worlds, default_migrations_dir, discover_scenarios, load_scenario, run_scenario, user_id,
    BackendOptions, Config, Harness, Identity, Kind, Mode, Principal, PropertyConfig, Request,
    Resource, Schema, Template, CHECK_CONNECTIONS,
};
use tokio_postgres::SimpleQueryMessage;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // `cargo bench -- --scale` prints the scale curve alone.
    if std::env::args().any(|arg| arg == "--scale") {
        return scale_curve();
    }
    // One point of the curve, in a process of its own (see `scale_curve`).
    if let Some(tables) = std::env::args()
        .skip_while(|arg| arg != "--scale-point")
        .nth(1)
    {
        return scale_point(tables.parse()?);
    }
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
        .map(|file| load_scenario(&root, file, schema.profile(), &schema.seeded_tenants()))
        .collect::<Result<Vec<_>, _>>()?;
    let snapshots = rls_harness::SnapshotStore {
        dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots"),
        write_pending: false,
    };
    let clock = Instant::now();
    let mut steps = 0;
    for scenario in &scenarios {
        steps += run_scenario(&harness, &template, &schema, scenario, &snapshots)
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

    let (mut default_rate, mut one_connection) = (None, None);
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
        let rate = Some(report.checks as f64 / seconds);
        if connections == CHECK_CONNECTIONS {
            default_rate = rate;
        }
        if connections == 1 {
            one_connection = rate;
        }
    }

    big_migration(&harness).await?;
    scale_curve()?;
    let pg_prove = pg_prove_rate(&harness, &template, &schema).await;
    harness.shutdown().await?;
    match (pg_prove?, default_rate) {
        (Some(pgtap), Some(ours)) => {
            let theirs = pgtap.assertions as f64 / pgtap.seconds;
            println!(
                "  pgTAP via pg_prove, same template and probes ({:.0}% writes): {} assertions in {:.2} s = {theirs:.0} assertions/s",
                pgtap.writes * 100.0,
                pgtap.assertions,
                pgtap.seconds
            );
            println!(
                "  ratio: {:.1}x pg_prove's rate with the default {CHECK_CONNECTIONS} connections, {:.1}x on one",
                ours / theirs,
                one_connection.unwrap_or_default() / theirs
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

/// Runs pg_prove on a pgTAP file of the probes a generated world gets, against a clone
/// of `template`, and returns how many assertions it ran and in how long; `None` when
/// pg_prove or pgTAP is missing.
///
/// The file asks what a property world asks, the way it asks it: each principal (anon,
/// a viewer, a member and an admin of one tenant, a platform admin, a user without a
/// tenant) in each context (none, its tenant, another) reads the rows of every table
/// and inserts, updates and deletes a row of each resource table, so two thirds of the
/// assertions are writes, as in a world. Each pair assumes its identity once inside a
/// savepoint; each probe is the same request a property probe sends (method, path,
/// READ ONLY, the pre-request function, the statement) in a savepoint rolled back after
/// it. A read or a write that succeeds is a `results_eq` on the ids it returns, a
/// refused one a `throws_ok` on its SQLSTATE: pgTAP's own way to say what a probe
/// expects. The expected answers are asked first as the same principals, so the file
/// passes; the figure is pg_prove's wall time, which includes its psql start, as a
/// user of pgTAP would pay it.
async fn pg_prove_rate(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
) -> anyhow::Result<Option<PgTap>> {
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
    // Whatever fails, the scratch database is dropped before the error is returned.
    let measured = async {
        let probes = pgtap_probes(&owner, schema).await?;
        let per_round = probes.iter().map(|(_, probes)| probes.len()).sum::<usize>();
        let rounds = 1200usize.div_ceil(per_round);
        let mut file = format!("begin;\nselect plan({});\n", rounds * per_round);
        for round in 0..rounds {
            for (identity, probes) in &probes {
                file.push_str(&format!("savepoint principal; {identity};\n"));
                for (number, probe) in probes.iter().enumerate() {
                    file.push_str(&format!(
                        "savepoint probe; {}; select {};\nrollback to savepoint probe;\n",
                        probe.call,
                        probe.assertion(&format!("{round}.{number}"))
                    ));
                }
                file.push_str("rollback to savepoint principal;\n");
            }
        }
        // No finish(): pgTAP keeps its tally in tables the probes' rollbacks undo, and
        // pg_prove judges the run by the plan and the `ok` lines it reads.
        file.push_str("rollback;\n");
        let writes = probes
            .iter()
            .flat_map(|(_, probes)| probes)
            .filter(|probe| probe.write)
            .count();
        Ok::<_, anyhow::Error>(PgTap {
            assertions: rounds * per_round,
            writes: writes as f64 / per_round as f64,
            seconds: pg_prove(&database.owner_endpoint(), &file).await?,
        })
    }
    .await;
    drop(owner);
    database.close().await?;
    measured.map(Some)
}

/// `check` end to end (its own server, lints, scenarios, properties) on the shipped
/// migrations plus 0, 20 and 80 generated correct tables, half tenant tables and half
/// their children: the wall time and the harness's peak memory for each.
///
/// Each point runs in a process of its own, this bench again: a process's peak is the
/// largest of the children it has waited for, so the point's is the harness's alone,
/// not that of an earlier child (psql holding a 48,000-line file, initdb).
fn scale_curve() -> anyhow::Result<()> {
    for tables in [0, 20, 80] {
        let status = std::process::Command::new(std::env::current_exe()?)
            .args(["--scale-point", &tables.to_string()])
            .status()?;
        anyhow::ensure!(
            status.success(),
            "the scale point of {tables} tables failed"
        );
    }
    Ok(())
}

fn scale_point(tables: usize) -> anyhow::Result<()> {
    use nix::sys::resource::{getrusage, UsageWho};
    let dir = tempfile::tempdir()?;
    for migration in rls_harness::discover_migrations(&default_migrations_dir())? {
        std::fs::write(dir.path().join(migration.file_name()), &migration.sql)?;
    }
    std::fs::write(
        dir.path().join("20991231000000_scale.sql"),
        scale_migration(tables / 2),
    )?;
    let clock = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rls-harness"))
        .args(["check", "-q", "--migrations"])
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RLS_HARNESS_BACKEND", "local")
        .output()?;
    let seconds = clock.elapsed().as_secs_f64();
    let peak_mb = getrusage(UsageWho::RUSAGE_CHILDREN)?.max_rss() as f64 / 1024.0;
    let verdict = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    println!(
        "  scale: check on the shipped migrations + {tables:>2} tables: {seconds:>5.1} s, \
         peak {peak_mb:.0} MB ({verdict})"
    );
    Ok(())
}

/// `pairs` tenant tables, each secured as the tenant class asks, and a child table
/// under each, secured through its parent.
fn scale_migration(pairs: usize) -> String {
    let mut sql = String::new();
    for i in 0..pairs {
        sql.push_str(&format!(
            "create table public.scale_{i} (
    id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references public.tenants (id),
    body text not null default ''
);
alter table public.scale_{i} enable row level security;
grant select, insert, update, delete on public.scale_{i} to authenticated;
revoke truncate, references, trigger on public.scale_{i} from anon, authenticated;
create policy scale_{i}_read on public.scale_{i} for select to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));
create policy scale_{i}_write on public.scale_{i} for all to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))
    with check ((select public.is_platform_admin())
                or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));
create table public.scale_{i}_items (
    id uuid primary key default gen_random_uuid(),
    parent_id uuid not null references public.scale_{i} (id) on delete cascade,
    note text
);
alter table public.scale_{i}_items enable row level security;
grant select, insert, update, delete on public.scale_{i}_items to authenticated;
revoke truncate, references, trigger on public.scale_{i}_items from anon, authenticated;
create policy scale_{i}_items_read on public.scale_{i}_items for select to authenticated
    using (exists (select 1 from public.scale_{i} p where p.id = parent_id));
create policy scale_{i}_items_write on public.scale_{i}_items for all to authenticated
    using (exists (select 1 from public.scale_{i} p where p.id = parent_id
                   and ((select public.is_platform_admin())
                        or p.tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))))
    with check (exists (select 1 from public.scale_{i} p where p.id = parent_id
                   and ((select public.is_platform_admin())
                        or p.tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))));
"
        ));
    }
    sql
}

/// How many single-row INSERTs the big seed migration holds.
const SEED_ROWS: usize = 48_000;

/// A seed migration of [`SEED_ROWS`] single-row INSERTs, applied after the shipped
/// migrations as `check` applies it (each statement sent alone, the objects' origins
/// traced), side by side with psql applying the same file in one transaction to a bare
/// database.
async fn big_migration(harness: &Harness) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("20991231000000_seed.sql");
    let mut sql = String::from("create table public.seed_rows (id int primary key, note text);\n");
    for i in 0..SEED_ROWS {
        sql.push_str(&format!(
            "insert into public.seed_rows (id, note) values ({i}, 'row {i}');\n"
        ));
    }
    std::fs::write(&path, &sql)?;
    let mut migrations = rls_harness::discover_migrations(&default_migrations_dir())?;
    migrations.push(rls_harness::Migration::read(&path)?);
    let clock = Instant::now();
    harness.template(&migrations).await?;
    let ours = clock.elapsed().as_secs_f64();
    println!(
        "  big migration, {SEED_ROWS} single-row INSERTs: {ours:.2} s (on a clone of the template)"
    );
    let database = harness.bare_database().await?;
    let endpoint = database.owner_endpoint();
    let clock = Instant::now();
    let psql = tokio::process::Command::new("psql")
        .args(["-q", "-X", "-1", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", &endpoint.host, "-p", &endpoint.port.to_string()])
        .args(["-U", &endpoint.user, "-d", &endpoint.dbname, "-f"])
        .arg(&path)
        .env("PGPASSWORD", endpoint.password.clone().unwrap_or_default())
        .output()
        .await;
    let theirs = clock.elapsed().as_secs_f64();
    database.close().await?;
    match psql {
        Ok(output) if output.status.success() => println!(
            "  psql -1 -f, same file, bare database: {theirs:.2} s; ratio {:.2}x psql's time",
            ours / theirs
        ),
        Ok(output) => println!(
            "  psql: failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(error) => println!("  psql: not measured ({error})"),
    }
    Ok(())
}

/// Runs pg_prove on `file` against `endpoint` and returns its wall time; an error if
/// any test failed, with what pg_prove printed.
async fn pg_prove(endpoint: &rls_harness::Endpoint, file: &str) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("rls.sql");
    std::fs::write(&path, file)?;
    let clock = Instant::now();
    let output = tokio::process::Command::new("pg_prove")
        .args(["-h", &endpoint.host, "-p", &endpoint.port.to_string()])
        .args(["-U", &endpoint.user, "-d", &endpoint.dbname])
        .arg(&path)
        .env("PGPASSWORD", endpoint.password.clone().unwrap_or_default())
        .output()
        .await?;
    let seconds = clock.elapsed().as_secs_f64();
    anyhow::ensure!(
        output.status.success(),
        "pg_prove failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(seconds)
}

/// What pg_prove ran.
struct PgTap {
    assertions: usize,
    /// The share of the assertions that are writes.
    writes: f64,
    seconds: f64,
}

/// One assertion of the pgTAP file: the request's own settings and pre-request call,
/// the statement, and the answer it got when asked first.
struct PgTapProbe {
    call: String,
    sql: String,
    write: bool,
    answer: Result<Vec<String>, String>,
}

impl PgTapProbe {
    fn assertion(&self, description: &str) -> String {
        match &self.answer {
            Ok(ids) => format!(
                "results_eq($probe${}$probe$, '{{{}}}'::text[], '{description}')",
                self.sql,
                ids.join(",")
            ),
            Err(sqlstate) => format!(
                "throws_ok($probe${}$probe$, '{sqlstate}', null, '{description}')",
                self.sql
            ),
        }
    }
}

/// The principals and contexts of the pgTAP file, each with its identity settings and
/// its probes, answered once as that principal (in a savepoint rolled back after it).
async fn pgtap_probes(
    owner: &rls_harness::Connection,
    schema: &Schema,
) -> anyhow::Result<Vec<(String, Vec<PgTapProbe>)>> {
    let sql = schema.sql_for("the pgTAP comparison")?;
    let profile = sql.profile();
    let api = &schema.api;
    // VITAL's seeded tenants: the bench measures the shipped migrations.
    let seeded = |slug: &str| {
        schema
            .seeded
            .tenants
            .iter()
            .find(|t| t.slug == slug)
            .map(|t| t.id)
            .ok_or_else(|| anyhow::anyhow!("no seeded tenant {slug}"))
    };
    let (dh, platform) = (seeded("digital-health-startup")?, seeded("vital-platform")?);
    let mut principals = vec![Identity::of(Principal::Anon, "", "")];
    for (name, membership, platform_admin) in [
        ("bench-viewer", Some("viewer"), false),
        ("bench-member", Some("member"), false),
        ("bench-admin", Some("admin"), false),
        ("bench-platform", None, true),
        ("bench-nobody", None, false),
    ] {
        let id = user_id(name);
        let email = format!("{name}@bench.test");
        owner
            .batch(&format!(
                "insert into auth.users (id, email) values ('{id}', '{email}')"
            ))
            .await?;
        if let Some(role) = membership {
            owner.batch(&sql.insert_membership(id, dh, role)).await?;
        }
        if platform_admin {
            owner.batch(&sql.insert_admin(id)).await?;
        }
        principals.push(Identity::of(Principal::User(id), name, &email));
    }
    // A private row of the tenant in each resource table, for the updates and deletes,
    // written as a world's rows are.
    let tables: Vec<_> = schema.seeded.shape.tables().collect();
    let mut statements: Vec<(String, bool)> = [
        profile.tenants.table.name.clone(),
        profile.memberships.table.name.clone(),
    ]
    .into_iter()
    .chain(tables.iter().map(|t| profile.table_name(*t).to_owned()))
    .map(|table| (format!("select id::text from {table} order by id"), false))
    .collect();
    for table in tables {
        let name = profile.table_name(table);
        // Ids of their own, derived like the users', so no seeded row has them.
        let row = |which: &str| Resource {
            table,
            id: user_id(&format!("bench-{name}-{which}")),
            tenant: Some(dh),
            name: "bench".into(),
            mode: Mode::Private,
            shared_with: Vec::new(),
            kind: Kind::Custom,
        };
        let (kept, table) = (row("kept").id, name);
        owner.batch(&sql.insert(&row("kept"))).await?;
        statements.extend([
            (
                format!("{} returning id::text", sql.insert(&row("new"))),
                true,
            ),
            (
                format!(
                    "update {table} set name = 'renamed' where id = '{kept}' returning id::text"
                ),
                true,
            ),
            (
                format!("delete from {table} where id = '{kept}' returning id::text"),
                true,
            ),
        ]);
    }
    let contexts = [None, Some(dh), Some(platform)];
    let mut pairs = Vec::new();
    owner.batch("begin").await?;
    for principal in &principals {
        for context in contexts {
            let request = |sql: &str| {
                let request = Request::new(api, principal.clone(), sql);
                match context {
                    Some(tenant) => request.in_context(api, &tenant.to_string()),
                    None => request,
                }
            };
            let identity = request("select 1").identity_sql(api);
            owner
                .batch(&format!("savepoint principal; {identity}"))
                .await?;
            let mut probes = Vec::new();
            for (sql, write) in &statements {
                let call = request(sql).call_sql(api);
                owner.batch(&format!("savepoint probe; {call}")).await?;
                let answer = match owner.simple_raw(sql).await? {
                    Ok(messages) => Ok(messages
                        .iter()
                        .filter_map(|message| match message {
                            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                            _ => None,
                        })
                        .collect()),
                    Err(error) => Err(error
                        .code()
                        .map(|code| code.code().to_owned())
                        .ok_or_else(|| anyhow::anyhow!("probing for pgTAP: {error}"))?),
                };
                owner.batch("rollback to savepoint probe").await?;
                probes.push(PgTapProbe {
                    call,
                    sql: sql.clone(),
                    write: *write,
                    answer,
                });
            }
            owner.batch("rollback to savepoint principal").await?;
            pairs.push((identity, probes));
        }
    }
    owner.batch("rollback").await?;
    Ok(pairs)
}
