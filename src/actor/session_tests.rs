//! The session checks and refusals, without a database: what the server's answer about
//! a session lets run, and what SQL is refused before it is sent.

use super::*;
use crate::actor::{Api, Claims, Identity};
use crate::model::Id;

fn request(who: Identity, sql: &str) -> Request {
    Request::new(&Api::default(), who, sql)
}

fn mo() -> Identity {
    Identity::with_claims("mo", Claims::for_user(Id::nil(), "mo@x"))
}

fn session(current: &str, superuser: bool, bypass_rls: bool) -> Session {
    Session {
        current_user: current.into(),
        superuser,
        bypass_rls,
        row_security: "on".into(),
        claims: String::new(),
        legacy_sub: String::new(),
    }
}

#[test]
fn sessions_that_bypass_row_security_are_refused() {
    let user = request(mo(), "select 1");
    assert!(session("authenticated", false, false)
        .judge(&user, "authenticated", None)
        .is_ok());
    let refused = |s: Session, r: &Request, role| s.judge(r, role, None).unwrap_err().to_string();
    assert_eq!(
        refused(
            session("authenticated", false, true),
            &user,
            "authenticated"
        ),
        "refusing to act as user mo: role authenticated has BYPASSRLS"
    );
    let anon = request(Identity::of(Principal::Anon, "", ""), "select 1");
    assert_eq!(
        refused(session("anon", true, false), &anon, "anon"),
        "refusing to act as anon: role anon is a superuser"
    );
    assert_eq!(
        refused(
            session("authenticator", false, false),
            &user,
            "authenticated"
        ),
        "refusing to act as user mo: current_user is authenticator, not authenticated"
    );
    // service_role bypasses by design; it is the vacuity control, never a check.
    let service = request(Identity::of(Principal::ServiceRole, "", ""), "select 1");
    assert!(session("service_role", false, true)
        .judge(&service, "service_role", None)
        .is_ok());
}

#[test]
fn sessions_whose_claims_were_rewritten_are_refused() {
    let user = request(mo(), "select 1");
    let with = |claims: &str, legacy_sub: &str| Session {
        claims: claims.into(),
        legacy_sub: legacy_sub.into(),
        ..session("authenticated", false, false)
    };
    let set = r#"{"sub":"a"}"#;
    assert!(with(set, "")
        .judge(&user, "authenticated", Some(set))
        .is_ok());
    for forged in [with(r#"{"sub":"b"}"#, ""), with(set, "b")] {
        let error = forged
            .judge(&user, "authenticated", Some(set))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "refusing to act as user mo: the JWT claims were rewritten inside the step"
        );
    }
}

#[test]
fn step_sql_that_switches_role_is_refused() {
    for sql in [
        "set role service_role; select 1",
        "SET LOCAL ROLE postgres",
        "reset role",
        "set session authorization postgres",
        "select set_config( 'role', 'service_role', true)",
        "select set_config('request.jwt.claim.sub', '00000000-0000-0000-0000-000000000001', true)",
        "set local request.jwt.claims = '{}'",
        "commit",
        // Set and undone within the request, so that the session looks right after it.
        "select 1, set_config(E'request.jwt.claim.sub', '00000000-0000-0000-0000-000000000009', true), \
         (select count(*) from agents where name = 'North Private'), \
         set_config(E'request.jwt.claim.sub', '', true)",
        "select set_config(E'role', 'service_role', true), \
         (select count(*) from get_accessible_agents('00000000-0000-0000-0000-000000000004')), \
         set_config(E'role', 'authenticated', true)",
        "set \"request.jwt.claim.sub\" = '00000000-0000-0000-0000-000000000009'; \
         select count(*) from agents; set \"request.jwt.claim.sub\" = ''",
    ] {
        let error = refuse_role_switch(&request(mo(), sql))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("refusing to act as user mo"),
            "{sql}: {error}"
        );
    }
    assert!(refuse_role_switch(&request(
        mo(),
        "select * from user_roles where role = 'admin'"
    ))
    .is_ok());
    let owner = Identity::of(Principal::Owner, "", "");
    assert!(refuse_role_switch(&request(owner, "set role anon")).is_ok());
}

/// A pipeline refuses a request that would leave its principal, or is another's, before
/// anything is sent: the refusals apply to probes as they do to steps.
#[test]
fn a_pipeline_holds_one_principal_and_refuses_what_would_leave_it() {
    let entry = request(mo(), "select 1");
    let forged = request(mo(), "select set_config('role', 'service_role', true)");
    assert!(Pipeline::new(&entry, vec![&forged]).is_err());
    let other = request(Identity::of(Principal::Anon, "", ""), "select 1");
    let error = Pipeline::new(&entry, vec![&other])
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("holds a request of anon"), "{error}");
    let read = request(mo(), "select 2");
    let pipeline = Pipeline::new(&entry, vec![&read, &read]).unwrap();
    let statements: Vec<String> = pipeline
        .statements(&Api::default())
        .iter()
        .map(|message| message.text())
        .collect();
    assert_eq!(statements.len(), 5, "{statements:?}");
    assert!(statements[0].starts_with("savepoint principal; select set_config"));
    assert!(statements[0].ends_with("; savepoint request"));
    assert!(statements[2].starts_with("rollback to savepoint request;"));
    assert!(statements[3].contains("from pg_roles"));
}
