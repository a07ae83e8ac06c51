//! `firedrill proxy serve` in the runner image (`./fixtures/setup.sh` builds
//! it): its Toxiproxy API is driven through the published port, and a proxy
//! inside the container (in front of the container's own API) is faulted
//! and measured from the host.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use firedrill::services::Images;
use firedrill::services::proxy_container::{ProxyContainerSpec, start_proxy_container};
use serde_json::{Value, json};

mod common;
use common::http;

/// Retries while the published port is not yet served (Docker accepts on
/// the host before the program inside listens).
fn http_ready(addr: SocketAddr, path: &str) -> Result<(u16, Value)> {
    let started = Instant::now();
    loop {
        match http(addr, "GET", path, "") {
            Ok(answer) => return Ok(answer),
            Err(error) if started.elapsed() > Duration::from_secs(10) => return Err(error),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn proxy_container_serves_the_api_and_faults_traffic() -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let mut spec = ProxyContainerSpec::new(PathBuf::from(env!("CARGO_BIN_EXE_firedrill")));
    spec.proxy_ports = vec![8475];
    let container = runtime.block_on(start_proxy_container(&spec, &Images::from_env()))?;
    let id = container.container_id().to_owned();
    let result = (|| -> Result<()> {
        let api = container.api_addr();
        let (status, version) = http_ready(api, "/version")?;
        assert_eq!(status, 200);
        assert!(version["version"].is_string());

        // A proxy inside the container, in front of the API itself.
        let create = json!({"name": "api", "listen": "0.0.0.0:8475", "upstream": "127.0.0.1:8474"});
        let (status, proxy) = http(api, "POST", "/proxies", &create.to_string())?;
        assert_eq!(status, 201, "{proxy}");
        assert_eq!(proxy["listen"], "0.0.0.0:8475");
        let proxied = container.host_addr(8475).context("8475 is published")?;
        assert_eq!(http_ready(proxied, "/version")?.0, 200);

        let toxic = json!({"type": "latency", "attributes": {"latency": 200}});
        let (status, _) = http(api, "POST", "/proxies/api/toxics", &toxic.to_string())?;
        assert_eq!(status, 200);
        let started = Instant::now();
        assert_eq!(http(proxied, "GET", "/version", "")?.0, 200);
        let took = started.elapsed();
        ensure!(took >= Duration::from_millis(195), "{took:?}");

        let (status, error) = http(api, "GET", "/proxies/nope", "")?;
        assert_eq!(
            (status, error),
            (404, json!({"error": "proxy not found", "status": 404}))
        );
        Ok(())
    })();
    runtime.block_on(container.stop());
    let listed = runtime.block_on(firedrill::services::docker::list_labelled())?;
    ensure!(
        listed.iter().all(|c| c.id != id),
        "the container is removed"
    );
    result
}
