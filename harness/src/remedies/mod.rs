//! Remedies: the playbook's fixes and their naive variants.
//!
//! A remedy must never know the harness exists: it reports what it sees only
//! through [`events::EventSink`], takes its randomness from a seed it is
//! given, and is usable on its own (with [`events::NoEvents`]).
//!
//! WebSocket Connection Drops:
//! - [`ws_client::ReconnectingWs`], the hardened client (heartbeat with a pong
//!   deadline, jittered capped [`backoff::Backoff`], resend until acked);
//! - [`ws_naive::NaiveWs`], the playbook's `RobustWebSocket` as written;
//! - [`ws::MessageClient`], what both offer a workload.
//!
//! Process Spawn and System-Level Issues, Memory Leak Detection:
//! - [`spawn`], the spawn wrapper with a typed diagnosis of every failure,
//!   and the Windows `.bat`/`.cmd` planning rule;
//! - [`supervisor::Supervisor`] (process groups, SIGTERM then SIGKILL judged
//!   by real exits, agents die with it) and the playbook's
//!   [`supervisor::NaiveProcessManager`];
//! - [`leak::LeakMonitor`], a least-squares trend over a window, and its
//!   first-vs-last naive twin.
pub mod backoff;
pub mod events;
pub mod leak;
pub mod pg;
pub mod spawn;
pub mod supervisor;
pub mod ws;
pub mod ws_client;
pub mod ws_naive;

pub use ws::{ClientStatus, MessageClient};

#[cfg(test)]
mod ws_tests;
