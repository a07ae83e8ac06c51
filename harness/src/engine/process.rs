//! The process drills (`spawn-failure`, `agent-tree`, `agent-memory`):
//! real fixture processes on this machine, no containers.
//!
//! The fixture programs (`fixture-agent`, `fixture-host`, from the
//! `firedrill-fixtures` crate) are found next to the firedrill executable
//! (the same target directory), or in `$FIREDRILL_FIXTURES_DIR`.
//!
//! Every process a variant starts carries `FIREDRILL_DRILL=<unique tag>` in
//! its environment, so the harness finds the whole tree in `/proc` whatever
//! the remedy does (a daemon that left the group, an orphan reparented).
//! The harness is a child subreaper during these drills: orphans come to it,
//! not to init (which on some machines never reaps), and its teardown kills
//! and reaps every tagged process still there — on pass, fail and error.
//!
//! Timelines:
//! - `spawn-failure`: `t_inject` = the spawn is attempted, `t_detect` = the
//!   failure is reported;
//! - `agent-tree`: `t_inject` = stop requested (or the supervisor
//!   SIGKILLed), `t_recover` = the last process of every tree is gone;
//! - `agent-memory`: `t_inject` = the agents start (the leak starts with
//!   them), `t_detect` = the monitor's first alarm on the leaking agent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::recorder::Recorder;
use super::verdict::{ClockPoints, InvariantResult};
use super::{EngineConfig, EngineError, Judged, VariantContext, VariantReport, timed_events};
use crate::diagnose::process::{
    MonitorView, ProcessRun, SeenProcess, SpawnView, process_diagnostics, redact_numbers,
};
use crate::remedies::events::{Event, EventSink, parse_event_line};
use crate::remedies::leak::{self, LeakMonitor, LeakMonitorConfig, Trend};
use crate::remedies::spawn::Diagnosis;
use crate::remedies::supervisor::{
    self, AgentSpec, NaiveProcessManager, Supervisor,
    procfs::{self, ProcInfo},
};
use crate::scenario::{
    AgentMemory, AgentTree, Invariant, Remedy, SpawnFailure, SpawnFailureKind, TreeEnd, Workload,
};

/// The environment variable that marks a drill's processes.
pub const TAG_VAR: &str = "FIREDRILL_DRILL";
/// Where the fixture programs are, when not next to firedrill.
pub const FIXTURES_DIR_VAR: &str = "FIREDRILL_FIXTURES_DIR";
/// How often `/proc` is read while observing.
const POLL: Duration = Duration::from_millis(10);
/// Observation past the recovery bound, so "not recovered" is certain.
const OBSERVATION_GRACE: Duration = Duration::from_secs(1);
/// The longest the teardown waits for the kernel to finish killed processes.
const CLEANUP_LIMIT: Duration = Duration::from_secs(5);
const MIB: u64 = 1024 * 1024;

/// A fixture program, or the fix when it is missing.
pub fn fixture(config: &EngineConfig, name: &str) -> Result<PathBuf, String> {
    let dir = std::env::var_os(FIXTURES_DIR_VAR)
        .map(PathBuf::from)
        .or_else(|| config.firedrill_exe.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "fixture program {} not found: build it with `cargo build --workspace` (same profile as firedrill: add --release for a release firedrill), or set {FIXTURES_DIR_VAR}",
            path.display()
        ))
    }
}

/// A unique tag per variant run in this process.
fn new_tag(ctx: &VariantContext<'_>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}.{}.{}.{}",
        ctx.scenario.drill.name,
        ctx.variant.name,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every process that ever carried the tag, so zombies (which have no
/// environment left) and orphans are still found.
struct Tracker {
    /// The drill's tag (the value of its environment variable).
    tag: String,
    entry: String,
    /// pid → (start ticks, role).
    seen: BTreeMap<i32, (u64, String)>,
    /// Processes the harness itself spawned: their owners reap them.
    direct: Vec<i32>,
}

impl Tracker {
    fn new(tag: &str) -> Tracker {
        Tracker {
            tag: tag.to_owned(),
            entry: format!("{TAG_VAR}={tag}"),
            seen: BTreeMap::new(),
            direct: Vec::new(),
        }
    }

    /// Reads `/proc`; returns the drill's processes present now (alive or
    /// zombie) and remembers new ones.
    fn refresh(&mut self) -> Vec<ProcInfo> {
        let table = procfs::all();
        let mut present = Vec::new();
        for p in table {
            let known = self
                .seen
                .get(&p.pid)
                .is_some_and(|(start, _)| *start == p.start_ticks);
            if known {
                // A fork is first seen with its parent's command line; once
                // it execs, its real role shows. Only "agent" is provisional.
                if let Some((_, role)) = self.seen.get_mut(&p.pid)
                    && role == "agent"
                {
                    let now = role_of(&p, &self.direct);
                    if now != "agent" {
                        *role = now;
                    }
                }
                present.push(p);
            } else if procfs::environ_contains(p.pid, &self.entry) {
                let role = role_of(&p, &self.direct);
                self.seen.insert(p.pid, (p.start_ticks, role));
                present.push(p);
            }
        }
        present
    }

    fn role(&self, pid: i32) -> String {
        self.seen
            .get(&pid)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    }

    fn seen_processes(&self, present: &[ProcInfo]) -> Vec<SeenProcess> {
        present
            .iter()
            .map(|p| SeenProcess {
                role: self.role(p.pid),
                state: p.state,
                rss_bytes: p.rss_bytes,
                own_session: p.sid == p.pid,
            })
            .collect()
    }

    /// Agents, grandchildren and daemons present and not zombies.
    fn workers_alive(present: &[ProcInfo], tracker: &Tracker) -> usize {
        present
            .iter()
            .filter(|p| !p.is_zombie())
            .filter(|p| {
                matches!(
                    tracker.role(p.pid).as_str(),
                    "agent" | "grandchild" | "daemon"
                )
            })
            .count()
    }
}

/// A process's role, from its command line.
fn role_of(p: &ProcInfo, direct: &[i32]) -> String {
    let cmdline = procfs::cmdline(p.pid);
    let role = if cmdline.contains("--role grandchild") {
        "grandchild"
    } else if cmdline.contains("--role daemon") {
        "daemon"
    } else if cmdline.contains("fixture-host") {
        // A guard is a fork of its supervisor that never exec'd.
        if direct.contains(&p.pid) {
            "supervisor"
        } else {
            "guard"
        }
    } else {
        "agent"
    };
    role.to_owned()
}

/// What the teardown found and did.
struct Cleanup {
    /// Roles of the drill's processes still there.
    left: Vec<String>,
    /// Every one is gone now.
    all_cleaned: bool,
}

/// Kills every process of the drill still there and reaps the ones that
/// are this process's (adopted) children.
async fn cleanup(tracker: &mut Tracker) -> Cleanup {
    let present = tracker.refresh();
    let left: Vec<String> = present.iter().map(|p| tracker.role(p.pid)).collect();
    let pids: Vec<i32> = present.iter().map(|p| p.pid).collect();
    let direct = tracker.direct.clone();
    // Direct children are killed but reaped by their owners (tokio).
    for pid in pids.iter().filter(|p| direct.contains(p)) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let adopted: Vec<i32> = pids.into_iter().filter(|p| !direct.contains(p)).collect();
    let not_reaped =
        tokio::task::spawn_blocking(move || supervisor::kill_and_reap(&adopted, CLEANUP_LIMIT))
            .await
            .unwrap_or_default();
    // Direct children: wait (bounded) for their owners to reap them.
    let deadline = Instant::now() + CLEANUP_LIMIT;
    while direct.iter().any(|pid| procfs::read(*pid).is_some()) && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
    let direct_left = direct.iter().any(|pid| procfs::read(*pid).is_some());
    Cleanup {
        left,
        all_cleaned: not_reaped.is_empty() && !direct_left,
    }
}

/// What a workload run measured, before judging.
struct Run {
    points: ClockPoints,
    invariants: Vec<InvariantResult>,
    inject: Option<Instant>,
    fault_end: Option<Instant>,
    at_fault: Option<Vec<SeenProcess>>,
    at_end: Option<Vec<SeenProcess>>,
    spawn: Option<SpawnView>,
    monitors: Vec<MonitorView>,
}

pub(crate) async fn run_variant(
    ctx: &VariantContext<'_>,
    config: &EngineConfig,
) -> Result<VariantReport, EngineError> {
    let origin = Instant::now();
    // Orphans of this drill must come to us, not to init.
    if let Err(error) = supervisor::become_subreaper() {
        return Ok(VariantReport::errored(
            ctx.variant,
            format!("failed to become a child subreaper: {error}"),
            origin.elapsed(),
        ));
    }
    let tag = new_tag(ctx);
    let mut tracker = Tracker::new(&tag);
    let recorder = Arc::new(Recorder::default());
    let result = tokio::select! {
        result = drive(ctx, config, &tag, &mut tracker, &recorder, origin) => result,
        () = ctx.cancel.cancelled() => Err("interrupted".to_owned()),
    };
    // Teardown on every path: nothing of the drill may survive it.
    let cleanup = cleanup(&mut tracker).await;
    let run = match result {
        Ok(run) => run,
        Err(message) => {
            return Ok(VariantReport::errored(
                ctx.variant,
                message,
                origin.elapsed(),
            ));
        }
    };
    Ok(judge(ctx, &recorder, run, cleanup, origin))
}

async fn drive(
    ctx: &VariantContext<'_>,
    config: &EngineConfig,
    tag: &str,
    tracker: &mut Tracker,
    recorder: &Arc<Recorder>,
    origin: Instant,
) -> Result<Run, String> {
    let agent = fixture(config, "fixture-agent")?;
    match &ctx.scenario.workload {
        Workload::SpawnFailure(spawn) => {
            let host = fixture(config, "fixture-host")?;
            spawn_failure(ctx, spawn, &agent, &host, tag, recorder, origin).await
        }
        Workload::AgentTree(tree) => match tree.end {
            TreeEnd::Stop => tree_stop(ctx, tree, &agent, tracker, recorder, origin).await,
            TreeEnd::KillSupervisor => {
                let host = fixture(config, "fixture-host")?;
                tree_kill(ctx, tree, &agent, &host, tracker, recorder, origin).await
            }
        },
        Workload::AgentMemory(memory) => {
            memory_run(ctx, memory, &agent, tag, tracker, recorder, origin).await
        }
        other => Err(format!("{} is not a process workload", other.kind_name())),
    }
}

fn judge(
    ctx: &VariantContext<'_>,
    recorder: &Recorder,
    mut run: Run,
    cleanup: Cleanup,
    origin: Instant,
) -> VariantReport {
    let events = recorder.snapshot();
    // The snapshot covers the drill's observation; what the teardown caused
    // (exits of killed survivors) is in the journal only, as its timing
    // against the teardown is not stable.
    let observed: Vec<_> = events
        .iter()
        .filter(|e| run.fault_end.is_none_or(|end| e.at <= end))
        .cloned()
        .collect();
    let mut judged = Judged::new(ctx, run.points, std::mem::take(&mut run.invariants));
    let cleanup_roles = (!cleanup.left.is_empty()).then_some(cleanup.left.as_slice());
    let diagnostics = process_diagnostics(ProcessRun {
        scenario: ctx.scenario,
        variant: ctx.variant,
        events: &observed,
        inject: run.inject,
        fault_end: run.fault_end,
        at_fault: run.at_fault.as_deref(),
        at_end: run.at_end.as_deref(),
        cleanup: cleanup_roles.map(|roles| (roles, cleanup.all_cleaned)),
        spawn: run.spawn.take(),
        monitors: std::mem::take(&mut run.monitors),
        checks: &judged.checks,
        outcome: &judged.outcome,
    });
    if !cleanup.all_cleaned {
        // Not a check of the remedy, but never silent: the journal says so.
        judged.invariants.push(InvariantResult {
            invariant: Invariant::NoOrphans,
            holds: false,
            detail: format!(
                "the harness could not clean up: {:?} still present",
                cleanup.left
            ),
        });
    }
    VariantReport::judged(
        ctx.variant,
        judged,
        Vec::new(),
        timed_events(&events, origin),
        diagnostics,
        origin.elapsed(),
    )
}

// ---- spawn-failure ------------------------------------------------------

/// What the probe (`fixture-host spawn-probe`) printed.
#[derive(Debug, serde::Deserialize)]
struct ProbeLine {
    spawned: bool,
    diagnosis: Option<Diagnosis>,
    error: Option<String>,
}

async fn spawn_failure(
    ctx: &VariantContext<'_>,
    spawn: &SpawnFailure,
    agent: &Path,
    host: &Path,
    tag: &str,
    recorder: &Arc<Recorder>,
    origin: Instant,
) -> Result<Run, String> {
    let dir = TempDir::new(tag)?;
    let tmp = dir.path().display().to_string();
    let mut args: Vec<String> = vec![
        "spawn-probe".into(),
        "--remedy".into(),
        if ctx.variant.remedy == Remedy::SpawnNaive {
            "naive"
        } else {
            "diagnosed"
        }
        .into(),
    ];
    let write = |name: &str, body: &[u8], mode: u32| -> Result<String, String> {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join(name);
        std::fs::write(&path, body)
            .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("failed to chmod {}: {e}", path.display()))?;
        Ok(path.display().to_string())
    };
    let program = match spawn.failure {
        SpawnFailureKind::Enoent => {
            // The real program is on PATH; the agent's name is misspelt.
            std::os::unix::fs::symlink(agent, dir.path().join("fixture-agent"))
                .map_err(|e| format!("failed to link the fixture agent: {e}"))?;
            args.extend(["--path".into(), format!("{tmp}:/usr/bin:/bin")]);
            "fixture-agnet".to_owned()
        }
        SpawnFailureKind::Eacces => write("agent.sh", b"#!/bin/sh\necho '{}'\n", 0o644)?,
        // Looks like ELF, is not: the kernel refuses the format.
        SpawnFailureKind::Enoexec => write("agent.bin", b"\x7fELF\x02\x01\x01not-really", 0o755)?,
        SpawnFailureKind::Emfile => {
            // The rlimit is set in the probe's own set-up, before it spawns.
            args.extend(["--nofile".into(), "3".into()]);
            agent.display().to_string()
        }
        SpawnFailureKind::E2big => {
            args.extend(["--pad-args".into(), (4 * MIB).to_string()]);
            agent.display().to_string()
        }
    };
    args.push("--".into());
    args.push(program);
    let t_inject = Instant::now();
    let output = tokio::time::timeout(
        ctx.scenario.drill.timeout,
        tokio::process::Command::new(host)
            .args(&args)
            .env(TAG_VAR, tag)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "the spawn probe did not answer within the drill timeout".to_owned())?
    .map_err(|e| format!("failed to run {}: {e}", host.display()))?;
    let t_reported = Instant::now();
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    let probe: ProbeLine = serde_json::from_str(line).map_err(|e| {
        format!(
            "the spawn probe printed {line:?} ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;
    let expected = spawn.failure.errno();
    // Limits and sizes depend on the machine and the environment's size.
    let machine_dependent = matches!(
        spawn.failure,
        SpawnFailureKind::Emfile | SpawnFailureKind::E2big
    );
    let redact = |s: &str| {
        let s = s.replace(&tmp, "$TMP");
        if machine_dependent {
            redact_numbers(&s)
        } else {
            s
        }
    };
    if probe.spawned {
        return Err(format!(
            "the spawn succeeded: the {} fault was not produced",
            spawn.failure.as_str()
        ));
    }
    let (view, detected, diagnosed) = match (&probe.diagnosis, &probe.error) {
        (Some(d), _) => {
            recorder.record(
                "probe",
                Event::SpawnFailed {
                    error: d.errno.clone(),
                },
            );
            let right = d.errno == expected && !d.cause.is_empty() && !d.fix.is_empty();
            let enoent_ok = spawn.failure != SpawnFailureKind::Enoent
                || (!d.searched.is_empty() && d.near_matches.iter().any(|m| m == "fixture-agent"));
            (
                Some(SpawnView {
                    errno: d.errno.clone(),
                    cause: redact(&d.cause),
                    fix: Some(redact(&d.fix)),
                    near_matches: d.near_matches.clone(),
                }),
                true,
                InvariantResult {
                    invariant: Invariant::Diagnosed,
                    holds: right && enoent_ok,
                    detail: format!("{}: {} — fix: {}", d.errno, d.cause, d.fix),
                },
            )
        }
        (None, Some(error)) => {
            recorder.record(
                "probe",
                Event::SpawnFailed {
                    error: error.clone(),
                },
            );
            (
                Some(SpawnView {
                    errno: "unclassified".to_owned(),
                    cause: redact(error),
                    fix: None,
                    near_matches: Vec::new(),
                }),
                true,
                InvariantResult {
                    invariant: Invariant::Diagnosed,
                    holds: false,
                    detail: format!(
                        "the error says only {error:?}: no cause ({expected}) named, no PATH, no fix"
                    ),
                },
            )
        }
        (None, None) => return Err(format!("the spawn probe printed {line:?}")),
    };
    let observed_until = Instant::now();
    let offset = |at: Instant| at.saturating_duration_since(origin);
    Ok(Run {
        points: ClockPoints {
            t_steady0: Some(offset(t_inject)),
            t_inject: Some(offset(t_inject)),
            t_detect: detected.then(|| offset(t_reported)),
            t_heal: None,
            t_recover: None,
            t_steady: None,
            observed_until: offset(observed_until),
        },
        invariants: vec![diagnosed],
        inject: Some(t_inject),
        fault_end: Some(observed_until),
        at_fault: None,
        at_end: None,
        spawn: view,
        monitors: Vec::new(),
    })
}

/// A private directory for a drill's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<TempDir, String> {
        let path = std::env::temp_dir().join(format!("firedrill-{tag}"));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("failed to create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- agent-tree ---------------------------------------------------------

fn agent_args(tree: &AgentTree) -> Vec<String> {
    let mut args = vec![
        "--grandchildren".to_owned(),
        tree.grandchildren.to_string(),
        "--daemons".to_owned(),
        tree.daemons.to_string(),
    ];
    if tree.ignore_sigterm {
        args.push("--ignore-sigterm".to_owned());
    }
    args
}

/// Waits until every tree is complete; returns when, or an error.
async fn wait_for_trees(
    ctx: &VariantContext<'_>,
    tree: &AgentTree,
    tracker: &mut Tracker,
) -> Result<Instant, String> {
    let expected = (tree.agents * (1 + tree.grandchildren + tree.daemons)) as usize;
    let want = [
        ("agent", tree.agents as usize),
        ("grandchild", (tree.agents * tree.grandchildren) as usize),
        ("daemon", (tree.agents * tree.daemons) as usize),
    ];
    let deadline = Instant::now() + ctx.scenario.steady.timeout;
    loop {
        let present = tracker.refresh();
        let alive = Tracker::workers_alive(&present, tracker);
        // Every process must also show its final role (forks exec their
        // role), so what is seen at the fault is the same tree every run.
        let complete = want.iter().all(|(role, n)| {
            present
                .iter()
                .filter(|p| !p.is_zombie() && tracker.role(p.pid) == *role)
                .count()
                >= *n
        });
        if alive >= expected && complete {
            return Ok(Instant::now());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "steady state never held: {alive} of {expected} agent processes started"
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Observes from `t_inject` until every process of the drill is gone
/// (reaped), or `until`. Returns when the last one went.
async fn observe_until_gone(tracker: &mut Tracker, until: Instant) -> Option<Instant> {
    loop {
        reap_adopted(tracker);
        let present = tracker.refresh();
        // The supervisor host is reaped by us after its SIGKILL; everything
        // else must be gone, zombies included.
        if present
            .iter()
            .all(|p| tracker.direct.contains(&p.pid) && p.is_zombie())
        {
            return Some(Instant::now());
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Reaps the drill's zombies that are this process's children without
/// being its own spawns: processes it adopted as a subreaper when their
/// parent died (a SIGKILLed supervisor's guards). Init would do this for a
/// real supervisor; here the harness stands in for init.
fn reap_adopted(tracker: &mut Tracker) {
    let me = std::process::id() as i32;
    for p in tracker.refresh() {
        if p.is_zombie() && p.ppid == me && !tracker.direct.contains(&p.pid) {
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(p.pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

fn tree_invariants(tracker: &Tracker, present: &[ProcInfo]) -> Vec<InvariantResult> {
    let count = |zombie: bool| -> BTreeMap<String, usize> {
        let mut roles = BTreeMap::new();
        for p in present.iter().filter(|p| p.is_zombie() == zombie) {
            if tracker.direct.contains(&p.pid) {
                continue;
            }
            *roles.entry(tracker.role(p.pid)).or_insert(0) += 1;
        }
        roles
    };
    let describe = |roles: &BTreeMap<String, usize>| {
        roles
            .iter()
            .map(|(role, n)| format!("{role} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let alive = count(false);
    let zombies = count(true);
    let survivors: usize = alive.values().sum();
    let unreaped: usize = zombies.values().sum();
    vec![
        InvariantResult {
            invariant: Invariant::NoOrphans,
            holds: survivors == 0,
            detail: if survivors == 0 {
                "every process of every tree is gone".to_owned()
            } else {
                format!("{survivors} processes survived: {}", describe(&alive))
            },
        },
        InvariantResult {
            invariant: Invariant::NoZombies,
            holds: unreaped == 0,
            detail: if unreaped == 0 {
                "no process left unreaped".to_owned()
            } else {
                format!("{unreaped} zombies: {}", describe(&zombies))
            },
        },
    ]
}

fn observation_limit(ctx: &VariantContext<'_>, tree: &AgentTree) -> Duration {
    ctx.scenario
        .expect
        .recover_within
        .unwrap_or(tree.grace + Duration::from_secs(2))
        + OBSERVATION_GRACE
}

/// Stop requested: the supervisor runs in this process.
async fn tree_stop(
    ctx: &VariantContext<'_>,
    tree: &AgentTree,
    agent: &Path,
    tracker: &mut Tracker,
    recorder: &Arc<Recorder>,
    origin: Instant,
) -> Result<Run, String> {
    let sink: Arc<dyn EventSink> = recorder.clone();
    let naive = ctx.variant.remedy == Remedy::ProcessSupervisorNaive;
    let mut hardened = Supervisor::new(tree.grace, sink.clone());
    let mut playbook = NaiveProcessManager::new(tree.grace, sink);
    for i in 0..tree.agents {
        let mut spec = AgentSpec::new(format!("agent{i}"), agent).env(TAG_VAR, &tracker.tag);
        for arg in agent_args(tree) {
            spec = spec.arg(arg);
        }
        let pid = if naive {
            playbook.spawn(&spec)
        } else {
            hardened.spawn(&spec)
        }
        .map_err(|e| e.to_string())?;
        tracker.direct.push(pid as i32);
    }
    let (steady0, at_fault) = settle(ctx, tree, tracker).await?;
    let t_inject = Instant::now();
    let until = t_inject + observation_limit(ctx, tree);
    // The stop and the observation run together: the drill watches /proc
    // while the remedy works.
    let (_, gone) = {
        let stop = async {
            if naive {
                playbook.stop_all().await
            } else {
                hardened.stop_all().await
            }
        };
        let tracker_ref = &mut *tracker;
        tokio::join!(stop, observe_until_gone(tracker_ref, until))
    };
    let run = tree_run(tracker, origin, (steady0, t_inject, gone), at_fault);
    // Dropping the hardened supervisor earlier would have killed what was
    // left; the teardown does that for both variants, after the evidence.
    drop(hardened);
    Ok(run)
}

/// The supervisor runs in its own process (`fixture-host supervise`),
/// which the drill SIGKILLs; it prints its remedy events on stdout, and they
/// are recorded as they arrive.
async fn tree_kill(
    ctx: &VariantContext<'_>,
    tree: &AgentTree,
    agent: &Path,
    host: &Path,
    tracker: &mut Tracker,
    recorder: &Arc<Recorder>,
    origin: Instant,
) -> Result<Run, String> {
    let naive = ctx.variant.remedy == Remedy::ProcessSupervisorNaive;
    let mut command = tokio::process::Command::new(host);
    command
        .arg("supervise")
        .arg("--remedy")
        .arg(if naive { "naive" } else { "hardened" })
        .arg("--agents")
        .arg(tree.agents.to_string())
        .arg("--grace")
        .arg(crate::scenario::format_duration(tree.grace))
        .arg("--")
        .arg(agent)
        .args(agent_args(tree))
        .env(TAG_VAR, &tracker.tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut supervisor = command
        .spawn()
        .map_err(|e| format!("failed to start {}: {e}", host.display()))?;
    let host_pid = supervisor.id().unwrap_or(0) as i32;
    tracker.direct.push(host_pid);
    // Record its events, and drain the rest so it never blocks on a full
    // pipe.
    if let Some(stdout) = supervisor.stdout.take() {
        let recorder = Arc::clone(recorder);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((source, event)) = parse_event_line(&line) {
                    recorder.record(&source, event);
                }
            }
        });
    }
    let (steady0, at_fault) = settle(ctx, tree, tracker).await?;
    let t_inject = Instant::now();
    supervisor
        .start_kill()
        .map_err(|e| format!("failed to SIGKILL the supervisor: {e}"))?;
    let until = t_inject + observation_limit(ctx, tree);
    let reaped = tokio::time::timeout(Duration::from_secs(5), supervisor.wait()).await;
    if !matches!(reaped, Ok(Ok(_))) {
        return Err("the SIGKILLed supervisor was not reaped within 5s".to_owned());
    }
    tracker.direct.retain(|pid| *pid != host_pid);
    let gone = observe_until_gone(tracker, until).await;
    Ok(tree_run(
        tracker,
        origin,
        (steady0, t_inject, gone),
        at_fault,
    ))
}

/// Waits until the trees are complete, lets them run for `end_at`, and
/// returns when steady state held and the processes present at the fault.
async fn settle(
    ctx: &VariantContext<'_>,
    tree: &AgentTree,
    tracker: &mut Tracker,
) -> Result<(Instant, Vec<SeenProcess>), String> {
    let steady0 = wait_for_trees(ctx, tree, tracker).await?;
    tokio::time::sleep(tree.end_at).await;
    let present = tracker.refresh();
    Ok((steady0, tracker.seen_processes(&present)))
}

/// The run of a tree drill once observation ended: the clock (steady state,
/// injection, the moment every process was gone) and the tree as `/proc`
/// shows it now.
fn tree_run(
    tracker: &mut Tracker,
    origin: Instant,
    (steady0, t_inject, gone): (Instant, Instant, Option<Instant>),
    at_fault: Vec<SeenProcess>,
) -> Run {
    let observed_until = Instant::now();
    let present = tracker.refresh();
    let invariants = tree_invariants(tracker, &present);
    let at_end = tracker.seen_processes(&present);
    let offset = |at: Instant| at.saturating_duration_since(origin);
    Run {
        points: ClockPoints {
            t_steady0: Some(offset(steady0)),
            t_inject: Some(offset(t_inject)),
            t_detect: None,
            t_heal: None,
            t_recover: gone.map(offset),
            t_steady: gone.map(offset),
            observed_until: offset(observed_until),
        },
        invariants,
        inject: Some(t_inject),
        fault_end: Some(observed_until),
        at_fault: Some(at_fault),
        at_end: Some(at_end),
        spawn: None,
        monitors: Vec::new(),
    }
}

// ---- agent-memory -------------------------------------------------------

async fn memory_run(
    ctx: &VariantContext<'_>,
    memory: &AgentMemory,
    agent: &Path,
    tag: &str,
    tracker: &mut Tracker,
    recorder: &Arc<Recorder>,
    origin: Instant,
) -> Result<Run, String> {
    let trend = if ctx.variant.remedy == Remedy::LeakMonitorNaive {
        Trend::FirstVsLast
    } else {
        Trend::LeastSquares
    };
    // The agents run under the hardened supervisor in both variants: only
    // the monitor differs.
    let mut supervisor = Supervisor::new(
        Duration::from_millis(200),
        Arc::new(crate::remedies::events::NoEvents),
    );
    let leak_spec = AgentSpec::new("leak", agent)
        .env(TAG_VAR, tag)
        .arg("--leak-mib-per-sec")
        .arg(memory.leak_mib_per_sec.to_string());
    let saw_spec = AgentSpec::new("sawtooth", agent)
        .env(TAG_VAR, tag)
        .arg("--sawtooth-peak-mib")
        .arg(memory.sawtooth_peak_mib.to_string())
        .arg("--sawtooth-period")
        .arg(crate::scenario::format_duration(memory.sawtooth_period));
    let t_inject = Instant::now();
    let mut agents = Vec::new();
    for spec in [&leak_spec, &saw_spec] {
        let guard = supervisor.spawn(spec).map_err(|e| e.to_string())? as i32;
        tracker.direct.push(guard);
        agents.push((spec.name.clone(), guard));
    }
    // Watch the agent itself (the guard's only child).
    let mut watched = Vec::new();
    let deadline = Instant::now() + ctx.scenario.steady.timeout;
    for (name, guard) in &agents {
        let pid = loop {
            if let Some(p) = procfs::descendants(*guard, &procfs::all()).first() {
                break p.pid;
            }
            if Instant::now() >= deadline {
                return Err(format!("agent {name} never started"));
            }
            tokio::time::sleep(POLL).await;
        };
        watched.push((name.clone(), pid));
    }
    tracker.refresh();
    let config = LeakMonitorConfig {
        window: memory.window,
        threshold_bytes_per_sec: f64::from(memory.threshold_mib_per_sec) * MIB as f64,
    };
    let cancel = CancellationToken::new();
    let watchers: Vec<_> = watched
        .iter()
        .map(|(name, pid)| {
            tokio::spawn(leak::watch(
                *pid,
                memory.sample_every,
                LeakMonitor::new(config, trend),
                name.clone(),
                recorder.clone() as Arc<dyn EventSink>,
                cancel.clone(),
            ))
        })
        .collect();
    let alarm_of = |name: &str| {
        recorder
            .snapshot()
            .into_iter()
            .find(|r| r.source == name && matches!(r.event, Event::LeakSuspected { .. }))
            .map(|r| r.at)
    };
    let hard_deadline = origin + ctx.scenario.drill.timeout;
    let bound = ctx
        .scenario
        .expect
        .detect_within
        .unwrap_or(memory.window * 2)
        + OBSERVATION_GRACE;
    let observe_until = (t_inject + memory.observe.max(bound)).min(hard_deadline);
    while Instant::now() < observe_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    for watcher in watchers {
        let _ = watcher.await;
    }
    let observed_until = Instant::now();
    let detected = alarm_of("leak");
    let false_alarm = alarm_of("sawtooth");
    drop(supervisor);
    let offset = |at: Instant| at.saturating_duration_since(origin);
    let rate = |name: &str| {
        recorder.snapshot().into_iter().find_map(|r| match r.event {
            Event::LeakSuspected { bytes_per_sec, .. } if r.source == name => {
                Some(bytes_per_sec as f64 / MIB as f64)
            }
            _ => None,
        })
    };
    Ok(Run {
        points: ClockPoints {
            t_steady0: Some(offset(t_inject)),
            t_inject: Some(offset(t_inject)),
            t_detect: detected.map(offset),
            t_heal: None,
            t_recover: None,
            t_steady: None,
            observed_until: offset(observed_until),
        },
        invariants: vec![InvariantResult {
            invariant: Invariant::NoFalseAlarm,
            holds: false_alarm.is_none(),
            detail: match (false_alarm, rate("sawtooth")) {
                (None, _) => format!(
                    "no alarm on the healthy sawtooth (peak {} MiB every {}) in {}",
                    memory.sawtooth_peak_mib,
                    crate::scenario::format_duration(memory.sawtooth_period),
                    crate::scenario::format_duration(observed_until - t_inject)
                ),
                (Some(at), rate) => format!(
                    "false alarm on the healthy sawtooth {} after start ({:.1} MiB/s)",
                    crate::scenario::format_duration(at - t_inject),
                    rate.unwrap_or_default()
                ),
            },
        }],
        inject: Some(t_inject),
        fault_end: Some(observed_until),
        at_fault: None,
        at_end: None,
        spawn: None,
        monitors: vec![
            MonitorView {
                agent: "leak".to_owned(),
                alarmed: detected.is_some(),
            },
            MonitorView {
                agent: "sawtooth".to_owned(),
                alarmed: false_alarm.is_some(),
            },
        ],
    })
}
