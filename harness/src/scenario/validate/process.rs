//! Pass 3 for the process drills' workloads (`spawn-failure`, `agent-tree`,
//! `agent-memory`): they run fixture processes on this machine, so they
//! need no service, proxy or `[[faults]]` — the fault is part of the
//! workload (`failure`, `end`).

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::super::raw::{RawFault, RawValue, RawWorkload};
use super::super::{
    AgentMemory, AgentTree, SpawnFailure, SpawnFailureKind, TreeEnd, Workload, format_duration,
};
use super::Checker;

/// The process workload kinds.
pub(super) const PROCESS_KINDS: [&str; 3] =
    [SpawnFailure::KIND, AgentTree::KIND, AgentMemory::KIND];

const SPAWN_KEYS: &[&str] = &["failure"];
const TREE_KEYS: &[&str] = &[
    "agents",
    "ignore_sigterm",
    "grandchildren",
    "daemons",
    "grace",
    "end",
    "end_at",
];
const MEMORY_KEYS: &[&str] = &[
    "leak_mib_per_sec",
    "sawtooth_peak_mib",
    "sawtooth_period",
    "sample_every",
    "window",
    "threshold_mib_per_sec",
    "observe",
];

/// Every `[workload]` key a process kind may use, with its span if present.
fn process_keys(raw: &RawWorkload) -> Vec<(&'static str, Option<Range<usize>>)> {
    fn s<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
        v.as_ref().map(Spanned::span)
    }
    vec![
        ("failure", s(&raw.failure)),
        ("agents", s(&raw.agents)),
        ("ignore_sigterm", s(&raw.ignore_sigterm)),
        ("grandchildren", s(&raw.grandchildren)),
        ("daemons", s(&raw.daemons)),
        ("grace", s(&raw.grace)),
        ("end", s(&raw.end)),
        ("end_at", s(&raw.end_at)),
        ("leak_mib_per_sec", s(&raw.leak_mib_per_sec)),
        ("sawtooth_peak_mib", s(&raw.sawtooth_peak_mib)),
        ("sawtooth_period", s(&raw.sawtooth_period)),
        ("sample_every", s(&raw.sample_every)),
        ("window", s(&raw.window)),
        ("threshold_mib_per_sec", s(&raw.threshold_mib_per_sec)),
        ("observe", s(&raw.observe)),
    ]
}

/// The keys of the network and database workloads, with their spans.
fn other_keys(raw: &RawWorkload) -> Vec<(&'static str, Option<Range<usize>>)> {
    fn s<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
        v.as_ref().map(Spanned::span)
    }
    vec![
        ("target", s(&raw.target)),
        ("clients", s(&raw.clients)),
        ("send_every", s(&raw.send_every)),
        ("heartbeat", s(&raw.heartbeat)),
        ("pong_deadline", s(&raw.pong_deadline)),
        ("backoff_base", s(&raw.backoff_base)),
        ("backoff_max", s(&raw.backoff_max)),
        ("connect_timeout", s(&raw.connect_timeout)),
        ("max_attempts", s(&raw.max_attempts)),
        ("accounts", s(&raw.accounts)),
        ("workers", s(&raw.workers)),
        ("transfer_every", s(&raw.transfer_every)),
        ("pool_size", s(&raw.pool_size)),
        ("acquire_timeout", s(&raw.acquire_timeout)),
        ("transfer_timeout", s(&raw.transfer_timeout)),
        ("retry_budget", s(&raw.retry_budget)),
        ("idle_threshold", s(&raw.idle_threshold)),
        ("max_lifetime", s(&raw.max_lifetime)),
    ]
}

fn own_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        SpawnFailure::KIND => SPAWN_KEYS,
        AgentTree::KIND => TREE_KEYS,
        _ => MEMORY_KEYS,
    }
}

impl Checker<'_, '_> {
    /// For a network or database workload: reports process-drill keys.
    pub(super) fn process_keys_misplaced(&mut self, raw: &RawWorkload, kind: &str) {
        for (key, span) in process_keys(raw) {
            if let Some(span) = span {
                let owner = PROCESS_KINDS
                    .iter()
                    .find(|k| own_keys(k).contains(&key))
                    .copied()
                    .unwrap_or(AgentTree::KIND);
                self.push(
                    span,
                    format!("`{key}` in [workload] does not apply to workload kind {kind:?}"),
                    "a process drill's key",
                    format!("remove `{key}`; it belongs to kind = {owner:?}"),
                );
            }
        }
    }

    /// A process workload of `kind` (one of [`PROCESS_KINDS`]).
    pub(super) fn process_workload(
        &mut self,
        kind: &str,
        span: Range<usize>,
        raw: RawWorkload,
    ) -> Workload {
        let own = own_keys(kind);
        let foreign = process_keys(&raw)
            .into_iter()
            .filter(|(key, _)| !own.contains(key))
            .chain(other_keys(&raw));
        for (key, key_span) in foreign {
            if let Some(key_span) = key_span {
                self.push(
                    key_span,
                    format!("`{key}` in [workload] does not apply to workload kind {kind:?}"),
                    "another workload's key",
                    format!("remove `{key}`; {kind} takes: {}", own.join(", ")),
                );
            }
        }
        let ctx = "[workload]";
        match kind {
            SpawnFailure::KIND => {
                let names: Vec<&str> = SpawnFailureKind::ALL.iter().map(|k| k.as_str()).collect();
                let help = format!("failure = \"<{}>\"", names.join(" | "));
                let failure = self
                    .required(raw.failure, "failure", ctx, &span, &help)
                    .and_then(|f| {
                        let found = SpawnFailureKind::ALL
                            .into_iter()
                            .find(|k| k.as_str() == f.get_ref());
                        if found.is_none() {
                            self.unknown_name(&f.span(), f.get_ref(), "spawn failure", ctx, &names);
                        }
                        found
                    })
                    .unwrap_or(SpawnFailureKind::Enoent);
                Workload::SpawnFailure(SpawnFailure { failure })
            }
            AgentTree::KIND => {
                let names = [TreeEnd::Stop.as_str(), TreeEnd::KillSupervisor.as_str()];
                let end = self
                    .required(
                        raw.end,
                        "end",
                        ctx,
                        &span,
                        "end = \"stop\" or end = \"kill-supervisor\"",
                    )
                    .and_then(|e| match e.get_ref().as_str() {
                        "stop" => Some(TreeEnd::Stop),
                        "kill-supervisor" => Some(TreeEnd::KillSupervisor),
                        other => {
                            self.unknown_name(&e.span(), other, "end", ctx, &names);
                            None
                        }
                    })
                    .unwrap_or(TreeEnd::Stop);
                Workload::AgentTree(AgentTree {
                    agents: self.count(raw.agents, "agents", 1..=8, 1),
                    ignore_sigterm: raw.ignore_sigterm.is_some_and(|b| *b.get_ref()),
                    grandchildren: self.count(raw.grandchildren, "grandchildren", 0..=8, 0),
                    daemons: self.count(raw.daemons, "daemons", 0..=4, 0),
                    grace: self.dur(&raw.grace, "grace", Duration::from_secs(1)),
                    end,
                    end_at: self.dur(&raw.end_at, "end_at", Duration::from_millis(300)),
                })
            }
            _ => {
                let memory = AgentMemory {
                    leak_mib_per_sec: self.count(
                        raw.leak_mib_per_sec,
                        "leak_mib_per_sec",
                        1..=256,
                        10,
                    ),
                    sawtooth_peak_mib: self.count(
                        raw.sawtooth_peak_mib,
                        "sawtooth_peak_mib",
                        33..=1024,
                        64,
                    ),
                    sawtooth_period: self.dur(
                        &raw.sawtooth_period,
                        "sawtooth_period",
                        Duration::from_millis(900),
                    ),
                    sample_every: self.dur(
                        &raw.sample_every,
                        "sample_every",
                        Duration::from_millis(100),
                    ),
                    window: self.dur(&raw.window, "window", Duration::from_secs(6)),
                    threshold_mib_per_sec: self.count(
                        raw.threshold_mib_per_sec,
                        "threshold_mib_per_sec",
                        1..=1024,
                        4,
                    ),
                    observe: self.dur(&raw.observe, "observe", Duration::from_secs(10)),
                };
                if memory.window < memory.sample_every * 10
                    && let Some(window) = &raw.window
                {
                    self.push(
                        window.span(),
                        format!(
                            "`window` ({}) in [workload] holds fewer than 10 samples of `sample_every` ({})",
                            format_duration(memory.window),
                            format_duration(memory.sample_every)
                        ),
                        "too few samples for a trend",
                        format!("make window at least {}", format_duration(memory.sample_every * 10)),
                    );
                }
                Workload::AgentMemory(memory)
            }
        }
    }

    /// Process drills take their fault from `[workload]`: `[[faults]]` is
    /// an error there.
    pub(super) fn no_faults(&mut self, raw: Option<Spanned<Vec<Spanned<RawFault>>>>, kind: &str) {
        if let Some(list) = raw {
            let fault = if kind == SpawnFailure::KIND {
                "failure"
            } else if kind == AgentTree::KIND {
                "end"
            } else {
                "leak_mib_per_sec"
            };
            self.push(
                list.span(),
                format!("workload kind {kind:?} takes no [[faults]]"),
                "not for a process drill",
                format!(
                    "remove the [[faults]]; a process drill's fault is its workload's `{fault}`"
                ),
            );
        }
    }

    fn count(
        &mut self,
        value: Option<Spanned<i64>>,
        key: &str,
        range: std::ops::RangeInclusive<u32>,
        default: u32,
    ) -> u32 {
        let Some(value) = value else {
            return default;
        };
        match u32::try_from(*value.get_ref()) {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.push(
                    value.span(),
                    format!(
                        "`{key}` in [workload] must be {}..={} (found {})",
                        range.start(),
                        range.end(),
                        value.get_ref()
                    ),
                    "out of range",
                    format!(
                        "set {key} to a number from {} to {} (default {default})",
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
        }
    }

    fn dur(&mut self, value: &Option<RawValue>, key: &str, default: Duration) -> Duration {
        self.duration(value.as_ref(), key, "[workload]", default, true)
            .0
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::scenario::{self, Remedy, SpawnFailureKind, TreeEnd, Workload};

    fn file(workload: &str, variant: &str, extra: &str) -> String {
        format!(
            "[drill]\nname = \"p\"\nplaybook = \"Zombie Process Prevention\"\n\n[workload]\n{workload}\n\n[[variants]]\nremedy = \"{variant}\"\n{extra}"
        )
    }

    #[test]
    fn a_process_drill_needs_no_services_proxies_or_faults() {
        let source = file(
            "kind = \"agent-tree\"\nagents = 2\nignore_sigterm = true\ngrandchildren = 2\ndaemons = 1\ngrace = \"500ms\"\nend = \"kill-supervisor\"",
            "process-supervisor",
            "\n[expect]\nrecover_within = \"1s\"\ninvariants = [\"no-orphans\", \"no-zombies\"]\n",
        );
        let drill = scenario::parse(&source, Path::new("p.toml")).expect("valid");
        assert!(drill.services.is_empty() && drill.proxies.is_empty() && drill.faults.is_empty());
        let Workload::AgentTree(tree) = &drill.workload else {
            panic!("an agent-tree workload: {:?}", drill.workload);
        };
        assert_eq!((tree.agents, tree.grandchildren, tree.daemons), (2, 2, 1));
        assert_eq!(tree.end, TreeEnd::KillSupervisor);
        assert_eq!(tree.grace, Duration::from_millis(500));
        assert_eq!(drill.variants[0].remedy, Remedy::ProcessSupervisor);
    }

    #[test]
    fn defaults_fill_the_memory_and_spawn_workloads() {
        let drill = scenario::parse(
            &file("kind = \"agent-memory\"", "leak-monitor", ""),
            Path::new("m.toml"),
        )
        .expect("valid");
        let Workload::AgentMemory(memory) = &drill.workload else {
            panic!("an agent-memory workload");
        };
        assert_eq!(memory.window, Duration::from_secs(6));
        assert_eq!(memory.sawtooth_peak_mib, 64);
        let drill = scenario::parse(
            &file(
                "kind = \"spawn-failure\"\nfailure = \"e2big\"",
                "spawn-naive",
                "",
            ),
            Path::new("s.toml"),
        )
        .expect("valid");
        assert!(
            matches!(drill.workload, Workload::SpawnFailure(s) if s.failure == SpawnFailureKind::E2big)
        );
    }

    #[test]
    fn mistakes_point_at_the_key_with_a_fix() {
        let source = file(
            "kind = \"agent-tree\"\nend = \"kill\"\nagents = 0\nclients = 4\ndaemonz = 1",
            "process-supervisor",
            "\n[[faults]]\nat = \"1s\"\nproxy = \"x\"\ndown = true\n",
        );
        let error = scenario::parse(&source, Path::new("bad.toml")).expect_err("invalid");
        let problems: Vec<(usize, &str, Option<&str>)> = error
            .problems()
            .iter()
            .map(|p| (p.line, p.message.as_str(), p.help.as_deref()))
            .collect();
        let find = |needle: &str| {
            problems
                .iter()
                .find(|(_, m, _)| m.contains(needle))
                .unwrap_or_else(|| panic!("no problem mentions {needle}: {problems:#?}"))
        };
        assert_eq!(
            find("unknown key \"daemonz\"").2,
            Some("did you mean `daemons`?")
        );
        assert_eq!(find("unknown end \"kill\"").0, 7);
        assert!(
            find("`agents` in [workload] must be 1..=8")
                .2
                .is_some_and(|h| h.contains("default 1"))
        );
        assert!(
            find("`clients` in [workload] does not apply")
                .2
                .is_some_and(|h| h.contains("agent-tree takes"))
        );
        assert!(
            find("takes no [[faults]]")
                .2
                .is_some_and(|h| h.contains("`end`"))
        );
    }

    #[test]
    fn process_keys_are_refused_by_other_workloads_and_remedies_must_match() {
        let source = "[drill]\nname = \"w\"\nplaybook = \"x\"\n[services.hub]\nkind = \"ws-hub\"\n[proxies.hub]\nupstream = \"hub\"\n[workload]\nkind = \"ws-stream\"\ntarget = \"hub\"\ngrace = \"1s\"\n[[variants]]\nremedy = \"leak-monitor\"\n[[faults]]\nat = \"1s\"\nproxy = \"hub\"\ndown = true\n";
        let error = scenario::parse(source, Path::new("w.toml")).expect_err("invalid");
        let messages: Vec<&str> = error
            .problems()
            .iter()
            .map(|p| p.message.as_str())
            .collect();
        assert!(
            messages.iter().any(|m| m
                .contains("`grace` in [workload] does not apply to workload kind \"ws-stream\"")),
            "{messages:#?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("remedy \"leak-monitor\" does not suit")),
            "{messages:#?}"
        );
    }
}
