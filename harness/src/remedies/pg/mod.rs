//! PostgreSQL remedies: the playbook's "Database and State Management" fixes
//! and their naive twins.
//!
//! - [`pool::PgPool`]: a bounded bb8 pool (max size, min idle, idle timeout,
//!   max lifetime) whose checkout fails fast with [`TransferError::PoolExhausted`];
//!   a connection whose state is unknown (broken or abandoned mid-transaction)
//!   is discarded, never returned.
//! - [`transfer::HardenedTransfers`]: bank transfers over that pool, the
//!   whole transaction retried on deadlocks (`40P01`, `40001`) and lost
//!   connections with jittered capped [`crate::remedies::backoff::Backoff`],
//!   bounded by a time budget, and idempotent by a client-generated id so a
//!   retry after a lost `COMMIT` reply never applies a transfer twice;
//!   optionally locking both rows in id order ([`transfer::LockOrder::ById`]).
//! - [`transfer::NaiveTransfers`]: a fresh connection per transfer, no
//!   timeout, no retry (the playbook's `transferFunds` without its pool), or
//!   the playbook's deadlock retry misapplied to the failed statement
//!   ([`transfer::NaiveRetry::Statement`]), which Postgres answers with
//!   `25P02` because the deadlock aborted the whole transaction.
//! - [`reaper::IdleReaper`]: the playbook's level-1 recovery as code:
//!   terminate sessions idle longer than a threshold, never its own session
//!   nor one that is not idle; [`reaper::ReaperQuery::Playbook`] is the
//!   runbook's query as written (ten minutes since the last query).
//!
//! Like every remedy, these never know the harness: they report through
//! [`crate::remedies::events::EventSink`] and take randomness from a seed.

pub mod pool;
pub mod reaper;
pub mod transfer;

#[cfg(test)]
mod tests;

use std::time::Duration;

use tokio_postgres::error::SqlState;

/// Why a transfer (or a checkout) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// No pooled connection became free within the acquire timeout.
    #[error("failed to get a pooled connection within {}ms: pool exhausted", waited.as_millis())]
    PoolExhausted {
        /// How long the checkout waited.
        waited: Duration,
    },
    /// Postgres refused the statement or the connection.
    #[error("failed to run the transfer: {code}: {message}")]
    Database {
        /// SQLSTATE.
        code: String,
        /// Postgres' message.
        message: String,
    },
    /// The connection was lost (closed, reset, refused).
    #[error("failed to reach the database: {0}")]
    Connection(String),
    /// One attempt took longer than its limit and was abandoned.
    #[error("failed to finish the transfer within {}ms", .0.as_millis())]
    TimedOut(Duration),
    /// Retries ran out (attempts or time budget).
    #[error("failed after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: Box<TransferError>,
    },
}

impl TransferError {
    /// From a tokio-postgres error: a database error keeps its SQLSTATE,
    /// anything else is a lost connection.
    pub fn from_pg(error: &tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            Some(db) => TransferError::Database {
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
            },
            None => TransferError::Connection(error.to_string()),
        }
    }

    /// A short stable code: the SQLSTATE, `connection`, `timeout`,
    /// `pool_exhausted` (and the last error's code for `GaveUp`).
    pub fn code(&self) -> String {
        match self {
            TransferError::PoolExhausted { .. } => "pool_exhausted".to_owned(),
            TransferError::Database { code, .. } => code.clone(),
            TransferError::Connection(_) => "connection".to_owned(),
            TransferError::TimedOut(_) => "timeout".to_owned(),
            TransferError::GaveUp { last, .. } => last.code(),
        }
    }

    /// Whether running the whole transaction again can succeed: deadlock
    /// and serialization failures, too many clients, a server shutting down
    /// or starting up, a lost connection, a timeout, an exhausted pool.
    pub fn is_retryable(&self) -> bool {
        match self {
            TransferError::Database { code, .. } => [
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .iter()
            .any(|s| s.code() == code),
            TransferError::PoolExhausted { .. }
            | TransferError::Connection(_)
            | TransferError::TimedOut(_) => true,
            TransferError::GaveUp { .. } => false,
        }
    }
}
