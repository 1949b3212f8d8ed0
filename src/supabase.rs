//! Supabase fidelity: makes a plain PostgreSQL database look like a Supabase one.
//!
//! Unless the database already has Supabase's `auth` schema (the `supabase/postgres`
//! image), the crate's shim is installed: the API roles (INHERIT, with their own
//! statement timeouts), `auth.users` owned by `supabase_auth_admin` with row security
//! on, `auth.uid()` and friends as the Auth service defines them, the `extensions`
//! schema, and, for `grants = "legacy"`, the default privileges Supabase projects had
//! before 2026-05-30. Roles are cluster-wide: the shim creates them only where missing
//! and says so. On a cluster the harness owns, the harness bootstraps as its own
//! superuser and creates `postgres` as Supabase has it (NOSUPERUSER BYPASSRLS), the
//! owner of every database and the login that migrates; and `authenticator` gets a
//! fresh password so that actors can log in as it, as PostgREST does. Whatever the
//! database, `auth.uid()` must read `request.jwt.claims`, or nothing the harness
//! checks would mean anything.

use crate::config::Grants;
use crate::connection::{quote_ident, quote_literal, Connection};
use crate::error::{Error, Result};

const SHIM: &str = include_str!("supabase_shim.sql");

/// The default privileges of Supabase projects made before 2026-05-30: every new
/// table, sequence and function the migration owner makes in `public` is granted to
/// the API roles.
fn legacy_grants(owner: &str) -> String {
    let owner = quote_ident(owner);
    ["tables", "sequences", "functions"]
        .iter()
        .map(|kind| {
            format!(
                "alter default privileges for role {owner} in schema public \
                 grant all on {kind} to anon, authenticated, service_role;"
            )
        })
        .collect()
}

/// The role that owns the databases and runs the migrations where the harness owns
/// the cluster, as on Supabase.
pub const OWNER: &str = "postgres";

/// What preparing a database found and did.
#[derive(Debug, Clone, Default)]
pub struct Fidelity {
    pub shim_installed: bool,
    /// Human-readable facts for the report (roles that already existed, ...).
    pub notes: Vec<String>,
    /// The password `authenticator` logs in with, when the harness could set one.
    pub authenticator_password: Option<String>,
    /// The login that owns the databases and migrates them (`postgres`, NOSUPERUSER
    /// BYPASSRLS), when the harness made it; else the admin login does.
    pub owner_password: Option<String>,
}

/// Installs the shim into the database `connection` is on, when it is needed, and
/// gives `authenticator` a password where the harness may.
///
/// `owns_cluster` says whether roles may be altered (a throwaway cluster) or must be
/// left exactly as found (a shared server). Call it once per server: the password is
/// cluster-wide, and changing it would lock out sessions about to log in.
pub async fn prepare(
    connection: &Connection,
    owns_cluster: bool,
    grants: Grants,
) -> Result<Fidelity> {
    let mut fidelity = Fidelity::default();
    if owns_cluster {
        fidelity.owner_password = Some(bootstrap_owner(connection).await?);
    }
    let has_auth = connection
        .query_one(
            "select exists (select 1 from pg_namespace where nspname = 'auth')",
            &[],
        )
        .await?
        .get::<_, bool>(0);
    let mut authenticator_existed = true;
    if has_auth {
        fidelity
            .notes
            .push("the database already has a Supabase auth schema; shim not installed".into());
    } else {
        connection.take_notices();
        connection.batch("begin").await?;
        if let Err(error) = connection.batch(SHIM).await {
            let _ = connection.batch("rollback").await;
            return Err(error);
        }
        connection.batch("commit").await?;
        connection.sync_notices().await?;
        fidelity.shim_installed = true;
        authenticator_existed = false;
        for notice in connection.take_notices() {
            if notice.message.contains("already exists, left as it is")
                || notice.message.starts_with("the auth schema is owned by")
            {
                authenticator_existed |= notice.message.contains("authenticator");
                fidelity.notes.push(notice.message);
            }
        }
    }
    if grants == Grants::Legacy {
        let owner = match fidelity.owner_password {
            Some(_) => OWNER.to_owned(),
            None => connection
                .query_one("select current_user::text", &[])
                .await?
                .get(0),
        };
        connection.batch(&legacy_grants(&owner)).await?;
        fidelity.notes.push(format!(
            "grants = legacy: new objects of {owner} in public go to the API roles by default"
        ));
    }
    require_claims_reading_uid(connection).await?;
    if owns_cluster || !authenticator_existed {
        let password = uuid::Uuid::new_v4().simple().to_string();
        connection
            .batch(&format!(
                "alter role authenticator with login password {}",
                quote_literal(&password)
            ))
            .await?;
        fidelity.authenticator_password = Some(password);
    } else {
        fidelity.notes.push(
            "role authenticator existed before this run and is left alone; actors log in as the \
             given user and SET ROLE instead"
                .into(),
        );
    }
    Ok(fidelity)
}

/// Creates `postgres` as Supabase has it: it logs in, owns the databases and runs the
/// migrations, bypasses row security as the owner of everything, is a member of
/// `pg_read_all_data`, and is no superuser
/// (so that grant checks inside SECURITY DEFINER functions it owns are enforced, as on
/// Supabase). Returns its password.
async fn bootstrap_owner(connection: &Connection) -> Result<String> {
    let password = uuid::Uuid::new_v4().simple().to_string();
    let exists: bool = connection
        .query_one(
            "select exists (select 1 from pg_catalog.pg_roles where rolname = $1)",
            &[&OWNER],
        )
        .await?
        .get(0);
    let verb = if exists { "alter" } else { "create" };
    connection
        .batch(&format!(
            "{verb} role {} login nosuperuser bypassrls createdb createrole inherit password {}",
            quote_ident(OWNER),
            quote_literal(&password)
        ))
        .await?;
    // Supabase's `postgres` reads everything, whatever the grants, as the dashboard does.
    connection
        .batch(&format!("grant pg_read_all_data to {}", quote_ident(OWNER)))
        .await?;
    Ok(password)
}

/// Refuses a database whose `auth.uid()` does not read `request.jwt.claims` (an older
/// `supabase/postgres` image without the Auth service's migrations reads only
/// `request.jwt.claim.sub`): every user would act as anon there, and every denial
/// would pass vacuously.
async fn require_claims_reading_uid(connection: &Connection) -> Result<()> {
    let probe = uuid::Uuid::new_v4();
    let claims = serde_json::json!({"sub": probe.to_string(), "role": "authenticated"});
    let sql = format!(
        "select set_config('request.jwt.claims', {}, true), \
                set_config('request.jwt.claim.sub', '', true); \
         select auth.uid()::text",
        quote_literal(&claims.to_string())
    );
    connection.batch("begin").await?;
    let answer = crate::actor::statement(connection, &sql).await;
    connection.batch("rollback").await?;
    let uid = match answer? {
        Ok(rows) => rows.rows.first().and_then(|r| r.first().cloned()).flatten(),
        Err(failure) => Some(format!(
            "an error ({}: {})",
            failure.sqlstate, failure.message
        )),
    };
    judge_uid(probe, uid)
}

/// Whether `auth.uid()`, given claims whose `sub` is `probe`, answered `uid`.
fn judge_uid(probe: uuid::Uuid, uid: Option<String>) -> Result<()> {
    if uid.as_deref() == Some(probe.to_string().as_str()) {
        return Ok(());
    }
    Err(Error::Config {
        name: "auth.uid()".into(),
        message: format!(
            "it gave {} for claims whose sub is {probe}: this database's auth.uid() does not \
             read request.jwt.claims (an older supabase/postgres image without the Auth \
             service's migrations reads only request.jwt.claim.sub), so every user would act \
             as anon and every denial would pass vacuously; apply the Auth service's \
             migrations, or use a database without an auth schema, where rls-harness \
             installs its own",
            uid.unwrap_or_else(|| "NULL".into())
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_auth_uid_that_ignores_the_claims_is_refused_with_what_to_do() {
        let probe = uuid::Uuid::from_u128(7);
        assert!(judge_uid(probe, Some(probe.to_string())).is_ok());
        let error = judge_uid(probe, None).unwrap_err().to_string();
        assert!(
            error.starts_with("auth.uid(): it gave NULL for claims whose sub is"),
            "{error}"
        );
        assert!(
            error.contains("apply the Auth service's migrations"),
            "{error}"
        );
    }
}
