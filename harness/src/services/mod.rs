//! Services: real programs in Docker containers, started with testcontainers.
//!
//! This module knows images, readiness and where a service can be reached
//! (always a port published on 127.0.0.1). It knows nothing about faults:
//! those go through the fault proxy in front of the published port.
//!
//! Images are built locally by `fixtures/setup.sh` (no registry is used);
//! their names can be changed with environment variables, see [`Images`].
//! Every container is labelled with the pid of the process that started it,
//! so [`docker::sweep`] can remove what a killed run left behind.
//!
//! ```no_run
//! # async fn demo() -> Result<(), firedrill::services::ServiceError> {
//! use firedrill::services::{Images, ServiceSpec, start};
//! use firedrill::scenario::ServiceKind;
//! let images = Images::from_env();
//! firedrill::services::preflight(&images, &[ServiceKind::WsHub]).await?;
//! let spec = ServiceSpec::new("hub", ServiceKind::WsHub, "/path/to/firedrill".into());
//! let hub = start(&spec, &images).await?;
//! println!("hub on {}", hub.endpoint());
//! hub.stop().await;
//! # Ok(()) }
//! ```

pub mod docker;
pub mod proxy_container;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::testcontainers::core::{AccessMode, IntoContainerPort, Mount, WaitFor};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{
    ContainerAsync, GenericImage, ImageExt, TestcontainersError,
};

use crate::scenario::ServiceKind;

/// The command that installs Docker, starts it and builds the images.
pub const SETUP_COMMAND: &str = "./fixtures/setup.sh";

/// Errors of bringing services up. Each names the command that fixes it
/// where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The daemon did not answer.
    #[error(
        "Docker is not running (no answer on {}: {source}); start it with `{SETUP_COMMAND}` as root (installs docker.io, starts dockerd, builds the images)",
        socket.display()
    )]
    DockerUnavailable {
        /// The socket tried.
        socket: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The daemon answered something unexpected.
    #[error("failed to talk to Docker: {0}")]
    DockerProtocol(String),
    /// A local image is missing.
    #[error(
        "image {image} is missing; build it with `{SETUP_COMMAND}` as root (images are built locally; no registry is used)"
    )]
    ImageMissing {
        /// `name:tag`.
        image: String,
    },
    /// The container did not start or become ready.
    #[error("failed to start service {service} from {image}: {source}")]
    Start {
        /// Service name from the scenario.
        service: String,
        /// `name:tag`.
        image: String,
        /// testcontainers' error (boxed: it is large).
        source: Box<TestcontainersError>,
    },
    /// The firedrill executable to mount into a container is not there.
    #[error("failed to find the firedrill executable at {}: build it with `cargo build`", path.display())]
    MissingExecutable {
        /// Where it was expected.
        path: PathBuf,
    },
}

/// An image reference split into name and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Repository name, e.g. `firedrill/postgres`.
    pub name: String,
    /// Tag, e.g. `15`.
    pub tag: String,
}

impl ImageRef {
    /// Parses `name:tag` (`latest` when no tag is given).
    pub fn parse(reference: &str) -> Self {
        match reference.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => ImageRef {
                name: name.to_owned(),
                tag: tag.to_owned(),
            },
            _ => ImageRef {
                name: reference.to_owned(),
                tag: "latest".to_owned(),
            },
        }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// The images firedrill runs, overridable by environment variables (the same
/// ones `fixtures/setup.sh` builds): `FIREDRILL_POSTGRES_IMAGE`
/// (default `firedrill/postgres:15`; the official `postgres:15` works where a
/// registry is reachable) and `FIREDRILL_RUNNER_IMAGE` (default
/// `firedrill/runner:bookworm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Postgres, honouring the official image's contract.
    pub postgres: ImageRef,
    /// Runs firedrill's own programs (the hub).
    pub runner: ImageRef,
}

impl Images {
    /// Image names from the environment, with defaults.
    pub fn from_env() -> Self {
        let get = |var: &str, default: &str| {
            ImageRef::parse(&std::env::var(var).unwrap_or_else(|_| default.to_owned()))
        };
        Images {
            postgres: get("FIREDRILL_POSTGRES_IMAGE", "firedrill/postgres:15"),
            runner: get("FIREDRILL_RUNNER_IMAGE", "firedrill/runner:bookworm"),
        }
    }

    fn for_kind(&self, kind: &ServiceKind) -> &ImageRef {
        match kind {
            ServiceKind::WsHub => &self.runner,
            ServiceKind::Postgres { .. } => &self.postgres,
        }
    }
}

/// Checks, before anything starts, that Docker answers and that every image
/// the given services need is present; the errors name the fix.
pub async fn preflight(images: &Images, kinds: &[ServiceKind]) -> Result<(), ServiceError> {
    docker::ping().await?;
    for kind in kinds {
        let image = images.for_kind(kind);
        if !docker::image_exists(&image.to_string()).await? {
            return Err(ServiceError::ImageMissing {
                image: image.to_string(),
            });
        }
    }
    Ok(())
}

/// What to start.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The scenario's name for it.
    pub name: String,
    /// What it is.
    pub kind: ServiceKind,
    /// The firedrill executable mounted into containers that run our own
    /// programs (so a code change never needs an image rebuild).
    pub firedrill_exe: PathBuf,
}

impl ServiceSpec {
    /// A spec.
    pub fn new(name: impl Into<String>, kind: ServiceKind, firedrill_exe: PathBuf) -> Self {
        ServiceSpec {
            name: name.into(),
            kind,
            firedrill_exe,
        }
    }
}

/// The hub's port inside its container.
pub const HUB_PORT: u16 = 8080;
/// Postgres' port inside its container.
pub const POSTGRES_PORT: u16 = 5432;
/// User, password and database of the Postgres service.
pub const POSTGRES_CREDENTIALS: &str = "postgres";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
enum Container {
    Hub(ContainerAsync<GenericImage>),
    Postgres(ContainerAsync<Postgres>),
}

/// A started service. Stop it with [`RunningService::stop`]; dropping it
/// also removes the container (testcontainers does that on drop).
#[derive(Debug)]
pub struct RunningService {
    name: String,
    kind: ServiceKind,
    /// Where the main port is published now: [`RunningService::start_again`]
    /// moves it.
    endpoint: std::sync::Mutex<SocketAddr>,
    container: Container,
}

impl RunningService {
    /// The scenario's name for it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it is.
    pub fn kind(&self) -> &ServiceKind {
        &self.kind
    }

    /// Its main port, published on 127.0.0.1 (the hub serves WebSocket and
    /// its `/stats` view on the same port).
    pub fn endpoint(&self) -> SocketAddr {
        *self
            .endpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The container id.
    pub fn container_id(&self) -> &str {
        match &self.container {
            Container::Hub(c) => c.id(),
            Container::Postgres(c) => c.id(),
        }
    }

    /// A `tokio-postgres` connection string for a Postgres service, reaching
    /// it at `addr` (its endpoint, or a proxy in front of it).
    pub fn postgres_url(addr: SocketAddr) -> String {
        format!(
            "host={} port={} user={POSTGRES_CREDENTIALS} password={POSTGRES_CREDENTIALS} dbname={POSTGRES_CREDENTIALS} connect_timeout=5",
            addr.ip(),
            addr.port()
        )
    }

    /// Freezes every process of the container (`docker pause`): open
    /// connections stay open and nothing answers. Idempotent.
    pub async fn pause(&self) -> Result<(), ServiceError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match &self.container {
                Container::Hub(c) => c.pause().await,
                Container::Postgres(c) => c.pause().await,
            };
            match result {
                Ok(()) => return Ok(()),
                // Already paused: the fault is in effect.
                Err(error) if error.to_string().contains("already paused") => return Ok(()),
                // The cgroup freezer gives up when a process is mid-fork
                // (Postgres forks a backend per connection); the container
                // stays running, so trying again is safe.
                Err(error) if error.to_string().contains("unable to freeze") && attempt < 10 => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => return Err(self.control_error("pause", error)),
            }
        }
    }

    /// Thaws a paused container (`docker unpause`). Idempotent.
    pub async fn unpause(&self) -> Result<(), ServiceError> {
        let result = match &self.container {
            Container::Hub(c) => c.unpause().await,
            Container::Postgres(c) => c.unpause().await,
        };
        match result {
            Ok(()) => Ok(()),
            Err(error) if error.to_string().contains("not paused") => Ok(()),
            Err(error) => Err(self.control_error("unpause", error)),
        }
    }

    /// Kills the container (no grace period: `docker stop -t 0`). The
    /// container is kept, so [`RunningService::start_again`] brings the same
    /// data back. Idempotent.
    pub async fn kill(&self) -> Result<(), ServiceError> {
        let result = match &self.container {
            Container::Hub(c) => c.stop_with_timeout(Some(0)).await,
            Container::Postgres(c) => c.stop_with_timeout(Some(0)).await,
        };
        result.map_err(|error| self.control_error("kill", error))
    }

    /// Starts a killed container again and returns where its main port is
    /// published now: Docker publishes it on a new host port, which
    /// [`RunningService::endpoint`] reports from then on (proxies in front
    /// of the old one must be re-pointed). Readiness is the caller's to probe.
    pub async fn start_again(&self) -> Result<SocketAddr, ServiceError> {
        let port = match &self.container {
            Container::Hub(c) => {
                c.start()
                    .await
                    .map_err(|e| self.control_error("start", e))?;
                c.get_host_port_ipv4(HUB_PORT.tcp()).await
            }
            Container::Postgres(c) => {
                c.start()
                    .await
                    .map_err(|e| self.control_error("start", e))?;
                c.get_host_port_ipv4(POSTGRES_PORT.tcp()).await
            }
        }
        .map_err(|e| self.control_error("read the port of", e))?;
        let endpoint = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        *self
            .endpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = endpoint;
        Ok(endpoint)
    }

    fn control_error(&self, what: &str, error: TestcontainersError) -> ServiceError {
        ServiceError::DockerProtocol(format!(
            "failed to {what} the container of service {}: {error}",
            self.name
        ))
    }

    /// Stops and removes the container. Errors are logged, not returned:
    /// teardown must go on.
    pub async fn stop(self) {
        let id = self.container_id().to_owned();
        let result = match self.container {
            Container::Hub(c) => c.rm().await,
            Container::Postgres(c) => c.rm().await,
        };
        if let Err(error) = result {
            tracing::warn!(container = %id, %error, "failed to remove container; removing by id");
            if let Err(error) = docker::remove(&id).await {
                tracing::warn!(container = %id, %error, "failed to remove container");
            }
        }
    }
}

fn owner() -> String {
    std::process::id().to_string()
}

/// Starts one service and waits until it is ready.
pub async fn start(spec: &ServiceSpec, images: &Images) -> Result<RunningService, ServiceError> {
    let image = images.for_kind(&spec.kind).clone();
    let start_error = |source| ServiceError::Start {
        service: spec.name.clone(),
        image: image.to_string(),
        source: Box::new(source),
    };
    let (container, port) = match &spec.kind {
        ServiceKind::WsHub => {
            if !spec.firedrill_exe.is_file() {
                return Err(ServiceError::MissingExecutable {
                    path: spec.firedrill_exe.clone(),
                });
            }
            let request = GenericImage::new(image.name.clone(), image.tag.clone())
                .with_exposed_port(HUB_PORT.tcp())
                .with_wait_for(WaitFor::message_on_stdout("firedrill hub ready"))
                .with_cmd(["hub", "--listen", "0.0.0.0:8080"])
                .with_mount(
                    Mount::bind_mount(
                        spec.firedrill_exe.to_string_lossy().into_owned(),
                        "/opt/firedrill/firedrill",
                    )
                    .with_access_mode(AccessMode::ReadOnly),
                )
                .with_label(docker::LABEL, "hub")
                .with_label(docker::OWNER_LABEL, owner())
                .with_startup_timeout(STARTUP_TIMEOUT);
            let container = request.start().await.map_err(start_error)?;
            let port = container
                .get_host_port_ipv4(HUB_PORT.tcp())
                .await
                .map_err(start_error)?;
            (Container::Hub(container), port)
        }
        ServiceKind::Postgres { max_connections } => {
            let mut args = vec!["-c".to_owned(), "fsync=off".to_owned()];
            if let Some(max) = max_connections {
                args.push("-c".to_owned());
                args.push(format!("max_connections={max}"));
            }
            let request = Postgres::default()
                .with_user(POSTGRES_CREDENTIALS)
                .with_password(POSTGRES_CREDENTIALS)
                .with_db_name(POSTGRES_CREDENTIALS)
                .with_name(image.name.clone())
                .with_tag(image.tag.clone())
                .with_cmd(args)
                .with_label(docker::LABEL, "postgres")
                .with_label(docker::OWNER_LABEL, owner())
                .with_startup_timeout(STARTUP_TIMEOUT);
            let container = request.start().await.map_err(start_error)?;
            let port = container
                .get_host_port_ipv4(POSTGRES_PORT.tcp())
                .await
                .map_err(start_error)?;
            (Container::Postgres(container), port)
        }
    };
    Ok(RunningService {
        name: spec.name.clone(),
        kind: spec.kind,
        endpoint: std::sync::Mutex::new(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        container,
    })
}

/// Starts several services at once (containers start in parallel) and
/// returns them in the same order. If one fails, the others are stopped.
pub async fn start_all(
    specs: &[ServiceSpec],
    images: &Images,
) -> Result<Vec<RunningService>, ServiceError> {
    let results =
        futures_util::future::join_all(specs.iter().map(|spec| start(spec, images))).await;
    let mut started = Vec::new();
    let mut first_error = None;
    for result in results {
        match result {
            Ok(service) => started.push(service),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error {
        for service in started {
            service.stop().await;
        }
        return Err(error);
    }
    Ok(started)
}

/// Starts a thread that, on SIGINT or SIGTERM, removes every container this
/// process started and exits with 130 (the shell's code for Ctrl-C). In-process
/// proxies and tasks end with the process. Safe to call more than once.
pub fn remove_containers_on_interrupt() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("firedrill-interrupt".into())
            .spawn(|| {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::warn!(%error, "no interrupt clean-up: failed to build a runtime");
                        return;
                    }
                };
                runtime.block_on(async {
                    use tokio::signal::unix::{SignalKind, signal};
                    let (Ok(mut int), Ok(mut term)) = (
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::terminate()),
                    ) else {
                        tracing::warn!("no interrupt clean-up: failed to install signal handlers");
                        return;
                    };
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    eprintln!("\nfiredrill: interrupted; removing containers");
                    match docker::sweep(Some(std::process::id())).await {
                        Ok(n) => eprintln!("firedrill: removed {n} container(s)"),
                        Err(error) => eprintln!("firedrill: {error}"),
                    }
                    std::process::exit(130);
                });
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "no interrupt clean-up: failed to start its thread");
        }
    });
}
