//! Structured events that remedies emit, and the sink they emit them into.
//!
//! Remedies must not know the harness exists: they report what they observe
//! through [`EventSink`], and whoever runs them (the engine, a service, a
//! test) decides what to do with it. The sink stamps time itself, so remedies
//! never read a harness clock.

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Something a remedy observed or did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A connection is established (after `attempt` tries; 1 = first try).
    Connected {
        /// 1-based attempt number of the successful connect.
        attempt: u32,
    },
    /// An established connection was lost.
    Disconnected {
        /// Why, in the playbook's words.
        reason: DisconnectReason,
    },
    /// A connection attempt failed.
    ConnectFailed {
        /// 1-based attempt number.
        attempt: u32,
        /// The error as the remedy saw it.
        error: String,
    },
    /// The remedy will try again after `delay`.
    RetryScheduled {
        /// 1-based number of the attempt that will follow.
        attempt: u32,
        /// How long it waits first.
        delay: Duration,
    },
    /// A heartbeat got no answer within the deadline.
    HeartbeatMissed {
        /// How long the remedy waited for the pong.
        waited: Duration,
    },
    /// Unacknowledged messages were sent again after a reconnect.
    Resent {
        /// How many.
        count: usize,
    },
    /// Messages were dropped (the naive remedies do this).
    Dropped {
        /// How many.
        count: usize,
    },
    /// The remedy stopped trying for good.
    GaveUp {
        /// Attempts made before giving up.
        attempts: u32,
    },
    /// No pooled connection became free within the acquire timeout.
    PoolExhausted {
        /// How long the checkout waited.
        waited: Duration,
    },
    /// A database transaction failed (and was rolled back, or its
    /// connection discarded).
    TransactionFailed {
        /// SQLSTATE (`40P01`, `53300`…), or `connection` when the
        /// connection was lost, or `timeout` when the attempt was abandoned.
        code: String,
        /// Whether the remedy will run the whole transaction again.
        retrying: bool,
    },
    /// A connection whose state is unknown (broken mid-transaction) was
    /// discarded instead of returned to the pool.
    ConnectionDiscarded,
    /// Idle sessions were terminated to free connection slots.
    SessionsTerminated {
        /// How many.
        count: usize,
    },
    /// A supervised process was started.
    ProcessStarted {
        /// Its pid (the guard's, for the hardened supervisor).
        pid: u32,
    },
    /// A stop signal was sent.
    SignalSent {
        /// `SIGTERM` or `SIGKILL`.
        signal: Cow<'static, str>,
        /// How many processes it was addressed to.
        processes: usize,
    },
    /// The grace period ran out with processes still alive: SIGKILL follows.
    StopEscalated {
        /// Processes alive when the grace period ended.
        survivors: usize,
    },
    /// A supervised process exited and was reaped.
    ProcessExited {
        /// How it ended (`exit 0`, `signal 9`…).
        status: String,
    },
    /// A spawn failed.
    SpawnFailed {
        /// The errno name (`ENOENT`…), or the raw error when the remedy
        /// does not classify it.
        error: String,
    },
    /// Memory grows faster than the threshold: a leak is suspected.
    LeakSuspected {
        /// The trend, in bytes per second.
        bytes_per_sec: u64,
        /// Resident memory at the last sample.
        rss_bytes: u64,
    },
}

impl Event {
    /// Whether this event shows the remedy noticed a failure (the engine's
    /// `t_detect` is the first such event after a fault is injected).
    pub fn is_failure_signal(&self) -> bool {
        matches!(
            self,
            Event::Disconnected { .. }
                | Event::ConnectFailed { .. }
                | Event::HeartbeatMissed { .. }
                | Event::GaveUp { .. }
                | Event::PoolExhausted { .. }
                | Event::TransactionFailed { .. }
                | Event::SpawnFailed { .. }
                | Event::LeakSuspected { .. }
        )
    }

    /// Short stable name, for timelines and snapshots.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Connected { .. } => "connected",
            Event::Disconnected { .. } => "disconnected",
            Event::ConnectFailed { .. } => "connect_failed",
            Event::RetryScheduled { .. } => "retry",
            Event::HeartbeatMissed { .. } => "heartbeat_missed",
            Event::Resent { .. } => "resent",
            Event::Dropped { .. } => "dropped",
            Event::GaveUp { .. } => "gave_up",
            Event::ProcessStarted { .. } => "process_started",
            Event::SignalSent { .. } => "signal_sent",
            Event::StopEscalated { .. } => "stop_escalated",
            Event::ProcessExited { .. } => "process_exited",
            Event::SpawnFailed { .. } => "spawn_failed",
            Event::LeakSuspected { .. } => "leak_suspected",
            Event::PoolExhausted { .. } => "pool_exhausted",
            Event::TransactionFailed { .. } => "transaction_failed",
            Event::ConnectionDiscarded => "connection_discarded",
            Event::SessionsTerminated { .. } => "sessions_terminated",
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisconnectReason {
    /// The peer closed (close frame or FIN).
    Closed,
    /// The connection was reset or failed with an I/O error.
    Error(String),
    /// No pong arrived within the deadline: the connection is half-open.
    PongTimeout,
    /// The caller asked to stop.
    Shutdown,
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisconnectReason::Closed => f.write_str("closed by peer"),
            DisconnectReason::Error(e) => write!(f, "error: {e}"),
            DisconnectReason::PongTimeout => f.write_str("pong deadline missed (half-open)"),
            DisconnectReason::Shutdown => f.write_str("shutdown"),
        }
    }
}

/// Receives a remedy's events. `source` names the emitter (e.g. a client id).
pub trait EventSink: Send + Sync + 'static {
    /// Record one event. Must not block for long: remedies call it inline.
    fn record(&self, source: &str, event: Event);
}

/// A sink that discards everything, for using a remedy outside a drill.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn record(&self, _source: &str, _event: Event) {}
}

/// A sink that writes each event as one JSON line on stdout
/// (`{"remedy_event": {"source": …, "event": …}}`), for a remedy running in
/// a process of its own whose events a drill collects with
/// [`parse_event_line`].
#[derive(Debug, Clone, Copy, Default)]
pub struct StdoutEvents;

#[derive(Serialize, Deserialize)]
struct EventLine {
    remedy_event: SourcedEvent,
}

#[derive(Serialize, Deserialize)]
struct SourcedEvent {
    source: String,
    event: Event,
}

impl EventSink for StdoutEvents {
    fn record(&self, source: &str, event: Event) {
        let line = EventLine {
            remedy_event: SourcedEvent {
                source: source.to_owned(),
                event,
            },
        };
        if let Ok(text) = serde_json::to_string(&line) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}

/// The source and event of a line [`StdoutEvents`] wrote; `None` for any
/// other line.
pub fn parse_event_line(line: &str) -> Option<(String, Event)> {
    let line: EventLine = serde_json::from_str(line).ok()?;
    Some((line.remedy_event.source, line.remedy_event.event))
}

/// A sink that forwards to `tracing`, for using a remedy in a service.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingEvents;

impl EventSink for TracingEvents {
    fn record(&self, source: &str, event: Event) {
        tracing::info!(source, event = ?event, "remedy event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_a_json_line() {
        let events = [
            Event::ProcessStarted { pid: 42 },
            Event::SignalSent {
                signal: "SIGTERM".into(),
                processes: 3,
            },
            Event::Disconnected {
                reason: DisconnectReason::Error("reset".into()),
            },
            Event::RetryScheduled {
                attempt: 2,
                delay: Duration::from_millis(150),
            },
            Event::ConnectionDiscarded,
        ];
        for event in events {
            let line = serde_json::to_string(&EventLine {
                remedy_event: SourcedEvent {
                    source: "agent0".into(),
                    event: event.clone(),
                },
            })
            .expect("serializable");
            assert_eq!(parse_event_line(&line), Some(("agent0".to_owned(), event)));
        }
        assert_eq!(
            parse_event_line(r#"{"event": "supervising", "pid": 7}"#),
            None
        );
        assert_eq!(parse_event_line("not json"), None);
    }
}
