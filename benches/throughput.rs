//! Throughput of the harness on this machine: cluster start, migrations, scenario
//! steps per second, and generated worlds and model checks per second on one and
//! more connections. The incumbent, pgTAP through pg_prove, runs about 350
//! assertions per second here after a 0.6 s cluster start.
//!
//! `cargo bench` (or `cargo bench --bench throughput -- --cases N`) prints the
//! figures; it asserts nothing.

use std::path::Path;
use std::time::Instant;

use rls_harness::{
    check_worlds, default_migrations_dir, discover_scenarios, load_scenario, run_scenario,
    BackendOptions, Config, Harness, PropertyConfig, Schema,
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
    }
    harness.shutdown().await?;
    Ok(())
}
