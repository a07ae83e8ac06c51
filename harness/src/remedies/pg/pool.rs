//! The hardened pool: bb8 over tokio-postgres, bounded, with an acquire
//! timeout that fails fast with [`TransferError::PoolExhausted`].
//!
//! bb8 returns a connection to the pool when its guard drops, on every path
//! (success, error, a cancelled future). What bb8 cannot know is whether the
//! session is still in a usable state: a connection dropped in the middle
//! of a transaction (a timeout, a cancelled task, an I/O error before the
//! `COMMIT` reply) may hold locks or an open transaction. [`Lease::begin_unsafe`]
//! marks the connection *suspect* until [`Lease::mark_clean`] is called; a
//! suspect connection reports itself broken to bb8, which then closes it
//! instead of handing it to the next caller.
//!
//! bb8 also retries a failed connect on its own, waiting 200 ms, then
//! doubling, up to half its `connection_timeout`, without jitter; a waiting
//! checkout never sees those failures. With `connection_timeout` set to the
//! whole acquire timeout (2 s), a database back from a reset storm was used
//! only after bb8's next try: 0.80 s after the heal (0.41 s with a 1 s
//! timeout, 1.40 s with 4 s, measured on `pg-reset-mid-transaction`). So
//! bb8 gets a short [`CHECKOUT_SLICE`] and [`PgPool::acquire`] asks again
//! until the acquire timeout: while checkouts wait, a new connect is tried
//! at least every slice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bb8::{ManageConnection, Pool, PooledConnection, RunError};
use tokio_postgres::{Client, Config, NoTls};

use super::TransferError;
use crate::remedies::events::{Event, EventSink};

/// How long one bb8 checkout waits (and bb8 keeps retrying one connect)
/// before [`PgPool::acquire`] asks again; bb8 then retries a failed connect
/// every half slice.
pub const CHECKOUT_SLICE: Duration = Duration::from_millis(250);

/// How to build a [`PgPool`].
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Where and how to connect (host, port, user, connect timeout…).
    pub postgres: Config,
    /// Most connections the pool opens.
    pub max_size: u32,
    /// Idle connections kept ready.
    pub min_idle: Option<u32>,
    /// An idle connection is closed after this.
    pub idle_timeout: Option<Duration>,
    /// A connection is closed after this much life, idle or not (on return).
    pub max_lifetime: Option<Duration>,
    /// A checkout waits at most this long.
    pub acquire_timeout: Duration,
}

/// A tokio-postgres client plus whether its session state is unknown.
#[derive(Debug)]
pub struct TrackedClient {
    client: Client,
    suspect: bool,
}

/// bb8's connection manager for [`TrackedClient`]s.
#[derive(Clone)]
pub struct TrackedManager {
    config: Config,
    sink: Arc<dyn EventSink>,
    source: String,
}

impl std::fmt::Debug for TrackedManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedManager")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ManageConnection for TrackedManager {
    type Connection = TrackedClient;
    type Error = tokio_postgres::Error;

    async fn connect(&self) -> Result<TrackedClient, tokio_postgres::Error> {
        match self.config.connect(NoTls).await {
            Ok((client, connection)) => {
                // The connection task ends when the socket closes; the
                // client then reports itself closed.
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                self.sink
                    .record(&self.source, Event::Connected { attempt: 1 });
                Ok(TrackedClient {
                    client,
                    suspect: false,
                })
            }
            Err(error) => {
                self.sink.record(
                    &self.source,
                    Event::ConnectFailed {
                        attempt: 1,
                        error: TransferError::from_pg(&error).code(),
                    },
                );
                Err(error)
            }
        }
    }

    async fn is_valid(&self, conn: &mut TrackedClient) -> Result<(), tokio_postgres::Error> {
        conn.client.simple_query("").await.map(|_| ())
    }

    fn has_broken(&self, conn: &mut TrackedClient) -> bool {
        if conn.suspect && !conn.client.is_closed() {
            self.sink.record(&self.source, Event::ConnectionDiscarded);
        }
        conn.suspect || conn.client.is_closed()
    }
}

/// A bounded pool of Postgres connections.
#[derive(Clone)]
pub struct PgPool {
    pool: Pool<TrackedManager>,
    acquire_timeout: Duration,
    sink: Arc<dyn EventSink>,
    source: String,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPool")
            .field("source", &self.source)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish_non_exhaustive()
    }
}

/// A checked-out connection; returned to the pool (or discarded when
/// suspect) when dropped.
pub struct Lease<'a> {
    conn: PooledConnection<'a, TrackedManager>,
    /// How long the checkout waited.
    pub waited: Duration,
}

impl std::fmt::Debug for Lease<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("waited", &self.waited)
            .finish_non_exhaustive()
    }
}

impl Lease<'_> {
    /// The client, for statements that leave no session state behind.
    pub fn client(&self) -> &Client {
        &self.conn.client
    }

    /// Marks the session state unknown (a transaction is about to start) and
    /// returns the client: until [`Lease::mark_clean`], dropping this lease
    /// discards the connection.
    pub fn begin_unsafe(&mut self) -> &mut Client {
        self.conn.suspect = true;
        &mut self.conn.client
    }

    /// The transaction ended cleanly (committed or rolled back): the
    /// connection may be reused.
    pub fn mark_clean(&mut self) {
        self.conn.suspect = false;
    }
}

impl PgPool {
    /// Builds the pool without waiting for connections: a database that is
    /// down now does not stop the pool from serving once it is back.
    pub fn new(config: PoolConfig, sink: Arc<dyn EventSink>, source: impl Into<String>) -> Self {
        let source = source.into();
        let manager = TrackedManager {
            config: config.postgres,
            sink: Arc::clone(&sink),
            source: source.clone(),
        };
        let pool = Pool::builder()
            .max_size(config.max_size)
            .min_idle(config.min_idle)
            .idle_timeout(config.idle_timeout)
            .max_lifetime(config.max_lifetime)
            .connection_timeout(CHECKOUT_SLICE.min(config.acquire_timeout))
            // Suspect connections are discarded on return, so a checkout
            // needs no extra round trip to test the connection.
            .test_on_check_out(false)
            .reaper_rate(Duration::from_millis(250))
            .build_unchecked(manager);
        PgPool {
            pool,
            acquire_timeout: config.acquire_timeout,
            sink,
            source,
        }
    }

    /// Checks a connection out, waiting at most the acquire timeout (in
    /// slices of [`CHECKOUT_SLICE`], so that connects are retried often).
    pub async fn acquire(&self) -> Result<Lease<'_>, TransferError> {
        let started = Instant::now();
        let deadline = started + self.acquire_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.pool.get()).await {
                Ok(Ok(conn)) => {
                    return Ok(Lease {
                        conn,
                        waited: started.elapsed(),
                    });
                }
                Ok(Err(RunError::User(error))) => return Err(TransferError::from_pg(&error)),
                Ok(Err(RunError::TimedOut)) if Instant::now() < deadline => {}
                Ok(Err(RunError::TimedOut)) | Err(_) => {
                    let waited = started.elapsed();
                    self.sink
                        .record(&self.source, Event::PoolExhausted { waited });
                    return Err(TransferError::PoolExhausted { waited });
                }
            }
        }
    }

    /// Connections open, and how many of them are idle.
    pub fn state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }
}
