//! The naive WebSocket client: the playbook's `RobustWebSocket`, weak spots
//! included, so a drill can show what the hardened client fixes.
//!
//! Faithful to the playbook's code:
//! - sends the text `ping` every `ping_interval` while open and never checks
//!   for a reply, so a half-open connection is never noticed;
//! - on close or error reconnects after `reconnect_interval * 2^(n-1)` for
//!   the n-th reconnect attempt: no jitter, no cap; the counter resets to 0
//!   on open (`onopen`); after `max_attempts` reconnect attempts it gives up
//!   forever. As in the playbook the first connect is not a reconnect
//!   attempt, so from a cold start with nothing listening it tries
//!   `1 + max_attempts` times;
//! - `send` is fire-and-forget: written if the socket is open, silently lost
//!   otherwise ([`Event::Dropped`]); nothing is queued or resent;
//! - no connect timeout (the playbook sets none).
//!
//! It reads incoming frames only to count acks for [`ClientStatus`].
//! Event `attempt` numbers count connection tries since the last open
//! (1-based), like the hardened client's; [`Event::GaveUp`] carries the
//! number of tries since the last open.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use super::events::{DisconnectReason, Event, EventSink};
use super::ws::{
    self, CLOSE_TIMEOUT, ClientStatus, ClientTask, MessageClient, Socket, TEXT_PING, decode_ack,
    lock,
};

/// Settings of a [`NaiveWs`], named after the playbook's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaiveWsConfig {
    /// The whole connect URL, e.g. `ws://127.0.0.1:8080/ws?client=a`.
    pub url: String,
    /// Interval between text `ping`s (playbook: 30 s).
    pub ping_interval: Duration,
    /// Base reconnect delay, doubled per attempt (playbook: 1 s).
    pub reconnect_interval: Duration,
    /// Reconnect attempts before giving up forever (playbook: 5).
    pub max_attempts: u32,
}

/// The naive client. Dropping it stops its task at once; [`shutdown`]
/// closes politely first.
///
/// [`shutdown`]: NaiveWs::shutdown
#[derive(Debug)]
pub struct NaiveWs {
    shared: Arc<Shared>,
    task: ClientTask,
}

struct Shared {
    id: String,
    state: Mutex<State>,
    sink: Arc<dyn EventSink>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct State {
    accepted: u64,
    acked: HashSet<u64>,
    last_ack: Option<Instant>,
    connected: bool,
    connects: u32,
    gave_up: bool,
    /// To the task's writer while a connection is open.
    outbox: mpsc::UnboundedSender<Utf8Bytes>,
}

impl NaiveWs {
    /// Start the client's task (needs a tokio runtime).
    pub fn spawn(id: impl Into<String>, config: NaiveWsConfig, sink: Arc<dyn EventSink>) -> Self {
        let (outbox, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            id: id.into(),
            state: Mutex::new(State {
                accepted: 0,
                acked: HashSet::new(),
                last_ack: None,
                connected: false,
                connects: 0,
                gave_up: false,
                outbox,
            }),
            sink,
        });
        let stop = CancellationToken::new();
        let task = Task {
            shared: shared.clone(),
            config,
            queue,
            stop: stop.clone(),
        };
        Self {
            shared,
            task: ClientTask::spawn(stop, task.run()),
        }
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Assign a seq and write the message if the socket is open; otherwise
    /// the message is lost (like `ws.send` on a closed socket). The seq is
    /// returned either way.
    pub fn send(&self, body: String) -> u64 {
        let (seq, dropped) = {
            let mut s = lock(&self.shared.state);
            s.accepted += 1;
            let seq = s.accepted;
            let frame = Utf8Bytes::from(ws::encode(&self.shared.id, seq, &body));
            let dropped = !s.connected || s.outbox.send(frame).is_err();
            (seq, dropped)
        };
        if dropped {
            self.shared
                .sink
                .record(&self.shared.id, Event::Dropped { count: 1 });
        }
        seq
    }

    /// A snapshot of the client's state (`pending` is always 0).
    pub fn status(&self) -> ClientStatus {
        let s = lock(&self.shared.state);
        ClientStatus {
            connected: s.connected,
            accepted: s.accepted,
            acked: s.acked.len() as u64,
            pending: 0,
            last_ack: s.last_ack,
            connects: s.connects,
            gave_up: s.gave_up,
        }
    }

    /// Close the connection (close frame, bounded), stop the task and return
    /// the final status.
    pub async fn shutdown(mut self) -> ClientStatus {
        self.task.stop().await;
        self.status()
    }
}

impl MessageClient for NaiveWs {
    fn id(&self) -> &str {
        NaiveWs::id(self)
    }

    fn send(&self, body: String) -> u64 {
        NaiveWs::send(self, body)
    }

    fn status(&self) -> ClientStatus {
        NaiveWs::status(self)
    }

    fn shutdown(self: Box<Self>) -> Pin<Box<dyn Future<Output = ClientStatus> + Send>> {
        Box::pin(NaiveWs::shutdown(*self))
    }
}

struct Task {
    shared: Arc<Shared>,
    config: NaiveWsConfig,
    queue: mpsc::UnboundedReceiver<Utf8Bytes>,
    stop: CancellationToken,
}

impl Task {
    fn emit(&self, event: Event) {
        self.shared.sink.record(&self.shared.id, event);
    }

    async fn run(mut self) {
        // The playbook's `reconnectAttempts`.
        let mut reconnect_attempts = 0u32;
        // Connection tries since the last open, for event numbering.
        let mut tries = 0u32;
        loop {
            tries = tries.saturating_add(1);
            let outcome = tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                outcome = ws::connect(&self.config.url) => outcome,
            };
            match outcome {
                Ok(socket) => {
                    // onopen
                    {
                        let mut s = lock(&self.shared.state);
                        s.connected = true;
                        s.connects = s.connects.saturating_add(1);
                    }
                    self.emit(Event::Connected { attempt: tries });
                    reconnect_attempts = 0;
                    tries = 0;
                    let reason = self.converse(socket).await;
                    lock(&self.shared.state).connected = false;
                    // Whatever `send` queued for this connection is lost now.
                    let mut lost = 0;
                    while self.queue.try_recv().is_ok() {
                        lost += 1;
                    }
                    if lost > 0 {
                        self.emit(Event::Dropped { count: lost });
                    }
                    let stopping = reason == DisconnectReason::Shutdown;
                    self.emit(Event::Disconnected { reason });
                    if stopping {
                        return;
                    }
                }
                Err(error) => self.emit(Event::ConnectFailed {
                    attempt: tries,
                    error: error.to_string(),
                }),
            }
            // handleReconnect
            if reconnect_attempts >= self.config.max_attempts {
                lock(&self.shared.state).gave_up = true;
                self.emit(Event::GaveUp { attempts: tries });
                return;
            }
            reconnect_attempts += 1;
            let factor = 1u32.checked_shl(reconnect_attempts - 1).unwrap_or(u32::MAX);
            let delay = self.config.reconnect_interval.saturating_mul(factor);
            self.emit(Event::RetryScheduled {
                attempt: tries.saturating_add(1),
                delay,
            });
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn converse(&mut self, mut socket: Socket) -> DisconnectReason {
        let every = self.config.ping_interval;
        let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let shared = self.shared.clone();
        let stop = self.stop.clone();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(None)).await;
                    return DisconnectReason::Shutdown;
                }
                incoming = socket.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(seq) = decode_ack(text.as_str()) {
                            let mut s = lock(&shared.state);
                            s.last_ack = Some(Instant::now());
                            s.acked.insert(seq);
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => return DisconnectReason::Closed,
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return DisconnectReason::Error(error.to_string()),
                },
                // The heartbeat: fire and forget, nobody looks for the pong.
                _ = pings.tick() => {
                    if let Err(error) = socket.send(Message::text(TEXT_PING)).await {
                        return DisconnectReason::Error(error.to_string());
                    }
                }
                Some(frame) = self.queue.recv() => {
                    if let Err(error) = socket.send(Message::Text(frame)).await {
                        self.emit(Event::Dropped { count: 1 });
                        return DisconnectReason::Error(error.to_string());
                    }
                }
            }
        }
    }
}
