//! The process drills' diagnostics: the playbook's "Quick Diagnostic
//! Script" view of the agents' process trees (processes, states, zombies,
//! memory), the spawn diagnosis, and what the leak monitors said.
//!
//! Stable by construction: no pids (processes are named by their role in
//! the tree and counted), memory in coarse buckets, paths of temporary
//! files replaced by `$TMP`, numbers in spawn messages by `N`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::Serialize;

use super::{Diagnostics, Phase, Symptom, match_playbook, verdict_lines};
use crate::engine::recorder::Recorded;
use crate::engine::verdict::{CheckResult, Outcome};
use crate::remedies::events::Event;
use crate::scenario::{Scenario, Variant};

/// One process as the drill saw it (no pid: pids change every run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenProcess {
    /// `agent`, `grandchild`, `daemon`, `supervisor`, `guard`.
    pub role: String,
    /// `/proc` state letter.
    pub state: char,
    /// Resident memory.
    pub rss_bytes: u64,
    /// Whether it left the agent's session (`setsid`).
    pub own_session: bool,
}

/// Processes of one role in one state, counted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ProcessLine {
    /// Role in the tree.
    pub role: String,
    /// `running`, `sleeping`, `zombie`, `stopped`, `disk-wait`.
    pub state: &'static str,
    /// `< 16 MiB`, `16 MiB – 1 GiB`, `≥ 1 GiB`.
    pub rss: &'static str,
    /// How many.
    pub count: usize,
}

/// The tree at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeView {
    /// Lines sorted by role, state, memory.
    pub processes: Vec<ProcessLine>,
    /// Processes left unreaped (`<defunct>`).
    pub zombies: usize,
}

/// What the harness's own teardown had to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CleanupView {
    /// Processes of the drill still there when the variant ended, by role.
    pub left_behind: BTreeMap<String, usize>,
    /// Whether the harness killed and reaped every one of them.
    pub all_cleaned: bool,
}

/// A failed spawn as the remedy reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpawnView {
    /// `ENOENT`…, or `unclassified` (the naive spawn).
    pub errno: String,
    /// What the error said was wrong.
    pub cause: String,
    /// The fix it named, if any.
    pub fix: Option<String>,
    /// Near matches on PATH (ENOENT).
    pub near_matches: Vec<String>,
}

/// One leak monitor's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitorView {
    /// The agent watched (`leak`, `sawtooth`).
    pub agent: String,
    /// Whether it reported a leak.
    pub alarmed: bool,
}

/// The process part of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessView {
    /// The trees when the fault hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_fault: Option<TreeView>,
    /// What was left when observation ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_end: Option<TreeView>,
    /// The harness's teardown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harness_cleanup: Option<CleanupView>,
    /// The spawn diagnosis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spawn: Option<SpawnView>,
    /// The leak monitors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<MonitorView>,
}

/// Inputs of [`process_diagnostics`].
#[derive(Debug)]
pub struct ProcessRun<'a> {
    /// The drill.
    pub scenario: &'a Scenario,
    /// The variant.
    pub variant: &'a Variant,
    /// Every recorded event.
    pub events: &'a [Recorded],
    /// When the fault took effect.
    pub inject: Option<Instant>,
    /// When observation of the fault's effect ended.
    pub fault_end: Option<Instant>,
    /// The trees when the fault hit.
    pub at_fault: Option<&'a [SeenProcess]>,
    /// What was left when observation ended.
    pub at_end: Option<&'a [SeenProcess]>,
    /// Roles left for the harness to clean up, and whether it managed.
    pub cleanup: Option<(&'a [String], bool)>,
    /// The spawn diagnosis.
    pub spawn: Option<SpawnView>,
    /// Leak monitors: agent and whether it alarmed.
    pub monitors: Vec<MonitorView>,
    /// The verdict lines.
    pub checks: &'a [CheckResult],
    /// The outcome.
    pub outcome: &'a Outcome,
}

fn state_word(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' | 'I' => "sleeping",
        'Z' => "zombie",
        'T' | 't' => "stopped",
        'D' => "disk-wait",
        _ => "other",
    }
}

fn rss_bucket(bytes: u64) -> &'static str {
    const MIB: u64 = 1024 * 1024;
    match bytes {
        b if b < 16 * MIB => "< 16 MiB",
        b if b < 1024 * MIB => "16 MiB – 1 GiB",
        _ => "≥ 1 GiB",
    }
}

/// The counted view of a set of processes.
pub fn tree_view(processes: &[SeenProcess]) -> TreeView {
    let mut lines: BTreeMap<(String, &'static str, &'static str), usize> = BTreeMap::new();
    for p in processes {
        // A running/sleeping distinction is scheduling noise; keep zombie,
        // stopped and disk-wait, which are symptoms.
        let state = match state_word(p.state) {
            "running" | "sleeping" => "alive",
            other => other,
        };
        *lines
            .entry((p.role.clone(), state, rss_bucket(p.rss_bytes)))
            .or_default() += 1;
    }
    TreeView {
        zombies: processes.iter().filter(|p| p.state == 'Z').count(),
        processes: lines
            .into_iter()
            .map(|((role, state, rss), count)| ProcessLine {
                role,
                state,
                rss,
                count,
            })
            .collect(),
    }
}

/// Replaces every run of digits by `N` (sizes, limits, modes in messages).
pub fn redact_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

fn event_symptom(event: &Event) -> Option<Symptom> {
    match event {
        Event::StopEscalated { .. } => Some(Symptom::SigtermIgnored),
        Event::SpawnFailed { error } => Some(match error.as_str() {
            "ENOENT" => Symptom::CommandNotFound,
            "EACCES" => Symptom::NotExecutable,
            "ENOEXEC" => Symptom::BadExecutableFormat,
            "EMFILE" | "ENFILE" => Symptom::DescriptorLimit,
            "E2BIG" => Symptom::ArgumentListTooLong,
            _ => Symptom::SpawnFailed,
        }),
        Event::LeakSuspected { .. } => Some(Symptom::LeakSuspected),
        _ => None,
    }
}

/// Builds the stable diagnostics of a process drill's variant run.
pub fn process_diagnostics(run: ProcessRun<'_>) -> Diagnostics {
    let mut phases: [BTreeSet<String>; 3] = Default::default();
    let mut symptoms = BTreeSet::new();
    for recorded in run.events {
        let phase = match (run.inject, run.fault_end) {
            (Some(inject), _) if recorded.at < inject => 0,
            (Some(_), Some(end)) if recorded.at < end => 1,
            (Some(_), _) => 2,
            (None, _) => 0,
        };
        phases[phase].insert(recorded.event.kind().to_owned());
        if let Some(symptom) = event_symptom(&recorded.event) {
            symptoms.insert(symptom);
        }
    }
    let at_end = run.at_end.map(tree_view);
    if let Some(end) = run.at_end {
        if end.iter().any(|p| p.state != 'Z') {
            symptoms.insert(Symptom::OrphanedProcesses);
        }
        if end.iter().any(|p| p.state == 'Z') {
            symptoms.insert(Symptom::ZombieProcesses);
        }
    }
    if let Some(spawn) = &run.spawn
        && spawn.errno == "unclassified"
    {
        symptoms.insert(Symptom::SpawnFailed);
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
        hub: None,
        postgres: None,
        process: Some(ProcessView {
            at_fault: run.at_fault.map(tree_view),
            at_end,
            harness_cleanup: run.cleanup.map(|(roles, all_cleaned)| {
                let mut left_behind = BTreeMap::new();
                for role in roles {
                    *left_behind.entry(role.clone()).or_default() += 1;
                }
                CleanupView {
                    left_behind,
                    all_cleaned,
                }
            }),
            spawn: run.spawn,
            monitors: run.monitors,
        }),
        verdict: verdict_lines(run.checks),
        outcome: run.outcome.word(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_are_counted_by_role_state_and_memory_without_pids() {
        let p = |role: &str, state, rss| SeenProcess {
            role: role.to_owned(),
            state,
            rss_bytes: rss,
            own_session: false,
        };
        let view = tree_view(&[
            p("grandchild", 'S', 1 << 20),
            p("agent", 'R', 2 << 20),
            p("grandchild", 'R', 1 << 21),
            p("daemon", 'Z', 0),
        ]);
        assert_eq!(view.zombies, 1);
        let lines: Vec<(String, &str, usize)> = view
            .processes
            .iter()
            .map(|l| (l.role.clone(), l.state, l.count))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("agent".to_owned(), "alive", 1),
                ("daemon".to_owned(), "zombie", 1),
                ("grandchild".to_owned(), "alive", 2)
            ]
        );
    }

    #[test]
    fn numbers_are_redacted() {
        assert_eq!(
            redact_numbers("mode 644, 4096 KiB of 2048"),
            "mode N, N KiB of N"
        );
    }
}
