//! Diagnostics: what a drill saw, reduced to a form that is stable from run
//! to run, so it can be snapshotted with insta; and a matcher that names the
//! playbook entry the symptoms fit.
//!
//! Stable means: no pids, ports, ids or timestamps; times are bucketed into
//! the drill's phases (before the fault, during it, after it); counts that
//! depend on scheduling become categories (`none` / `some` / `all`). The full
//! measurements stay in the JSON journal; this is the part a reviewer diffs.
//! This module only reads; it must never change the system it diagnoses.

pub mod pg;
pub mod process;

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;

use crate::engine::recorder::Recorded;
use crate::engine::verdict::{CheckResult, Outcome};
use crate::hub::HubView;
use crate::remedies::ClientStatus;
use crate::remedies::events::{DisconnectReason, Event};
use crate::scenario::{Scenario, Variant};

/// A symptom, in the playbook's words, with the entry it points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Symptom {
    /// Connections were closed or reset.
    ConnectionsDropped,
    /// Pongs stopped while the socket stayed open.
    HalfOpenConnection,
    /// A client stopped reconnecting for good.
    GaveUpReconnecting,
    /// Accepted messages never reached the hub.
    MessagesLost,
    /// A client stayed connected while nothing was acknowledged, past the
    /// detection bound: the failure went unnoticed.
    UnnoticedStall,
    /// Postgres refused connections (`53300`) or sessions reached
    /// `max_connections`.
    TooManyClients,
    /// Callers queued for a pooled connection (checkout p99 of 1 s or more).
    PoolSaturated,
    /// Sessions sat idle past the leak threshold.
    IdleSessionsPiledUp,
    /// Postgres detected deadlocks (`40P01`, `pg_stat_database.deadlocks`).
    DeadlockDetected,
    /// Sessions waited on each other's row or transaction locks.
    LockWaits,
    /// Database connections were lost or stopped answering mid-transaction.
    DatabaseConnectionLost,
    /// A spawn failed with ENOENT.
    CommandNotFound,
    /// A spawn failed with EACCES.
    NotExecutable,
    /// A spawn failed with ENOEXEC.
    BadExecutableFormat,
    /// A spawn failed with EMFILE or ENFILE.
    DescriptorLimit,
    /// A spawn failed with E2BIG.
    ArgumentListTooLong,
    /// A spawn failed and the error did not say why.
    SpawnFailed,
    /// Processes outlived their supervisor or its stop.
    OrphanedProcesses,
    /// Processes were left unreaped (`<defunct>`).
    ZombieProcesses,
    /// Processes were still alive when the grace period after SIGTERM ended.
    SigtermIgnored,
    /// A leak monitor reported memory growth above its threshold.
    LeakSuspected,
}

impl Symptom {
    /// The playbook entry this symptom belongs to.
    pub fn playbook_entry(self) -> &'static str {
        match self {
            Symptom::ConnectionsDropped
            | Symptom::HalfOpenConnection
            | Symptom::GaveUpReconnecting
            | Symptom::MessagesLost
            | Symptom::UnnoticedStall => "WebSocket Connection Drops",
            Symptom::TooManyClients | Symptom::PoolSaturated | Symptom::IdleSessionsPiledUp => {
                "PostgreSQL \"Too Many Connections\""
            }
            Symptom::DeadlockDetected | Symptom::LockWaits => "Transaction Deadlocks",
            Symptom::DatabaseConnectionLost => "Database and State Management",
            Symptom::CommandNotFound => "ENOENT: Command Not Found",
            Symptom::NotExecutable
            | Symptom::BadExecutableFormat
            | Symptom::DescriptorLimit
            | Symptom::ArgumentListTooLong
            | Symptom::SpawnFailed => "Process Spawn and System-Level Issues",
            Symptom::OrphanedProcesses | Symptom::ZombieProcesses | Symptom::SigtermIgnored => {
                "Zombie Process Prevention"
            }
            Symptom::LeakSuspected => "Memory Leak Detection",
        }
    }
}

/// Names the playbook entry most symptoms point to (ties: the first).
pub fn match_playbook(symptoms: &BTreeSet<Symptom>) -> Option<&'static str> {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for symptom in symptoms {
        let entry = symptom.playbook_entry();
        match counts.iter_mut().find(|(e, _)| *e == entry) {
            Some((_, n)) => *n += 1,
            None => counts.push((entry, 1)),
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .map(|(entry, _)| *entry)
}

/// Event kinds seen in one phase of the drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Phase {
    /// `before fault`, `during fault` or `after fault`.
    pub phase: &'static str,
    /// Distinct connection-lifecycle event kinds, sorted (disconnects carry
    /// their reason class).
    pub events: Vec<String>,
}

/// The hub's view, reduced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HubSummary {
    /// Clients the hub heard from.
    pub clients_seen: usize,
    /// Clients with accepted messages missing at the hub: none, some or all.
    pub clients_with_loss: &'static str,
}

/// One verdict line, without the measured value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerdictLine {
    /// The check.
    pub check: String,
    /// The bound, when it has one.
    pub bound: Option<String>,
    /// `pass`, or the failure class (`fail: not detected`, `fail: over bound`, `fail: violated`).
    pub result: String,
}

/// The snapshot of one variant run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostics {
    /// Drill name.
    pub drill: String,
    /// Variant name.
    pub variant: String,
    /// Remedy under test.
    pub remedy: String,
    /// Symptoms observed.
    pub symptoms: Vec<Symptom>,
    /// The playbook entry they fit.
    pub playbook_match: Option<&'static str>,
    /// Event kinds per phase.
    pub timeline: Vec<Phase>,
    /// The hub's view (WebSocket drills).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub: Option<HubSummary>,
    /// What Postgres' views showed (Postgres drills).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<pg::PgSnapshot>,
    /// The process trees, spawn diagnosis and leak monitors (process drills).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<process::ProcessView>,
    /// The verdict.
    pub verdict: Vec<VerdictLine>,
    /// The outcome word.
    pub outcome: &'static str,
}

/// Inputs of [`ws_diagnostics`].
#[derive(Debug)]
pub struct WsRun<'a> {
    /// The drill.
    pub scenario: &'a Scenario,
    /// The variant.
    pub variant: &'a Variant,
    /// Every recorded event.
    pub events: &'a [Recorded],
    /// When the first fault took effect.
    pub inject: Option<Instant>,
    /// When the last fault was removed.
    pub fault_end: Option<Instant>,
    /// The harness saw a connected client with nothing acknowledged past
    /// the detection bound.
    pub unnoticed_stall: bool,
    /// The hub's view after draining.
    pub view: &'a HubView,
    /// Client statuses after draining.
    pub finals: &'a [(String, ClientStatus)],
    /// The verdict lines.
    pub checks: &'a [CheckResult],
    /// The outcome.
    pub outcome: &'a Outcome,
}

fn event_label(event: &Event) -> String {
    match event {
        Event::Disconnected { reason } => format!(
            "disconnected ({})",
            match reason {
                DisconnectReason::Closed | DisconnectReason::Error(_) => "closed or reset",
                DisconnectReason::PongTimeout => "pong timeout",
                DisconnectReason::Shutdown => "shutdown",
            }
        ),
        other => other.kind().to_owned(),
    }
}

/// Builds the stable diagnostics of a `ws-stream` variant run.
pub fn ws_diagnostics(run: WsRun<'_>) -> Diagnostics {
    let mut phases: [BTreeSet<String>; 3] = Default::default();
    let mut symptoms = BTreeSet::new();
    for recorded in run.events {
        let phase = match (run.inject, run.fault_end) {
            (Some(inject), _) if recorded.at < inject => 0,
            (Some(_), Some(end)) if recorded.at < end => 1,
            (Some(_), _) => 2,
            (None, _) => 0,
        };
        // Message-level events (resent, dropped) depend on where a message
        // was in flight when the fault hit; the hub summary covers them.
        if !matches!(recorded.event, Event::Resent { .. } | Event::Dropped { .. }) {
            phases[phase].insert(event_label(&recorded.event));
        }
        if phase > 0 {
            match &recorded.event {
                Event::Disconnected {
                    reason: DisconnectReason::PongTimeout,
                }
                | Event::HeartbeatMissed { .. } => {
                    symptoms.insert(Symptom::HalfOpenConnection);
                }
                Event::Disconnected { .. } => {
                    symptoms.insert(Symptom::ConnectionsDropped);
                }
                Event::GaveUp { .. } => {
                    symptoms.insert(Symptom::GaveUpReconnecting);
                }
                _ => {}
            }
        }
    }
    let with_loss = run
        .finals
        .iter()
        .filter(|(id, status)| match run.view.clients.get(id) {
            Some(seen) => !seen.missing(status.accepted).is_empty(),
            None => status.accepted > 0,
        })
        .count();
    if run.unnoticed_stall {
        symptoms.insert(Symptom::UnnoticedStall);
    }
    if with_loss > 0 {
        symptoms.insert(Symptom::MessagesLost);
    }
    let names = ["before fault", "during fault", "after fault"];
    Diagnostics {
        drill: run.scenario.drill.name.clone(),
        variant: run.variant.name.clone(),
        remedy: run.variant.remedy.as_str().to_owned(),
        playbook_match: match_playbook(&symptoms),
        symptoms: symptoms.into_iter().collect(),
        timeline: names
            .iter()
            .zip(phases)
            .map(|(phase, events)| Phase {
                phase,
                events: events.into_iter().collect(),
            })
            .collect(),
        hub: Some(HubSummary {
            clients_seen: run.view.clients.len(),
            clients_with_loss: match with_loss {
                0 => "none",
                n if n == run.finals.len() => "all",
                _ => "some",
            },
        }),
        postgres: None,
        process: None,
        verdict: verdict_lines(run.checks),
        outcome: run.outcome.word(),
    }
}

/// The verdict without measured values.
pub(crate) fn verdict_lines(checks: &[CheckResult]) -> Vec<VerdictLine> {
    checks
        .iter()
        .map(|c| VerdictLine {
            check: c.check.to_string(),
            bound: c.bound.clone(),
            result: if c.passed {
                "pass".to_owned()
            } else if c.bound.is_some() && c.measured.starts_with("not ") {
                format!("fail: {}", c.measured)
            } else if c.bound.is_some() {
                "fail: over bound".to_owned()
            } else {
                "fail: violated".to_owned()
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matcher_names_the_entry_most_symptoms_fit() {
        let symptoms: BTreeSet<_> = [Symptom::HalfOpenConnection, Symptom::MessagesLost]
            .into_iter()
            .collect();
        assert_eq!(
            match_playbook(&symptoms),
            Some("WebSocket Connection Drops")
        );
        assert_eq!(match_playbook(&BTreeSet::new()), None);
    }
}
