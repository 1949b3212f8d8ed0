//! The catalog of the shipped migrations, read from a live template.

use crate::support::vital;

#[tokio::test]
async fn dump() {
    let (_, template) = vital().await;
    let config = rls_harness::Config::default();
    let survey = rls_harness::survey(&template.catalog, &config);
    for c in &survey.classes.classified {
        println!("{} {} {:?} exact={}", c.object, c.class, c.source, c.exact);
    }
    for f in &template.catalog.functions { println!("{} {:?}", f.qualified(), f.history); }
    for o in &survey.classes.unclassified {
        println!("UNCLASSIFIED {o}");
    }
    for f in &survey.findings {
        println!(
            "{} {} {} {:?} {:?}",
            f.level.name(),
            f.lint,
            f.message,
            f.location.as_ref().map(|l| l.to_string()),
            f.allowed
        );
    }
}
