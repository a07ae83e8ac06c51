//! The toxic data model, in Toxiproxy's words and JSON shapes.
//!
//! Pure data shared by scenario files (`[[faults]] toxic = {...}`), the fault
//! proxy and its Toxiproxy-compatible HTTP API. A Toxiproxy user reads these
//! without a manual: same `type` names, same `attributes`, same units
//! (milliseconds, KB/s, bytes). This module must never do I/O.

use serde::{Deserialize, Serialize};

/// Which direction of a proxied connection a toxic acts on.
///
/// `Upstream` is client → server, `Downstream` is server → client
/// (Toxiproxy's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Client to server.
    Upstream,
    /// Server to client.
    #[default]
    Downstream,
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        })
    }
}

/// What a toxic does, with Toxiproxy's attribute names and units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "attributes", rename_all = "snake_case")]
pub enum ToxicKind {
    /// Delay every chunk by `latency` ms, ± `jitter` ms.
    Latency {
        /// Milliseconds added to each chunk.
        #[serde(default)]
        latency: u64,
        /// Maximum random deviation, milliseconds.
        #[serde(default)]
        jitter: u64,
    },
    /// Limit throughput to `rate` KB/s.
    Bandwidth {
        /// Kilobytes per second.
        #[serde(default)]
        rate: u64,
    },
    /// Delay the close of the connection by `delay` ms.
    SlowClose {
        /// Milliseconds.
        #[serde(default)]
        delay: u64,
    },
    /// Stop all data; close after `timeout` ms, or hold forever when 0
    /// (a half-open connection: no data, no FIN).
    Timeout {
        /// Milliseconds; 0 holds the connection open forever.
        #[serde(default)]
        timeout: u64,
    },
    /// Reset the connection (TCP RST) after `timeout` ms.
    ResetPeer {
        /// Milliseconds before the reset; 0 resets at once.
        #[serde(default)]
        timeout: u64,
    },
    /// Slice data into small chunks of `average_size` ± `size_variation`
    /// bytes, `delay` µs apart.
    Slicer {
        /// Mean chunk size in bytes.
        #[serde(default)]
        average_size: u64,
        /// Maximum deviation of the chunk size in bytes.
        #[serde(default)]
        size_variation: u64,
        /// Microseconds between chunks.
        #[serde(default)]
        delay: u64,
    },
    /// Close the connection after `bytes` bytes have passed.
    LimitData {
        /// Byte budget for the connection direction.
        #[serde(default)]
        bytes: u64,
    },
}

impl ToxicKind {
    /// Toxiproxy's `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::LimitData { .. } => "limit_data",
        }
    }
}

/// One toxic as Toxiproxy's API shows it:
/// `{"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1.0,"attributes":{"latency":300,"jitter":0}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toxic {
    /// Unique per proxy. Empty when not given: [`Toxic::with_default_name`]
    /// fills in Toxiproxy's default, `<type>_<stream>`.
    #[serde(default)]
    pub name: String,
    /// Direction the toxic acts on.
    #[serde(default)]
    pub stream: Stream,
    /// Probability (0.0..=1.0) that a connection is affected; drawn per
    /// connection from the drill's seed.
    #[serde(default = "full_toxicity")]
    pub toxicity: f32,
    /// The behaviour and its attributes.
    #[serde(flatten)]
    pub kind: ToxicKind,
}

fn full_toxicity() -> f32 {
    1.0
}

impl Toxic {
    /// Gives an unnamed toxic Toxiproxy's default name, `<type>_<stream>`.
    pub fn with_default_name(mut self) -> Self {
        if self.name.is_empty() {
            self.name = format!("{}_{}", self.kind.type_name(), self.stream);
        }
        self
    }

    /// A toxic acting on every connection, named like Toxiproxy names it.
    pub fn new(kind: ToxicKind, stream: Stream) -> Self {
        Toxic {
            name: format!("{}_{}", kind.type_name(), stream),
            stream,
            toxicity: 1.0,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_toxiproxy() {
        let toxic = Toxic::new(
            ToxicKind::Latency {
                latency: 300,
                jitter: 10,
            },
            Stream::Downstream,
        );
        let json = serde_json::to_value(&toxic).expect("a toxic is plain data");
        assert_eq!(
            json,
            serde_json::json!({
                "name": "latency_downstream",
                "type": "latency",
                "stream": "downstream",
                "toxicity": 1.0,
                "attributes": {"latency": 300, "jitter": 10}
            })
        );
        let back: Toxic = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, toxic);
    }
}
