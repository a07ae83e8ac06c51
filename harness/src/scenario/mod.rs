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
}

impl Workload {
    /// The `kind` spelling in scenario files.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Workload::WsStream(_) => WsStream::KIND,
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
}

impl Remedy {
    /// Every remedy, in documentation order.
    pub const ALL: [Remedy; 2] = [Remedy::WsClient, Remedy::WsClientNaive];

    /// The spelling in scenario files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Remedy::WsClient => "ws-client",
            Remedy::WsClientNaive => "ws-client-naive",
        }
    }

    /// Whether this is the playbook's naive variant.
    pub fn is_naive(&self) -> bool {
        match self {
            Remedy::WsClient => false,
            Remedy::WsClientNaive => true,
        }
    }

    /// The workload `kind` this remedy can drive.
    pub fn workload_kind(&self) -> &'static str {
        match self {
            Remedy::WsClient | Remedy::WsClientNaive => WsStream::KIND,
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
}

impl Invariant {
    /// Every invariant, in documentation order.
    pub const ALL: [Invariant; 2] = [Invariant::NoMessageLoss, Invariant::AllReconnected];

    /// The spelling in scenario files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Invariant::NoMessageLoss => "no-message-loss",
            Invariant::AllReconnected => "all-reconnected",
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
    /// The declared proxy it acts on.
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
