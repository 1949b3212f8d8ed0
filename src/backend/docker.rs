//! The `docker` backend: a PostgreSQL container started through testcontainers.
//!
//! The code relies only on the official `postgres` image's contract (`POSTGRES_*`
//! variables, its readiness log lines, arguments passed on to the server), so that the
//! same path serves `postgres:15` from a registry and an image built locally to that
//! contract. An image that is present locally starts without a pull. Containers carry
//! the run's labels; the reaper removes the container with the docker CLI when this
//! process ends, because a container held in a `static` is never dropped.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::testcontainers::bollard::container::{
    ListContainersOptions, RemoveContainerOptions,
};
use testcontainers_modules::testcontainers::bollard::image::CreateImageOptions;
use testcontainers_modules::testcontainers::bollard::Docker;
use testcontainers_modules::testcontainers::core::Mount;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

use super::reaper::Reaper;
use super::{process_is_dead, RunLabel};
use crate::connection::Endpoint;
use crate::error::{Error, Result};

/// The image used when `RLS_HARNESS_IMAGE` is not set.
pub const DEFAULT_IMAGE: &str = "postgres:15";

const LABEL_RUN: &str = "rls-harness.run";
const LABEL_PID: &str = "rls-harness.pid";
const LABEL_HOST: &str = "rls-harness.host";
/// Removes the run's containers; once more after a pause, for a container whose
/// creation the daemon was still finishing when this process died.
const REAPER_SCRIPT: &str = r#"
for attempt in 1 2; do
  ids=$(docker ps -aq --filter "label=rls-harness.run=$RUN")
  [ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
  [ $attempt = 1 ] && sleep 2
done
"#;
const PING_TIMEOUT: Duration = Duration::from_secs(3);
const PULL_TIMEOUT: Duration = Duration::from_secs(90);

pub(super) struct Container {
    container: ContainerAsync<Postgres>,
    host: String,
    port: u16,
    password: String,
    reaper: Option<Reaper>,
}

/// Splits `repo[:tag]` (the repo may contain a registry with a port) into its parts.
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

async fn daemon() -> std::result::Result<Docker, String> {
    let docker = Docker::connect_with_local_defaults()
        .map_err(|error| format!("cannot reach a docker daemon ({error})"))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(error)) => Err(format!("no docker daemon answered a ping ({error})")),
        Err(_) => Err(format!(
            "the docker daemon did not answer a ping within {}s",
            PING_TIMEOUT.as_secs()
        )),
    }
}

/// Whether a daemon answers and `image` can be had; the reason either way.
pub(super) async fn probe(image: &str) -> std::result::Result<String, String> {
    let docker = daemon().await?;
    if docker.inspect_image(image).await.is_ok() {
        return Ok(format!(
            "a docker daemon answered and image {image} is present"
        ));
    }
    let (repo, tag) = split_image(image);
    let options = CreateImageOptions {
        from_image: repo,
        tag,
        ..Default::default()
    };
    let pull = async {
        let mut progress = docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            step.map_err(|error| error.to_string())?;
        }
        Ok::<(), String>(())
    };
    match tokio::time::timeout(PULL_TIMEOUT, pull).await {
        Ok(Ok(())) => Ok(format!(
            "a docker daemon answered and image {image} was pulled"
        )),
        Ok(Err(error)) => Err(format!(
            "image {image} is not present and cannot be pulled ({error})"
        )),
        Err(_) => Err(format!(
            "image {image} is not present and did not pull within {}s",
            PULL_TIMEOUT.as_secs()
        )),
    }
}

impl Container {
    pub(super) async fn start(
        label: &RunLabel,
        image: &str,
        notes: &mut Vec<String>,
    ) -> Result<Container> {
        let docker = daemon().await.map_err(|problem| {
            Error::backend(
                "docker",
                format!("{problem}: start the daemon (`dockerd`, `systemctl start docker`) or use RLS_HARNESS_BACKEND=local"),
            )
        })?;
        sweep(&docker, label, notes).await;
        // The reaper goes first and finds containers by the run's label: a process
        // killed while testcontainers still waits for readiness has no container id yet,
        // but its container is already labelled.
        let reaper = if which_docker_cli() {
            Some(
                Reaper::spawn(REAPER_SCRIPT, &[("RUN", &label.id)]).map_err(|error| {
                    Error::backend("docker", format!("cannot start the reaper: {error}"))
                })?,
            )
        } else {
            notes.push("docker CLI not found: a crashed run leaves its container until the next run sweeps it".into());
            None
        };

        let password = uuid::Uuid::new_v4().simple().to_string();
        let (repo, tag) = split_image(image);
        let pid = label.pid.to_string();
        let request = Postgres::default()
            .with_user(super::SUPERUSER)
            .with_password(&password)
            .with_name(repo)
            .with_tag(tag)
            .with_label(LABEL_RUN, &label.id)
            .with_label(LABEL_PID, &pid)
            .with_label(LABEL_HOST, &label.host)
            .with_cmd([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ])
            // In memory, as the local backend's cluster: a run creates and removes
            // thousands of files, and the data is worthless after it.
            .with_mount(Mount::tmpfs_mount("/var/lib/postgresql/data"))
            .with_startup_timeout(Duration::from_secs(120));
        let container = request.start().await.map_err(|error| {
            Error::backend("docker", format!("cannot start image {image}: {error}"))
        })?;
        let host = container
            .get_host()
            .await
            .map_err(|error| Error::backend("docker", error.to_string()))?
            .to_string();
        let port = container
            .get_host_port_ipv4(5432)
            .await
            .map_err(|error| Error::backend("docker", error.to_string()))?;
        notes.push(format!(
            "docker container {} from {image} on {host}:{port}",
            &container.id()[..12]
        ));
        Ok(Container {
            container,
            host,
            port,
            password,
            reaper,
        })
    }

    pub(super) fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.host.clone(),
            port: self.port,
            user: super::SUPERUSER.into(),
            password: Some(self.password.clone()),
            dbname: "postgres".into(),
        }
    }

    pub(super) async fn shutdown(self) -> Result<()> {
        let removed = self.container.rm().await;
        if let Some(reaper) = self.reaper {
            tokio::task::spawn_blocking(move || reaper.finish(Duration::from_secs(30)))
                .await
                .ok();
        }
        removed.map_err(|error| {
            Error::backend("docker", format!("cannot remove the container: {error}"))
        })
    }
}

fn which_docker_cli() -> bool {
    std::process::Command::new("docker")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Removes containers of runs on this host whose process is gone.
async fn sweep(docker: &Docker, label: &RunLabel, notes: &mut Vec<String>) {
    let options = ListContainersOptions {
        all: true,
        filters: HashMap::from([("label", vec![LABEL_RUN])]),
        ..Default::default()
    };
    let Ok(containers) = docker.list_containers(Some(options)).await else {
        return;
    };
    for container in containers {
        let labels = container.labels.unwrap_or_default();
        let same_host = labels.get(LABEL_HOST) == Some(&label.host);
        let pid = labels.get(LABEL_PID).and_then(|pid| pid.parse().ok());
        if let (true, Some(pid), Some(id)) = (same_host, pid, container.id) {
            if process_is_dead(pid) {
                let force = RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                };
                if docker.remove_container(&id, Some(force)).await.is_ok() {
                    notes.push(format!(
                        "swept container {} of dead run pid {pid}",
                        &id[..12.min(id.len())]
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn image_names_split_into_repo_and_tag() {
        assert_eq!(split_image("postgres:15"), ("postgres", "15"));
        assert_eq!(split_image("postgres"), ("postgres", "latest"));
        assert_eq!(
            split_image("localhost:5000/pg"),
            ("localhost:5000/pg", "latest")
        );
        assert_eq!(
            split_image("localhost:5000/pg:15"),
            ("localhost:5000/pg", "15")
        );
        assert_eq!(
            split_image("rls-harness/postgres:15"),
            ("rls-harness/postgres", "15")
        );
    }
}
