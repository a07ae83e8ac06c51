//! The Postgres remedies against a real Postgres container.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Config, NoTls};

use super::TransferError;
use super::pool::{PgPool, PoolConfig};
use super::reaper::{IdleReaper, ReaperQuery};
use super::transfer::{
    HardenedTransfers, LockOrder, NaiveRetry, NaiveTransfers, Transfer, create_bank,
};
use crate::engine::recorder::Recorder;
use crate::remedies::backoff::{Backoff, rng_from_seed};
use crate::remedies::events::Event;
use crate::remedies::events::NoEvents;
use crate::scenario::ServiceKind;
use crate::services::{Images, RunningService, ServiceSpec, start};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn postgres() -> Result<RunningService, Box<dyn std::error::Error>> {
    let spec = ServiceSpec::new(
        "db",
        ServiceKind::Postgres {
            max_connections: Some(20),
        },
        std::path::PathBuf::new(),
    );
    Ok(start(&spec, &Images::from_env()).await?)
}

fn config(db: &RunningService, app: &str) -> Result<Config, tokio_postgres::Error> {
    let mut config: Config = RunningService::postgres_url(db.endpoint()).parse()?;
    config.application_name(app);
    Ok(config)
}

async fn connect(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn pool(config: Config, max: u32) -> PgPool {
    PgPool::new(
        PoolConfig {
            postgres: config,
            max_size: max,
            min_idle: None,
            idle_timeout: None,
            max_lifetime: None,
            acquire_timeout: Duration::from_millis(300),
        },
        Arc::new(NoEvents),
        "test",
    )
}

#[test]
fn retryable_errors_are_classified_by_sqlstate() {
    let db = |code: &str| TransferError::Database {
        code: code.into(),
        message: String::new(),
    };
    for code in ["40P01", "40001", "53300", "57P01", "57P03"] {
        assert!(db(code).is_retryable(), "{code}");
    }
    for code in ["23505", "42P01", "25P02"] {
        assert!(!db(code).is_retryable(), "{code}");
    }
    assert!(TransferError::Connection("reset".into()).is_retryable());
    assert!(
        TransferError::PoolExhausted {
            waited: Duration::ZERO
        }
        .is_retryable()
    );
}

/// One container for every check below: starting Postgres is the slow part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_reaper_and_retry_against_real_postgres() -> TestResult {
    let db = postgres().await?;
    let result = checks(&db).await;
    db.stop().await;
    result
}

async fn checks(db: &RunningService) -> TestResult {
    let admin = connect(&config(db, "admin")?).await?;

    // 1. The acquire timeout fails fast with a typed error when every
    //    connection is checked out.
    let small = pool(config(db, "pool")?, 2);
    let a = small.acquire().await?;
    let b = small.acquire().await?;
    let started = Instant::now();
    let third = small.acquire().await;
    assert!(
        matches!(third, Err(TransferError::PoolExhausted { .. })),
        "{third:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(b);

    // 2. A connection dropped mid-transaction is discarded, not reused: the
    //    next checkout gets another backend; a clean one is reused.
    let pid_a: i32 = a
        .client()
        .query_one("SELECT pg_backend_pid()", &[])
        .await?
        .get(0);
    let mut a = a;
    a.begin_unsafe().batch_execute("BEGIN").await?;
    drop(a);
    let c = small.acquire().await?;
    let pid_c: i32 = c
        .client()
        .query_one("SELECT pg_backend_pid()", &[])
        .await?
        .get(0);
    assert_ne!(pid_a, pid_c, "a suspect connection came back from the pool");
    drop(c);
    let d = small.acquire().await?;
    let pid_d: i32 = d
        .client()
        .query_one("SELECT pg_backend_pid()", &[])
        .await?
        .get(0);
    drop(d);
    assert!(
        pid_d == pid_c || pid_d != pid_a,
        "a clean connection may be reused"
    );

    // 3. The reaper terminates a leaked idle session, and never its own,
    //    a protected one, or a busy one.
    let leaked = connect(&config(db, "leaky")?).await?;
    leaked.simple_query("SELECT 1").await?;
    let busy = connect(&config(db, "busy")?).await?;
    let busy_pid: i32 = busy.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
    let sleeper =
        tokio::spawn(async move { busy.simple_query("SELECT pg_sleep(2)").await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let reaper = IdleReaper {
        query: ReaperQuery::Idle {
            threshold: Duration::from_millis(400),
            protect: vec!["admin".into(), "pool".into()],
        },
    };
    let reaper_session = connect(&config(db, "reaper")?).await?;
    let swept = reaper.sweep(&reaper_session).await?;
    assert_eq!(swept.len(), 1, "{swept:?}");
    assert_ne!(swept[0], busy_pid);
    assert!(!reaper_session.is_closed());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(leaked.is_closed(), "the leaked session was not terminated");
    assert!(sleeper.await?.is_ok(), "a busy session was terminated");
    let apps: Vec<String> = admin
        .query(
            "SELECT application_name FROM pg_stat_activity WHERE backend_type = 'client backend'",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(apps.iter().any(|a| a == "admin") && apps.iter().any(|a| a == "reaper"));
    // The playbook's query waits ten minutes: it terminates nothing here.
    let playbook = IdleReaper {
        query: ReaperQuery::Playbook,
    };
    assert!(playbook.sweep(&reaper_session).await?.is_empty());

    // 4. Opposite transfers under deadlocks: with whole-transaction retry
    //    every transfer commits once and the sum is unchanged.
    create_bank(&admin, 2, 1_000).await?;
    admin
        .batch_execute("ALTER SYSTEM SET deadlock_timeout = '50ms'")
        .await?;
    admin.batch_execute("SELECT pg_reload_conf()").await?;
    let transfers = Arc::new(HardenedTransfers::new(
        pool(config(db, "transfers")?, 8),
        LockOrder::AsGiven,
        Backoff {
            base: Duration::from_millis(5),
            max: Duration::from_millis(50),
        },
        Duration::from_secs(10),
        Duration::from_secs(5),
        Arc::new(NoEvents),
    ));
    let mut tasks = Vec::new();
    for w in 0..6i64 {
        let transfers = Arc::clone(&transfers);
        tasks.push(tokio::spawn(async move {
            let mut rng = rng_from_seed(w as u64);
            let mut attempts = 0;
            for n in 0..15i64 {
                let (from, to) = if (w + n) % 2 == 0 { (1, 2) } else { (2, 1) };
                let t = Transfer {
                    id: w * 1_000 + n,
                    from,
                    to,
                    amount: 1 + n,
                };
                attempts += transfers.transfer(&t, "w", &mut rng).await?.attempts;
            }
            Ok::<u32, TransferError>(attempts)
        }));
    }
    for task in tasks {
        task.await??;
    }
    let row = admin
        .query_one(
            "SELECT (SELECT sum(balance) FROM accounts)::bigint, (SELECT count(*) FROM transfers), (SELECT count(DISTINCT transfer_id) FROM transfers)",
            &[],
        )
        .await?;
    assert_eq!(row.get::<_, i64>(0), 2_000);
    assert_eq!(row.get::<_, i64>(1), 90);
    assert_eq!(row.get::<_, i64>(2), 90);

    statement_retry_cannot_save_a_deadlock_victim(db, &admin).await
}

/// 5. The playbook's retry wrapped around the failed statement: the deadlock
///    aborted the whole transaction, so the retried statement is refused with
///    `25P02` and nothing of the transfer is applied.
///
/// The deadlock is made deterministic: a holder session locks account 1 and
/// never looks for deadlocks itself (60 s), the naive transfer 2 → 1 locks
/// account 2 and waits for 1, then the holder asks for 2. The naive session
/// checks for a deadlock after 500 ms, finds the cycle and is the victim.
async fn statement_retry_cannot_save_a_deadlock_victim(
    db: &RunningService,
    admin: &Client,
) -> TestResult {
    create_bank(admin, 2, 1_000).await?;
    let holder = connect(&config(db, "holder")?).await?;
    holder
        .batch_execute(
            "SET deadlock_timeout = '60s'; BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = 1",
        )
        .await?;
    let mut naive_config = config(db, "naive")?;
    naive_config.options("-c deadlock_timeout=500ms");
    let recorder = Arc::new(Recorder::default());
    let naive = NaiveTransfers::new(naive_config, NaiveRetry::Statement, recorder.clone());
    let t = Transfer {
        id: 7,
        from: 2,
        to: 1,
        amount: 5,
    };
    let transfer = tokio::spawn(async move { naive.transfer(&t, "naive").await });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let waiting = admin
            .query_opt(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'naive' AND wait_event_type = 'Lock'",
                &[],
            )
            .await?;
        if waiting.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the naive transfer never waited for account 1"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (result, holder_update) = tokio::join!(
        transfer,
        holder.batch_execute("UPDATE accounts SET balance = balance + 1 WHERE id = 2")
    );
    holder_update?;
    holder.batch_execute("COMMIT").await?;
    let error = result?.expect_err("a deadlock victim cannot commit by retrying a statement");
    assert_eq!(error.code(), "25P02", "{error}");
    let retries = recorder
        .snapshot()
        .iter()
        .filter(|e| matches!(e.event, Event::RetryScheduled { .. }))
        .count();
    assert_eq!(retries, 1, "one statement retry, then 25P02");
    let rows = admin
        .query("SELECT balance FROM accounts ORDER BY id", &[])
        .await?;
    let balances: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        balances,
        [999, 1_001],
        "only the holder's transaction applied"
    );
    let applied: i64 = admin
        .query_one("SELECT count(*) FROM transfers", &[])
        .await?
        .get(0);
    assert_eq!(applied, 0);
    Ok(())
}
