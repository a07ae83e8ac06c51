//! The engine's side of [`EventSink`]: every remedy event, stamped on the
//! engine's monotonic clock as it arrives.

use std::sync::Mutex;
use std::time::Instant;

use crate::remedies::events::{Event, EventSink};

/// One event as the engine saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When the engine received it.
    pub at: Instant,
    /// Who emitted it (a client id).
    pub source: String,
    /// What happened.
    pub event: Event,
}

/// Collects events from every remedy of one variant run.
#[derive(Debug, Default)]
pub struct Recorder {
    events: Mutex<Vec<Recorded>>,
}

impl Recorder {
    /// A copy of everything recorded so far, in arrival order.
    pub fn snapshot(&self) -> Vec<Recorded> {
        self.events
            .lock()
            .map(|events| events.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }
}

impl EventSink for Recorder {
    fn record(&self, source: &str, event: Event) {
        let entry = Recorded {
            at: Instant::now(),
            source: source.to_owned(),
            event,
        };
        match self.events.lock() {
            Ok(mut events) => events.push(entry),
            Err(poisoned) => poisoned.into_inner().push(entry),
        }
    }
}
