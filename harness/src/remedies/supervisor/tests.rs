//! Real processes, real signals: a shell tree that ignores SIGTERM, with a
//! grandchild in its group and a daemon (setsid) outside it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

impl EventSink for Collect {
    fn record(&self, _source: &str, event: Event) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event);
        }
    }
}

/// A unique marker in the environment, to find the tree in `/proc`.
fn marker(test: &str) -> (String, String) {
    let value = format!("{test}-{}", std::process::id());
    (format!("FIREDRILL_TEST_TREE={value}"), value)
}

fn stubborn_tree(name: &str, value: &str) -> AgentSpec {
    // trap '' TERM is inherited by the sleeps: the whole tree ignores SIGTERM.
    AgentSpec::new(name, "/bin/sh")
        .arg("-c")
        .arg("trap '' TERM; sleep 1000 & setsid sleep 1000 & wait")
        .env("FIREDRILL_TEST_TREE", value)
}

fn marked(entry: &str) -> Vec<procfs::ProcInfo> {
    procfs::all()
        .into_iter()
        .filter(|p| procfs::environ_contains(p.pid, entry))
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills what is left of a tree and reaps the orphans this test process
/// adopted (it is a subreaper: this machine's init may not reap).
fn kill_marked(entry: &str, direct: &[u32]) {
    let pids: Vec<i32> = marked(entry)
        .iter()
        .map(|p| p.pid)
        .filter(|pid| !direct.contains(&(*pid as u32)))
        .collect();
    let left = kill_and_reap(&pids, Duration::from_secs(5));
    assert!(left.is_empty(), "not reaped: {left:?}");
}

#[tokio::test]
async fn hardened_stop_kills_the_whole_tree_after_grace_and_reaps_it() {
    let (entry, value) = marker("hardened-stop");
    let sink = Arc::new(Collect::default());
    let mut supervisor = Supervisor::new(Duration::from_millis(300), sink.clone());
    let guard = supervisor
        .spawn(&stubborn_tree("a", &value))
        .expect("spawn sh");
    // sh + sleep + setsid sleep.
    wait_for("the tree", Duration::from_secs(10), || {
        marked(&entry).len() == 3
    });
    let started = Instant::now();
    let report = supervisor.stop_all().await;
    let took = started.elapsed();
    assert!(report.all_gone(), "{report:?}");
    assert!(
        report.agents[0].escalated,
        "SIGTERM is ignored: SIGKILL needed"
    );
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(marked(&entry).is_empty());
    assert!(procfs::read(guard as i32).is_none(), "guard reaped");
    let events = sink.0.lock().map(|e| e.clone()).unwrap_or_default();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::StopEscalated { survivors: 3 })),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_well_behaved_agent_stops_on_sigterm_without_escalation() {
    let sink = Arc::new(Collect::default());
    let mut supervisor = Supervisor::new(Duration::from_secs(5), sink);
    supervisor
        .spawn(&AgentSpec::new("a", "/bin/sleep").arg("1000"))
        .expect("spawn sleep");
    let report = supervisor.stop_all().await;
    assert!(report.all_gone());
    assert!(!report.agents[0].escalated);
    assert!(report.agents[0].took < Duration::from_secs(2));
}

// Multi-threaded: the manager's waiter task must run while this test blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_manager_believes_a_sigterm_ignoring_tree_is_killed() {
    let (entry, value) = marker("naive-stop");
    become_subreaper().expect("prctl");
    let sink = Arc::new(Collect::default());
    let mut manager = NaiveProcessManager::new(Duration::from_millis(200), sink);
    manager
        .spawn(&stubborn_tree("a", &value))
        .expect("spawn sh");
    wait_for("the tree", Duration::from_secs(10), || {
        marked(&entry).len() == 3
    });
    let report = manager.stop_all().await;
    assert!(report.all_gone(), "the naive manager thinks so");
    let alive = marked(&entry);
    // The direct child is reaped by the manager's waiter once it dies.
    let direct = manager.child_pids();
    for pid in &direct {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
    }
    kill_marked(&entry, &direct);
    wait_for(
        "the direct child to be reaped",
        Duration::from_secs(5),
        || direct.iter().all(|pid| procfs::read(*pid as i32).is_none()),
    );
    assert_eq!(alive.len(), 3, "but every process survived");
}
