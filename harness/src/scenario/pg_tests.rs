//! The `pg-transfers` workload, container and leak faults, and the
//! transfer invariants in scenario files.

use std::path::Path;
use std::time::Duration;

use super::*;

const PG: &str = r#"[drill]
name = "pg-deadlock"
playbook = "Transaction Deadlocks"

[services.db]
kind = "postgres"
max_connections = 20

[proxies.db]
upstream = "db"

[workload]
kind = "pg-transfers"
target = "db"
accounts = 3
workers = 8

[[variants]]
remedy = "pg-pool"

[[variants]]
name = "naive"
remedy = "pg-pool-naive"
caught_by = ["no-failed-jobs"]

[[faults]]
at = "500ms"
service = "db"
container = "pause"
heal_after = "2s"

[[faults]]
at = "3s"
service = "db"
leak_sessions = 30

[expect]
invariants = ["no-failed-jobs", "exactly-once", "sum-unchanged", "no-half-applied"]
"#;

fn edit(source: &str, from: &str, to: &str) -> String {
    assert_eq!(source.matches(from).count(), 1, "{from:?} must occur once");
    source.replacen(from, to, 1)
}

fn problems(source: &str) -> Vec<Problem> {
    match parse(source, Path::new("scenarios/pg.toml")) {
        Ok(_) => panic!("expected an error for:\n{source}"),
        Err(error) => error.problems().to_vec(),
    }
}

/// The one problem of `source`: its line holds `needle`, its message
/// contains `message`, its help contains `help`.
fn assert_problem(source: &str, needle: &str, message: &str, help: &str) {
    let found = problems(source);
    assert_eq!(found.len(), 1, "{found:#?}");
    let line = source[..source.find(needle).expect("needle in source")]
        .matches('\n')
        .count()
        + 1;
    assert_eq!(found[0].line, line, "{found:#?}");
    assert!(found[0].message.contains(message), "{:?}", found[0].message);
    let actual = found[0].help.clone().unwrap_or_default();
    assert!(actual.contains(help), "{actual:?}");
}

#[test]
fn a_pg_file_parses_with_defaults_filled_in() -> Result<(), ScenarioError> {
    let scenario = parse(PG, Path::new("scenarios/pg.toml"))?;
    let Workload::PgTransfers(pg) = &scenario.workload else {
        panic!("expected pg-transfers, got {:?}", scenario.workload);
    };
    assert_eq!(pg.target, "db");
    assert_eq!((pg.accounts, pg.workers, pg.pool_size), (3, 8, 10));
    assert_eq!(pg.transfer_every, Duration::from_millis(20));
    assert_eq!(pg.acquire_timeout, Duration::from_secs(2));
    assert_eq!(pg.retry_budget, Duration::from_secs(10));
    assert_eq!(pg.max_lifetime, Duration::from_secs(1800));
    assert_eq!(
        scenario.faults[0].action,
        FaultAction::Container {
            service: "db".into(),
            action: ContainerFault::Pause
        }
    );
    assert_eq!(scenario.faults[0].proxy, "");
    assert_eq!(
        scenario.faults[1].action,
        FaultAction::IdleLeak {
            service: "db".into(),
            sessions: 30
        }
    );
    assert_eq!(scenario.faults[1].heal_after, None);
    assert_eq!(
        scenario.variants[1].caught_by,
        vec![Check::Invariant(Invariant::NoFailedJobs)]
    );
    assert_eq!(scenario.expect.invariants.len(), 4);
    assert!(Remedy::PgPoolNaive.is_naive() && !Remedy::PgOrderedLocks.is_naive());
    for remedy in [
        Remedy::PgPool,
        Remedy::PgIdleReaper,
        Remedy::PgIdleReaperNaive,
    ] {
        assert_eq!(remedy.workload_kind(), PgTransfers::KIND);
    }
    Ok(())
}

#[test]
fn keys_of_another_workload_kind_are_errors() {
    assert_problem(
        &edit(PG, "workers = 8", "workers = 8\nclients = 4"),
        "clients = 4",
        "`clients` in [workload] does not apply to workload kind \"pg-transfers\"",
        "pg-transfers takes: target, accounts",
    );
}

#[test]
fn pg_workload_numbers_are_checked() {
    assert_problem(
        &edit(PG, "accounts = 3", "accounts = 1"),
        "accounts = 1",
        "`accounts` in [workload] must be 2..=10000 (found 1)",
        "set accounts to a number from 2 to 10000",
    );
    assert_problem(
        &edit(PG, "workers = 8", "workers = 0"),
        "workers = 0",
        "`workers` in [workload] must be 1..=256",
        "from 1 to 256",
    );
    assert_problem(
        &edit(PG, "workers = 8", "workers = 8\ntransfer_every = \"soon\""),
        "transfer_every",
        "`transfer_every` in [workload]",
        "250ms",
    );
    assert_problem(
        &edit(PG, "workers = 8", "workers = 8\nbackoff_base = \"2s\""),
        "backoff_base",
        "`backoff_base` (2s) is greater than `backoff_max` (500ms)",
        "raise backoff_max",
    );
}

#[test]
fn pg_transfers_must_reach_postgres() {
    let source = edit(
        PG,
        "kind = \"postgres\"\nmax_connections = 20",
        "kind = \"ws-hub\"",
    );
    let source = edit(&source, "leak_sessions = 30", "container = \"kill\"");
    assert_problem(
        &source,
        "target = \"db\"",
        "forwards to ws-hub service \"db\", not Postgres",
        "kind = \"postgres\"",
    );
}

#[test]
fn service_faults_are_checked() {
    assert_problem(
        &edit(PG, "container = \"pause\"", "container = \"freeze\""),
        "container = \"freeze\"",
        "unknown container fault \"freeze\"",
        "\"pause\"",
    );
    assert_problem(
        &edit(
            PG,
            "container = \"pause\"",
            "container = \"pause\"\nproxy = \"db\"",
        ),
        "proxy = \"db\"\nheal_after",
        "cannot also have `proxy`",
        "split them into two [[faults]]",
    );
    assert_problem(
        &edit(
            PG,
            "service = \"db\"\ncontainer",
            "service = \"dbb\"\ncontainer",
        ),
        "service = \"dbb\"",
        "names no declared service: \"dbb\"",
        "did you mean \"db\"?",
    );
    assert_problem(
        &edit(PG, "leak_sessions = 30", "leak_sessions = 0"),
        "leak_sessions = 0",
        "`leak_sessions` in [[faults]] must be 1..=1000",
        "idle sessions",
    );
    assert_problem(
        &edit(
            PG,
            "leak_sessions = 30",
            "leak_sessions = 3\ncontainer = \"kill\"",
        ),
        "leak_sessions = 3",
        "both `container` and `leak_sessions`",
        "keep one",
    );
    assert_problem(
        &edit(
            PG,
            "container = \"pause\"\nheal_after = \"2s\"",
            "heal_after = \"2s\"",
        ),
        "service = \"db\"\nheal_after",
        "needs `container` or `leak_sessions`",
        "container = \"pause\"",
    );
}

#[test]
fn overlapping_container_faults_are_errors() {
    assert_problem(
        &edit(
            PG,
            "at = \"3s\"\nservice = \"db\"\nleak_sessions = 30",
            "at = \"1s\"\nservice = \"db\"\ncontainer = \"kill\"",
        ),
        "[[faults]]\nat = \"1s\"",
        "while an earlier fault of the same kind on it is still active",
        "heal the earlier fault",
    );
}

#[test]
fn pg_remedies_do_not_suit_a_ws_stream() {
    let ws = r#"[drill]
name = "x"
playbook = "y"

[services.hub]
kind = "ws-hub"

[proxies.hub]
upstream = "hub"

[workload]
kind = "ws-stream"
target = "hub"
workers = 3

[[variants]]
remedy = "pg-pool"

[[faults]]
at = "1s"
proxy = "hub"
down = true
"#;
    let found = problems(ws);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found.iter().any(|p| {
        p.message
            .contains("`workers` in [workload] does not apply to workload kind \"ws-stream\"")
    }));
    assert!(found.iter().any(|p| {
        p.message
            .contains("remedy \"pg-pool\" does not suit workload kind \"ws-stream\"")
    }));
}

#[test]
fn new_invariants_are_spelled_as_documented() {
    for (invariant, name) in [
        (Invariant::NoFailedJobs, "no-failed-jobs"),
        (Invariant::ExactlyOnce, "exactly-once"),
        (Invariant::SumUnchanged, "sum-unchanged"),
        (Invariant::NoHalfApplied, "no-half-applied"),
    ] {
        assert_eq!(invariant.as_str(), name);
        assert_eq!(Check::from_name(name), Some(Check::Invariant(invariant)));
    }
    let found = problems(&edit(PG, "\"no-half-applied\"", "\"no-half-apply\""));
    assert!(
        found[0]
            .help
            .as_deref()
            .unwrap_or_default()
            .contains("no-half-applied"),
        "{found:#?}"
    );
}
