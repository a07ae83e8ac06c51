//! Zombie Process Prevention: supervising agent processes.
//!
//! - [`Supervisor`], hardened: every agent in its own process group behind a
//!   guard (see `unix.rs`); stop = SIGTERM to the whole tree, then SIGKILL
//!   after the grace period to whatever is still alive, judged by the
//!   processes really having exited (the guard exits only when the tree is
//!   gone); every child reaped; agents die with the supervisor even when it
//!   is SIGKILLed.
//! - [`NaiveProcessManager`], the playbook's `ProcessManager` as written: a
//!   child counts as killed once a signal was *sent* (`child.killed`), so a
//!   child that ignores SIGTERM is never SIGKILLed; no process group, so
//!   grandchildren are orphaned.
//!
//! Both report through [`EventSink`] only. Linux only (`/proc`, prctl).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use firedrill::remedies::events::NoEvents;
//! use firedrill::remedies::supervisor::{AgentSpec, Supervisor};
//! let mut supervisor = Supervisor::new(Duration::from_secs(2), Arc::new(NoEvents));
//! supervisor.spawn(&AgentSpec::new("agent", "sleep").arg("1000"))?;
//! let report = supervisor.stop_all().await;
//! assert!(report.all_gone());
//! # Ok(()) }
//! ```

pub mod procfs;
mod unix;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::events::{Event, EventSink};

/// How often a stop re-reads the tree and checks for exits.
const STOP_POLL: Duration = Duration::from_millis(10);
/// After SIGKILL, the longest wait for the kernel to finish the tree.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What to run as an agent.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// Names the agent in events.
    pub name: String,
    /// The program (a path, or a name looked up on PATH).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
}

impl AgentSpec {
    /// An agent running `program` with no arguments.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> Self {
        AgentSpec {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }
}

/// Why an agent could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The spawn failed.
    #[error("failed to spawn agent {name}: {source}")]
    Spawn {
        /// The agent.
        name: String,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// How a stop went, per agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReport {
    /// One entry per agent, in spawn order.
    pub agents: Vec<AgentStop>,
}

impl StopReport {
    /// Whether every agent's tree is gone.
    pub fn all_gone(&self) -> bool {
        self.agents.iter().all(|a| a.gone)
    }
}

/// How one agent's stop went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStop {
    /// The agent.
    pub name: String,
    /// SIGKILL was needed after the grace period.
    pub escalated: bool,
    /// The whole tree is gone (for the naive manager: what it believes).
    pub gone: bool,
    /// How long the stop took.
    pub took: Duration,
}

/// One supervised agent: the guard (our child) and what we know of its tree.
#[derive(Debug)]
struct Agent {
    name: String,
    guard: Child,
    guard_pid: i32,
}

/// The hardened supervisor. Dropping it SIGKILLs every tree it still runs.
pub struct Supervisor {
    grace: Duration,
    sink: Arc<dyn EventSink>,
    agents: Vec<Agent>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("grace", &self.grace)
            .field("agents", &self.agents)
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A supervisor whose stops wait `grace` after SIGTERM before SIGKILL.
    pub fn new(grace: Duration, sink: Arc<dyn EventSink>) -> Self {
        Supervisor {
            grace,
            sink,
            agents: Vec::new(),
        }
    }

    /// Starts an agent behind its guard; returns the guard's pid.
    pub fn spawn(&mut self, spec: &AgentSpec) -> Result<u32, SupervisorError> {
        let mut command = spec.command();
        command.kill_on_drop(true);
        unix::install_guard(&mut command);
        let guard = command.spawn().map_err(|source| SupervisorError::Spawn {
            name: spec.name.clone(),
            source,
        })?;
        let pid = guard.id().unwrap_or(0);
        self.sink.record(&spec.name, Event::ProcessStarted { pid });
        self.agents.push(Agent {
            name: spec.name.clone(),
            guard,
            guard_pid: pid as i32,
        });
        Ok(pid)
    }

    /// Pids of the processes this supervisor spawned directly (the guards).
    pub fn child_pids(&self) -> Vec<u32> {
        self.agents.iter().map(|a| a.guard_pid as u32).collect()
    }

    /// Stops every agent at once: SIGTERM to each whole tree, SIGKILL to
    /// what is still alive after the grace period, and waits until each
    /// tree is really gone (bounded by grace + 5 s).
    pub async fn stop_all(&mut self) -> StopReport {
        let grace = self.grace;
        let sink = &self.sink;
        let stops = self
            .agents
            .iter_mut()
            .map(|agent| stop_tree(agent, grace, sink.as_ref()));
        let agents = futures_util::future::join_all(stops).await;
        self.agents.clear();
        StopReport { agents }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for agent in &mut self.agents {
            let tree = Tree::of(agent.guard_pid);
            tree.signal(Signal::SIGKILL);
            // The guard last (kill_on_drop would do it too): it reaps the rest.
            let _ = agent.guard.start_kill();
        }
    }
}

/// The processes below a guard, as last seen in `/proc`.
struct Tree {
    guard: i32,
    members: Vec<procfs::ProcInfo>,
}

impl Tree {
    fn of(guard: i32) -> Tree {
        Tree {
            guard,
            members: procfs::descendants(guard, &procfs::all()),
        }
    }

    /// Sends `signal` to every member's process group (except ours and the
    /// guard's) and to every member itself. Returns how many were addressed.
    fn signal(&self, signal: Signal) -> usize {
        let own = nix::unistd::getpgrp().as_raw();
        let groups: BTreeSet<i32> = self
            .members
            .iter()
            .map(|p| p.pgid)
            .filter(|g| *g != own && *g != self.guard && *g > 1)
            .collect();
        for group in groups {
            let _ = killpg(Pid::from_raw(group), signal);
        }
        for member in &self.members {
            let _ = kill(Pid::from_raw(member.pid), signal);
        }
        self.members.len()
    }

    fn alive(&self) -> usize {
        self.members.iter().filter(|p| !p.is_zombie()).count()
    }
}

async fn stop_tree(agent: &mut Agent, grace: Duration, sink: &dyn EventSink) -> AgentStop {
    let started = Instant::now();
    let mut tree = Tree::of(agent.guard_pid);
    let processes = tree.signal(Signal::SIGTERM);
    sink.record(
        &agent.name,
        Event::SignalSent {
            signal: "SIGTERM".into(),
            processes,
        },
    );
    let deadline = started + grace;
    let mut escalated = false;
    let kill_deadline = deadline + KILL_WAIT;
    loop {
        match agent.guard.try_wait() {
            Ok(Some(status)) => {
                sink.record(
                    &agent.name,
                    Event::ProcessExited {
                        status: describe_status(status),
                    },
                );
                return AgentStop {
                    name: agent.name.clone(),
                    escalated,
                    gone: true,
                    took: started.elapsed(),
                };
            }
            Ok(None) => {}
            Err(_) => break,
        }
        let now = Instant::now();
        if now >= kill_deadline {
            break;
        }
        // Re-read the tree: it may have forked since.
        tree = Tree::of(agent.guard_pid);
        if now >= deadline {
            if !escalated {
                escalated = true;
                sink.record(
                    &agent.name,
                    Event::StopEscalated {
                        survivors: tree.alive(),
                    },
                );
                let processes = tree.signal(Signal::SIGKILL);
                sink.record(
                    &agent.name,
                    Event::SignalSent {
                        signal: "SIGKILL".into(),
                        processes,
                    },
                );
            } else {
                // Anything forked between the reads.
                tree.signal(Signal::SIGKILL);
            }
        }
        tokio::time::sleep(STOP_POLL).await;
    }
    AgentStop {
        name: agent.name.clone(),
        escalated,
        gone: false,
        took: started.elapsed(),
    }
}

/// Makes this process a child subreaper: descendants orphaned by their
/// parent are reparented to it rather than to init, so it can find and reap
/// them (some inits never reap).
pub fn become_subreaper() -> std::io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)
}

/// SIGKILLs `pids` and reaps each one that is, or becomes, a child of this
/// process, until all are gone from `/proc` or `limit` passes; returns the
/// pids still present. Never pass a child some other code waits for (a
/// tokio `Child`): its exit status would be taken from it.
pub fn kill_and_reap(pids: &[i32], limit: Duration) -> Vec<i32> {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    let deadline = Instant::now() + limit;
    let mut left: Vec<i32> = pids.to_vec();
    loop {
        for pid in &left {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(*pid), Some(WaitPidFlag::WNOHANG));
        }
        left.retain(|pid| procfs::read(*pid).is_some());
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(STOP_POLL);
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "unknown".to_owned(),
    }
}

/// The playbook's `ProcessManager`: children spawned attached (no group),
/// `killed` set when a signal is sent, SIGKILL only to children not
/// "killed" yet. Children are reaped when they exit (as Node does).
pub struct NaiveProcessManager {
    grace: Duration,
    sink: Arc<dyn EventSink>,
    children: Vec<NaiveChild>,
}

impl std::fmt::Debug for NaiveProcessManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NaiveProcessManager")
            .field("grace", &self.grace)
            .field("children", &self.children)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct NaiveChild {
    name: String,
    pid: i32,
    /// Node's `child.killed`: true once a signal was delivered to the
    /// process, whatever the process did with it.
    killed: bool,
}

impl NaiveProcessManager {
    /// A manager whose shutdown waits `grace` (the playbook: 5 s) before
    /// its SIGKILL pass.
    pub fn new(grace: Duration, sink: Arc<dyn EventSink>) -> Self {
        NaiveProcessManager {
            grace,
            sink,
            children: Vec::new(),
        }
    }

    /// `spawn(command, args, { detached: false })`.
    pub fn spawn(&mut self, spec: &AgentSpec) -> Result<u32, SupervisorError> {
        let mut child = spec
            .command()
            .spawn()
            .map_err(|source| SupervisorError::Spawn {
                name: spec.name.clone(),
                source,
            })?;
        let pid = child.id().unwrap_or(0);
        self.sink.record(&spec.name, Event::ProcessStarted { pid });
        let sink = self.sink.clone();
        let name = spec.name.clone();
        // child.on('exit', …): reaped when it exits (the task runs on after
        // the manager is gone, like Node's handler).
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                sink.record(
                    &name,
                    Event::ProcessExited {
                        status: describe_status(status),
                    },
                );
            }
        });
        self.children.push(NaiveChild {
            name: spec.name.clone(),
            pid: pid as i32,
            killed: false,
        });
        Ok(pid)
    }

    /// Pids of the children it spawned.
    pub fn child_pids(&self) -> Vec<u32> {
        self.children.iter().map(|c| c.pid as u32).collect()
    }

    /// `gracefulShutdown()`: SIGTERM to every child not `killed`, then after
    /// the grace period SIGKILL to every child not `killed` — none, since
    /// sending SIGTERM set the flag.
    pub async fn stop_all(&mut self) -> StopReport {
        let started = Instant::now();
        for child in &mut self.children {
            if !child.killed {
                child.killed = kill(Pid::from_raw(child.pid), Signal::SIGTERM).is_ok();
                self.sink.record(
                    &child.name,
                    Event::SignalSent {
                        signal: "SIGTERM".into(),
                        processes: 1,
                    },
                );
            }
        }
        tokio::time::sleep(self.grace).await;
        for child in &mut self.children {
            if !child.killed {
                child.killed = kill(Pid::from_raw(child.pid), Signal::SIGKILL).is_ok();
                self.sink.record(
                    &child.name,
                    Event::SignalSent {
                        signal: "SIGKILL".into(),
                        processes: 1,
                    },
                );
            }
        }
        StopReport {
            agents: self
                .children
                .iter()
                .map(|c| AgentStop {
                    name: c.name.clone(),
                    escalated: false,
                    gone: c.killed,
                    took: started.elapsed(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
