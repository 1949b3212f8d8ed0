//! Acting as principals: the same query, run as different principals on one database,
//! gives each what the access model says; steps that would bypass RLS are refused.

use rls_harness::{user_id, Error, Finish, Identity, Principal};

use crate::support::DH as DH_STARTUP_TENANT;

use crate::support::{schema, vital};

const PRIVATE_AGENT: &str = "select count(*) from agents where name = 'Mo''s private agent'";

#[tokio::test]
async fn one_query_gives_each_principal_what_the_model_says() {
    let (harness, template) = vital().await;
    let database = harness.database(&template).await.unwrap();
    let owner = database.owner().await.unwrap();
    let mo = user_id("actor-mo");
    owner
        .batch(&format!(
            "insert into auth.users (id, email) values ('{mo}', 'mo@vital.test');\n\
             insert into user_tenants (user_id, tenant_id, role) values ('{mo}', '{DH_STARTUP_TENANT}', 'admin');\n\
             insert into agents (tenant_id, name, sharing_mode, is_shared, resource_type) \
             values ('{DH_STARTUP_TENANT}', 'Mo''s private agent', 'private', false, 'custom');"
        ))
        .await
        .unwrap();
    let schema = schema(&template).await;
    let api = &schema.api;
    let count = |principal: Identity| {
        let database = &database;
        async move {
            let actor = database.actor(principal, api).await.unwrap();
            let outcome = actor
                .run(PRIVATE_AGENT, None, Finish::Rollback)
                .await
                .unwrap();
            outcome.result.unwrap().rows[0][0].clone().unwrap()
        }
    };
    // Positive control first: the row exists and its own tenant's member reads it.
    assert_eq!(
        count(Identity::of(Principal::User(mo), "mo", "mo@vital.test")).await,
        "1"
    );
    assert_eq!(
        count(Identity::of(Principal::ServiceRole, "", "")).await,
        "1"
    );
    let stranger = user_id("actor-stranger");
    assert_eq!(
        count(Identity::of(
            Principal::User(stranger),
            "stranger",
            "s@vital.test"
        ))
        .await,
        "0"
    );
    assert_eq!(count(Identity::of(Principal::Anon, "", "")).await, "0");
    database.close().await.unwrap();
}

/// The context travels in the request's header: a header naming a tenant the user does
/// not belong to grants nothing (the request succeeds and reads no private row), while
/// the RPC that stores a context refuses that tenant outright.
#[tokio::test]
async fn a_foreign_tenant_in_the_header_grants_nothing_and_the_rpc_refuses_it() {
    let (harness, template) = vital().await;
    let database = harness.database(&template).await.unwrap();
    let owner = database.owner().await.unwrap();
    owner
        .batch(&format!(
            "insert into agents (tenant_id, name, sharing_mode, is_shared, resource_type) \
             values ('{DH_STARTUP_TENANT}', 'DH private', 'private', false, 'custom')"
        ))
        .await
        .unwrap();
    let stranger = user_id("actor-context-stranger");
    let actor = database
        .actor(
            Identity::of(Principal::User(stranger), "stranger", "s@vital.test"),
            &schema(&template).await.api,
        )
        .await
        .unwrap();
    let read = actor
        .run(
            "select count(*) from agents where name = 'DH private'",
            Some(DH_STARTUP_TENANT),
            Finish::Rollback,
        )
        .await
        .unwrap();
    assert_eq!(read.result.unwrap().rows[0][0].as_deref(), Some("0"));
    let rpc = actor
        .run(
            &format!("select public.set_tenant_context('{DH_STARTUP_TENANT}')"),
            None,
            Finish::Rollback,
        )
        .await
        .unwrap();
    let failure = rpc.result.unwrap_err();
    assert_eq!(
        failure.denial(),
        Some(rls_harness::Denial::Guard),
        "{failure:?}"
    );
    database.close().await.unwrap();
}

#[tokio::test]
async fn a_step_that_switches_to_a_bypassing_role_is_refused_not_evaluated() {
    let (harness, template) = vital().await;
    let database = harness.database(&template).await.unwrap();
    let actor = database
        .actor(
            Identity::of(
                Principal::User(user_id("mallory")),
                "mallory",
                "m@vital.test",
            ),
            &schema(&template).await.api,
        )
        .await
        .unwrap();
    // Read from the parse tree, a switch is refused before anything is sent.
    let spelled =
        "select set_config('ro' || 'le', 'service_role', true); select count(*) from agents";
    let error = actor
        .run(spelled, None, Finish::Rollback)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("set_config() of a setting named at run time"),
        "{error}"
    );
    // Hidden in a function of the schema, where no reading of the SQL sees it: only
    // the session check after the statement catches it.
    database
        .owner()
        .await
        .unwrap()
        .batch(
            "create function public.become(target text) returns text language sql \
             as $$ select set_config('role', target, true) $$; \
             grant execute on function public.become(text) to authenticated",
        )
        .await
        .unwrap();
    let sneaky = "select public.become('service_role'); select count(*) from agents";
    let error = actor.run(sneaky, None, Finish::Rollback).await.unwrap_err();
    assert!(matches!(error, Error::UnsafePrincipal { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("current_user is service_role, not authenticated"),
        "{error}"
    );

    let plain = actor
        .run("set role service_role", None, Finish::Rollback)
        .await
        .unwrap_err();
    assert!(
        plain
            .to_string()
            .starts_with("refusing to act as user mallory"),
        "{plain}"
    );

    // The session is still usable, as the principal, afterwards.
    let after = actor
        .run("select current_user", None, Finish::Rollback)
        .await
        .unwrap();
    assert_eq!(
        after.result.unwrap().rows[0][0].as_deref(),
        Some("authenticated")
    );
    database.close().await.unwrap();
}

#[tokio::test]
async fn a_write_hidden_by_using_touches_no_row_and_with_check_raises_a_policy_denial() {
    let (harness, template) = vital().await;
    let database = harness.database(&template).await.unwrap();
    let dana = user_id("actor-dana");
    let owner = database.owner().await.unwrap();
    owner
        .batch(&format!(
            "insert into auth.users (id, email) values ('{dana}', 'dana@vital.test');\n\
             insert into user_tenants (user_id, tenant_id, role) values ('{dana}', '{DH_STARTUP_TENANT}', 'admin');"
        ))
        .await
        .unwrap();
    let actor = database
        .actor(
            Identity::of(Principal::User(dana), "dana", "dana@vital.test"),
            &schema(&template).await.api,
        )
        .await
        .unwrap();
    // The platform agents are global: dana reads them but may not edit them.
    let update = actor
        .run(
            "update agents set name = 'mine now' where sharing_mode = 'global'",
            None,
            Finish::Rollback,
        )
        .await
        .unwrap();
    assert_eq!(update.result.unwrap().affected, 0);
    let insert = actor
        .run(
            "insert into agents (tenant_id, name, sharing_mode, is_shared, resource_type) \
             values ('00000000-0000-0000-0000-000000000001', 'planted', 'private', false, 'custom')",
            None,
            Finish::Rollback,
        )
        .await
        .unwrap();
    let failure = insert.result.unwrap_err();
    assert_eq!(
        failure.denial(),
        Some(rls_harness::Denial::Policy),
        "{failure:?}"
    );
    // Positive control: the same insert into its own tenant succeeds.
    let own = actor
        .run(
            &format!(
                "insert into agents (tenant_id, name, sharing_mode, is_shared, resource_type) \
                 values ('{DH_STARTUP_TENANT}', 'planted', 'private', false, 'custom')"
            ),
            None,
            Finish::Rollback,
        )
        .await
        .unwrap();
    assert_eq!(own.result.unwrap().affected, 1);
    database.close().await.unwrap();
}
