//! Structured events that remedies emit, and the sink they emit them into.
//!
//! Remedies must not know the harness exists: they report what they observe
//! through [`EventSink`], and whoever runs them (the engine, a service, a
//! test) decides what to do with it. The sink stamps time itself, so remedies
//! never read a harness clock.

use std::time::Duration;

/// Something a remedy observed or did.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A sink that forwards to `tracing`, for using a remedy in a service.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingEvents;

impl EventSink for TracingEvents {
    fn record(&self, source: &str, event: Event) {
        tracing::info!(source, event = ?event, "remedy event");
    }
}
