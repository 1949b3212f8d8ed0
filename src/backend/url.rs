//! The `url` backend: scratch databases on an existing server named by `DATABASE_URL`.
//!
//! The harness never touches a database it did not create: every database it makes is
//! named `rls_harness_<run>_...` and is dropped at the end (by the reaper, through
//! `psql`, when the process dies first). Roles are cluster-wide, so the Supabase roles
//! are created only where missing, never altered, and left in place for other runs.

use std::str::FromStr;
use std::time::Duration;

use super::reaper::Reaper;
use super::{process_is_dead, RunLabel};
use crate::connection::{Connection, Endpoint};
use crate::error::{Error, Result};

/// Drops every database of the run; used by the reaper when the process is gone.
const CLEANUP_SCRIPT: &str = r#"
for db in $(psql "$DATABASE_URL" -XAtc "select datname from pg_database where datname like '${PREFIX}%'"); do
  psql "$DATABASE_URL" -Xq -c "alter database \"$db\" is_template false" -c "drop database if exists \"$db\" with (force)" >/dev/null 2>&1
done
"#;

pub(super) struct Scratch {
    endpoint: Endpoint,
    prefix: String,
    reaper: Option<Reaper>,
}

fn parse(url: &str) -> Result<Endpoint> {
    let invalid = |message: String| Error::Config {
        name: "DATABASE_URL".into(),
        message,
    };
    let config =
        tokio_postgres::Config::from_str(url).map_err(|error| invalid(error.to_string()))?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let user = config
        .get_user()
        .ok_or_else(|| invalid("names no user".into()))?
        .to_owned();
    let password = config
        .get_password()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
    Ok(Endpoint {
        host,
        port: config.get_ports().first().copied().unwrap_or(5432),
        user,
        password,
        dbname: config.get_dbname().unwrap_or("postgres").to_owned(),
    })
}

impl Scratch {
    pub(super) async fn start(
        label: &RunLabel,
        url: &str,
        notes: &mut Vec<String>,
    ) -> Result<Scratch> {
        let endpoint = parse(url)?;
        let admin = Connection::open(&endpoint).await?;
        sweep(&admin, label, notes).await?;
        let prefix = label.database_prefix();
        let reaper = if psql_available() {
            Some(
                Reaper::spawn(
                    CLEANUP_SCRIPT,
                    &[("DATABASE_URL", url), ("PREFIX", &prefix)],
                )
                .map_err(|error| {
                    Error::backend("url", format!("cannot start the reaper: {error}"))
                })?,
            )
        } else {
            notes.push("psql not found: if this run dies, its scratch databases stay until the next run sweeps them".into());
            None
        };
        notes.push(format!(
            "scratch databases {prefix}_* on {endpoint:?}; no other database is touched"
        ));
        Ok(Scratch {
            endpoint,
            prefix,
            reaper,
        })
    }

    pub(super) fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    pub(super) async fn shutdown(self) -> Result<()> {
        let admin = Connection::open(&self.endpoint).await?;
        drop_matching(&admin, &format!("{}%", self.prefix), |_| true).await?;
        if let Some(reaper) = self.reaper {
            tokio::task::spawn_blocking(move || reaper.finish(Duration::from_secs(30)))
                .await
                .ok();
        }
        Ok(())
    }
}

fn psql_available() -> bool {
    std::process::Command::new("psql")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Drops the scratch databases of runs on this host whose process is gone.
async fn sweep(admin: &Connection, label: &RunLabel, notes: &mut Vec<String>) -> Result<()> {
    let host = format!("host={}", label.host);
    let dropped = drop_matching(admin, "rls\\_harness\\_%", |comment| {
        let pid = comment
            .split_whitespace()
            .find_map(|word| word.strip_prefix("pid="))
            .and_then(|pid| pid.parse().ok());
        comment.split_whitespace().any(|word| word == host) && pid.is_some_and(process_is_dead)
    })
    .await?;
    if dropped > 0 {
        notes.push(format!("swept {dropped} scratch databases of dead runs"));
    }
    Ok(())
}

/// Drops databases whose name is `LIKE pattern` and whose comment `chosen` accepts.
async fn drop_matching(
    admin: &Connection,
    pattern: &str,
    chosen: impl Fn(&str) -> bool,
) -> Result<usize> {
    let rows = admin
        .query(
            "select datname, coalesce(shobj_description(oid, 'pg_database'), '') \
             from pg_database where datname like $1",
            &[&pattern],
        )
        .await?;
    let mut dropped = 0;
    for row in rows {
        let (name, comment): (String, String) = (row.get(0), row.get(1));
        if chosen(&comment) {
            super::drop_scratch_database(admin, &name).await?;
            dropped += 1;
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn database_url_is_read_into_an_endpoint() {
        let endpoint = parse("postgres://alice:s3cret@db.internal:6543/app").unwrap();
        assert_eq!(
            (
                endpoint.host.as_str(),
                endpoint.port,
                endpoint.user.as_str(),
                endpoint.dbname.as_str()
            ),
            ("db.internal", 6543, "alice", "app")
        );
        assert_eq!(endpoint.password.as_deref(), Some("s3cret"));
    }

    #[test]
    fn database_url_without_user_is_refused() {
        let error = parse("postgres://db.internal/app").unwrap_err().to_string();
        assert_eq!(error, "DATABASE_URL: names no user");
    }
}
