//! The fault proxy as a container: `firedrill proxy serve` in the runner
//! image, so traffic between containers on a Docker network can be faulted
//! (a service reaches another through the proxy container's name).
//!
//! The API (container port [`PROXY_API_PORT`]) and every proxy port asked
//! for are published on the host; proxies are then created through the
//! Toxiproxy API, listening on `0.0.0.0:<port>` inside the container.
//!
//! ```no_run
//! # async fn demo() -> Result<(), firedrill::services::ServiceError> {
//! use firedrill::services::Images;
//! use firedrill::services::proxy_container::{ProxyContainerSpec, start_proxy_container};
//! let mut spec = ProxyContainerSpec::new("/path/to/firedrill".into());
//! spec.proxy_ports = vec![6379];
//! let proxy = start_proxy_container(&spec, &Images::from_env()).await?;
//! println!("Toxiproxy API on http://{}", proxy.api_addr());
//! proxy.stop().await;
//! # Ok(()) }
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use testcontainers_modules::testcontainers::core::{AccessMode, IntoContainerPort, Mount, WaitFor};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::{Images, STARTUP_TIMEOUT, ServiceError, docker, owner};

/// The API's port inside the container (Toxiproxy's).
pub const PROXY_API_PORT: u16 = 8474;

/// What to start.
#[derive(Debug, Clone)]
pub struct ProxyContainerSpec {
    /// The firedrill executable, bind-mounted as the image's entrypoint.
    pub firedrill_exe: PathBuf,
    /// Container ports the proxies will listen on, published on the host.
    pub proxy_ports: Vec<u16>,
    /// A Docker network to join (other containers then reach the proxy by
    /// `container_name`).
    pub network: Option<String>,
    /// The container's name (and host name on `network`).
    pub container_name: Option<String>,
}

impl ProxyContainerSpec {
    /// A proxy container on the default network, no proxy port published.
    pub fn new(firedrill_exe: PathBuf) -> Self {
        ProxyContainerSpec {
            firedrill_exe,
            proxy_ports: Vec::new(),
            network: None,
            container_name: None,
        }
    }
}

/// A running proxy container; dropping it removes the container too.
#[derive(Debug)]
pub struct ProxyContainer {
    container: ContainerAsync<GenericImage>,
    api: SocketAddr,
    published: Vec<(u16, SocketAddr)>,
}

impl ProxyContainer {
    /// The Toxiproxy API, published on 127.0.0.1.
    pub fn api_addr(&self) -> SocketAddr {
        self.api
    }

    /// Where container port `port` (one of `proxy_ports`) is published.
    pub fn host_addr(&self, port: u16) -> Option<SocketAddr> {
        self.published
            .iter()
            .find(|(container, _)| *container == port)
            .map(|(_, host)| *host)
    }

    /// The container id.
    pub fn container_id(&self) -> &str {
        self.container.id()
    }

    /// Stops and removes the container; errors are logged (teardown goes on).
    pub async fn stop(self) {
        let id = self.container.id().to_owned();
        if let Err(error) = self.container.rm().await {
            tracing::warn!(container = %id, %error, "failed to remove container; removing by id");
            if let Err(error) = docker::remove(&id).await {
                tracing::warn!(container = %id, %error, "failed to remove container");
            }
        }
    }
}

/// Starts `firedrill proxy serve --listen 0.0.0.0:8474` in the runner image
/// and waits until its API answers.
pub async fn start_proxy_container(
    spec: &ProxyContainerSpec,
    images: &Images,
) -> Result<ProxyContainer, ServiceError> {
    if !spec.firedrill_exe.is_file() {
        return Err(ServiceError::MissingExecutable {
            path: spec.firedrill_exe.clone(),
        });
    }
    let image = images.runner.clone();
    let start_error = |source| ServiceError::Start {
        service: "proxy".to_owned(),
        image: image.to_string(),
        source: Box::new(source),
    };
    let mut generic = GenericImage::new(image.name.clone(), image.tag.clone())
        .with_exposed_port(PROXY_API_PORT.tcp())
        .with_wait_for(WaitFor::message_on_stdout("firedrill proxy ready"));
    for port in &spec.proxy_ports {
        generic = generic.with_exposed_port(port.tcp());
    }
    let mut request = generic
        .with_cmd(["proxy", "serve", "--listen", "0.0.0.0:8474"])
        .with_mount(
            Mount::bind_mount(
                spec.firedrill_exe.to_string_lossy().into_owned(),
                "/opt/firedrill/firedrill",
            )
            .with_access_mode(AccessMode::ReadOnly),
        )
        .with_label(docker::LABEL, "proxy")
        .with_label(docker::OWNER_LABEL, owner())
        .with_startup_timeout(STARTUP_TIMEOUT);
    if let Some(network) = &spec.network {
        request = request.with_network(network.clone());
    }
    if let Some(name) = &spec.container_name {
        request = request.with_container_name(name.clone());
    }
    let container = request.start().await.map_err(start_error)?;
    let host_port = |port: u16| {
        let container = &container;
        async move {
            container
                .get_host_port_ipv4(port.tcp())
                .await
                .map(|host| SocketAddr::from((Ipv4Addr::LOCALHOST, host)))
        }
    };
    let api = host_port(PROXY_API_PORT).await.map_err(start_error)?;
    let mut published = Vec::new();
    for &port in &spec.proxy_ports {
        published.push((port, host_port(port).await.map_err(start_error)?));
    }
    Ok(ProxyContainer {
        container,
        api,
        published,
    })
}
