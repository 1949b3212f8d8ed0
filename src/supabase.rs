//! Supabase fidelity: makes a plain PostgreSQL database look like a Supabase one.
//!
//! Unless the database already has Supabase's `auth` schema (the `supabase/postgres`
//! image), the crate's shim is installed: the API roles, `auth.users`, `auth.uid()` and
//! friends, the `extensions` schema and Supabase's default privileges. Roles are
//! cluster-wide: the shim creates them only where missing and says so. On a cluster the
//! harness owns, `authenticator` gets a fresh password so that actors can log in as it,
//! as PostgREST does.

use crate::connection::{quote_literal, Connection};
use crate::error::Result;

const SHIM: &str = include_str!("supabase_shim.sql");

/// What preparing a database found and did.
#[derive(Debug, Clone, Default)]
pub struct Fidelity {
    pub shim_installed: bool,
    /// Human-readable facts for the report (roles that already existed, ...).
    pub notes: Vec<String>,
    /// The password `authenticator` logs in with, when the harness could set one.
    pub authenticator_password: Option<String>,
}

/// Installs the shim into the database `connection` is on, when it is needed, and
/// gives `authenticator` a password where the harness may.
///
/// `owns_cluster` says whether roles may be altered (a throwaway cluster) or must be
/// left exactly as found (a shared server). Call it once per server: the password is
/// cluster-wide, and changing it would lock out sessions about to log in.
pub async fn prepare(connection: &Connection, owns_cluster: bool) -> Result<Fidelity> {
    let mut fidelity = Fidelity::default();
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
            if notice.message.contains("already exists, left as it is") {
                authenticator_existed |= notice.message.contains("authenticator");
                fidelity.notes.push(notice.message);
            }
        }
    }
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
