//! Idle-leak recovery: the playbook's level-1 recovery as code.
//!
//! A leaking client holds sessions open and idle until the database refuses
//! everyone else (`53300`). The reaper terminates sessions that have been
//! idle longer than a threshold (`pg_terminate_backend`), and never its own
//! session, a session of a protected application (the operator's), or one
//! that is not idle (`state = 'idle'` is checked in the same statement that
//! terminates, so a session that just started a query is left alone).

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{Client, Config, NoTls};
use tokio_util::sync::CancellationToken;

use super::TransferError;
use crate::remedies::events::{Event, EventSink};

/// Which sessions a sweep terminates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaperQuery {
    /// Idle (`state = 'idle'`) for longer than `threshold` since the
    /// session's last state change, a client backend of this database, not
    /// this session, not one of `protect` (application names).
    Idle {
        /// Idle longer than this is a leak.
        threshold: Duration,
        /// Application names never terminated.
        protect: Vec<String>,
    },
    /// The playbook's runbook query as written: `state = 'idle' AND now() -
    /// query_start > interval '10 minutes'`. A leak that fills the database
    /// in seconds keeps it full for ten minutes.
    Playbook,
}

/// Terminates idle sessions; see the module docs.
#[derive(Debug, Clone)]
pub struct IdleReaper {
    /// What it terminates.
    pub query: ReaperQuery,
}

impl IdleReaper {
    /// One sweep on `client`: the pids it terminated.
    pub async fn sweep(&self, client: &Client) -> Result<Vec<i32>, TransferError> {
        let rows = match &self.query {
            ReaperQuery::Idle { threshold, protect } => {
                client
                    .query(
                        "SELECT pid FROM (
                             SELECT pid, pg_terminate_backend(pid) AS terminated
                             FROM pg_stat_activity
                             WHERE state = 'idle'
                               AND backend_type = 'client backend'
                               AND datname = current_database()
                               AND pid <> pg_backend_pid()
                               AND NOT (application_name = ANY($2))
                               AND now() - state_change > make_interval(secs => $1)
                         ) AS swept WHERE terminated",
                        &[&threshold.as_secs_f64(), protect],
                    )
                    .await
            }
            ReaperQuery::Playbook => {
                client
                    .query(
                        "SELECT pid FROM (
                             SELECT pid, pg_terminate_backend(pid) AS terminated
                             FROM pg_stat_activity
                             WHERE state = 'idle'
                               AND now() - query_start > interval '10 minutes'
                         ) AS swept WHERE terminated",
                        &[],
                    )
                    .await
            }
        }
        .map_err(|e| TransferError::from_pg(&e))?;
        Ok(rows.iter().map(|row| row.get::<_, i32>(0)).collect())
    }

    /// Sweeps every `every` until `cancel`, keeping one session of its own
    /// (opened first, so a full database cannot lock the reaper out;
    /// reopened when lost).
    pub async fn run(
        self,
        config: Config,
        every: Duration,
        sink: Arc<dyn EventSink>,
        source: String,
        cancel: CancellationToken,
    ) {
        let mut session: Option<Client> = None;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            if session.as_ref().is_none_or(Client::is_closed) {
                session = match config.connect(NoTls).await {
                    Ok((client, connection)) => {
                        tokio::spawn(async move {
                            let _ = connection.await;
                        });
                        Some(client)
                    }
                    Err(_) => None,
                };
            }
            let Some(client) = &session else { continue };
            match tokio::time::timeout(every.max(Duration::from_millis(500)), self.sweep(client))
                .await
            {
                Ok(Ok(pids)) if !pids.is_empty() => {
                    sink.record(&source, Event::SessionsTerminated { count: pids.len() });
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => session = None,
            }
        }
    }
}
