//! The fault proxy: an in-process TCP proxy with Toxiproxy's toxic model.
//!
//! A [`Proxy`] listens on one address and relays every client connection to
//! its upstream. Toxics ([`crate::toxic`]) act on the client → server
//! (`upstream`) or server → client (`downstream`) direction of every
//! connection, stack in insertion order, and take effect on **open**
//! connections at once when added, updated or removed, without losing or
//! reordering a byte. Disabling the proxy is Toxiproxy's `down`: the listening
//! socket closes (new clients get *connection refused*) and every open
//! connection closes. All randomness (toxicity, jitter, slice sizes) derives
//! from [`ProxyConfig::seed`], the connection number and the toxic name.
//!
//! Semantics worth knowing:
//! - `latency`: a chunk leaves `latency ± jitter` ms after it was read, so
//!   pipelined writes do not accumulate delay; the FIN travels behind the data
//!   with the same delay, so delayed data is always delivered before a close.
//! - `timeout`: the direction stops reading (no data, no FIN: half-open);
//!   with `timeout > 0` the connection closes that long after the toxic took
//!   effect. Removing the toxic releases what was held, in order.
//! - `reset_peer`: `timeout` ms after the toxic took effect (added, or the
//!   connection accepted) the client side is reset (RST); the upstream side
//!   is closed, and reset too when the toxic is on the `upstream` stream.
//! - `bandwidth` (KB/s, 1 KB = 1000 bytes as in Toxiproxy), `slow_close`
//!   (delays the FIN), `slicer` (splits chunks, `delay` µs apart) and
//!   `limit_data` (closes after `bytes` in that direction).
//! - Half-closes pass through: a client's FIN reaches the server and the
//!   other direction keeps flowing.
//!
//! This module never panics on network errors: they are logged with
//! `tracing::debug!` and the connection is closed. Dropping the last
//! [`Proxy`] handle stops every task it started.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::{Duration, Instant};
//!
//! use firedrill::faults::proxy::{Proxy, ProxyConfig};
//! use firedrill::toxic::{Stream, Toxic, ToxicKind};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::{TcpListener, TcpStream};
//!
//! // A server that greets every client.
//! let server = TcpListener::bind("127.0.0.1:0").await?;
//! let upstream = server.local_addr()?.to_string();
//! tokio::spawn(async move {
//!     while let Ok((mut conn, _)) = server.accept().await {
//!         let _ = conn.write_all(b"hello").await;
//!     }
//! });
//!
//! let proxy = Proxy::start(ProxyConfig::new("greeter", upstream)).await?;
//! proxy.add_toxic(Toxic::new(
//!     ToxicKind::Latency { latency: 100, jitter: 0 },
//!     Stream::Downstream,
//! ))?;
//!
//! let started = Instant::now();
//! let mut client = TcpStream::connect(proxy.listen_addr()).await?;
//! let mut greeting = [0; 5];
//! client.read_exact(&mut greeting).await?;
//! assert_eq!(&greeting, b"hello");
//! assert!(started.elapsed() >= Duration::from_millis(90));
//!
//! // Down: new clients are refused until the proxy is enabled again.
//! proxy.set_enabled(false).await?;
//! assert!(TcpStream::connect(proxy.listen_addr()).await.is_err());
//! proxy.reset(); // removes every toxic and listens again
//! assert!(proxy.enabled() && proxy.toxics().is_empty());
//! proxy.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod chain;
mod pump;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use socket2::SockRef;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::pump::{Flow, Pump};
use crate::toxic::{Stream, Toxic};

/// How to start a [`Proxy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The proxy's name (Toxiproxy's `name`).
    pub name: String,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The server to relay to, `"host:port"`; resolved on every connection.
    pub upstream: String,
    /// Whether to listen at once (`false` is Toxiproxy's `down`).
    pub enabled: bool,
    /// Seeds every random choice (toxicity, jitter, slice sizes).
    pub seed: u64,
}

impl ProxyConfig {
    /// An enabled proxy on `127.0.0.1`, any free port, seed 0.
    pub fn new(name: impl Into<String>, upstream: impl Into<String>) -> Self {
        ProxyConfig {
            name: name.into(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            upstream: upstream.into(),
            enabled: true,
            seed: 0,
        }
    }
}

/// Errors of the fault proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Binding the listening socket failed.
    #[error("failed to listen on {addr}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `start` was called outside a tokio runtime.
    #[error("failed to start proxy {proxy}: not inside a tokio runtime")]
    NoRuntime {
        /// The proxy's name.
        proxy: String,
    },
    /// The proxy was shut down and cannot listen again.
    #[error("failed to enable proxy {proxy}: it was shut down")]
    ShutDown {
        /// The proxy's name.
        proxy: String,
    },
    /// A toxic with that name exists on the proxy.
    #[error("failed to add toxic {toxic} to proxy {proxy}: a toxic with that name exists")]
    ToxicExists {
        /// The proxy's name.
        proxy: String,
        /// The toxic's name.
        toxic: String,
    },
    /// No toxic with that name exists on the proxy.
    #[error("failed to find toxic {toxic} on proxy {proxy}")]
    ToxicNotFound {
        /// The proxy's name.
        proxy: String,
        /// The toxic's name.
        toxic: String,
    },
    /// The toxic's attributes make no sense.
    #[error("failed to accept toxic {toxic} on proxy {proxy}: {reason}")]
    InvalidToxic {
        /// The proxy's name.
        proxy: String,
        /// The toxic's name.
        toxic: String,
        /// What is wrong.
        reason: String,
    },
}

/// A running fault proxy; cheap to clone (all clones share one proxy).
///
/// Dropping the last clone stops listening and closes every connection (in
/// the background); [`Proxy::shutdown`] does the same and waits for it.
#[derive(Debug, Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    accept_task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Tasks hold `Shared`, not `Inner`: cancelling the root token ends
        // the accept task and every connection task.
        self.shared.root.cancel();
        let mut state = self.shared.lock();
        state.listener = None;
        state.conns.clear();
    }
}

/// What the accept task and the connection tasks share.
#[derive(Debug)]
struct Shared {
    name: String,
    upstream: String,
    listen: SocketAddr,
    seed: u64,
    runtime: Handle,
    /// The toxic list in insertion order; connections watch it.
    toxics: watch::Sender<Arc<Vec<Toxic>>>,
    state: Mutex<State>,
    open: AtomicUsize,
    next_conn: AtomicU64,
    /// Cancelled on shutdown or drop; every connection token is a child.
    root: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    enabled: bool,
    shut_down: bool,
    listener: Option<TcpListener>,
    /// The accept task's waker, to wake it when a new listener appears.
    accept_waker: Option<Waker>,
    /// Connection tasks, so that disabling can close and join them. Entries
    /// of finished tasks are pruned on accept (a task never takes this lock
    /// itself: it may be dropped while the accept path holds it).
    conns: HashMap<u64, Conn>,
    /// Prune `conns` when it reaches this size (amortised O(1) per accept).
    prune_at: usize,
}

#[derive(Debug)]
struct Conn {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy: binds the listening socket now (even when
    /// `config.enabled` is false, to fix the address; the socket is then
    /// released until the proxy is enabled).
    pub async fn start(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        let runtime = Handle::try_current().map_err(|_| ProxyError::NoRuntime {
            proxy: config.name.clone(),
        })?;
        let listener = bind(config.listen).map_err(|source| ProxyError::Listen {
            addr: config.listen,
            source,
        })?;
        let listen = listener.local_addr().map_err(|source| ProxyError::Listen {
            addr: config.listen,
            source,
        })?;
        let (toxics, _) = watch::channel(Arc::new(Vec::new()));
        let state = State {
            enabled: config.enabled,
            listener: config.enabled.then_some(listener),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            name: config.name,
            upstream: config.upstream,
            listen,
            seed: config.seed,
            runtime: runtime.clone(),
            toxics,
            state: Mutex::new(state),
            open: AtomicUsize::new(0),
            next_conn: AtomicU64::new(0),
            root: CancellationToken::new(),
        });
        tracing::debug!(proxy = %shared.name, %listen, upstream = %shared.upstream, "proxy started");
        let accept_task = runtime.spawn(accept_loop(Arc::clone(&shared)));
        Ok(Proxy {
            inner: Arc::new(Inner {
                shared,
                accept_task: Mutex::new(Some(accept_task)),
            }),
        })
    }

    /// The proxy's name.
    pub fn name(&self) -> &str {
        &self.inner.shared.name
    }

    /// The bound listening address; the same across disable and enable.
    pub fn listen_addr(&self) -> SocketAddr {
        self.inner.shared.listen
    }

    /// The upstream, `"host:port"`.
    pub fn upstream(&self) -> String {
        self.inner.shared.upstream.clone()
    }

    /// Whether the proxy listens.
    pub fn enabled(&self) -> bool {
        self.inner.shared.lock().enabled
    }

    /// Enables (listens again on the same address) or disables the proxy
    /// (Toxiproxy's `down`: stops listening, so new clients get *connection
    /// refused*, and closes every open connection before returning).
    pub async fn set_enabled(&self, enabled: bool) -> Result<(), ProxyError> {
        if enabled {
            self.inner.shared.enable()
        } else {
            let conns = self.inner.shared.stop_listening(false);
            close_all(conns).await;
            Ok(())
        }
    }

    /// Adds a toxic at the end of the chain (an empty name becomes
    /// `<type>_<stream>`); open connections feel it at once.
    pub fn add_toxic(&self, toxic: Toxic) -> Result<Toxic, ProxyError> {
        let toxic = toxic.with_default_name();
        self.validate(&toxic)?;
        self.inner.shared.modify_toxics(|toxics| {
            if toxics.iter().any(|t| t.name == toxic.name) {
                return Err(ProxyError::ToxicExists {
                    proxy: self.name().to_owned(),
                    toxic: toxic.name.clone(),
                });
            }
            toxics.push(toxic.clone());
            Ok(toxic)
        })
    }

    /// Replaces toxic `name` in place (its name stays `name`); per-connection
    /// state (e.g. bytes counted by `limit_data`) is kept when the type and
    /// stream stay the same.
    pub fn update_toxic(&self, name: &str, toxic: Toxic) -> Result<Toxic, ProxyError> {
        let toxic = Toxic {
            name: name.to_owned(),
            ..toxic
        };
        self.validate(&toxic)?;
        self.inner.shared.modify_toxics(|toxics| {
            let slot = toxics
                .iter_mut()
                .find(|t| t.name == name)
                .ok_or_else(|| self.not_found(name))?;
            *slot = toxic.clone();
            Ok(toxic)
        })
    }

    /// Removes toxic `name`; data it held flows on, in order.
    pub fn remove_toxic(&self, name: &str) -> Result<(), ProxyError> {
        self.inner.shared.modify_toxics(|toxics| {
            let index = toxics
                .iter()
                .position(|t| t.name == name)
                .ok_or_else(|| self.not_found(name))?;
            toxics.remove(index);
            Ok(())
        })
    }

    /// Replaces the whole toxic list at once (Toxiproxy has no such call; the
    /// API uses it for toxics declared in a config file or `/populate`).
    /// Open connections see the old list or the new one, never a mix;
    /// toxics that keep their name, type and stream keep their state.
    pub fn set_toxics(&self, toxics: Vec<Toxic>) -> Result<(), ProxyError> {
        let toxics: Vec<Toxic> = toxics.into_iter().map(Toxic::with_default_name).collect();
        for (i, toxic) in toxics.iter().enumerate() {
            self.validate(toxic)?;
            if toxics[..i].iter().any(|t| t.name == toxic.name) {
                return Err(ProxyError::ToxicExists {
                    proxy: self.name().to_owned(),
                    toxic: toxic.name.clone(),
                });
            }
        }
        self.inner.shared.modify_toxics(|current| {
            *current = toxics;
            Ok(())
        })
    }

    /// The toxics, in insertion order.
    pub fn toxics(&self) -> Vec<Toxic> {
        self.inner.shared.toxics.borrow().as_ref().clone()
    }

    /// Toxiproxy's `/reset`: removes every toxic and enables the proxy.
    /// A failure to listen again is logged (`tracing::warn!`).
    pub fn reset(&self) {
        let shared = &self.inner.shared;
        shared.toxics.send_if_modified(|toxics| {
            let had = !toxics.is_empty();
            *toxics = Arc::new(Vec::new());
            had
        });
        let shut_down = shared.lock().shut_down;
        if !shut_down && let Err(error) = shared.enable() {
            tracing::warn!(proxy = %shared.name, error = %error, "failed to enable proxy on reset");
        }
    }

    /// Client connections open right now.
    pub fn open_connections(&self) -> usize {
        self.inner.shared.open.load(Ordering::SeqCst)
    }

    /// Stops listening, closes every connection and waits for every task.
    /// Idempotent; the proxy cannot be enabled again.
    pub async fn shutdown(&self) {
        let conns = self.inner.shared.stop_listening(true);
        self.inner.shared.root.cancel();
        close_all(conns).await;
        let accept_task = lock(&self.inner.accept_task).take();
        if let Some(task) = accept_task
            && let Err(error) = task.await
        {
            tracing::debug!(proxy = %self.name(), %error, "accept task ended badly");
        }
    }

    fn validate(&self, toxic: &Toxic) -> Result<(), ProxyError> {
        if !(0.0..=1.0).contains(&toxic.toxicity) {
            return Err(ProxyError::InvalidToxic {
                proxy: self.name().to_owned(),
                toxic: toxic.name.clone(),
                reason: format!("toxicity {} is not within 0.0..=1.0", toxic.toxicity),
            });
        }
        Ok(())
    }

    fn not_found(&self, name: &str) -> ProxyError {
        ProxyError::ToxicNotFound {
            proxy: self.name().to_owned(),
            toxic: name.to_owned(),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Changes the toxic list; connections see the new list only on success.
    fn modify_toxics<R>(
        &self,
        change: impl FnOnce(&mut Vec<Toxic>) -> Result<R, ProxyError>,
    ) -> Result<R, ProxyError> {
        let mut result = None;
        self.toxics.send_if_modified(|toxics| {
            let mut next = toxics.as_ref().clone();
            let outcome = change(&mut next);
            let modified = outcome.is_ok();
            if modified {
                *toxics = Arc::new(next);
            }
            result = Some(outcome);
            modified
        });
        result.unwrap_or_else(|| unreachable!("send_if_modified calls its closure once"))
    }

    /// Listens again on the same address (SO_REUSEADDR, so lingering
    /// TIME_WAIT connections do not block the port).
    fn enable(&self) -> Result<(), ProxyError> {
        let mut state = self.lock();
        if state.shut_down {
            return Err(ProxyError::ShutDown {
                proxy: self.name.clone(),
            });
        }
        if state.enabled {
            return Ok(());
        }
        // Registering the socket needs the runtime's reactor; `reset` may be
        // called from outside it.
        let _runtime = self.runtime.enter();
        let listener = bind(self.listen).map_err(|source| ProxyError::Listen {
            addr: self.listen,
            source,
        })?;
        state.listener = Some(listener);
        state.enabled = true;
        if let Some(waker) = state.accept_waker.take() {
            waker.wake();
        }
        tracing::debug!(proxy = %self.name, "proxy enabled");
        Ok(())
    }

    /// Closes the listening socket now and hands back the open connections
    /// for the caller to close and join.
    fn stop_listening(&self, shut_down: bool) -> Vec<Conn> {
        let mut state = self.lock();
        state.shut_down |= shut_down;
        state.enabled = false;
        state.listener = None;
        tracing::debug!(proxy = %self.name, shut_down, "proxy disabled");
        state.conns.drain().map(|(_, conn)| conn).collect()
    }

    /// Accepts one connection and spawns its task, under the state lock so
    /// that disabling never misses a connection being accepted.
    fn poll_accept(self: &Arc<Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        if !state
            .accept_waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            state.accept_waker = Some(cx.waker().clone());
        }
        let Some(listener) = state.listener.as_ref() else {
            return Poll::Pending;
        };
        let (client, peer) = match listener.poll_accept(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Ready(Ok(accepted)) => accepted,
        };
        let conn = self.next_conn.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(proxy = %self.name, conn, %peer, "accepted");
        if state.conns.len() >= state.prune_at {
            state.conns.retain(|_, conn| !conn.task.is_finished());
            state.prune_at = (state.conns.len() * 2).max(64);
        }
        let cancel = self.root.child_token();
        let guard = OpenGuard::new(Arc::clone(self));
        let toxics = self.toxics.subscribe();
        let task = tokio::spawn(serve(
            Arc::clone(self),
            client,
            conn,
            Instant::now(),
            toxics,
            cancel.clone(),
            guard,
        ));
        state.conns.insert(conn, Conn { cancel, task });
        Poll::Ready(Ok(()))
    }
}

/// Counts an open connection until its task ends, however it ends.
#[derive(Debug)]
struct OpenGuard {
    shared: Arc<Shared>,
}

impl OpenGuard {
    fn new(shared: Arc<Shared>) -> Self {
        shared.open.fetch_add(1, Ordering::SeqCst);
        OpenGuard { shared }
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state stays consistent across a panic elsewhere; keep serving.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn close_all(conns: Vec<Conn>) {
    for conn in &conns {
        conn.cancel.cancel();
    }
    for conn in conns {
        if let Err(error) = conn.task.await {
            tracing::debug!(%error, "connection task ended badly");
        }
    }
}

async fn accept_loop(shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            () = shared.root.cancelled() => return,
            accepted = poll_fn(|cx| shared.poll_accept(cx)) => accepted,
        };
        if let Err(error) = accepted {
            tracing::debug!(proxy = %shared.name, %error, "failed to accept");
            // Out of file descriptors and the like: do not spin.
            tokio::select! {
                () = shared.root.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Both directions closed cleanly.
    Finished,
    /// Close both sides (FIN).
    Closed,
    /// Reset the client (and the upstream for an `upstream` toxic).
    Reset(Stream),
}

/// One client connection, from upstream connect to close.
async fn serve(
    shared: Arc<Shared>,
    mut client: TcpStream,
    conn: u64,
    accepted: Instant,
    toxics: watch::Receiver<Arc<Vec<Toxic>>>,
    cancel: CancellationToken,
    _open: OpenGuard,
) {
    let mut upstream = tokio::select! {
        () = cancel.cancelled() => return,
        connected = TcpStream::connect(shared.upstream.as_str()) => match connected {
            Ok(upstream) => upstream,
            Err(error) => {
                tracing::debug!(proxy = %shared.name, conn, upstream = %shared.upstream, %error, "failed to connect upstream");
                return;
            }
        },
    };
    for stream in [&client, &upstream] {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(conn, %error, "failed to set TCP_NODELAY");
        }
    }

    let mut up = Pump::new(
        Stream::Upstream,
        conn,
        shared.seed,
        toxics.clone(),
        accepted,
    );
    let mut down = Pump::new(Stream::Downstream, conn, shared.seed, toxics, accepted);
    let end = relay(&mut client, &mut upstream, &mut up, &mut down, &cancel).await;
    tracing::debug!(proxy = %shared.name, conn, ?end, "connection ends");
    match end {
        End::Finished => {}
        End::Closed => {
            // Unread input would turn our close into a RST; a close is a FIN.
            discard_unread(&client);
            discard_unread(&upstream);
        }
        End::Reset(stream) => {
            reset(&client);
            if stream == Stream::Upstream {
                reset(&upstream);
            }
        }
    }
}

async fn relay(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    up: &mut Pump,
    down: &mut Pump,
    cancel: &CancellationToken,
) -> End {
    let (mut client_read, mut client_write) = client.split();
    let (mut upstream_read, mut upstream_write) = upstream.split();
    loop {
        let flow = tokio::select! {
            () = cancel.cancelled() => return End::Closed,
            flow = up.step(&mut client_read, &mut upstream_write) => flow,
            flow = down.step(&mut upstream_read, &mut client_write) => flow,
        };
        match flow {
            Flow::Continue if up.is_done() && down.is_done() => return End::Finished,
            Flow::Continue => {}
            Flow::Close | Flow::Failed => return End::Closed,
            Flow::Reset(stream) => return End::Reset(stream),
        }
    }
}

/// SO_LINGER 0: dropping the socket then sends RST.
fn reset(stream: &TcpStream) {
    if let Err(error) = SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(%error, "failed to set SO_LINGER 0");
    }
}

/// Reads and discards what the peer already sent (bounded), without waiting.
fn discard_unread(stream: &TcpStream) {
    let mut scratch = [0; 4096];
    for _ in 0..256 {
        match stream.try_read(&mut scratch) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}
