//! A tiny Docker Engine API client for what testcontainers does not do:
//! checking that the daemon answers and the images exist (so firedrill can
//! name the fix), and sweeping containers left behind by a killed run.
//!
//! It speaks HTTP/1.0 over the daemon's Unix socket, API 1.41 (Docker 20.10
//! and newer accept it). It must never start or configure containers: that
//! is testcontainers' job.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::ServiceError;

/// The label every firedrill container carries.
pub const LABEL: &str = "org.firedrill";
/// The label naming the process that owns a container (its pid).
pub const OWNER_LABEL: &str = "org.firedrill.owner";

const API: &str = "/v1.41";
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the daemon's socket is: `DOCKER_HOST=unix://…` or the default.
pub fn socket_path() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => PathBuf::from(&host["unix://".len()..]),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// A reply: status code and body.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
}

async fn request(method: &str, path: &str) -> Result<Reply, ServiceError> {
    let socket = socket_path();
    let unavailable = |source: std::io::Error| ServiceError::DockerUnavailable {
        socket: socket.clone(),
        source,
    };
    let exchange = async {
        let mut stream = UnixStream::connect(&socket).await.map_err(unavailable)?;
        let head = format!("{method} {API}{path} HTTP/1.0\r\nHost: docker\r\n\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(unavailable)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(unavailable)?;
        Ok(raw)
    };
    let raw = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| {
            unavailable(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer within 10 s",
            ))
        })??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            ServiceError::DockerProtocol(format!("unreadable reply to {method} {path}"))
        })?;
    Ok(Reply {
        status,
        body: body.to_owned(),
    })
}

/// Checks that the daemon answers.
pub async fn ping() -> Result<(), ServiceError> {
    let reply = request("GET", "/_ping").await?;
    if reply.status == 200 {
        Ok(())
    } else {
        Err(ServiceError::DockerProtocol(format!(
            "GET /_ping answered {}: {}",
            reply.status, reply.body
        )))
    }
}

/// Whether an image (`name:tag`) is present locally.
pub async fn image_exists(image: &str) -> Result<bool, ServiceError> {
    let reply = request("GET", &format!("/images/{image}/json")).await?;
    match reply.status {
        200 => Ok(true),
        404 => Ok(false),
        other => Err(ServiceError::DockerProtocol(format!(
            "GET /images/{image}/json answered {other}: {}",
            reply.body
        ))),
    }
}

/// A firedrill container as the daemon lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// Container id.
    pub id: String,
    /// Owning process id, when the label is readable.
    pub owner: Option<u32>,
}

/// Every container carrying the firedrill label, running or not.
pub async fn list_labelled() -> Result<Vec<Labelled>, ServiceError> {
    // filters={"label":["org.firedrill"]}, URL-encoded.
    let reply = request(
        "GET",
        "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22org.firedrill%22%5D%7D",
    )
    .await?;
    if reply.status != 200 {
        return Err(ServiceError::DockerProtocol(format!(
            "listing containers answered {}: {}",
            reply.status, reply.body
        )));
    }
    let value: serde_json::Value = serde_json::from_str(&reply.body)
        .map_err(|e| ServiceError::DockerProtocol(format!("unreadable container list: {e}")))?;
    let containers = value.as_array().cloned().unwrap_or_default();
    Ok(containers
        .iter()
        .filter_map(|c| {
            let id = c.get("Id")?.as_str()?.to_owned();
            let owner = c
                .get("Labels")
                .and_then(|l| l.get(OWNER_LABEL))
                .and_then(|o| o.as_str())
                .and_then(|o| o.parse().ok());
            Some(Labelled { id, owner })
        })
        .collect())
}

/// Removes a container, running or not. A container already gone is fine.
pub async fn remove(id: &str) -> Result<(), ServiceError> {
    let reply = request("DELETE", &format!("/containers/{id}?force=1&v=1")).await?;
    match reply.status {
        200..=299 | 404 => Ok(()),
        other => Err(ServiceError::DockerProtocol(format!(
            "removing container {id} answered {other}: {}",
            reply.body
        ))),
    }
}

/// Whether a process with this pid exists on this machine.
pub fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes firedrill containers whose owning process is gone (a run that was
/// killed before it could clean up), or every firedrill container owned by
/// `owner` when given. Returns how many were removed.
pub async fn sweep(owner: Option<u32>) -> Result<usize, ServiceError> {
    let mut removed = 0;
    for container in list_labelled().await? {
        let stale = match (owner, container.owner) {
            (Some(me), Some(theirs)) => me == theirs,
            (Some(_), None) => false,
            (None, Some(theirs)) => !process_alive(theirs),
            (None, None) => true,
        };
        if stale {
            remove(&container.id).await?;
            removed += 1;
        }
    }
    Ok(removed)
}
