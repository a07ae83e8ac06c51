//! Scenario files: the drill format, its validation, durations and defaults.
//!
//! A scenario file (`scenarios/*.toml`) describes one drill: the services it
//! needs, the fault proxies in front of them, the workload, the remedy
//! variants to run, when the workload counts as steady, the faults and their
//! schedule, and the bounds a variant must meet. [`load`] reads one file and
//! returns a fully checked, typed [`Scenario`] with every default filled in.
//!
//! This module is pure: it never does I/O beyond reading the file (and
//! listing a directory in [`discover`]), and it never panics on any input.
//! Problems are reported with file, line, column and a concrete fix (miette
//! diagnostics over TOML spans), all problems of a file at once where
//! possible: unknown keys are errors, never silently ignored.
//!
//! # The format
//!
//! Every key, annotated (this exact file is parsed by the tests):
//!
//! ```toml
#![doc = include_str!("example.toml")]
//! ```
//!
//! Durations are strings: an unsigned integer or decimal followed directly by
//! `us`, `ms`, `s` or `m` (`"250ms"`, `"2s"`, `"1.5s"`, `"1m"`); see
//! [`parse_duration`]. Toxics use Toxiproxy's names, attributes and units
//! (see [`crate::toxic`]): `latency` (`latency`, `jitter` in ms),
//! `bandwidth` (`rate` in KB/s, >= 1), `slow_close` (`delay` in ms),
//! `timeout` (`timeout` in ms, 0 = hold forever), `reset_peer` (`timeout` in
//! ms), `slicer` (`average_size` >= 1 and `size_variation` in bytes, `delay`
//! in µs), `limit_data` (`bytes`); plus `name` (default `<type>_<stream>`),
//! `stream` (`"upstream"` | `"downstream"`, default downstream) and
//! `toxicity` (0..=1, default 1).
//!
//! Names of services, proxies and variants use lowercase letters, digits,
//! `-` and `_`; the drill name only lowercase letters, digits and `-`.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use std::time::Duration;
//! use firedrill::scenario::{self, FaultAction, Remedy};
//!
//! let source = r#"
//! [drill]
//! name = "ws-reset"
//! playbook = "WebSocket Connection Drops"
//!
//! [services.hub]
//! kind = "ws-hub"
//!
//! [proxies.hub]
//! upstream = "hub"
//!
//! [workload]
//! kind = "ws-stream"
//! target = "hub"
//!
//! [[variants]]
//! remedy = "ws-client"
//!
//! [[faults]]
//! at = "1s"
//! proxy = "hub"
//! toxic = { type = "reset_peer" }
//! heal_after = "500ms"
//!
//! [expect]
//! recover_within = "2s"
//! "#;
//! let drill = scenario::parse(source, Path::new("scenarios/ws-reset.toml"))?;
//! assert_eq!(drill.variants[0].remedy, Remedy::WsClient);
//! assert_eq!(drill.faults[0].heal_after, Some(Duration::from_millis(500)));
//! assert!(matches!(&drill.faults[0].action, FaultAction::Toxic(t) if t.name == "reset_peer_downstream"));
//!
//! // Mistakes point at the offending line and column, with a fix.
//! let error = scenario::parse(&source.replace("heal_after", "heal_afer"), Path::new("x.toml"))
//!     .unwrap_err();
//! assert_eq!(error.line_col(), Some((23, 1)));
//! assert!(error.to_string().starts_with("x.toml:23:1: unknown key \"heal_afer\" in [[faults]]"));
//! # Ok::<(), scenario::ScenarioError>(())
//! ```

mod duration;
mod error;
#[cfg(test)]
mod pg_tests;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::de::DeTable;

pub use duration::{DURATION_HELP, DurationError, format_duration, parse_duration};
pub use error::{InvalidScenario, Problem, ScenarioError};

use error::Problems;

/// One drill, checked, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The file it came from (as given to [`load`] or [`parse`]).
    pub path: PathBuf,
    /// `[drill]`: identity and limits.
    pub drill: Drill,
    /// `[services.NAME]`, by name.
    pub services: BTreeMap<String, Service>,
    /// `[proxies.NAME]`, by name.
    pub proxies: BTreeMap<String, ProxyDecl>,
    /// `[workload]`: what the clients do.
    pub workload: Workload,
    /// `[[variants]]`, in file order; at least one, names unique.
    pub variants: Vec<Variant>,
    /// `[steady]`: when the workload counts as healthy.
    pub steady: Steady,
    /// `[[faults]]`, in file order; at least one.
    pub faults: Vec<Fault>,
    /// `[expect]`: the bounds and invariants every variant is judged by.
    pub expect: Expect,
}

impl Scenario {
    /// Every bound and invariant declared in `[expect]`: `detect_within`,
    /// `recover_within` (when set), then the invariants in the order listed.
    pub fn checks(&self) -> Vec<Check> {
        let bounds = [
            self.expect.detect_within.map(|_| Check::DetectWithin),
            self.expect.recover_within.map(|_| Check::RecoverWithin),
        ];
        bounds
            .into_iter()
            .flatten()
            .chain(self.expect.invariants.iter().copied().map(Check::Invariant))
            .collect()
    }
}

/// `[drill]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drill {
    /// `[a-z0-9-]+`; names the drill in test names and reports.
    pub name: String,
    /// The playbook entry this drill reproduces.
    pub playbook: String,
    /// Free text; `""` when absent.
    pub description: String,
    /// Every random choice of the drill derives from it (default 0).
    pub seed: u64,
    /// Hard limit for one variant run (default 60s).
    pub timeout: Duration,
}

/// `[services.NAME]`: a real service in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The table name.
    pub name: String,
    /// What runs.
    pub kind: ServiceKind,
}

/// The kinds of service a drill can bring up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// `"ws-hub"`: firedrill's own WebSocket hub.
    WsHub,
    /// `"postgres"`, optionally with a lowered `max_connections`.
    Postgres {
        /// Server `max_connections`; `None` keeps Postgres' default.
        max_connections: Option<u32>,
    },
}

impl ServiceKind {
    /// The spelling in scenario files.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceKind::WsHub => "ws-hub",
            ServiceKind::Postgres { .. } => "postgres",
        }
    }
}

/// `[proxies.NAME]`: a fault proxy in front of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyDecl {
    /// The table name; faults and the workload refer to it.
    pub name: String,
    /// The declared service it forwards to.
    pub upstream: String,
}

/// `[workload]`: what the clients do while faults happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// `kind = "ws-stream"`.
    WsStream(WsStream),
    /// `kind = "pg-transfers"`.
    PgTransfers(PgTransfers),
    /// `kind = "spawn-failure"`.
    SpawnFailure(SpawnFailure),
    /// `kind = "agent-tree"`.
    AgentTree(AgentTree),
    /// `kind = "agent-memory"`.
    AgentMemory(AgentMemory),
}

impl Workload {
    /// The `kind` spelling in scenario files.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Workload::WsStream(_) => WsStream::KIND,
            Workload::PgTransfers(_) => PgTransfers::KIND,
            Workload::SpawnFailure(_) => SpawnFailure::KIND,
            Workload::AgentTree(_) => AgentTree::KIND,
            Workload::AgentMemory(_) => AgentMemory::KIND,
        }
    }
}

/// WebSocket clients streaming numbered messages through a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsStream {
    /// The proxy the clients connect through.
    pub target: String,
    /// Concurrent clients, 1..=64 (default 4).
    pub clients: u32,
    /// Each client sends a numbered message this often (default 50ms).
    pub send_every: Duration,
    /// Ping interval, hardened and naive (default 1s).
    pub heartbeat: Duration,
    /// The hardened client declares a half-open connection when no pong
    /// arrives within this (default 3s).
    pub pong_deadline: Duration,
    /// First retry delay (default 100ms). The naive client uses it as its
    /// fixed interval, doubled each attempt.
    pub backoff_base: Duration,
    /// Cap of the hardened client's backoff (default 5s), `>= backoff_base`.
    pub backoff_max: Duration,
    /// TCP + handshake limit per attempt (default 2s).
    pub connect_timeout: Duration,
    /// Hardened client's attempt limit; `None` = unbounded (file: 0, the
    /// default). The naive client always gives up after 5, as the playbook's.
    pub max_attempts: Option<u32>,
}

impl WsStream {
    /// The workload `kind` spelling.
    pub const KIND: &'static str = "ws-stream";
}

/// Bank transfers against Postgres through a proxy: workers move money
/// between accounts, each transfer with a client-generated id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTransfers {
    /// The proxy the workers connect through (its upstream is a postgres service).
    pub target: String,
    /// Accounts, 2..=10000 (default 10); few accounts mean contention.
    pub accounts: u32,
    /// Concurrent workers, 1..=256 (default 8); each runs one transfer at a time.
    pub workers: u32,
    /// Each worker starts a transfer this often, or as soon as its last one
    /// ends when that takes longer (default 20ms).
    pub transfer_every: Duration,
    /// Hardened pool: most connections (default 10).
    pub pool_size: u32,
    /// Hardened pool: a checkout fails fast after this (default 2s).
    pub acquire_timeout: Duration,
    /// Hardened: one transaction attempt is abandoned after this (default 2s).
    pub transfer_timeout: Duration,
    /// Hardened: first retry delay (default 20ms), full jitter.
    pub backoff_base: Duration,
    /// Hardened: retry delay cap (default 500ms), `>= backoff_base`.
    pub backoff_max: Duration,
    /// Hardened: a transfer is retried until this has passed (default 10s).
    pub retry_budget: Duration,
    /// TCP + start-up limit of one connection attempt (default 2s).
    pub connect_timeout: Duration,
    /// Idle-leak recovery: sessions idle longer than this are terminated
    /// (default 1s).
    pub idle_threshold: Duration,
    /// Hardened pool: a connection is replaced after this much life
    /// (default 30m).
    pub max_lifetime: Duration,
}

impl PgTransfers {
    /// The workload `kind` spelling.
    pub const KIND: &'static str = "pg-transfers";
}

/// A process drill: a spawn that fails for one real reason. Needs no
/// service, proxy or `[[faults]]`: the failure is the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpawnFailure {
    /// What makes the spawn fail.
    pub failure: SpawnFailureKind,
}

impl SpawnFailure {
    /// The workload `kind` spelling.
    pub const KIND: &'static str = "spawn-failure";
}

/// The spawn failures a drill can produce for real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnFailureKind {
    /// `"enoent"`: a misspelt program name on a PATH that has the real one.
    Enoent,
    /// `"eacces"`: a script without its execute bit.
    Eacces,
    /// `"enoexec"`: an executable file that is neither a binary for this
    /// machine nor a `#!` script.
    Enoexec,
    /// `"emfile"`: the spawning process has used its descriptor limit (an
    /// rlimit set in its set-up).
    Emfile,
    /// `"e2big"`: arguments beyond `ARG_MAX`.
    E2big,
}

impl SpawnFailureKind {
    /// Every kind, in documentation order.
    pub const ALL: [SpawnFailureKind; 5] = [
        SpawnFailureKind::Enoent,
        SpawnFailureKind::Eacces,
        SpawnFailureKind::Enoexec,
        SpawnFailureKind::Emfile,
        SpawnFailureKind::E2big,
    ];

    /// The spelling in scenario files.
    pub fn as_str(&self) -> &'static str {
        match self {
            SpawnFailureKind::Enoent => "enoent",
            SpawnFailureKind::Eacces => "eacces",
            SpawnFailureKind::Enoexec => "enoexec",
            SpawnFailureKind::Emfile => "emfile",
            SpawnFailureKind::E2big => "e2big",
        }
    }

    /// The errno name the diagnosis must give.
    pub fn errno(&self) -> &'static str {
        match self {
            SpawnFailureKind::Enoent => "ENOENT",
            SpawnFailureKind::Eacces => "EACCES",
            SpawnFailureKind::Enoexec => "ENOEXEC",
            SpawnFailureKind::Emfile => "EMFILE",
            SpawnFailureKind::E2big => "E2BIG",
        }
    }
}

/// A process drill: supervised fixture agents, each a process tree, ended
/// by a stop request or by SIGKILL to their supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTree {
    /// Agents, 1..=8 (default 1).
    pub agents: u32,
    /// Every process of the tree blocks SIGTERM (default false).
    pub ignore_sigterm: bool,
    /// Grandchildren per agent in its process group, 0..=8 (default 0).
    pub grandchildren: u32,
    /// Daemonizing grandchildren (setsid) per agent, 0..=4 (default 0).
    pub daemons: u32,
    /// SIGTERM-to-SIGKILL grace of the supervisor (default 1s).
    pub grace: Duration,
    /// How the agents are ended (the fault).
    pub end: TreeEnd,
    /// When, after every tree is complete (default 300ms).
    pub end_at: Duration,
}

impl AgentTree {
    /// The workload `kind` spelling.
    pub const KIND: &'static str = "agent-tree";
}

/// How an `agent-tree` drill ends its agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeEnd {
    /// `"stop"`: the supervisor is asked to stop every agent.
    Stop,
    /// `"kill-supervisor"`: the supervisor's own process gets SIGKILL.
    KillSupervisor,
}

impl TreeEnd {
    /// The spelling in scenario files.
    pub fn as_str(&self) -> &'static str {
        match self {
            TreeEnd::Stop => "stop",
            TreeEnd::KillSupervisor => "kill-supervisor",
        }
    }
}

/// A process drill: a leaking agent and a healthy sawtooth agent of a
/// higher peak, each watched by a leak monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentMemory {
    /// The leaking agent's rate, MiB/s, 1..=256 (default 10).
    pub leak_mib_per_sec: u32,
    /// The sawtooth's peak above its base, MiB, 33..=1024 (default 64).
    pub sawtooth_peak_mib: u32,
    /// The sawtooth's period (default 900ms).
    pub sawtooth_period: Duration,
    /// The monitors' sampling interval (default 100ms).
    pub sample_every: Duration,
    /// The monitors' trend window (default 6s).
    pub window: Duration,
    /// A trend above this is a leak, MiB/s, 1..=1024 (default 4).
    pub threshold_mib_per_sec: u32,
    /// How long both agents are watched at least (default 10s).
    pub observe: Duration,
}

impl AgentMemory {
    /// The workload `kind` spelling.
    pub const KIND: &'static str = "agent-memory";
}

/// `[[variants]]`: one run of the drill with one remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Unique within the file; defaults to the remedy's name.
    pub name: String,
    /// The implementation under test.
    pub remedy: Remedy,
    /// Checks this variant must fail (the documented reason a naive variant
    /// is caught); each is declared in `[expect]`.
    pub caught_by: Vec<Check>,
}

/// The implementations under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Remedy {
    /// `"ws-client"`: heartbeat with pong deadline, jittered capped backoff.
    WsClient,
    /// `"ws-client-naive"`: the playbook's naive client.
    WsClientNaive,
    /// `"pg-pool"`: bounded pool with an acquire timeout; the whole
    /// transaction retried on deadlocks and lost connections, idempotently.
    PgPool,
    /// `"pg-pool-naive"`: a fresh connection per transfer, no retry.
    PgPoolNaive,
    /// `"pg-statement-retry-naive"`: `pg-pool-naive` with the playbook's
    /// deadlock retry wrapped around each statement instead of the
    /// transaction.
    PgStatementRetryNaive,
    /// `"pg-ordered-locks"`: `pg-pool`, locking both accounts in id order.
    PgOrderedLocks,
    /// `"pg-idle-reaper"`: `pg-pool` plus the idle-session recovery.
    PgIdleReaper,
    /// `"pg-idle-reaper-naive"`: `pg-pool` plus the playbook's recovery
    /// query as written (idle for 10 minutes since the last query).
    PgIdleReaperNaive,
    /// `"spawn-diagnosed"`: the spawn wrapper with a typed diagnosis.
    SpawnDiagnosed,
    /// `"spawn-naive"`: a plain spawn; the error is the bare OS error.
    SpawnNaive,
    /// `"process-supervisor"`: process groups behind a guard, SIGTERM then
    /// SIGKILL judged by real exits, agents die with the supervisor.
    ProcessSupervisor,
    /// `"process-supervisor-naive"`: the playbook's `ProcessManager`.
    ProcessSupervisorNaive,
    /// `"leak-monitor"`: least-squares trend over a window.
    LeakMonitor,
    /// `"leak-monitor-naive"`: the playbook's first-vs-last trend.
    LeakMonitorNaive,
}

impl Remedy {
    /// Every remedy, in documentation order.
    pub const ALL: [Remedy; 14] = [
        Remedy::WsClient,
        Remedy::WsClientNaive,
        Remedy::PgPool,
        Remedy::PgPoolNaive,
        Remedy::PgStatementRetryNaive,
        Remedy::PgOrderedLocks,
        Remedy::PgIdleReaper,
        Remedy::PgIdleReaperNaive,
        Remedy::SpawnDiagnosed,
        Remedy::SpawnNaive,
        Remedy::ProcessSupervisor,
        Remedy::ProcessSupervisorNaive,
        Remedy::LeakMonitor,
        Remedy::LeakMonitorNaive,
    ];

    /// The spelling in scenario files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Remedy::WsClient => "ws-client",
            Remedy::WsClientNaive => "ws-client-naive",
            Remedy::PgPool => "pg-pool",
            Remedy::PgPoolNaive => "pg-pool-naive",
            Remedy::PgStatementRetryNaive => "pg-statement-retry-naive",
            Remedy::PgOrderedLocks => "pg-ordered-locks",
            Remedy::PgIdleReaper => "pg-idle-reaper",
            Remedy::PgIdleReaperNaive => "pg-idle-reaper-naive",
            Remedy::SpawnDiagnosed => "spawn-diagnosed",
            Remedy::SpawnNaive => "spawn-naive",
            Remedy::ProcessSupervisor => "process-supervisor",
            Remedy::ProcessSupervisorNaive => "process-supervisor-naive",
            Remedy::LeakMonitor => "leak-monitor",
            Remedy::LeakMonitorNaive => "leak-monitor-naive",
        }
    }

    /// Whether this is the playbook's naive variant.
    pub fn is_naive(&self) -> bool {
        match self {
            Remedy::WsClient | Remedy::PgPool | Remedy::PgOrderedLocks | Remedy::PgIdleReaper => {
                false
            }
            Remedy::WsClientNaive
            | Remedy::PgPoolNaive
            | Remedy::PgStatementRetryNaive
            | Remedy::PgIdleReaperNaive => true,
            Remedy::SpawnDiagnosed | Remedy::ProcessSupervisor | Remedy::LeakMonitor => false,
            Remedy::SpawnNaive | Remedy::ProcessSupervisorNaive | Remedy::LeakMonitorNaive => true,
        }
    }

    /// The workload `kind` this remedy can drive.
    pub fn workload_kind(&self) -> &'static str {
        match self {
            Remedy::WsClient | Remedy::WsClientNaive => WsStream::KIND,
            Remedy::PgPool
            | Remedy::PgPoolNaive
            | Remedy::PgStatementRetryNaive
            | Remedy::PgOrderedLocks
            | Remedy::PgIdleReaper
            | Remedy::PgIdleReaperNaive => PgTransfers::KIND,
            Remedy::SpawnDiagnosed | Remedy::SpawnNaive => SpawnFailure::KIND,
            Remedy::ProcessSupervisor | Remedy::ProcessSupervisorNaive => AgentTree::KIND,
            Remedy::LeakMonitor | Remedy::LeakMonitorNaive => AgentMemory::KIND,
        }
    }

    fn from_name(name: &str) -> Option<Remedy> {
        Remedy::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a variant is judged by: a bound or an invariant from `[expect]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// `time_to_detect <= expect.detect_within`.
    DetectWithin,
    /// `time_to_recover <= expect.recover_within`.
    RecoverWithin,
    /// An invariant holds.
    Invariant(Invariant),
}

impl Check {
    /// The spelling in scenario files (`caught_by`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Check::DetectWithin => "detect_within",
            Check::RecoverWithin => "recover_within",
            Check::Invariant(invariant) => invariant.as_str(),
        }
    }

    fn from_name(name: &str) -> Option<Check> {
        match name {
            "detect_within" => Some(Check::DetectWithin),
            "recover_within" => Some(Check::RecoverWithin),
            other => Invariant::from_name(other).map(Check::Invariant),
        }
    }

    /// Every spelling `caught_by` accepts.
    fn names() -> Vec<&'static str> {
        let mut names = vec!["detect_within", "recover_within"];
        names.extend(Invariant::ALL.iter().map(Invariant::as_str));
        names
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Properties that must hold over a whole variant run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// `"no-message-loss"`: every numbered message sent is received.
    NoMessageLoss,
    /// `"all-reconnected"`: every client is connected at the end.
    AllReconnected,
    /// `"no-failed-jobs"`: every transfer the workload started was
    /// acknowledged (no error, `53300` or `40P01`, reached the workload).
    NoFailedJobs,
    /// `"exactly-once"`: every acknowledged transfer is in the database
    /// exactly once, and no transfer is there twice.
    ExactlyOnce,
    /// `"sum-unchanged"`: the sum of all balances is what it was.
    SumUnchanged,
    /// `"no-half-applied"`: every account's balance equals its opening
    /// balance plus the transfers recorded for it (nothing half-applied).
    NoHalfApplied,
    /// `"diagnosed"`: a failed spawn's error names its cause (the right
    /// errno) and a fix.
    Diagnosed,
    /// `"no-orphans"`: no process of the drill's trees is left alive.
    NoOrphans,
    /// `"no-zombies"`: no process of the drill's trees is left unreaped.
    NoZombies,
    /// `"no-false-alarm"`: the leak monitor never fired on the healthy
    /// sawtooth agent.
    NoFalseAlarm,
}

impl Invariant {
    /// Every invariant, in documentation order.
    pub const ALL: [Invariant; 10] = [
        Invariant::NoMessageLoss,
        Invariant::AllReconnected,
        Invariant::NoFailedJobs,
        Invariant::ExactlyOnce,
        Invariant::SumUnchanged,
        Invariant::NoHalfApplied,
        Invariant::Diagnosed,
        Invariant::NoOrphans,
        Invariant::NoZombies,
        Invariant::NoFalseAlarm,
    ];

    /// The spelling in scenario files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Invariant::NoMessageLoss => "no-message-loss",
            Invariant::AllReconnected => "all-reconnected",
            Invariant::NoFailedJobs => "no-failed-jobs",
            Invariant::ExactlyOnce => "exactly-once",
            Invariant::SumUnchanged => "sum-unchanged",
            Invariant::NoHalfApplied => "no-half-applied",
            Invariant::Diagnosed => "diagnosed",
            Invariant::NoOrphans => "no-orphans",
            Invariant::NoZombies => "no-zombies",
            Invariant::NoFalseAlarm => "no-false-alarm",
        }
    }

    fn from_name(name: &str) -> Option<Invariant> {
        Invariant::ALL.into_iter().find(|i| i.as_str() == name)
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[steady]`: when the workload counts as healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steady {
    /// Probe interval (default 100ms).
    pub probe_every: Duration,
    /// Successful probes in a row that make `t_steady` (default 3).
    pub consecutive: u32,
    /// Steady state must hold within this before faults start (default 15s).
    pub timeout: Duration,
}

impl Default for Steady {
    fn default() -> Self {
        Steady {
            probe_every: Duration::from_millis(100),
            consecutive: 3,
            timeout: Duration::from_secs(15),
        }
    }
}

/// `[[faults]]`: one fault on one proxy, on a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Offset from the moment steady state first holds.
    pub at: Duration,
    /// Removed this long after `at`; `None` = stays until the run ends.
    pub heal_after: Option<Duration>,
    /// The declared proxy it acts on (empty for container and leak faults,
    /// which name their service in the action).
    pub proxy: String,
    /// What happens to the proxy.
    pub action: FaultAction,
}

/// What a fault does to its proxy.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// `down = true`: the proxy is disabled (Toxiproxy `enabled = false`).
    ProxyDown,
    /// `toxic = {...}`: a Toxiproxy toxic, named (`<type>_<stream>` unless
    /// the file names it).
    Toxic(crate::toxic::Toxic),
    /// `service = "db", container = "pause" | "kill"`: the service's
    /// container is paused (healed: unpaused) or killed (healed: started
    /// again). [`Fault::proxy`] is empty.
    Container {
        /// The declared service whose container it acts on.
        service: String,
        /// What happens to the container.
        action: ContainerFault,
    },
    /// `service = "db", leak_sessions = N`: a leaking client opens up to N
    /// sessions to the service (directly, not through a proxy) and leaves
    /// them idle (healed: it closes them). [`Fault::proxy`] is empty.
    IdleLeak {
        /// The declared postgres service.
        service: String,
        /// Sessions to open, 1..=1000.
        sessions: u32,
    },
}

/// What a container fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerFault {
    /// `"pause"`: every process in the container is frozen (the cgroup
    /// freezer): connections stay open and nothing answers.
    Pause,
    /// `"kill"`: the container is killed (SIGKILL); heal starts it again.
    Kill,
}

impl ContainerFault {
    /// The spelling in scenario files.
    pub fn as_str(&self) -> &'static str {
        match self {
            ContainerFault::Pause => "pause",
            ContainerFault::Kill => "kill",
        }
    }
}

/// `[expect]`: what every variant is judged by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// Bound on `time_to_detect`.
    pub detect_within: Option<Duration>,
    /// Bound on `time_to_recover`.
    pub recover_within: Option<Duration>,
    /// Invariants, in file order, without repeats.
    pub invariants: Vec<Invariant>,
    /// Whether the diagnosis is snapshotted (default true).
    pub snapshot: bool,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            detect_within: None,
            recover_within: None,
            invariants: Vec::new(),
            snapshot: true,
        }
    }
}

/// Reads and checks one scenario file. I/O errors name the path.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let source = std::fs::read_to_string(path).map_err(|error| ScenarioError::Io {
        path: path.to_owned(),
        error,
    })?;
    parse(&source, path)
}

/// Checks scenario `source`; `path` names it in the result and in errors.
pub fn parse(source: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let mut problems = Problems::new(source);
    let mut root = match DeTable::parse(source) {
        Ok(root) => root,
        Err(error) => {
            // TOML syntax: nothing after the first error can be trusted.
            problems.push(
                error.span().unwrap_or(0..0),
                format!("invalid TOML: {}", error.message().trim_end()),
                "here",
                Some("see https://toml.io for the syntax".to_owned()),
            );
            return Err(fail(problems, path));
        }
    };
    raw::strip_unknown_keys(root.get_mut(), &mut problems);
    let raw = match raw::RawScenario::deserialize(toml::Deserializer::from(root)) {
        Ok(raw) => raw,
        Err(error) => {
            wrong_type(source, &error, &mut problems);
            return Err(fail(problems, path));
        }
    };
    let scenario = validate::scenario(raw, path, &mut problems);
    problems.finish(scenario, path)
}

/// The scenario files at `dir_or_file`: the `*.toml` files directly in a
/// directory (sorted by path, not recursive), or the file itself.
pub fn discover(dir_or_file: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let io = |error| ScenarioError::Io {
        path: dir_or_file.to_owned(),
        error,
    };
    let metadata = std::fs::metadata(dir_or_file).map_err(io)?;
    if !metadata.is_dir() {
        return Ok(vec![dir_or_file.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir_or_file).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn fail(problems: Problems<'_>, path: &Path) -> ScenarioError {
    problems
        .into_error(path)
        .expect("called right after a problem was recorded")
}

/// Pass 2 failed: a value of the wrong TOML type. Says which key, in words.
fn wrong_type(source: &str, error: &toml::de::Error, problems: &mut Problems<'_>) {
    let span = error.span().unwrap_or(0..0);
    let message = error
        .message()
        .trim_end()
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table");
    let key = DeTable::parse(source)
        .ok()
        .and_then(|root| raw::key_path_at(root.get_ref(), &span));
    let help = if message.contains("expected a string") {
        "quote the value, e.g. key = \"text\""
    } else if message.contains("expected an integer") {
        "write a whole number, without quotes"
    } else if message.contains("expected a number") {
        "write a number without quotes, e.g. 0.5"
    } else if message.contains("expected a boolean") {
        "write true or false, without quotes"
    } else if message.contains("expected an array") {
        "write a list, e.g. [\"a\", \"b\"]"
    } else {
        "write a table: a [section] or an inline { key = value }"
    };
    let message = match key {
        Some(key) => format!("`{key}`: {message}"),
        None => message,
    };
    problems.push(span, message, "wrong type", Some(help.to_owned()));
}
