//! Counterexamples are scenarios: written out, they read back as the same steps, whatever
//! they end with (contexts that name a tenant, a tenant that does not exist, a forged
//! one, a session without `sub`, the audit trail).

use super::*;
use crate::model::fixture::{ADMIN, AGENTS, DH};
use crate::model::{user_id, Context, Kind, Mode, Resource, User};
use crate::rule::Invariant;

fn world() -> World {
    let mut world = crate::model::fixture::seeded();
    world.users.push(User {
        id: user_id("u0"),
        name: "u0".into(),
        memberships: [(DH, ADMIN)].into(),
        admin: false,
    });
    world
}

fn insert() -> Op {
    Op::Insert(Resource {
        table: AGENTS,
        id: Id::from_u128(7),
        tenant: Some(DH),
        name: "a".into(),
        mode: Mode::Selective,
        shared_with: vec![],
        kind: Kind::Custom,
    })
}

/// What load makes of a written scenario, and of the scenario itself, in the terms both
/// share: who acts, where, what SQL, what is expected and controlled.
fn shape(scenario: &Scenario) -> Vec<String> {
    // Where a tenant or user is declared belongs to the file written, not to the
    // scenario built, so the line each was read from is left out of the comparison.
    let mut tenants = scenario.tenants.clone();
    tenants.iter_mut().for_each(|tenant| tenant.line = 0);
    let mut users = scenario.users.clone();
    users.iter_mut().for_each(|user| user.line = 0);
    let mut lines = vec![
        format!(
            "{:?} {:?}",
            scenario.invariant,
            scenario.fixtures.as_deref().map(str::trim_end)
        ),
        format!("{tenants:?}"),
        format!("{users:?}"),
    ];
    for step in &scenario.steps {
        lines.push(format!(
            "{} {:?} {:?} {:?} {} {:?} {:?}",
            step.name,
            step.who,
            step.context,
            step.headers,
            step.sql.trim_end(),
            step.expect,
            step.control
        ));
    }
    lines
}

#[test]
fn sequence_scenarios_read_back_as_they_were_built() {
    let world = world();
    let schema = Schema::vital(crate::model::fixture::seeded());
    let sql = schema.sql.clone().unwrap();
    let u0 = Principal::User(user_id("u0"));
    let replay = |who, header: Option<Id>, expected| Replay {
        who,
        header: header.map(|id| id.to_string()),
        sql: sql.op(&world, &insert()),
        expected,
        call: false,
    };
    let steps = [
        replay(u0, Some(DH), Outcome::Done(1)),
        replay(
            Principal::NoSub,
            None,
            Outcome::Denied(crate::model::Denial::Policy),
        ),
        replay(u0, Some(Id::from_u128(9)), Outcome::Done(0)),
    ];
    let mut after = world.clone();
    after.apply(&u0, &Context::Tenant(DH), &insert());
    let mismatch = Mismatch {
        invariant: Invariant::AuditTrail,
        who: u0,
        context: Context::Empty,
        probe: Probe::Read(Object::Audit),
        sql: sql.read_audit(),
        expected: "1 row".into(),
        actual: "0 rows".into(),
    };
    let dir = tempfile::tempdir().unwrap();
    for (ending, count) in [
        (Ending::Step, 3),
        (Ending::Probe(&after), 4),
        (Ending::Audit(&after), 4),
    ] {
        let built = sequence_scenario(&schema, &sql, &world, &steps, ending, &mismatch);
        let text = crate::scenario::write(&built, "a test");
        let path = dir.path().join("sequence.toml");
        std::fs::write(&path, &text).unwrap();
        let read = crate::scenario::load(
            dir.path(),
            &path,
            schema.profile(),
            &schema.seeded_tenants(),
        )
        .unwrap_or_else(|error| panic!("{error}\n{text}"));
        assert_eq!(read.steps.len(), count, "{text}");
        assert_eq!(shape(&read), shape(&built), "{text}");
        // A context naming a tenant the file knows is its slug; one naming no tenant at
        // all is sent as the header it is.
        assert_eq!(
            read.steps[0].context.as_ref().unwrap().0,
            "digital-health-startup"
        );
        assert_eq!(
            read.steps[2].headers,
            [("x-tenant-id".to_owned(), Id::from_u128(9).to_string())]
        );
        assert!(text.starts_with("# a test\n"), "{text}");
    }
}

/// A probe's counterexample expects what the model says, as the reviewer would write
/// it: rows by name for a resource table, and the owner as the control of a probe of an
/// object beyond the model that must reach nothing.
#[test]
fn a_probe_is_replayed_with_the_models_answer() {
    let world = world();
    let schema = Schema::vital(crate::model::fixture::seeded());
    let sql = schema.sql.clone().unwrap();
    let read = Mismatch {
        invariant: Invariant::PrivateHiding,
        who: Principal::NoSub,
        context: Context::Empty,
        probe: Probe::Read(Object::Resource(AGENTS)),
        sql: String::new(),
        expected: String::new(),
        actual: "3 rows".into(),
    };
    let built = scenario(&schema, &sql, &world, &read);
    let step = built.steps.last().unwrap();
    assert_eq!(step.who, Who::User("nosub".into()));
    assert_eq!(step.sql, "select name from public.agents order by name");
    assert_eq!(
        step.expect,
        Expectation::Rows {
            rows: vec![],
            ordered: true
        }
    );
    assert!(built
        .users
        .iter()
        .any(|u| u.name == "nosub" && !u.claims.0.contains_key("sub")));
    let subject = Mismatch {
        probe: Probe::Subject {
            object: "public.notes".into(),
            action: "read".into(),
            replay: "select * from public.notes".into(),
            expectation: Expectation::Nothing,
        },
        ..read
    };
    let step = scenario(&schema, &sql, &world, &subject)
        .steps
        .pop()
        .unwrap();
    assert_eq!(step.control, Some(Control::Owner));
}
