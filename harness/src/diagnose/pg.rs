//! Postgres diagnostics: what the database's own views showed during a
//! `pg-transfers` drill, reduced to a form stable enough to snapshot.
//!
//! The collector ([`sample`]) reads, from its own session, while the fault is
//! live: connections by state against `max_connections` (`pg_stat_activity`,
//! `pg_settings`, like the playbook's diagnosis query), sessions idle longer
//! than the leak threshold, and the blocked/blocking pairs of lock waits
//! (the playbook's `pg_locks` query, joined on the whole lock target rather
//! than on `locktype` alone, which pairs unrelated locks). Deadlocks come from
//! `pg_stat_database`. Pids are never kept; ages and counts are bucketed;
//! statements are reduced to their verb and table. It only reads.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio_postgres::{Client, Config, NoTls};
use tokio_util::sync::CancellationToken;

use super::{Diagnostics, Symptom};
use crate::engine::recorder::Recorded;
use crate::engine::verdict::{CheckResult, Outcome};
use crate::remedies::events::Event;
use crate::scenario::{Scenario, Variant};

/// Application names of the harness's own sessions (left out of the
/// workload's picture).
const HARNESS_APPS: [&str; 3] = [
    "firedrill-harness",
    "firedrill-diagnose",
    "firedrill-reaper",
];

/// What the collector saw, raw (not snapshotted as is).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Samples taken.
    pub taken: usize,
    /// Most client sessions seen at once.
    pub peak_total: usize,
    /// In how many samples each state of the workload's sessions was seen.
    pub states_seen: BTreeMap<String, usize>,
    /// Per application: most sessions idle past the threshold at once, and
    /// the oldest idle age seen.
    pub idle_over_threshold: BTreeMap<String, (usize, Duration)>,
    /// Lock waits that lasted: `(blocked statement, blocking statement)`,
    /// reduced, seen in two samples in a row.
    pub lock_pairs: BTreeSet<(String, String)>,
    /// The reduced pairs of the last sample.
    last_pairs: BTreeSet<(String, String)>,
    /// Most sessions of each state at once (for the journal).
    pub peak_by_state: BTreeMap<String, usize>,
    /// Samples in which a lasting lock wait was live.
    pub with_lasting_waits: usize,
    /// Samples Postgres did not answer in time.
    pub unanswered: usize,
    /// Most samples in a row Postgres did not answer in time: two or more
    /// is a server silent for over a second (paused, or gone), one alone
    /// may be a starved collector on a busy machine.
    pub longest_silence: usize,
    /// Unanswered samples in a row so far.
    silence: usize,
    /// The first few pairs as Postgres gave them (for the journal).
    pub lock_pairs_raw: Vec<String>,
}

/// The lock holder, as the snapshot names it: which statement it runs (or
/// ran last) changes with timing, so a transfer's own statements all name
/// the same thing.
fn holder(query: &str) -> String {
    let reduced = reduce_statement(query);
    let transfer = [
        "UPDATE accounts",
        "INSERT INTO transfers",
        "SELECT accounts FOR UPDATE",
        "SELECT transfers",
        "SELECT pg_advisory_xact_lock",
        "COMMIT",
        "BEGIN",
    ];
    if transfer.contains(&reduced.as_str()) {
        "an open transfer transaction".to_owned()
    } else {
        reduced
    }
}

/// Reduces a statement to its verb and table, e.g. `UPDATE accounts`,
/// `SELECT accounts FOR UPDATE`, `INSERT INTO transfers`.
pub fn reduce_statement(query: &str) -> String {
    let words: Vec<&str> = query.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let after = |keyword: &str| {
        upper
            .iter()
            .position(|w| w == keyword)
            .and_then(|i| words.get(i + 1))
            .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_'))
    };
    match upper.first().map(String::as_str) {
        Some("UPDATE") => format!("UPDATE {}", after("UPDATE").unwrap_or("?")),
        Some("INSERT") => format!("INSERT INTO {}", after("INTO").unwrap_or("?")),
        Some("SELECT") if query.to_ascii_uppercase().contains("FOR UPDATE") => {
            format!("SELECT {} FOR UPDATE", after("FROM").unwrap_or("?"))
        }
        Some("SELECT") if query.contains("pg_advisory_xact_lock") => {
            "SELECT pg_advisory_xact_lock".to_owned()
        }
        Some("SELECT") => match after("FROM") {
            Some(table) => format!("SELECT {table}"),
            None => "SELECT".to_owned(),
        },
        Some(verb) => verb.to_owned(),
        None => "(none)".to_owned(),
    }
}

const ACTIVITY: &str = "SELECT coalesce(state, 'unknown'), application_name, count(*)::int,
       count(*) FILTER (WHERE state = 'idle' AND now() - state_change > make_interval(secs => $1))::int,
       coalesce(max(extract(epoch FROM now() - state_change)) FILTER (WHERE state = 'idle'), 0)::float8
  FROM pg_stat_activity
 WHERE backend_type = 'client backend'
 GROUP BY 1, 2";

const LOCK_WAITS: &str = "SELECT blocked.locktype, blocked_activity.query, blocking_activity.query
  FROM pg_locks blocked
  JOIN pg_stat_activity blocked_activity ON blocked_activity.pid = blocked.pid
  JOIN pg_locks blocking ON blocking.granted AND blocking.pid <> blocked.pid
   AND blocking.locktype = blocked.locktype
   AND blocking.database IS NOT DISTINCT FROM blocked.database
   AND blocking.relation IS NOT DISTINCT FROM blocked.relation
   AND blocking.page IS NOT DISTINCT FROM blocked.page
   AND blocking.tuple IS NOT DISTINCT FROM blocked.tuple
   AND blocking.virtualxid IS NOT DISTINCT FROM blocked.virtualxid
   AND blocking.transactionid IS NOT DISTINCT FROM blocked.transactionid
   AND blocking.classid IS NOT DISTINCT FROM blocked.classid
   AND blocking.objid IS NOT DISTINCT FROM blocked.objid
   AND blocking.objsubid IS NOT DISTINCT FROM blocked.objsubid
  JOIN pg_stat_activity blocking_activity ON blocking_activity.pid = blocking.pid
 WHERE NOT blocked.granted";

async fn connect(addr: SocketAddr, app: &str) -> Option<Client> {
    let mut config: Config = crate::services::RunningService::postgres_url(addr)
        .parse()
        .ok()?;
    config.application_name(app);
    config.connect_timeout(Duration::from_secs(1));
    let (client, connection) = config.connect(NoTls).await.ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Some(client)
}

async fn sample_once(
    client: &Client,
    idle_threshold: Duration,
    samples: &Mutex<Samples>,
) -> Result<(), tokio_postgres::Error> {
    let activity = client
        .query(ACTIVITY, &[&idle_threshold.as_secs_f64()])
        .await?;
    let waits = client.query(LOCK_WAITS, &[]).await?;
    let mut s = samples
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    s.taken += 1;
    s.silence = 0;
    let mut total = 0;
    let mut idle_now: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
    let mut states_now: BTreeMap<String, usize> = BTreeMap::new();
    for row in &activity {
        let state: String = row.get(0);
        let app: String = row.get(1);
        let count = usize::try_from(row.get::<_, i32>(2)).unwrap_or(0);
        let idle_long = usize::try_from(row.get::<_, i32>(3)).unwrap_or(0);
        let idle_age = Duration::try_from_secs_f64(row.get::<_, f64>(4)).unwrap_or_default();
        total += count;
        if !HARNESS_APPS.contains(&app.as_str()) {
            *states_now.entry(state).or_default() += count;
            if idle_long > 0 {
                let entry = idle_now.entry(app).or_default();
                entry.0 += idle_long;
                entry.1 = entry.1.max(idle_age);
            }
        }
    }
    s.peak_total = s.peak_total.max(total);
    for (state, count) in states_now {
        *s.states_seen.entry(state.clone()).or_default() += 1;
        let peak = s.peak_by_state.entry(state).or_default();
        *peak = (*peak).max(count);
    }
    for (app, (count, age)) in idle_now {
        let entry = s.idle_over_threshold.entry(app).or_default();
        entry.0 = entry.0.max(count);
        entry.1 = entry.1.max(age);
    }
    let mut pairs = BTreeSet::new();
    for row in &waits {
        let locktype: String = row.get(0);
        let blocked: String = row.get::<_, Option<String>>(1).unwrap_or_default();
        let blocking: String = row.get::<_, Option<String>>(2).unwrap_or_default();
        if s.lock_pairs_raw.len() < 5 {
            s.lock_pairs_raw
                .push(format!("{locktype}: blocked `{blocked}` by `{blocking}`"));
        }
        pairs.insert((reduce_statement(&blocked), holder(&blocking)));
    }
    // A wait seen once may be the few microseconds two transfers touch the
    // same row; one seen in two samples in a row is contention.
    let lasting: Vec<_> = pairs.intersection(&s.last_pairs).cloned().collect();
    if !lasting.is_empty() {
        s.with_lasting_waits += 1;
    }
    s.lock_pairs.extend(lasting);
    s.last_pairs = pairs;
    Ok(())
}

/// Samples Postgres' views every `every` while `sampling` is set, until
/// `stop`, from a session of its own (opened at once, so a database that
/// fills up later cannot lock it out; reopened at `endpoint()` when lost).
pub async fn sample(
    endpoint: impl Fn() -> SocketAddr,
    app: &str,
    every: Duration,
    idle_threshold: Duration,
    samples: &Mutex<Samples>,
    sampling: &AtomicBool,
    stop: CancellationToken,
) {
    let mut session = connect(endpoint(), app).await;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if !sampling.load(Ordering::SeqCst) {
            continue;
        }
        if session.as_ref().is_none_or(Client::is_closed) {
            session = connect(endpoint(), app).await;
        }
        let Some(client) = &session else { continue };
        let limit = every.max(Duration::from_millis(500));
        match tokio::time::timeout(limit, sample_once(client, idle_threshold, samples)).await {
            Ok(Ok(())) => {}
            // A paused database: keep the session, try again next tick.
            Err(_) => {
                let mut s = samples
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                s.unanswered += 1;
                s.silence += 1;
                s.longest_silence = s.longest_silence.max(s.silence);
            }
            Ok(Err(_)) => session = None,
        }
    }
}

/// An application's sessions idle past the leak threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdleGroup {
    /// `application_name`.
    pub application: String,
    /// Pids are redacted: they change every run.
    pub pids: &'static str,
    /// Most such sessions at once: `one` or `several`.
    pub count: &'static str,
    /// Oldest idle age seen: `1-10s`, `10s-1m`, `over 1m` (the threshold is
    /// the lower end).
    pub age: &'static str,
}

/// A lock wait the collector saw while it was live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockPair {
    /// The waiting session's statement, reduced.
    pub blocked: String,
    /// The lock holder (its statements vary with timing; the journal has
    /// them).
    pub blocking: String,
}

/// The Postgres part of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PgSnapshot {
    /// `max_connections` of the server.
    pub max_connections: u32,
    /// Most client sessions at once, against `max_connections`:
    /// `at or near the limit` (80% or more), `half or more`, `under half`.
    pub peak_sessions: &'static str,
    /// Applications with several sessions idle longer than the threshold
    /// at once.
    pub idle_sessions: Vec<IdleGroup>,
    /// Blocked/blocking pairs seen while the wait was live, reduced, when
    /// waits were live in at least a quarter of the samples.
    pub lock_waits: Vec<LockPair>,
    /// `pg_stat_database.deadlocks` during the run: `none` or `some`.
    pub deadlocks: &'static str,
    /// What reached the workload as errors, by class.
    pub workload_errors: Vec<String>,
}

/// Inputs of [`pg_diagnostics`].
#[derive(Debug)]
pub struct PgRun<'a> {
    /// The drill.
    pub scenario: &'a Scenario,
    /// The variant.
    pub variant: &'a Variant,
    /// Every recorded event.
    pub events: &'a [Recorded],
    /// What the collector saw.
    pub samples: &'a Samples,
    /// `max_connections` of the server.
    pub max_connections: u32,
    /// Deadlocks counted by Postgres during the run.
    pub deadlocks_seen: i64,
    /// Transfer errors that reached the workload: how many of each code.
    pub failed_codes: &'a BTreeMap<String, usize>,
    /// The slowest 1% of pooled transfers waited a second or more for a
    /// connection.
    pub pool_saturated: bool,
    /// The verdict lines.
    pub checks: &'a [CheckResult],
    /// The outcome.
    pub outcome: &'a Outcome,
}

/// How strongly a symptom points to its playbook entry: lock waits and a
/// busy pool also accompany other failures (a pool waiting on locks, rows
/// contended under load), so they weigh less than the failure itself.
fn weight(symptom: Symptom) -> usize {
    match symptom {
        Symptom::PoolSaturated => 1,
        Symptom::LockWaits | Symptom::DatabaseConnectionLost => 2,
        _ => 3,
    }
}

/// Names the playbook entry the symptoms point to most, by weight (ties:
/// the entry named first in [`Symptom`] order).
pub fn match_weighted(symptoms: &BTreeSet<Symptom>) -> Option<&'static str> {
    let mut scores: Vec<(&'static str, usize)> = Vec::new();
    for symptom in symptoms {
        let entry = symptom.playbook_entry();
        match scores.iter_mut().find(|(e, _)| *e == entry) {
            Some((_, n)) => *n += weight(*symptom),
            None => scores.push((entry, weight(*symptom))),
        }
    }
    let best = scores.iter().map(|(_, n)| *n).max()?;
    scores.iter().find(|(_, n)| *n == best).map(|(e, _)| *e)
}

/// An error code's class, in the playbook's words.
pub fn error_class(code: &str) -> &'static str {
    match code {
        "53300" => "too many clients (53300)",
        "40P01" => "deadlock detected (40P01)",
        "40001" => "serialization failure (40001)",
        "25P02" => "current transaction is aborted (25P02)",
        "pool_exhausted" => "pool exhausted",
        "timeout" => "timed out",
        _ => "connection lost",
    }
}

fn count_bucket(n: usize) -> &'static str {
    if n > 1 { "several" } else { "one" }
}

fn age_bucket(age: Duration) -> &'static str {
    if age < Duration::from_secs(10) {
        "1-10s"
    } else if age < Duration::from_secs(60) {
        "10s-1m"
    } else {
        "over 1m"
    }
}

/// Applications with several sessions idle past the threshold at once. One
/// such session is a straggler (a client slow to close on a busy machine);
/// several of one application pile up.
fn piled_up(s: &Samples) -> Vec<IdleGroup> {
    s.idle_over_threshold
        .iter()
        .filter(|(_, (count, _))| *count > 1)
        .map(|(app, (count, age))| IdleGroup {
            application: app.clone(),
            pids: "redacted",
            count: count_bucket(*count),
            age: age_bucket(*age),
        })
        .collect()
}

/// Whether lock waits were a symptom: two transfers now and then touching
/// the same row is not; waits lasting in a quarter of the samples, and in
/// more than one, are.
fn lasting_lock_waits(s: &Samples) -> bool {
    s.with_lasting_waits >= 2 && s.with_lasting_waits * 4 >= s.taken && !s.lock_pairs.is_empty()
}

/// Whether Postgres went silent: two samples in a row unanswered (over a
/// second); one alone may be the collector starved on a busy machine.
fn went_silent(s: &Samples) -> bool {
    s.longest_silence >= 2
}

/// The error codes that tell what happened: those seen more than once and
/// making up at least a tenth of all. A code seen once, or a few among
/// hundreds of another, is a side effect that comes and goes with the load
/// of the machine (the journal counts every code).
fn significant(counts: &BTreeMap<String, usize>) -> BTreeSet<String> {
    let total: usize = counts.values().sum();
    counts
        .iter()
        .filter(|(_, n)| **n >= 2 && **n * 10 >= total)
        .map(|(code, _)| code.clone())
        .collect()
}

/// Builds the stable diagnostics of a `pg-transfers` variant run.
pub fn pg_diagnostics(run: PgRun<'_>) -> Diagnostics {
    let s = run.samples;
    let max = run.max_connections.max(1) as usize;
    let peak_sessions = if s.peak_total * 5 >= max * 4 {
        "at or near the limit"
    } else if s.peak_total * 2 >= max {
        "half or more"
    } else {
        "under half"
    };
    let failed = significant(run.failed_codes);
    let workload_errors: BTreeSet<&'static str> = failed.iter().map(|c| error_class(c)).collect();
    let mut symptoms = BTreeSet::new();
    if failed.contains("53300") || peak_sessions == "at or near the limit" {
        symptoms.insert(Symptom::TooManyClients);
    }
    let piled_up = piled_up(s);
    if !piled_up.is_empty() {
        symptoms.insert(Symptom::IdleSessionsPiledUp);
    }
    if run.deadlocks_seen > 0 || failed.contains("40P01") {
        symptoms.insert(Symptom::DeadlockDetected);
    }
    let lock_waits = lasting_lock_waits(s);
    if lock_waits {
        symptoms.insert(Symptom::LockWaits);
    }
    let mut reported: BTreeMap<String, usize> = BTreeMap::new();
    for e in run.events {
        match &e.event {
            Event::TransactionFailed { code, .. } => {
                *reported.entry(code.clone()).or_default() += 1
            }
            Event::ConnectFailed { error, .. } => *reported.entry(error.clone()).or_default() += 1,
            _ => {}
        }
    }
    let lost_class = |code: &String| matches!(error_class(code), "connection lost" | "timed out");
    let lost = failed.iter().any(lost_class) || significant(&reported).iter().any(lost_class);
    if lost || went_silent(s) {
        symptoms.insert(Symptom::DatabaseConnectionLost);
    }
    // Long checkouts while connections were being lost are reconnects, not
    // a saturated pool.
    if run.pool_saturated && !symptoms.contains(&Symptom::DatabaseConnectionLost) {
        symptoms.insert(Symptom::PoolSaturated);
    }
    let postgres = PgSnapshot {
        max_connections: run.max_connections,
        peak_sessions,
        idle_sessions: piled_up,
        lock_waits: s
            .lock_pairs
            .iter()
            .filter(|_| lock_waits)
            .map(|(blocked, blocking)| LockPair {
                blocked: blocked.clone(),
                blocking: blocking.clone(),
            })
            .collect(),
        deadlocks: if run.deadlocks_seen > 0 {
            "some"
        } else {
            "none"
        },
        workload_errors: workload_errors.into_iter().map(str::to_owned).collect(),
    };
    Diagnostics {
        drill: run.scenario.drill.name.clone(),
        variant: run.variant.name.clone(),
        remedy: run.variant.remedy.as_str().to_owned(),
        playbook_match: match_weighted(&symptoms),
        symptoms: symptoms.into_iter().collect(),
        timeline: Vec::new(),
        hub: None,
        postgres: Some(postgres),
        process: None,
        verdict: super::verdict_lines(run.checks),
        outcome: run.outcome.word(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_reduce_to_verb_and_table() {
        assert_eq!(
            reduce_statement("UPDATE accounts SET balance = balance - $1 WHERE id = $2"),
            "UPDATE accounts"
        );
        assert_eq!(
            reduce_statement("SELECT id FROM accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE"),
            "SELECT accounts FOR UPDATE"
        );
        assert_eq!(
            reduce_statement("INSERT INTO transfers (transfer_id) VALUES ($1)"),
            "INSERT INTO transfers"
        );
        assert_eq!(reduce_statement("COMMIT"), "COMMIT");
        assert_eq!(reduce_statement(""), "(none)");
    }

    #[test]
    fn the_weighted_matcher_names_the_failure_not_its_side_effects() {
        let set = |s: &[Symptom]| s.iter().copied().collect::<BTreeSet<_>>();
        assert_eq!(
            match_weighted(&set(&[Symptom::LockWaits, Symptom::PoolSaturated])),
            Some("Transaction Deadlocks")
        );
        assert_eq!(
            match_weighted(&set(&[Symptom::PoolSaturated])),
            Some("PostgreSQL \"Too Many Connections\"")
        );
        assert_eq!(
            match_weighted(&set(&[
                Symptom::TooManyClients,
                Symptom::IdleSessionsPiledUp,
                Symptom::DeadlockDetected,
                Symptom::LockWaits
            ])),
            Some("PostgreSQL \"Too Many Connections\"")
        );
        assert_eq!(
            match_weighted(&set(&[
                Symptom::DatabaseConnectionLost,
                Symptom::PoolSaturated
            ])),
            Some("Database and State Management")
        );
        assert_eq!(match_weighted(&BTreeSet::new()), None);
    }

    #[test]
    fn one_slow_moment_is_not_a_symptom() {
        let mut s = Samples {
            taken: 20,
            ..Samples::default()
        };
        s.idle_over_threshold.insert(
            "firedrill-workers".into(),
            (1, Duration::from_millis(1_200)),
        );
        s.unanswered = 1;
        s.longest_silence = 1;
        s.with_lasting_waits = 1;
        s.lock_pairs.insert((
            "UPDATE accounts".into(),
            "an open transfer transaction".into(),
        ));
        assert!(piled_up(&s).is_empty());
        assert!(!went_silent(&s));
        assert!(!lasting_lock_waits(&s));

        s.idle_over_threshold
            .insert("leaky-client".into(), (14, Duration::from_secs(3)));
        s.longest_silence = 3;
        s.with_lasting_waits = 12;
        let piled = piled_up(&s);
        assert_eq!(piled.len(), 1);
        assert_eq!(
            (piled[0].application.as_str(), piled[0].count),
            ("leaky-client", "several")
        );
        assert!(went_silent(&s));
        assert!(lasting_lock_waits(&s));
    }

    #[test]
    fn rare_error_codes_are_side_effects() {
        let counts: BTreeMap<String, usize> = [("connection", 420), ("53300", 3), ("timeout", 60)]
            .into_iter()
            .map(|(c, n)| (c.to_owned(), n))
            .collect();
        let codes = significant(&counts);
        assert!(codes.contains("connection") && codes.contains("timeout"));
        assert!(!codes.contains("53300"), "3 of 483 is noise");
        let once: BTreeMap<String, usize> = [("timeout".to_owned(), 1)].into_iter().collect();
        assert!(
            significant(&once).is_empty(),
            "a single timeout is not a symptom"
        );
        let few: BTreeMap<String, usize> = [("40P01".to_owned(), 2)].into_iter().collect();
        assert!(significant(&few).contains("40P01"));
    }

    #[test]
    fn buckets_hide_run_to_run_noise() {
        assert_eq!(count_bucket(1), "one");
        assert_eq!(count_bucket(14), "several");
        assert_eq!(age_bucket(Duration::from_millis(2_500)), "1-10s");
        assert_eq!(error_class("57P01"), "connection lost");
    }
}
