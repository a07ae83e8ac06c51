//! What both WebSocket clients (hardened and naive) have in common: the
//! [`MessageClient`] interface, the [`ClientStatus`] it reports, the wire
//! protocol they speak to the hub, and the connect step.
//!
//! # Wire protocol (text frames of JSON)
//! - client → hub: `{"client":"<id>","seq":<u64>,"body":"<string>"}` ([`ClientFrame`]);
//!   `seq` is 1-based and per client.
//! - hub → client: `{"ack":<seq>}` ([`AckFrame`]), sent after the hub recorded the
//!   message (duplicates are acked too).
//! - The naive client's heartbeat is the text frame `ping`; the hub answers `pong`.
//!   The hardened client uses WebSocket Ping/Pong control frames instead.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A snapshot of a client's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStatus {
    /// A connection is open right now.
    pub connected: bool,
    /// Sequence numbers handed out by `send` (the last one is `accepted`).
    pub accepted: u64,
    /// Distinct sequence numbers the hub acknowledged.
    pub acked: u64,
    /// Accepted messages not yet acknowledged and still held for (re)sending.
    /// Always 0 for the naive client, which holds nothing.
    pub pending: usize,
    /// When the most recent ack (of any seq, duplicates included) arrived.
    pub last_ack: Option<Instant>,
    /// Successful connects so far.
    pub connects: u32,
    /// The client stopped reconnecting for good.
    pub gave_up: bool,
}

/// A client that sends numbered messages to the hub. Implemented by
/// [`ReconnectingWs`](super::ws_client::ReconnectingWs) and
/// [`NaiveWs`](super::ws_naive::NaiveWs).
pub trait MessageClient: Send + Sync {
    /// The client id (also the `client` field of every message).
    fn id(&self) -> &str;
    /// Accept a message; returns its sequence number (1-based, per client).
    /// Never blocks.
    fn send(&self, body: String) -> u64;
    /// A snapshot of the client's state.
    fn status(&self) -> ClientStatus;
    /// Close the socket (with a close frame if possible, bounded by a short
    /// timeout), stop the client's task and return its final status.
    fn shutdown(self: Box<Self>) -> Pin<Box<dyn Future<Output = ClientStatus> + Send>>;
}

/// How long a client waits for its close frame to go out on shutdown.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long `shutdown` waits for the task before aborting it.
pub(crate) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// A client's background task. [`ClientTask::stop`] asks it to finish (it
/// closes its socket) and waits up to [`SHUTDOWN_TIMEOUT`]; dropping the
/// handle cancels and aborts it, so no task outlives its client.
#[derive(Debug)]
pub(crate) struct ClientTask {
    stop: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ClientTask {
    /// Spawns `run`, which must return soon after `stop` is cancelled.
    pub(crate) fn spawn(
        stop: tokio_util::sync::CancellationToken,
        run: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        ClientTask {
            stop,
            task: Some(tokio::spawn(run)),
        }
    }

    /// Cancels the task and waits for it, aborting it after the timeout.
    pub(crate) async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_TIMEOUT, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for ClientTask {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A message as it travels from client to hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// Sender's client id.
    pub client: String,
    /// 1-based per-client sequence number.
    pub seq: u64,
    /// Payload.
    pub body: String,
}

/// The hub's acknowledgement of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckFrame {
    /// The acknowledged sequence number.
    pub ack: u64,
}

/// The naive client's heartbeat text frame, and the hub's answer.
pub const TEXT_PING: &str = "ping";
/// The hub's answer to [`TEXT_PING`].
pub const TEXT_PONG: &str = "pong";

/// Serialize one outbound message.
pub(crate) fn encode(client: &str, seq: u64, body: &str) -> String {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        client: &'a str,
        seq: u64,
        body: &'a str,
    }
    serde_json::to_string(&Borrowed { client, seq, body })
        .expect("a struct of strings and integers always serializes")
}

/// Parse an ack; `None` for anything else.
pub(crate) fn decode_ack(text: &str) -> Option<u64> {
    serde_json::from_str::<AckFrame>(text).ok().map(|a| a.ack)
}

/// A connection to the hub as both clients use it.
pub(crate) type Socket = WebSocketStream<TcpStream>;

/// Why a connect attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a usable `ws://` URL.
    #[error("failed to parse the WebSocket URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// TCP connect failed.
    #[error("failed to connect to {addr}: {source}")]
    Tcp {
        /// `host:port`.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The WebSocket handshake failed.
    #[error("failed the WebSocket handshake: {0}")]
    Handshake(#[from] tokio_tungstenite::tungstenite::Error),
}

/// TCP connect (with `TCP_NODELAY`) plus the WebSocket handshake, unbounded;
/// callers that need a bound wrap it in a timeout.
pub(crate) async fn connect(url: &str) -> Result<Socket, ConnectError> {
    let bad = |reason: &str| ConnectError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let request = url.into_client_request().map_err(|e| bad(&e.to_string()))?;
    let uri = request.uri();
    match uri.scheme_str() {
        Some("ws") => {}
        Some("wss") => return Err(bad("wss:// is not supported (no TLS in firedrill)")),
        _ => return Err(bad("expected a ws:// URL")),
    }
    let host = uri
        .host()
        .ok_or_else(|| bad("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|source| ConnectError::Tcp {
            addr: format!("{host}:{port}"),
            source,
        })?;
    // Small frames and heartbeats must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let (socket, _response) = tokio_tungstenite::client_async(request, tcp).await?;
    Ok(socket)
}

/// Lock a mutex whose data stays consistent even if a holder panicked (all
/// critical sections here are single assignments).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_round_trips() {
        let text = encode("a\"b", 3, "hi");
        assert_eq!(text, r#"{"client":"a\"b","seq":3,"body":"hi"}"#);
        let frame: ClientFrame = serde_json::from_str(&text).expect("valid json");
        assert_eq!(frame.seq, 3);
        assert_eq!(decode_ack(r#"{"ack":9}"#), Some(9));
        assert_eq!(decode_ack("pong"), None);
    }

    #[tokio::test]
    async fn connect_rejects_unusable_urls() {
        for url in ["http://x/ws", "wss://x/ws", "not a url"] {
            let err = connect(url).await.err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains("URL")),
                "{url}: {err:?}"
            );
        }
    }
}
