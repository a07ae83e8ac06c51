//! The WebSocket hub: firedrill's own WebSocket server, run inside a
//! container as `firedrill hub --listen 0.0.0.0:8080`, that the WebSocket
//! remedies talk to through the fault proxy.
//!
//! It records every numbered message per client (deduplicating by seq) and
//! acknowledges it, so a drill can check the "no message lost" invariant by
//! asking the hub what it received ([`fetch_view`]).
//!
//! # HTTP
//! - `GET /ws?client=<id>` upgrades to a WebSocket (the id is only logged;
//!   messages carry their own `client` field).
//! - `GET /stats?prefix=<p>` returns a [`HubView`] as JSON (see its docs for
//!   what the prefix filters).
//! - `GET /healthz` returns `ok`.
//!
//! # WebSocket protocol (text frames)
//! - `{"client":"<id>","seq":<u64>,"body":"<string>"}`: recorded, **then**
//!   acknowledged with `{"ack":<seq>}`; duplicates are acknowledged too.
//! - `ping` (the naive client's heartbeat) is answered with the text `pong`.
//! - WebSocket Ping frames are answered with Pongs (by tungstenite, on the
//!   next read of the connection, which the hub always has pending).
//! - Anything else is ignored (debug log).
//!
//! The hub must never depend on the harness or on a remedy's internals: it
//! speaks only the wire protocol in [`crate::remedies::ws`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(firedrill::hub::serve(listener, async {
//!     let _ = stopped.await;
//! }));
//! // ... run clients against ws://<addr>/ws?client=a ...
//! let _ = stop.send(());
//! server.await??;
//! # Ok(()) }
//! ```

mod client;
mod view;

pub use client::fetch_view;
pub use view::{ClientView, HubView};

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::remedies::ws::{AckFrame, ClientFrame, TEXT_PING, TEXT_PONG, lock};
use view::ClientRecord;

/// How long the hub waits for a close frame to go out, and then for open
/// WebSocket connections to finish, when it shuts down.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Errors of the hub program and of [`fetch_view`].
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The listen address could not be bound.
    #[error("failed to bind the hub to {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Installing the SIGTERM/SIGINT handlers failed.
    #[error("failed to install signal handlers: {0}")]
    Signal(#[source] std::io::Error),
    /// Printing the readiness line or serving failed.
    #[error("failed to serve: {0}")]
    Serve(#[source] std::io::Error),
    /// Talking to a hub's `/stats` endpoint failed.
    #[error("failed to fetch the hub view from {addr}: {source}")]
    Fetch {
        /// The hub's HTTP address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The hub did not answer in time.
    #[error("failed to fetch the hub view from {addr}: no answer within {after:?}")]
    Timeout {
        /// The hub's HTTP address.
        addr: SocketAddr,
        /// The time allowed.
        after: Duration,
    },
    /// The hub answered something that is not an HTTP 200 with a view.
    #[error("failed to fetch the hub view from {addr}: {reason}")]
    BadResponse {
        /// The hub's HTTP address.
        addr: SocketAddr,
        /// What was wrong.
        reason: String,
    },
}

/// The hub's state: what it received, and its connection counts. Cheap to
/// clone (shared). Serving the same `Hub` again after a stop keeps what it
/// received, which tests use to check "no loss" across a hub restart.
#[derive(Debug, Clone, Default)]
pub struct Hub {
    state: Arc<Mutex<HubState>>,
}

#[derive(Debug, Default)]
struct HubState {
    connections_open: u64,
    connections_total: u64,
    clients: BTreeMap<String, ClientRecord>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hub's view, restricted to clients whose id starts with `prefix`
    /// (connection counts stay global; see [`HubView`]).
    pub fn view(&self, prefix: &str) -> HubView {
        let state = lock(&self.state);
        let clients: BTreeMap<String, ClientView> = state
            .clients
            .iter()
            .filter(|(id, _)| id.starts_with(prefix))
            .map(|(id, record)| (id.clone(), record.view()))
            .collect();
        HubView {
            connections_open: state.connections_open,
            connections_total: state.connections_total,
            messages_seen: clients.values().map(|c| c.received + c.duplicates).sum(),
            duplicates: clients.values().map(|c| c.duplicates).sum(),
            clients,
        }
    }

    /// Record one message; returns `false` for a duplicate.
    fn record(&self, frame: &ClientFrame) -> bool {
        lock(&self.state)
            .clients
            .entry(frame.client.clone())
            .or_default()
            .record(frame.seq)
    }

    fn opened(&self) -> OpenConnection {
        let mut state = lock(&self.state);
        state.connections_open += 1;
        state.connections_total += 1;
        OpenConnection(self.clone())
    }

    /// Serve HTTP and WebSocket on `listener` until `shutdown` completes; then
    /// close every open WebSocket (close frame 1001, bounded) and return.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let ctx = Serving {
            hub: self,
            stop: CancellationToken::new(),
            sockets: Arc::new(watch::Sender::new(0)),
        };
        let app = Router::new()
            .route("/ws", get(upgrade))
            .route("/stats", get(stats))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(ctx.clone());
        let stop = ctx.stop.clone();
        // Acks are tiny writes; with Nagle on, a burst of them waits for the
        // client's delayed ACK (40 ms on Linux) after the first one.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "hub: failed to set TCP_NODELAY");
            }
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                stop.cancel();
            })
            .await;
        // Upgraded connections outlive hyper's graceful shutdown: stop them too.
        ctx.stop.cancel();
        let mut running = ctx.sockets.subscribe();
        if tokio::time::timeout(DRAIN_TIMEOUT, running.wait_for(|n| *n == 0))
            .await
            .is_err()
        {
            tracing::warn!(
                open = *ctx.sockets.borrow(),
                "hub stopped with WebSocket tasks still running"
            );
        }
        served
    }
}

/// Serve a fresh [`Hub`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    Hub::new().serve(listener, shutdown).await
}

/// The `firedrill hub` program: bind `listen`, print exactly one line
/// `firedrill hub ready on <addr>` to stdout (flushed; the container's
/// readiness check waits for it), serve until SIGTERM or SIGINT.
pub async fn run(listen: SocketAddr) -> Result<(), HubError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| HubError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(HubError::Serve)?;
    let stop = shutdown_signal().map_err(HubError::Signal)?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "firedrill hub ready on {addr}").map_err(HubError::Serve)?;
        out.flush().map_err(HubError::Serve)?;
    }
    serve(listener, stop).await.map_err(HubError::Serve)
}

/// Completes on SIGTERM or SIGINT. The handlers are installed before this
/// returns, so a signal arriving right after readiness is not lost.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: hub stopping"),
            _ = int.recv() => tracing::info!("SIGINT: hub stopping"),
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Per-`serve` state shared by the handlers.
#[derive(Debug, Clone)]
struct Serving {
    hub: Hub,
    /// Cancelled when the hub stops; every WebSocket task watches it.
    stop: CancellationToken,
    /// How many WebSocket tasks run, so `serve` can wait for them.
    sockets: Arc<watch::Sender<usize>>,
}

/// Counts one WebSocket task of one `serve` call while it lives.
struct SocketTask(Arc<watch::Sender<usize>>);

impl SocketTask {
    fn new(sockets: &Arc<watch::Sender<usize>>) -> Self {
        sockets.send_modify(|n| *n += 1);
        Self(sockets.clone())
    }
}

impl Drop for SocketTask {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Decrements `connections_open` when a WebSocket task ends, however it ends.
struct OpenConnection(Hub);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.connections_open = state.connections_open.saturating_sub(1);
    }
}

#[derive(Debug, Deserialize)]
struct WsQuery {
    client: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StatsQuery {
    prefix: Option<String>,
}

async fn upgrade(
    State(ctx): State<Serving>,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let client = query.client.unwrap_or_default();
    // Counted before the task starts so `serve` waits for it.
    let task = SocketTask::new(&ctx.sockets);
    ws.on_upgrade(move |socket| async move {
        let _task = task;
        converse(ctx, socket, client).await;
    })
}

async fn stats(State(ctx): State<Serving>, Query(query): Query<StatsQuery>) -> impl IntoResponse {
    Json(ctx.hub.view(query.prefix.as_deref().unwrap_or("")))
}

/// One WebSocket connection: record and ack messages until the peer goes
/// away or the hub stops.
async fn converse(ctx: Serving, mut socket: WebSocket, client: String) {
    let _open = ctx.hub.opened();
    tracing::debug!(client, "hub: connection opened");
    loop {
        let incoming = tokio::select! {
            biased;
            () = ctx.stop.cancelled() => break,
            incoming = socket.recv() => incoming,
        };
        let reply = match incoming {
            None => return,
            Some(Err(error)) => {
                tracing::debug!(client, %error, "hub: connection failed");
                return;
            }
            Some(Ok(Message::Text(text))) => reply_to(&ctx.hub, &client, text.as_str()),
            // tungstenite answers Pings itself and replies to a Close; the
            // next recv() flushes that and then ends the stream.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_))) => None,
            Some(Ok(Message::Binary(_))) => {
                tracing::debug!(client, "hub: ignoring a binary frame");
                None
            }
        };
        if let Some(reply) = reply {
            tokio::select! {
                biased;
                () = ctx.stop.cancelled() => break,
                sent = socket.send(Message::Text(reply)) => {
                    if let Err(error) = sent {
                        tracing::debug!(client, %error, "hub: reply failed");
                        return;
                    }
                }
            }
        }
    }
    // The hub is stopping: say so, but never wait long on a peer that stopped
    // reading.
    let bye = Message::Close(Some(CloseFrame {
        code: 1001,
        reason: Utf8Bytes::from_static("hub shutting down"),
    }));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(bye)).await;
}

/// The reply to one text frame, if any.
fn reply_to(hub: &Hub, connection: &str, text: &str) -> Option<Utf8Bytes> {
    if text == TEXT_PING {
        return Some(Utf8Bytes::from_static(TEXT_PONG));
    }
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => {
            if !hub.record(&frame) {
                tracing::debug!(client = frame.client, seq = frame.seq, "hub: duplicate");
            }
            let ack = serde_json::to_string(&AckFrame { ack: frame.seq })
                .expect("an integer field always serializes");
            Some(ack.into())
        }
        Err(error) => {
            tracing::debug!(connection, %error, "hub: ignoring an unknown text frame");
            None
        }
    }
}

#[cfg(test)]
mod tests;
