//! Bank transfers: the playbook's `transferFunds`, hardened and naive.
//!
//! The bank is two tables: `accounts (id, balance)` and `transfers`, one row
//! per applied transfer, carrying the client-generated `transfer_id`. There is
//! deliberately no unique constraint on `transfer_id`: exactly-once is the
//! remedy's job here (and a checker can see it fail), not the schema's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls};

use super::TransferError;
use super::pool::{Lease, PgPool};
use crate::remedies::backoff::Backoff;
use crate::remedies::events::{Event, EventSink};

/// Creates (or re-creates) the bank: `accounts` accounts numbered from 1,
/// each with `opening` in it, and an empty `transfers` table.
pub async fn create_bank(
    client: &Client,
    accounts: u32,
    opening: i64,
) -> Result<(), TransferError> {
    let schema = format!(
        "DROP TABLE IF EXISTS transfers, accounts;
         CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL);
         CREATE TABLE transfers (
             seq bigserial PRIMARY KEY,
             transfer_id bigint NOT NULL,
             from_id integer NOT NULL,
             to_id integer NOT NULL,
             amount bigint NOT NULL);
         CREATE INDEX transfers_by_id ON transfers (transfer_id);
         INSERT INTO accounts SELECT g, {opening} FROM generate_series(1, {accounts}) AS g;"
    );
    client
        .batch_execute(&schema)
        .await
        .map_err(|e| TransferError::from_pg(&e))
}

/// One transfer of `amount` from account `from` to account `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transfer {
    /// Client-generated, unique per transfer (retries reuse it).
    pub id: i64,
    /// Debited account.
    pub from: i32,
    /// Credited account.
    pub to: i32,
    /// Amount moved, > 0.
    pub amount: i64,
}

/// In which order a transfer takes its row locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOrder {
    /// Debit first, then credit: two opposite transfers can deadlock.
    AsGiven,
    /// Both rows locked up front, lower id first: no deadlock between transfers.
    ById,
}

/// What a successful transfer cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Receipt {
    /// Attempts made (1 = first try).
    pub attempts: u32,
    /// Checkout wait of the attempt that succeeded.
    pub acquire_wait: Duration,
    /// The transfer had already been applied by an earlier attempt whose
    /// `COMMIT` reply was lost.
    pub already_applied: bool,
}

const DEBIT: &str = "UPDATE accounts SET balance = balance - $1 WHERE id = $2";
const CREDIT: &str = "UPDATE accounts SET balance = balance + $1 WHERE id = $2";
const RECORD: &str =
    "INSERT INTO transfers (transfer_id, from_id, to_id, amount) VALUES ($1, $2, $3, $4)";
/// SQLSTATE of a deadlock victim.
const DEADLOCK: &str = "40P01";
/// Tries per statement in [`NaiveRetry::Statement`] (the playbook's
/// `maxRetries = 3`).
const STATEMENT_TRIES: u32 = 3;
const LOCK_BOTH: &str = "SELECT id FROM accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE";

/// Runs one transfer in one transaction on `client`. With `idempotent`, the
/// transfer's id is locked first (a transaction-scoped advisory lock) and
/// looked up: an earlier attempt that committed is not applied again, and
/// one still in flight is waited for.
async fn apply_once(
    client: &mut Client,
    t: &Transfer,
    order: LockOrder,
    idempotent: bool,
) -> Result<bool, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    if idempotent {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&t.id])
            .await?;
        let seen = tx
            .query_opt(
                "SELECT 1 FROM transfers WHERE transfer_id = $1 LIMIT 1",
                &[&t.id],
            )
            .await?;
        if seen.is_some() {
            tx.commit().await?;
            return Ok(true);
        }
    }
    if order == LockOrder::ById {
        tx.query(LOCK_BOTH, &[&t.from, &t.to]).await?;
    }
    tx.execute(DEBIT, &[&t.amount, &t.from]).await?;
    tx.execute(CREDIT, &[&t.amount, &t.to]).await?;
    tx.execute(RECORD, &[&t.id, &t.from, &t.to, &t.amount])
        .await?;
    tx.commit().await?;
    Ok(false)
}

/// The hardened transfer: pooled, bounded in time, the whole transaction
/// retried with jittered backoff, exactly once.
pub struct HardenedTransfers {
    pool: PgPool,
    /// Lock order.
    pub order: LockOrder,
    /// Delay between attempts.
    pub backoff: Backoff,
    /// Retrying stops once this much time has passed since the first attempt.
    pub retry_budget: Duration,
    /// One attempt (checkout excluded) is abandoned after this.
    pub attempt_timeout: Duration,
    sink: Arc<dyn EventSink>,
}

impl std::fmt::Debug for HardenedTransfers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HardenedTransfers")
            .field("pool", &self.pool)
            .field("order", &self.order)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl HardenedTransfers {
    /// Transfers over `pool`.
    pub fn new(
        pool: PgPool,
        order: LockOrder,
        backoff: Backoff,
        retry_budget: Duration,
        attempt_timeout: Duration,
        sink: Arc<dyn EventSink>,
    ) -> Self {
        HardenedTransfers {
            pool,
            order,
            backoff,
            retry_budget,
            attempt_timeout,
            sink,
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// One attempt: checkout, transaction, clean return or discard.
    async fn attempt(&self, t: &Transfer, waited: &mut Duration) -> Result<bool, TransferError> {
        let mut lease: Lease<'_> = self.pool.acquire().await?;
        *waited = lease.waited;
        let client = lease.begin_unsafe();
        let outcome = tokio::time::timeout(
            self.attempt_timeout,
            apply_once(client, t, self.order, true),
        )
        .await;
        match outcome {
            Ok(Ok(already)) => {
                lease.mark_clean();
                Ok(already)
            }
            Ok(Err(error)) => {
                // A statement error: tokio-postgres rolled the transaction
                // back when it was dropped, and the session is usable if the
                // server answered. A lost connection stays suspect.
                if error.as_db_error().is_some() && !lease.client().is_closed() {
                    let clean = tokio::time::timeout(
                        self.attempt_timeout,
                        lease.client().simple_query("ROLLBACK"),
                    )
                    .await;
                    if matches!(clean, Ok(Ok(_))) {
                        lease.mark_clean();
                    }
                }
                Err(TransferError::from_pg(&error))
            }
            // Abandoned mid-transaction: the lease stays suspect and is
            // discarded when dropped.
            Err(_) => Err(TransferError::TimedOut(self.attempt_timeout)),
        }
    }

    /// Runs `t` until it commits (or is found committed), a non-retryable
    /// error occurs, or the retry budget is spent.
    pub async fn transfer(
        &self,
        t: &Transfer,
        source: &str,
        rng: &mut impl Rng,
    ) -> Result<Receipt, TransferError> {
        let started = Instant::now();
        let mut receipt = Receipt::default();
        loop {
            receipt.attempts += 1;
            let error = match self.attempt(t, &mut receipt.acquire_wait).await {
                Ok(already) => {
                    receipt.already_applied = already;
                    return Ok(receipt);
                }
                Err(error) => error,
            };
            let delay = self.backoff.delay(receipt.attempts, rng);
            let retrying = error.is_retryable() && started.elapsed() + delay < self.retry_budget;
            self.sink.record(
                source,
                Event::TransactionFailed {
                    code: error.code(),
                    retrying,
                },
            );
            if !retrying {
                return Err(if receipt.attempts > 1 {
                    TransferError::GaveUp {
                        attempts: receipt.attempts,
                        last: Box::new(error),
                    }
                } else {
                    error
                });
            }
            self.sink.record(
                source,
                Event::RetryScheduled {
                    attempt: receipt.attempts + 1,
                    delay,
                },
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// How the naive transfer meets a deadlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NaiveRetry {
    /// Not at all: the error is the caller's.
    None,
    /// The playbook's `executeWithDeadlockRetry` wrapped around each
    /// statement instead of the transaction: a statement that failed with
    /// `40P01` is run again after 1 s, 2 s… (three tries in all). It cannot
    /// work: the deadlock aborted the whole transaction, so Postgres refuses
    /// the retried statement with `25P02` and the transfer fails anyway,
    /// after holding its connection for the backoff.
    Statement,
}

/// The naive transfer: a fresh connection for every transfer, no timeout,
/// locks taken in the order given, and at most the statement-level retry.
pub struct NaiveTransfers {
    config: Config,
    retry: NaiveRetry,
    sink: Arc<dyn EventSink>,
}

impl std::fmt::Debug for NaiveTransfers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NaiveTransfers").finish_non_exhaustive()
    }
}

impl NaiveTransfers {
    /// Transfers with connections made from `config`.
    pub fn new(config: Config, retry: NaiveRetry, sink: Arc<dyn EventSink>) -> Self {
        NaiveTransfers {
            config,
            retry,
            sink,
        }
    }

    /// Connects, transfers, disconnects; any error is the caller's.
    pub async fn transfer(&self, t: &Transfer, source: &str) -> Result<Receipt, TransferError> {
        let (mut client, connection) = match self.config.connect(NoTls).await {
            Ok(pair) => pair,
            Err(error) => {
                let error = TransferError::from_pg(&error);
                self.sink.record(
                    source,
                    Event::ConnectFailed {
                        attempt: 1,
                        error: error.code(),
                    },
                );
                return Err(error);
            }
        };
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        let result = match self.retry {
            NaiveRetry::None => apply_once(&mut client, t, LockOrder::AsGiven, false)
                .await
                .map(drop),
            NaiveRetry::Statement => self.apply_retrying_statements(&mut client, t, source).await,
        };
        drop(client);
        let _ = task.await;
        match result {
            Ok(_) => Ok(Receipt {
                attempts: 1,
                ..Receipt::default()
            }),
            Err(error) => {
                let error = TransferError::from_pg(&error);
                self.sink.record(
                    source,
                    Event::TransactionFailed {
                        code: error.code(),
                        retrying: false,
                    },
                );
                Err(error)
            }
        }
    }
}

impl NaiveTransfers {
    /// One transaction whose statements are each retried on `40P01` with the
    /// playbook's backoff (`2^attempt` seconds, no jitter).
    async fn apply_retrying_statements(
        &self,
        client: &mut Client,
        t: &Transfer,
        source: &str,
    ) -> Result<(), tokio_postgres::Error> {
        let tx = client.transaction().await?;
        let statements: [(&str, &[&(dyn ToSql + Sync)]); 3] = [
            (DEBIT, &[&t.amount, &t.from]),
            (CREDIT, &[&t.amount, &t.to]),
            (RECORD, &[&t.id, &t.from, &t.to, &t.amount]),
        ];
        for (sql, params) in statements {
            let mut attempt = 0;
            loop {
                match tx.execute(sql, params).await {
                    Ok(_) => break,
                    Err(error)
                        if attempt + 1 < STATEMENT_TRIES
                            && error.code().is_some_and(|c| c.code() == DEADLOCK) =>
                    {
                        let delay = Duration::from_secs(1 << attempt);
                        attempt += 1;
                        self.sink.record(
                            source,
                            Event::RetryScheduled {
                                attempt: attempt + 1,
                                delay,
                            },
                        );
                        tokio::time::sleep(delay).await;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        tx.commit().await
    }
}
