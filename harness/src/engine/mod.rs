//! The engine: runs a drill's timeline and produces its verdict.
//!
//! ```text
//! parse ─► bring up services ─► per variant: wire proxies ─► start workload
//!   ─► steady state holds? ─► inject ─► detect ─► heal ─► recover ─► steady again
//!   ─► drain ─► invariants ─► verdict ─► tear down (always)
//! ```
//!
//! Every clock point is taken on one monotonic clock ([`std::time::Instant`])
//! and stored as an offset from the variant's start. The engine knows
//! services, faults and remedies only through their small public surfaces;
//! teardown (heal faults, stop proxies and clients, remove containers) runs
//! on every exit path, and on SIGINT/SIGTERM
//! [`crate::services::remove_containers_on_interrupt`] removes containers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use firedrill::engine::{Engine, EngineConfig};
//! let scenario = firedrill::scenario::load("scenarios/ws-proxy-down.toml".as_ref())?;
//! let engine = Engine::new(EngineConfig::new(std::env::current_exe()?));
//! let report = engine.run_drill(&scenario, Default::default()).await;
//! assert!(report.passed(), "{}", report.failure_summary());
//! # Ok(()) }
//! ```

mod pg;
mod process;
pub mod recorder;
pub mod verdict;
mod ws;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::diagnose::Diagnostics;
use crate::engine::recorder::Recorded;
use crate::faults::proxy::{Proxy, ProxyConfig};
use crate::scenario::{Scenario, Variant, Workload};
use crate::services::{self, Images, RunningService, ServiceError, ServiceSpec};
use verdict::{CheckResult, ClockPoints, InvariantResult, Measurements, Outcome, millis};

/// Receives progress messages during long work (container start, drills).
pub trait Progress: Send + Sync {
    /// One step of work has started.
    fn step(&self, drill: &str, message: &str);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn step(&self, _drill: &str, _message: &str) {}
}

/// How to run drills.
#[derive(Clone)]
pub struct EngineConfig {
    /// The firedrill executable mounted into containers running our own
    /// programs (the hub). The CLI passes itself; tests pass
    /// `env!("CARGO_BIN_EXE_firedrill")`.
    pub firedrill_exe: PathBuf,
    /// Replaces every drill's seed when set (`--seed`).
    pub seed: Option<u64>,
    /// Image names.
    pub images: Images,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("firedrill_exe", &self.firedrill_exe)
            .field("seed", &self.seed)
            .field("images", &self.images)
            .finish_non_exhaustive()
    }
}

impl EngineConfig {
    /// Defaults: images from the environment, the drill's own seed, no progress.
    pub fn new(firedrill_exe: PathBuf) -> Self {
        EngineConfig {
            firedrill_exe,
            seed: None,
            images: Images::from_env(),
            progress: Arc::new(NoProgress),
        }
    }
}

/// Why a drill or variant could not run to a verdict.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A service did not come up.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The fault proxy failed.
    #[error("failed to run the fault proxy: {0}")]
    Proxy(#[from] crate::faults::proxy::ProxyError),
    /// The workload never reached steady state, so no fault was injected.
    #[error("steady state never held within {}: {detail}", crate::scenario::format_duration(*.waited))]
    SteadyNeverHeld {
        /// How long the engine waited.
        waited: Duration,
        /// What the last probe saw.
        detail: String,
    },
    /// The hub's view could not be read.
    #[error("failed to read the hub's view: {0}")]
    Hub(String),
    /// The run was interrupted.
    #[error("interrupted")]
    Cancelled,
    /// A scenario names a service that is not running.
    #[error("service {0} is not running")]
    MissingService(String),
    /// The scenario asks for something this workload cannot do (validation
    /// rules it out for files; this guards scenarios built in code).
    #[error("the scenario does not fit its workload: {0}")]
    Unsupported(String),
}

/// A fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct FaultStamp {
    /// Position in the scenario's `[[faults]]`.
    pub index: usize,
    /// What it did (`"proxy hub down"`, `"toxic timeout_downstream on hub"`).
    pub description: String,
    /// When it took effect.
    #[serde(with = "millis")]
    pub injected: Duration,
    /// When it was removed.
    #[serde(with = "verdict::millis_opt")]
    pub healed: Option<Duration>,
}

/// One remedy event on the variant's clock.
#[derive(Debug, Clone, Serialize)]
pub struct TimedEvent {
    /// Offset from the variant's start.
    #[serde(with = "millis")]
    pub at: Duration,
    /// Emitter (client id).
    pub source: String,
    /// Short kind (`disconnected`, `retry`…).
    pub kind: String,
    /// Full event, readable.
    pub detail: String,
}

/// Everything one variant run produced.
#[derive(Debug, Clone, Serialize)]
pub struct VariantReport {
    /// Variant name.
    pub name: String,
    /// Remedy under test.
    pub remedy: String,
    /// Checks this variant is documented to fail.
    pub caught_by: Vec<String>,
    /// The judgement.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Clock points.
    pub points: ClockPoints,
    /// Derived measurements.
    pub measurements: Measurements,
    /// Every declared bound and invariant with its measured value.
    pub checks: Vec<CheckResult>,
    /// Invariant evidence.
    pub invariants: Vec<InvariantResult>,
    /// Faults as they happened.
    pub faults: Vec<FaultStamp>,
    /// Every remedy event.
    pub events: Vec<TimedEvent>,
    /// The stable diagnostics (what gets snapshotted).
    pub diagnostics: Option<Diagnostics>,
    /// Wall time of the variant.
    #[serde(with = "millis")]
    pub wall: Duration,
}

/// A fault as the engine stamped it: position, description, when its
/// injection started, when its heal completed.
pub(crate) type RawStamp = (usize, String, Instant, Option<Instant>);

/// When a variant with `[[faults]]` reached each point of its timeline, as
/// instants (what the ws and pg engines' observation loops record).
#[derive(Debug)]
pub(crate) struct FaultWindow {
    /// Steady state first held.
    pub steady0: Instant,
    /// The faults.
    pub stamps: Vec<RawStamp>,
    /// First probe that saw the workload recovered after the heal.
    pub recover: Option<Instant>,
    /// Steady state held again.
    pub steady: Option<Instant>,
    /// Observation ended.
    pub observed_until: Instant,
}

impl FaultWindow {
    /// The first injection started.
    pub(crate) fn t_inject(&self) -> Option<Instant> {
        self.stamps.iter().map(|s| s.2).min()
    }

    /// The last heal completed.
    pub(crate) fn t_heal(&self) -> Option<Instant> {
        self.stamps.iter().filter_map(|s| s.3).max()
    }

    /// The clock points as offsets from `origin`; detection is the first
    /// failure signal the remedy reported at or after the first injection.
    pub(crate) fn points(&self, origin: Instant, events: &[Recorded]) -> ClockPoints {
        let offset = |at: Instant| at.saturating_duration_since(origin);
        let t_inject = self.t_inject();
        let t_detect = t_inject.and_then(|inject| {
            events
                .iter()
                .filter(|e| e.at >= inject && e.event.is_failure_signal())
                .map(|e| e.at)
                .min()
        });
        ClockPoints {
            t_steady0: Some(offset(self.steady0)),
            t_inject: t_inject.map(offset),
            t_detect: t_detect.map(offset),
            t_heal: self.t_heal().map(offset),
            t_recover: self.recover.map(offset),
            t_steady: self.steady.map(offset),
            observed_until: offset(self.observed_until),
        }
    }

    /// The faults as offsets from `origin`, for the journal.
    pub(crate) fn fault_stamps(&self, origin: Instant) -> Vec<FaultStamp> {
        self.stamps
            .iter()
            .map(|(index, description, injected, healed)| FaultStamp {
                index: *index,
                description: description.clone(),
                injected: injected.saturating_duration_since(origin),
                healed: healed.map(|t| t.saturating_duration_since(origin)),
            })
            .collect()
    }
}

/// The faults of a scenario as not yet injected: what each does, stamped
/// with `steady0` until the observation loop stamps its injection and heal.
pub(crate) fn unstamped_faults(scenario: &Scenario, steady0: Instant) -> Vec<RawStamp> {
    scenario
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| (i, describe(f), steady0, None))
        .collect()
}

/// Every remedy event as an offset from `origin`, for the journal.
pub(crate) fn timed_events<'a>(
    events: impl IntoIterator<Item = &'a Recorded>,
    origin: Instant,
) -> Vec<TimedEvent> {
    events
        .into_iter()
        .map(|e| TimedEvent {
            at: e.at.saturating_duration_since(origin),
            source: e.source.clone(),
            kind: e.event.kind().to_owned(),
            detail: format!("{:?}", e.event),
        })
        .collect()
}

/// A variant's verdict: its clock points and invariants judged against the
/// scenario's `[expect]` and the variant's `caught_by`.
#[derive(Debug)]
pub(crate) struct Judged {
    pub points: ClockPoints,
    pub measurements: Measurements,
    pub checks: Vec<CheckResult>,
    pub invariants: Vec<InvariantResult>,
    pub outcome: Outcome,
}

impl Judged {
    pub(crate) fn new(
        ctx: &VariantContext<'_>,
        points: ClockPoints,
        invariants: Vec<InvariantResult>,
    ) -> Self {
        let measurements = Measurements::from_points(&points);
        let checks = verdict::evaluate(&ctx.scenario.expect, &points, &measurements, &invariants);
        let outcome = verdict::judge(ctx.variant, &checks);
        Judged {
            points,
            measurements,
            checks,
            invariants,
            outcome,
        }
    }
}

impl VariantReport {
    /// The report of a variant that ran to its verdict.
    pub(crate) fn judged(
        variant: &Variant,
        judged: Judged,
        faults: Vec<FaultStamp>,
        events: Vec<TimedEvent>,
        diagnostics: Diagnostics,
        wall: Duration,
    ) -> Self {
        VariantReport {
            name: variant.name.clone(),
            remedy: variant.remedy.as_str().to_owned(),
            caught_by: variant.caught_by.iter().map(|c| c.to_string()).collect(),
            outcome: judged.outcome,
            points: judged.points,
            measurements: judged.measurements,
            checks: judged.checks,
            invariants: judged.invariants,
            faults,
            events,
            diagnostics: Some(diagnostics),
            wall,
        }
    }

    /// The report of a variant that could not run to its verdict.
    pub(crate) fn errored(variant: &Variant, message: String, wall: Duration) -> Self {
        VariantReport {
            name: variant.name.clone(),
            remedy: variant.remedy.as_str().to_owned(),
            caught_by: variant.caught_by.iter().map(|c| c.to_string()).collect(),
            outcome: Outcome::Error { message },
            points: ClockPoints::default(),
            measurements: Measurements::default(),
            checks: Vec::new(),
            invariants: Vec::new(),
            faults: Vec::new(),
            events: Vec::new(),
            diagnostics: None,
            wall,
        }
    }
}

/// Everything one drill produced: the journal entry.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// Drill name.
    pub drill: String,
    /// Scenario file.
    pub path: PathBuf,
    /// The playbook entry it reproduces.
    pub playbook: String,
    /// The seed every random choice derived from.
    pub seed: u64,
    /// One report per variant, in file order.
    pub variants: Vec<VariantReport>,
    /// A drill-level error (services did not start…).
    pub error: Option<String>,
    /// Wall time of the whole drill.
    #[serde(with = "millis")]
    pub wall: Duration,
}

impl DrillReport {
    /// Whether every variant ended as the scenario asked (hardened passed,
    /// naive caught).
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && !self.variants.is_empty()
            && self.variants.iter().all(|v| v.outcome.is_ok())
    }

    /// Naive variants caught (the "teeth" figure) and naive variants run.
    pub fn teeth(&self) -> (usize, usize) {
        let naive: Vec<_> = self
            .variants
            .iter()
            .filter(|v| !v.caught_by.is_empty())
            .collect();
        let caught = naive
            .iter()
            .filter(|v| v.outcome == Outcome::Caught)
            .count();
        (caught, naive.len())
    }

    /// A readable account of what went wrong, with the seed to replay it.
    pub fn failure_summary(&self) -> String {
        let mut out = format!(
            "drill {} ({}) seed {}",
            self.drill,
            self.path.display(),
            self.seed
        );
        if let Some(error) = &self.error {
            out.push_str(&format!("\n  error: {error}"));
        }
        for v in &self.variants {
            out.push_str(&format!(
                "\n  variant {} ({}): {} — {}",
                v.name,
                v.remedy,
                v.outcome.word(),
                v.outcome.explain()
            ));
            for c in &v.checks {
                out.push_str(&format!(
                    "\n    {} {}: bound {} measured {} — {}",
                    if c.passed { "ok  " } else { "FAIL" },
                    c.check,
                    c.bound.as_deref().unwrap_or("-"),
                    c.measured,
                    c.detail
                ));
            }
        }
        out.push_str(&format!(
            "\n  replay: firedrill run {} --seed {}",
            self.path.display(),
            self.seed
        ));
        out
    }
}

/// What one variant run needs from the drill; every workload module gets it.
pub(crate) struct VariantContext<'a> {
    /// The drill.
    pub scenario: &'a Scenario,
    /// The variant to run.
    pub variant: &'a Variant,
    /// Its position in the file (ids and seeds derive from it).
    pub index: usize,
    /// The drill's seed (or `--seed`).
    pub seed: u64,
    /// The drill's running services, in `[services]` order.
    pub services: &'a [RunningService],
    /// Set on interruption.
    pub cancel: &'a CancellationToken,
}

/// What a fault does, in words, for the journal and the progress lines.
pub(crate) fn describe(fault: &crate::scenario::Fault) -> String {
    use crate::scenario::FaultAction;
    match &fault.action {
        FaultAction::ProxyDown => format!("proxy {} down", fault.proxy),
        FaultAction::Toxic(toxic) => format!(
            "toxic {} ({} {}) on proxy {}",
            toxic.name,
            toxic.kind.type_name(),
            toxic.stream,
            fault.proxy
        ),
        FaultAction::Container { service, action } => {
            format!("container of {service}: {}", action.as_str())
        }
        FaultAction::IdleLeak { service, sessions } => {
            format!("a client leaks up to {sessions} idle sessions on {service}, one per 20 ms")
        }
    }
}

/// Injects (`inject`) or heals a proxy fault (`down`, a toxic) on the
/// fault's proxy; `Ok(false)` when the fault is not a proxy fault. Healing is
/// idempotent: a toxic already gone is healed.
pub(crate) async fn apply_proxy_fault(
    fault: &crate::scenario::Fault,
    proxies: &BTreeMap<String, Proxy>,
    inject: bool,
) -> Result<bool, EngineError> {
    use crate::scenario::FaultAction;
    let proxy = || {
        proxies
            .get(&fault.proxy)
            .ok_or_else(|| EngineError::Hub(format!("proxy {} is not running", fault.proxy)))
    };
    match (&fault.action, inject) {
        (FaultAction::ProxyDown, inject) => proxy()?.set_enabled(!inject).await?,
        (FaultAction::Toxic(toxic), true) => {
            proxy()?.add_toxic(toxic.clone())?;
        }
        (FaultAction::Toxic(toxic), false) => {
            let _ = proxy()?.remove_toxic(&toxic.name);
        }
        (FaultAction::Container { .. } | FaultAction::IdleLeak { .. }, _) => return Ok(false),
    }
    Ok(true)
}

/// Mixes the drill seed with a stream number (SplitMix64), so every client,
/// proxy and worker gets its own reproducible random stream.
pub(crate) fn mix_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Starts one fault proxy per `[proxies]` entry, each in front of its
/// service's published port, with its own seed.
pub(crate) async fn wire_proxies(
    ctx: &VariantContext<'_>,
    proxies: &mut BTreeMap<String, Proxy>,
) -> Result<(), EngineError> {
    for (n, decl) in ctx.scenario.proxies.values().enumerate() {
        let service = service_named(ctx.services, &decl.upstream)?;
        let proxy = Proxy::start(ProxyConfig {
            name: decl.name.clone(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            upstream: service.endpoint().to_string(),
            enabled: true,
            seed: mix_seed(ctx.seed, 1_000 + (ctx.index * 100 + n) as u64),
        })
        .await?;
        proxies.insert(decl.name.clone(), proxy);
    }
    Ok(())
}

/// The running service a scenario names.
pub(crate) fn service_named<'a>(
    services: &'a [RunningService],
    name: &str,
) -> Result<&'a RunningService, EngineError> {
    services
        .iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| EngineError::MissingService(name.to_owned()))
}

/// Observation after the fault ends when no `recover_within` bounds it.
const DEFAULT_RECOVERY_WINDOW: Duration = Duration::from_secs(5);
/// Extra observation past the recovery bound, so "not recovered" is certain.
const OBSERVATION_GRACE: Duration = Duration::from_secs(1);

/// How long to keep observing once the last fault action is done.
pub(crate) fn observation_after_faults(expect: &crate::scenario::Expect) -> Duration {
    expect.recover_within.unwrap_or(DEFAULT_RECOVERY_WINDOW) + OBSERVATION_GRACE
}

/// Every inject and heal of a drill as `(when, fault index, is_inject)`,
/// from the moment steady state held; injections come before heals at the
/// same instant, otherwise by time.
pub(crate) fn fault_schedule(
    faults: &[crate::scenario::Fault],
    steady0: Instant,
) -> Vec<(Instant, usize, bool)> {
    let mut actions = Vec::new();
    for (i, fault) in faults.iter().enumerate() {
        actions.push((steady0 + fault.at, i, true));
        if let Some(heal) = fault.heal_after {
            actions.push((steady0 + fault.at + heal, i, false));
        }
    }
    actions.sort_by_key(|(at, i, inject)| (*at, !*inject, *i));
    actions
}

/// Runs drills.
#[derive(Debug, Clone)]
pub struct Engine {
    config: EngineConfig,
}

impl Engine {
    /// An engine.
    pub fn new(config: EngineConfig) -> Self {
        Engine { config }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Runs every variant of a drill, in file order, against one set of
    /// services, and always tears everything down. Never panics on
    /// environment failures: they become the report's `error`.
    pub async fn run_drill(&self, scenario: &Scenario, cancel: CancellationToken) -> DrillReport {
        let started = Instant::now();
        let seed = self.config.seed.unwrap_or(scenario.drill.seed);
        let mut report = DrillReport {
            drill: scenario.drill.name.clone(),
            path: scenario.path.clone(),
            playbook: scenario.drill.playbook.clone(),
            seed,
            variants: Vec::new(),
            error: None,
            wall: Duration::ZERO,
        };
        let progress = &self.config.progress;
        let name = &scenario.drill.name;

        let kinds: Vec<_> = scenario.services.values().map(|s| s.kind).collect();
        // A drill without services (the process drills) needs no Docker.
        if !kinds.is_empty()
            && let Err(error) = services::preflight(&self.config.images, &kinds).await
        {
            report.error = Some(error.to_string());
            report.wall = started.elapsed();
            return report;
        }
        services::remove_containers_on_interrupt();

        if !scenario.services.is_empty() {
            progress.step(name, "starting containers");
        }
        let specs: Vec<ServiceSpec> = scenario
            .services
            .values()
            .map(|s| ServiceSpec::new(&s.name, s.kind, self.config.firedrill_exe.clone()))
            .collect();
        let started_services = tokio::select! {
            started = services::start_all(&specs, &self.config.images) => started,
            () = cancel.cancelled() => Err(ServiceError::DockerProtocol("interrupted while starting containers".into())),
        };
        let running = match started_services {
            Ok(running) => running,
            Err(error) => {
                report.error = Some(error.to_string());
                report.wall = started.elapsed();
                return report;
            }
        };

        for (index, variant) in scenario.variants.iter().enumerate() {
            if cancel.is_cancelled() {
                break;
            }
            progress.step(
                name,
                &format!("variant {} ({})", variant.name, variant.remedy.as_str()),
            );
            let variant_started = Instant::now();
            let ctx = VariantContext {
                scenario,
                variant,
                index,
                seed,
                services: &running,
                cancel: &cancel,
            };
            // One module per workload kind; each runs the whole variant
            // timeline and returns its report.
            let outcome = match &scenario.workload {
                Workload::WsStream(_) => ws::run_variant(&ctx).await,
                Workload::PgTransfers(_) => pg::run_variant(&ctx).await,
                Workload::SpawnFailure(_) | Workload::AgentTree(_) | Workload::AgentMemory(_) => {
                    process::run_variant(&ctx, &self.config).await
                }
            };
            report.variants.push(match outcome {
                Ok(v) => v,
                Err(error) => {
                    VariantReport::errored(variant, error.to_string(), variant_started.elapsed())
                }
            });
        }

        if !running.is_empty() {
            progress.step(name, "removing containers");
        }
        stop_services(running).await;
        report.wall = started.elapsed();
        report
    }
}

async fn stop_services(running: Vec<RunningService>) {
    futures_util::future::join_all(running.into_iter().map(RunningService::stop)).await;
}
