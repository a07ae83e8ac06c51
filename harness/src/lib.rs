//! # firedrill
//!
//! Chaos and fault-injection drills for AI-agent systems, taken from a
//! production debugging playbook (symptom → diagnosis → remedy).
//!
//! A **drill** is one scenario file (`scenarios/*.toml`) run once: real
//! services in Docker containers, reached through firedrill's fault proxy,
//! a workload running one of the playbook's **remedies** (and its **naive**
//! variant), faults injected on a schedule, and every detection and recovery
//! time measured on one monotonic clock and checked against the file's
//! `[expect]` bounds.
//!
//! Components, each in its own module, with dependencies pointing one way
//! (`engine` → {`services`, `faults`, `remedies`, `diagnose`, `report`} → `scenario`):
//!
//! - [`scenario`]: the file format and its validation (pure).
//! - [`toxic`]: Toxiproxy's toxic model (pure data).
//! - [`engine`]: runs a drill's timeline and produces a verdict.
//! - [`services`]: real services in containers (Postgres, the WebSocket hub).
//! - [`faults`]: the fault proxy and everything else that breaks things.
//! - [`remedies`]: the playbook's fixes and their naive variants; they know
//!   nothing of the harness.
//! - [`hub`]: the WebSocket hub program that runs inside a container.
//! - [`diagnose`]: what a drill saw, in a form stable enough to snapshot.
//! - [`report`]: JUnit XML, the JSON journal and the terminal summary.
// Unsafe code is denied; the few OS modules that must call libc allow it
// locally, with a SAFETY comment on every block.
#![deny(unsafe_code)]

pub mod cli;
pub mod diagnose;
pub mod engine;
pub mod faults;
pub mod hub;
pub mod remedies;
pub mod report;
pub mod scenario;
pub mod services;
pub mod toxic;
