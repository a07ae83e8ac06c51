//! The `pg-transfers` workload: workers move money between accounts in a
//! real Postgres, through the fault proxy, while faults come and go.
//!
//! Steady state: a transfer was acknowledged recently. Recovery: a transfer
//! was acknowledged *after the fault ended*. After the run the bank is read
//! back and checked ([`check_ledger`]): every acknowledged transfer is there
//! exactly once, the sum of balances is unchanged, and every balance is its
//! opening balance plus the transfers recorded for it (nothing half-applied).
//!
//! One Postgres container serves every variant of a drill: before each, the
//! sessions of the previous one are terminated and the bank is re-created.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::time::{MissedTickBehavior, sleep_until};
use tokio_postgres::{Client, Config, NoTls};
use tokio_util::sync::CancellationToken;

use super::recorder::{Recorded, Recorder};
use super::verdict::InvariantResult;
use super::{
    EngineError, FaultWindow, Judged, TimedEvent, VariantContext, VariantReport, apply_proxy_fault,
    fault_schedule, mix_seed, observation_after_faults, service_named, timed_events,
    unstamped_faults, wire_proxies,
};
use crate::diagnose::pg::{self as pg_diagnose, PgRun, Samples};
use crate::faults::proxy::{Proxy, ProxyConfig};
use crate::remedies::backoff::{Backoff, rng_from_seed};
use crate::remedies::events::{Event, EventSink};
use crate::remedies::pg::pool::{PgPool, PoolConfig};
use crate::remedies::pg::reaper::{IdleReaper, ReaperQuery};
use crate::remedies::pg::transfer::{
    HardenedTransfers, LockOrder, NaiveRetry, NaiveTransfers, Transfer, create_bank,
};
use crate::scenario::{
    ContainerFault, FaultAction, Invariant, PgTransfers, Remedy, ServiceKind, Workload,
};
use crate::services::RunningService;

/// Every account opens with this balance.
pub const OPENING_BALANCE: i64 = 1_000;
/// Postgres' deadlock check runs this long after a lock wait starts (the
/// default, 1 s, would make every deadlock cost a second).
const DEADLOCK_TIMEOUT: &str = "100ms";
/// Application names, so diagnostics can tell sessions apart.
pub const APP_HARNESS: &str = "firedrill-harness";
/// The diagnostics session.
pub const APP_DIAGNOSE: &str = "firedrill-diagnose";
/// The leaking client of an idle-leak fault.
pub const APP_LEAK: &str = "leaky-client";
/// The workers.
pub const APP_WORKERS: &str = "firedrill-workers";
/// The idle reaper.
pub const APP_REAPER: &str = "firedrill-reaper";
/// Longest wait for in-flight transfers once observation ends.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// How often the diagnostics session samples Postgres' views.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// How long the database may take to accept the harness after a restart.
const READY_LIMIT: Duration = Duration::from_secs(30);

fn db_error(what: &str, error: impl std::fmt::Display) -> EngineError {
    EngineError::Hub(format!("failed to {what}: {error}"))
}

/// The transfers as the workload saw them.
#[derive(Debug, Default)]
struct Ledger {
    started: u64,
    acked: Vec<Transfer>,
    failed: Vec<(Transfer, String)>,
    last_ack: Option<Instant>,
    /// When each pooled transfer was acknowledged, and its checkout wait.
    acquire_waits: Vec<(Instant, Duration)>,
    attempts: u64,
}

fn lock(ledger: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    ledger
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Connects a session directly to the service (not through the proxy).
async fn direct(addr: SocketAddr, app: &str) -> Result<Client, tokio_postgres::Error> {
    let mut config: Config = RunningService::postgres_url(addr).parse()?;
    config.application_name(app);
    config.connect_timeout(Duration::from_secs(2));
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The harness's own session, retried until the database accepts it.
async fn harness_session(db: &RunningService) -> Result<Client, EngineError> {
    let deadline = Instant::now() + READY_LIMIT;
    loop {
        match direct(db.endpoint(), APP_HARNESS).await {
            Ok(client) => return Ok(client),
            Err(error) if Instant::now() >= deadline => {
                return Err(db_error("connect to postgres", error));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn deadlocks(client: &Client) -> Result<i64, tokio_postgres::Error> {
    client
        .batch_execute("SELECT pg_stat_clear_snapshot()")
        .await?;
    let row = client
        .query_one(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

pub(crate) async fn run_variant(ctx: &VariantContext<'_>) -> Result<VariantReport, EngineError> {
    let Workload::PgTransfers(pg) = &ctx.scenario.workload else {
        return Err(EngineError::Hub("not a pg-transfers workload".to_owned()));
    };
    let origin = Instant::now();
    let upstream = ctx
        .scenario
        .proxies
        .get(&pg.target)
        .map(|p| p.upstream.clone())
        .unwrap_or_default();
    let db = service_named(ctx.services, &upstream)?;
    let max_connections = match db.kind() {
        ServiceKind::Postgres { max_connections } => *max_connections,
        ServiceKind::WsHub => {
            return Err(EngineError::Hub(format!(
                "the pg-transfers workload needs postgres behind proxy {}",
                pg.target
            )));
        }
    };

    // A fresh bank, and no session left over from the previous variant.
    let admin = harness_session(db).await?;
    // One statement per call: ALTER SYSTEM cannot run in the implicit
    // transaction of a multi-statement batch.
    for statement in [
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        &format!("ALTER SYSTEM SET deadlock_timeout = '{DEADLOCK_TIMEOUT}'"),
        "SELECT pg_reload_conf()",
    ] {
        admin
            .batch_execute(statement)
            .await
            .map_err(|e| db_error("prepare postgres", e))?;
    }
    create_bank(&admin, pg.accounts, OPENING_BALANCE)
        .await
        .map_err(|e| db_error("create the bank", e))?;
    let deadlocks_before = deadlocks(&admin)
        .await
        .map_err(|e| db_error("read pg_stat_database", e))?;
    let max_connections = match max_connections {
        Some(max) => max,
        None => {
            let row = admin
                .query_one("SELECT current_setting('max_connections')::int", &[])
                .await
                .map_err(|e| db_error("read max_connections", e))?;
            u32::try_from(row.get::<_, i32>(0)).unwrap_or(0)
        }
    };

    let mut proxies: BTreeMap<String, Proxy> = BTreeMap::new();
    let mut faults = FaultState::default();
    let result = match wire_proxies(ctx, &mut proxies).await {
        Ok(()) => {
            drive(
                ctx,
                pg,
                db,
                &admin,
                &mut proxies,
                &mut faults,
                origin,
                max_connections,
                deadlocks_before,
            )
            .await
        }
        Err(error) => Err(error),
    };
    // Teardown, on every path: heal every fault, close every proxy.
    faults.heal_all(ctx, &mut proxies).await;
    for proxy in proxies.values() {
        proxy.reset();
        proxy.shutdown().await;
    }
    result
}

/// Faults in effect, so teardown can heal them whatever happened.
#[derive(Default)]
struct FaultState {
    paused: Vec<String>,
    killed: Vec<String>,
    /// Dropping a guard stops its leaking client and closes its sessions.
    leaks: BTreeMap<usize, tokio_util::sync::DropGuard>,
}

impl FaultState {
    async fn heal_all(&mut self, ctx: &VariantContext<'_>, proxies: &mut BTreeMap<String, Proxy>) {
        self.leaks.clear();
        for service in std::mem::take(&mut self.paused) {
            if let Ok(s) = service_named(ctx.services, &service)
                && let Err(error) = s.unpause().await
            {
                tracing::warn!(%error, "failed to unpause during teardown");
            }
        }
        for service in std::mem::take(&mut self.killed) {
            if let Err(error) = restart(ctx, &service, proxies).await {
                tracing::warn!(%error, "failed to restart during teardown");
            }
        }
    }
}

/// Starts a killed service again and re-points every proxy in front of it
/// at its new published port (same listening address for the clients).
async fn restart(
    ctx: &VariantContext<'_>,
    service: &str,
    proxies: &mut BTreeMap<String, Proxy>,
) -> Result<(), EngineError> {
    let running = service_named(ctx.services, service)?;
    let endpoint = running.start_again().await?;
    for decl in ctx.scenario.proxies.values() {
        if decl.upstream != service {
            continue;
        }
        let Some(old) = proxies.remove(&decl.name) else {
            continue;
        };
        let listen = old.listen_addr();
        let toxics = old.toxics();
        old.shutdown().await;
        let proxy = Proxy::start(ProxyConfig {
            name: decl.name.clone(),
            listen,
            upstream: endpoint.to_string(),
            enabled: true,
            seed: mix_seed(ctx.seed, 2_000 + ctx.index as u64),
        })
        .await?;
        for toxic in toxics {
            proxy.add_toxic(toxic)?;
        }
        proxies.insert(decl.name.clone(), proxy);
    }
    Ok(())
}

/// A leaking client: it opens a session for each request, runs one query
/// and never closes it, until it has opened `remaining` more; a session the
/// server terminates is simply lost. Every 20 ms it tries again, so slots
/// that free up are taken again unless someone frees them faster.
async fn leak(
    addr: SocketAddr,
    mut remaining: u32,
    mut held: Vec<Client>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while remaining > 0 {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Ok(client) = direct(addr, APP_LEAK).await {
            let _ = client.simple_query("SELECT 1").await;
            held.push(client);
            remaining -= 1;
        }
    }
    stop.cancelled().await;
    drop(held);
}

async fn apply(
    ctx: &VariantContext<'_>,
    index: usize,
    inject: bool,
    proxies: &mut BTreeMap<String, Proxy>,
    state: &mut FaultState,
) -> Result<(), EngineError> {
    let fault = &ctx.scenario.faults[index];
    if apply_proxy_fault(fault, proxies, inject).await? {
        return Ok(());
    }
    match (&fault.action, inject) {
        (FaultAction::Container { service, action }, true) => {
            let running = service_named(ctx.services, service)?;
            match action {
                ContainerFault::Pause => {
                    running.pause().await?;
                    state.paused.push(service.clone());
                }
                ContainerFault::Kill => {
                    running.kill().await?;
                    state.killed.push(service.clone());
                }
            }
        }
        (FaultAction::Container { service, action }, false) => match action {
            ContainerFault::Pause => {
                service_named(ctx.services, service)?.unpause().await?;
                state.paused.retain(|s| s != service);
            }
            ContainerFault::Kill => {
                restart(ctx, service, proxies).await?;
                state.killed.retain(|s| s != service);
            }
        },
        (FaultAction::IdleLeak { service, sessions }, true) => {
            let addr = service_named(ctx.services, service)?.endpoint();
            let stop = CancellationToken::new();
            // The first burst takes every free slot before the injection is
            // stamped; the leak then goes on in the background.
            let mut leaked = Vec::new();
            let mut opened = 0;
            while opened < *sessions {
                match direct(addr, APP_LEAK).await {
                    Ok(client) => {
                        let _ = client.simple_query("SELECT 1").await;
                        leaked.push(client);
                        opened += 1;
                    }
                    Err(_) => break,
                }
            }
            tokio::spawn(leak(addr, *sessions - opened, leaked, stop.clone()));
            state.leaks.insert(index, stop.drop_guard());
        }
        (FaultAction::IdleLeak { .. }, false) => {
            state.leaks.remove(&index);
        }
        (FaultAction::ProxyDown | FaultAction::Toxic(_), _) => {}
    }
    Ok(())
}

/// The remedy under test, as the workers call it.
enum UnderTest {
    Hardened(Arc<HardenedTransfers>),
    Naive(Arc<NaiveTransfers>),
}

impl Clone for UnderTest {
    fn clone(&self) -> Self {
        match self {
            UnderTest::Hardened(h) => UnderTest::Hardened(Arc::clone(h)),
            UnderTest::Naive(n) => UnderTest::Naive(Arc::clone(n)),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    ctx: &VariantContext<'_>,
    pg: &PgTransfers,
    db: &RunningService,
    admin: &Client,
    proxies: &mut BTreeMap<String, Proxy>,
    faults: &mut FaultState,
    origin: Instant,
    max_connections: u32,
    deadlocks_before: i64,
) -> Result<VariantReport, EngineError> {
    let target = proxies
        .get(&pg.target)
        .ok_or_else(|| EngineError::Hub(format!("proxy {} is not running", pg.target)))?
        .listen_addr();
    let mut config: Config = RunningService::postgres_url(target)
        .parse()
        .map_err(|e| db_error("build the connection settings", e))?;
    config.application_name(APP_WORKERS);
    // The naive remedy keeps the connection string's defaults.
    let naive_config = config.clone();
    config.connect_timeout(pg.connect_timeout);

    let recorder = Arc::new(Recorder::default());
    let sink: Arc<dyn EventSink> = recorder.clone();
    let remedy = ctx.variant.remedy;
    let under_test = match remedy {
        Remedy::PgPoolNaive => UnderTest::Naive(Arc::new(NaiveTransfers::new(
            naive_config,
            NaiveRetry::None,
            Arc::clone(&sink),
        ))),
        Remedy::PgStatementRetryNaive => UnderTest::Naive(Arc::new(NaiveTransfers::new(
            naive_config,
            NaiveRetry::Statement,
            Arc::clone(&sink),
        ))),
        _ => {
            let pool = PgPool::new(
                PoolConfig {
                    postgres: config.clone(),
                    max_size: pg.pool_size,
                    min_idle: Some(pg.pool_size.min(2)),
                    // Below the reaper's threshold: the pool closes its own
                    // idle connections before anyone calls them leaked.
                    idle_timeout: Some(pg.idle_threshold / 2),
                    max_lifetime: Some(pg.max_lifetime),
                    acquire_timeout: pg.acquire_timeout,
                },
                Arc::clone(&sink),
                "pool",
            );
            let order = if remedy == Remedy::PgOrderedLocks {
                LockOrder::ById
            } else {
                LockOrder::AsGiven
            };
            UnderTest::Hardened(Arc::new(HardenedTransfers::new(
                pool,
                order,
                Backoff {
                    base: pg.backoff_base,
                    max: pg.backoff_max,
                },
                pg.retry_budget,
                pg.transfer_timeout,
                Arc::clone(&sink),
            )))
        }
    };

    // The operator's recovery runs beside the workload when it is under test.
    let stop_reaper = CancellationToken::new();
    let reaper_query = match remedy {
        Remedy::PgIdleReaper => Some(ReaperQuery::Idle {
            threshold: pg.idle_threshold,
            protect: vec![APP_HARNESS.to_owned(), APP_DIAGNOSE.to_owned()],
        }),
        Remedy::PgIdleReaperNaive => Some(ReaperQuery::Playbook),
        _ => None,
    };
    let reaper = reaper_query.map(|query| {
        let mut reaper_config: Config = RunningService::postgres_url(db.endpoint())
            .parse()
            .unwrap_or_else(|_| config.clone());
        reaper_config.application_name(APP_REAPER);
        tokio::spawn(IdleReaper { query }.run(
            reaper_config,
            Duration::from_millis(200),
            Arc::clone(&sink),
            "reaper".to_owned(),
            stop_reaper.clone(),
        ))
    });

    // Diagnostics sample Postgres' views from their own session, beside
    // the observation (they stop when it ends).
    let samples = Mutex::new(Samples::default());
    let stop_sampler = CancellationToken::new();
    let sampling = std::sync::atomic::AtomicBool::new(false);

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop_workers = CancellationToken::new();
    let workers: Vec<_> = (0..pg.workers)
        .map(|w| {
            tokio::spawn(worker(
                w,
                pg.clone(),
                under_test.clone(),
                mix_seed(ctx.seed, (ctx.index as u64) << 16 | u64::from(w)),
                Arc::clone(&ledger),
                stop_workers.clone(),
            ))
        })
        .collect();

    let observing = async {
        let observed = observe(
            ctx, pg, proxies, faults, &ledger, &recorder, &sampling, origin,
        )
        .await;
        stop_sampler.cancel();
        observed
    };
    let sampler = pg_diagnose::sample(
        || db.endpoint(),
        APP_DIAGNOSE,
        SAMPLE_EVERY,
        pg.idle_threshold,
        &samples,
        &sampling,
        stop_sampler.clone(),
    );
    let (observed, ()) = tokio::join!(observing, sampler);

    // Stop starting transfers; let those in flight finish (bounded).
    stop_workers.cancel();
    let drain_deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
    let mut unfinished = 0;
    for handle in workers {
        let abort = handle.abort_handle();
        match tokio::time::timeout_at(drain_deadline, handle).await {
            Ok(_) => {}
            Err(_) => {
                abort.abort();
                unfinished += 1;
            }
        }
    }
    sampling.store(false, std::sync::atomic::Ordering::SeqCst);
    stop_reaper.cancel();
    if let Some(reaper) = reaper {
        let _ = reaper.await;
    }
    // Heal before reading the bank back (a paused or killed database cannot
    // answer); the stamps were taken already.
    faults.heal_all(ctx, proxies).await;
    drop(under_test);
    let observation = observed?;

    let admin_after;
    let admin = if admin.is_closed() {
        admin_after = harness_session(db).await?;
        &admin_after
    } else {
        admin
    };
    let bank = read_bank(admin).await?;
    let deadlocks_after = settled_deadlocks(admin).await.unwrap_or(deadlocks_before);
    let deadlocks_seen = deadlocks_after.saturating_sub(deadlocks_before).max(0);

    let ledger = std::mem::take(&mut *lock(&ledger));
    let events = recorder.snapshot();
    finish(FinishInput {
        ctx,
        ledger,
        unfinished,
        bank,
        events,
        observation,
        origin,
        samples: samples
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        max_connections,
        deadlocks_seen,
    })
}

async fn settled_deadlocks(admin: &Client) -> Result<i64, tokio_postgres::Error> {
    // Backends report their statistics when they end or go idle (at most
    // once a second): read until two readings 600 ms apart agree.
    let mut last = deadlocks(admin).await?;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let now = deadlocks(admin).await?;
        if now == last {
            break;
        }
        last = now;
    }
    Ok(last)
}

async fn worker(
    index: u32,
    pg: PgTransfers,
    remedy: UnderTest,
    seed: u64,
    ledger: Arc<Mutex<Ledger>>,
    stop: CancellationToken,
) {
    let mut rng = rng_from_seed(seed);
    let source = format!("w{index}");
    let mut tick = tokio::time::interval(pg.transfer_every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let accounts = i32::try_from(pg.accounts).unwrap_or(i32::MAX);
    for n in 0i64.. {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let from = rng.random_range(1..=accounts);
        let mut to = rng.random_range(1..accounts);
        if to >= from {
            to += 1;
        }
        let t = Transfer {
            id: (i64::from(index) << 32) | n,
            from,
            to,
            amount: rng.random_range(1..=100),
        };
        lock(&ledger).started += 1;
        let result = match &remedy {
            UnderTest::Hardened(h) => h.transfer(&t, &source, &mut rng).await,
            UnderTest::Naive(naive) => naive.transfer(&t, &source).await,
        };
        let mut ledger = lock(&ledger);
        match result {
            Ok(receipt) => {
                ledger.acked.push(t);
                ledger.last_ack = Some(Instant::now());
                ledger.attempts += u64::from(receipt.attempts);
                if matches!(remedy, UnderTest::Hardened(_)) {
                    ledger
                        .acquire_waits
                        .push((Instant::now(), receipt.acquire_wait));
                }
            }
            Err(error) => ledger.failed.push((t, error.code())),
        }
    }
}

/// What the observation loop saw.
/// Whether the remedy reported a failure within the last `window`.
fn failed_recently(recorder: &Recorder, now: Instant, window: Duration) -> bool {
    recorder
        .snapshot()
        .iter()
        .rev()
        .take_while(|e| now.saturating_duration_since(e.at) <= window)
        .any(|e| e.event.is_failure_signal())
}

fn probe(ledger: &Mutex<Ledger>, now: Instant, window: Duration, after: Option<Instant>) -> bool {
    let last = lock(ledger).last_ack;
    last.is_some_and(|at| {
        now.saturating_duration_since(at) <= window && after.is_none_or(|after| at > after)
    })
}

#[allow(clippy::too_many_arguments)]
async fn observe(
    ctx: &VariantContext<'_>,
    pg: &PgTransfers,
    proxies: &mut BTreeMap<String, Proxy>,
    faults: &mut FaultState,
    ledger: &Mutex<Ledger>,
    recorder: &Recorder,
    sampling: &std::sync::atomic::AtomicBool,
    origin: Instant,
) -> Result<FaultWindow, EngineError> {
    let steady = &ctx.scenario.steady;
    let hard_deadline = origin + ctx.scenario.drill.timeout;
    let window = (pg.transfer_every * 10).max(Duration::from_secs(1));
    let mut probe_tick = tokio::time::interval(steady.probe_every);
    probe_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);

    // 1. Steady state must hold before anything is broken.
    let steady_deadline = Instant::now() + steady.timeout;
    let mut in_a_row = 0;
    let steady0 = loop {
        tokio::select! {
            () = ctx.cancel.cancelled() => return Err(EngineError::Cancelled),
            _ = probe_tick.tick() => {
                let now = Instant::now();
                in_a_row = if probe(ledger, now, window, None) { in_a_row + 1 } else { 0 };
                if in_a_row >= steady.consecutive {
                    break now;
                }
                if now >= steady_deadline {
                    let detail = {
                        let l = lock(ledger);
                        format!("{} transfers acknowledged, {} failed", l.acked.len(), l.failed.len())
                    };
                    return Err(EngineError::SteadyNeverHeld { waited: steady.timeout, detail });
                }
            }
        }
    };

    // 2. The fault schedule, from the moment steady state held.
    let actions = fault_schedule(&ctx.scenario.faults, steady0);
    let mut stamps = unstamped_faults(ctx.scenario, steady0);
    let recovery_window = observation_after_faults(&ctx.scenario.expect);
    let mut next = 0;
    let mut fault_end: Option<Instant> = None;
    let mut observe_deadline = hard_deadline;
    let mut recover = None;
    let mut steady_again = None;
    let mut first_inject: Option<Instant> = None;
    let mut detected: Option<Instant> = None;
    let mut streak_start: Option<Instant> = None;
    let heals = ctx.scenario.faults.iter().all(|f| f.heal_after.is_some());
    in_a_row = 0;
    loop {
        let next_action = actions.get(next).map(|(at, _, _)| *at);
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return Err(EngineError::Cancelled),
            () = sleep_until(next_action.unwrap_or(hard_deadline).into()), if next_action.is_some() => {
                let (_, i, inject) = actions[next];
                if inject {
                    sampling.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                let started = Instant::now();
                if inject {
                    first_inject.get_or_insert(started);
                }
                apply(ctx, i, inject, proxies, faults).await?;
                let now = Instant::now();
                if inject { stamps[i].2 = started } else { stamps[i].3 = Some(now) }
                next += 1;
                if next == actions.len() {
                    fault_end = Some(now);
                    observe_deadline = (now + recovery_window).min(hard_deadline);
                }
            }
            _ = probe_tick.tick() => {
                if let (None, Some(inject)) = (detected, first_inject) {
                    detected = recorder
                        .snapshot()
                        .iter()
                        .find(|e| e.at >= inject && e.event.is_failure_signal())
                        .map(|e| e.at);
                }
                if let Some(end) = fault_end {
                    let now = Instant::now();
                    // A fault that bites late (a leak, once pooled
                    // connections expire) is recovered from only after the
                    // workload has felt it.
                    let after = detected.map_or(end, |d| d.max(end));
                    // A fault nobody heals (a leak) is watched for the whole
                    // recovery window: recovery is the start of the
                    // failure-free streak that lasts to the end of it.
                    let healthy = probe(ledger, now, window, Some(after))
                        && (heals || !failed_recently(recorder, now, window));
                    if healthy {
                        streak_start.get_or_insert(now);
                        if heals {
                            recover.get_or_insert(now);
                        }
                        in_a_row += 1;
                        if in_a_row >= steady.consecutive {
                            steady_again.get_or_insert(now);
                            if !heals {
                                recover = streak_start;
                            }
                        }
                    } else {
                        in_a_row = 0;
                        streak_start = None;
                        if !heals {
                            recover = None;
                            steady_again = None;
                        }
                    }
                }
            }
        }
        if (heals && steady_again.is_some()) || Instant::now() >= observe_deadline {
            break;
        }
    }
    let observed_until = Instant::now();
    Ok(FaultWindow {
        steady0,
        stamps,
        recover,
        steady: steady_again,
        observed_until,
    })
}

/// The bank as Postgres holds it after the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bank {
    /// `(account, balance)`.
    pub balances: Vec<(i32, i64)>,
    /// Every row of `transfers`.
    pub rows: Vec<Transfer>,
}

async fn read_bank(admin: &Client) -> Result<Bank, EngineError> {
    let balances = admin
        .query("SELECT id, balance FROM accounts ORDER BY id", &[])
        .await
        .map_err(|e| db_error("read the balances", e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let rows = admin
        .query(
            "SELECT transfer_id, from_id, to_id, amount FROM transfers ORDER BY seq",
            &[],
        )
        .await
        .map_err(|e| db_error("read the transfers", e))?
        .iter()
        .map(|r| Transfer {
            id: r.get(0),
            from: r.get(1),
            to: r.get(2),
            amount: r.get(3),
        })
        .collect();
    Ok(Bank { balances, rows })
}

/// The transfer invariants: `exactly-once`, `sum-unchanged`,
/// `no-half-applied`, judged from what the workload saw acknowledged and
/// what the database holds.
pub fn check_ledger(acked: &[Transfer], bank: &Bank, opening: i64) -> Vec<InvariantResult> {
    let mut copies: HashMap<i64, usize> = HashMap::new();
    for row in &bank.rows {
        *copies.entry(row.id).or_default() += 1;
    }
    let lost: Vec<i64> = acked
        .iter()
        .filter(|t| !copies.contains_key(&t.id))
        .map(|t| t.id)
        .collect();
    let mut duplicated: Vec<i64> = copies
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    duplicated.sort_unstable();
    let examples = |ids: &[i64]| {
        let shown: Vec<String> = ids.iter().take(3).map(|id| format!("#{id:x}")).collect();
        format!(
            "{}{}",
            shown.join(", "),
            if ids.len() > 3 { ", …" } else { "" }
        )
    };
    let exactly_once = InvariantResult {
        invariant: Invariant::ExactlyOnce,
        holds: lost.is_empty() && duplicated.is_empty(),
        detail: match (lost.len(), duplicated.len()) {
            (0, 0) => format!(
                "all {} acknowledged transfers are in the database exactly once ({} rows)",
                acked.len(),
                bank.rows.len()
            ),
            (l, d) => format!(
                "{l} acknowledged transfers missing ({}), {d} transfers applied more than once ({})",
                examples(&lost),
                examples(&duplicated)
            ),
        },
    };

    let expected_sum = opening * bank.balances.len() as i64;
    let sum: i64 = bank.balances.iter().map(|(_, b)| b).sum();
    let sum_unchanged = InvariantResult {
        invariant: Invariant::SumUnchanged,
        holds: sum == expected_sum,
        detail: format!(
            "sum of {} balances is {sum} (opening sum {expected_sum})",
            bank.balances.len()
        ),
    };

    let mut expected: BTreeMap<i32, i64> =
        bank.balances.iter().map(|(id, _)| (*id, opening)).collect();
    for row in &bank.rows {
        *expected.entry(row.from).or_insert(opening) -= row.amount;
        *expected.entry(row.to).or_insert(opening) += row.amount;
    }
    let off: Vec<String> = bank
        .balances
        .iter()
        .filter(|(id, balance)| expected.get(id) != Some(balance))
        .map(|(id, balance)| {
            format!(
                "account {id}: {balance}, transfers say {}",
                expected.get(id).copied().unwrap_or(opening)
            )
        })
        .collect();
    let no_half_applied = InvariantResult {
        invariant: Invariant::NoHalfApplied,
        holds: off.is_empty(),
        detail: if off.is_empty() {
            "every balance matches its opening balance plus its recorded transfers".to_owned()
        } else {
            off.join("; ")
        },
    };
    vec![exactly_once, sum_unchanged, no_half_applied]
}

fn no_failed_jobs(ledger: &Ledger, unfinished: usize) -> InvariantResult {
    let mut by_code: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, code) in &ledger.failed {
        *by_code.entry(code.as_str()).or_default() += 1;
    }
    let codes: Vec<String> = by_code.iter().map(|(c, n)| format!("{n}× {c}")).collect();
    InvariantResult {
        invariant: Invariant::NoFailedJobs,
        holds: ledger.failed.is_empty() && unfinished == 0,
        detail: if ledger.failed.is_empty() && unfinished == 0 {
            format!("all {} transfers acknowledged", ledger.acked.len())
        } else {
            format!(
                "{} of {} transfers failed ({}){}",
                ledger.failed.len(),
                ledger.started,
                codes.join(", "),
                if unfinished > 0 {
                    format!("; {unfinished} workers still stuck after the drain limit")
                } else {
                    String::new()
                }
            )
        },
    }
}

/// `p` in 0..=100 of sorted `values`.
/// Per error code: transfers that failed with it, and failures the remedy
/// reported with it (retried or not, connects included), for the journal.
fn error_codes(ledger: &Ledger, events: &[Recorded]) -> BTreeMap<String, (usize, usize)> {
    let mut codes: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (_, code) in &ledger.failed {
        codes.entry(code.clone()).or_default().0 += 1;
    }
    for e in events {
        let code = match &e.event {
            Event::TransactionFailed { code, .. } => code,
            Event::ConnectFailed { error, .. } => error,
            _ => continue,
        };
        codes.entry(code.clone()).or_default().1 += 1;
    }
    codes
}

fn percentile(values: &[Duration], p: usize) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (p * (sorted.len() - 1)).div_ceil(100);
    sorted.get(rank).copied()
}

struct FinishInput<'a> {
    ctx: &'a VariantContext<'a>,
    ledger: Ledger,
    unfinished: usize,
    bank: Bank,
    events: Vec<Recorded>,
    observation: FaultWindow,
    origin: Instant,
    samples: Samples,
    max_connections: u32,
    deadlocks_seen: i64,
}

fn finish(input: FinishInput<'_>) -> Result<VariantReport, EngineError> {
    let FinishInput {
        ctx,
        ledger,
        unfinished,
        bank,
        events,
        observation,
        origin,
        samples,
        max_connections,
        deadlocks_seen,
    } = input;
    let (t_inject, t_heal) = (observation.t_inject(), observation.t_heal());
    let mut invariants = vec![no_failed_jobs(&ledger, unfinished)];
    invariants.extend(check_ledger(&ledger.acked, &bank, OPENING_BALANCE));
    let judged = Judged::new(ctx, observation.points(origin, &events), invariants);

    let deadlocks_retried = events
        .iter()
        .filter(|e| {
            matches!(&e.event, crate::remedies::events::Event::TransactionFailed { code, retrying: true } if code == "40P01")
        })
        .count();
    let waits: Vec<Duration> = ledger.acquire_waits.iter().map(|(_, w)| *w).collect();
    let p50 = percentile(&waits, 50);
    let p99 = percentile(&waits, 99);
    // Checkout waits of the transfers acknowledged while the fault was live.
    let fault_window = (
        t_inject.unwrap_or(observation.observed_until),
        t_heal.unwrap_or(observation.observed_until),
    );
    let during: Vec<Duration> = ledger
        .acquire_waits
        .iter()
        .filter(|(at, _)| *at >= fault_window.0 && *at <= fault_window.1)
        .map(|(_, w)| *w)
        .collect();
    // bb8 lets a caller that just returned a connection take it again ahead
    // of older waiters, so a saturated pool shows as a long tail, not a slow
    // median: some callers wait out the whole fault.
    let pool_saturated = p99.is_some_and(|p| p >= Duration::from_secs(1));
    let ms = |d: Option<Duration>| {
        d.map_or("-".to_owned(), |d| {
            format!("{:.1}ms", d.as_secs_f64() * 1000.0)
        })
    };
    let summary = format!(
        "transfers started {} acknowledged {} failed {} attempts {}; acquire wait p50 {} p99 {} (during the fault p50 {} p99 {}); deadlocks seen {deadlocks_seen} retried {deadlocks_retried}; peak sessions {} of {max_connections}, peak by state {:?}; samples {} (lasting lock waits in {}, unanswered {}, {} in a row at most); idle past the threshold by application (most at once, oldest) {:?}; errors by code (failed transfers, remedy reports) {:?}",
        ledger.started,
        ledger.acked.len(),
        ledger.failed.len(),
        ledger.attempts,
        ms(p50),
        ms(p99),
        ms(percentile(&during, 50)),
        ms(percentile(&during, 99)),
        samples.peak_total,
        samples.peak_by_state,
        samples.taken,
        samples.with_lasting_waits,
        samples.unanswered,
        samples.longest_silence,
        samples.idle_over_threshold,
        error_codes(&ledger, &events),
    );
    tracing::info!(drill = %ctx.scenario.drill.name, variant = %ctx.variant.name, "{summary}");

    let mut timed = timed_events(&events, origin);
    let end = judged.points.observed_until;
    // The figures that vary from run to run go to the journal, not the snapshot.
    timed.push(TimedEvent {
        at: end,
        source: "harness".to_owned(),
        kind: "measured".to_owned(),
        detail: summary,
    });
    for pair in &samples.lock_pairs_raw {
        timed.push(TimedEvent {
            at: end,
            source: "diagnose".to_owned(),
            kind: "lock_wait".to_owned(),
            detail: pair.clone(),
        });
    }
    let diagnostics = pg_diagnose::pg_diagnostics(PgRun {
        scenario: ctx.scenario,
        variant: ctx.variant,
        events: &events,
        samples: &samples,
        max_connections,
        deadlocks_seen,
        failed_codes: &ledger
            .failed
            .iter()
            .fold(BTreeMap::new(), |mut codes, (_, c)| {
                *codes.entry(c.clone()).or_default() += 1;
                codes
            }),
        pool_saturated,
        checks: &judged.checks,
        outcome: &judged.outcome,
    });
    Ok(VariantReport::judged(
        ctx.variant,
        judged,
        observation.fault_stamps(origin),
        timed,
        diagnostics,
        origin.elapsed(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: i64, from: i32, to: i32, amount: i64) -> Transfer {
        Transfer {
            id,
            from,
            to,
            amount,
        }
    }

    /// A consistent bank after `rows` were applied to 3 accounts of 1000.
    fn bank_after(rows: &[Transfer]) -> Bank {
        let mut balances = vec![(1, 1_000), (2, 1_000), (3, 1_000)];
        for r in rows {
            for (id, b) in &mut balances {
                if *id == r.from {
                    *b -= r.amount;
                }
                if *id == r.to {
                    *b += r.amount;
                }
            }
        }
        Bank {
            balances,
            rows: rows.to_vec(),
        }
    }

    fn holds(results: &[InvariantResult], invariant: Invariant) -> bool {
        results
            .iter()
            .find(|r| r.invariant == invariant)
            .is_some_and(|r| r.holds)
    }

    #[test]
    fn a_consistent_ledger_passes() {
        let acked = [t(1, 1, 2, 10), t(2, 2, 3, 5)];
        // A transfer that failed at the client but committed (its COMMIT
        // reply was lost) is in the bank once: still exactly once.
        let rows = [acked[0], acked[1], t(3, 3, 1, 7)];
        let results = check_ledger(&acked, &bank_after(&rows), 1_000);
        assert!(results.iter().all(|r| r.holds), "{results:#?}");
    }

    #[test]
    fn the_checker_catches_a_lost_transfer() {
        let acked = [t(1, 1, 2, 10), t(2, 2, 3, 5)];
        let results = check_ledger(&acked, &bank_after(&acked[..1]), 1_000);
        assert!(!holds(&results, Invariant::ExactlyOnce), "{results:#?}");
        assert!(
            results[0]
                .detail
                .contains("1 acknowledged transfers missing")
        );
        // Lost whole, it leaves the sums consistent: only exactly-once sees it.
        assert!(holds(&results, Invariant::SumUnchanged));
        assert!(holds(&results, Invariant::NoHalfApplied));
    }

    #[test]
    fn the_checker_catches_a_duplicated_transfer() {
        let acked = [t(1, 1, 2, 10), t(2, 2, 3, 5)];
        let rows = [acked[0], acked[1], acked[1]];
        let results = check_ledger(&acked, &bank_after(&rows), 1_000);
        assert!(!holds(&results, Invariant::ExactlyOnce), "{results:#?}");
        assert!(
            results[0]
                .detail
                .contains("1 transfers applied more than once")
        );
    }

    #[test]
    fn the_checker_catches_a_half_applied_transfer_and_a_changed_sum() {
        let acked = [t(1, 1, 2, 10)];
        let mut bank = bank_after(&acked);
        // The debit happened, the credit did not.
        bank.balances[1].1 -= 10;
        let results = check_ledger(&acked, &bank, 1_000);
        assert!(!holds(&results, Invariant::SumUnchanged));
        assert!(!holds(&results, Invariant::NoHalfApplied));
        assert!(holds(&results, Invariant::ExactlyOnce));
    }

    #[test]
    fn percentiles_pick_ranks() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50), Some(Duration::from_millis(51)));
        assert_eq!(percentile(&values, 99), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&[], 50), None);
    }
}
