//! Both WebSocket clients against the in-process hub on 127.0.0.1, with a
//! test-only TCP relay that can freeze (a half-open connection: no data, no
//! FIN, no RST).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::backoff::Backoff;
use super::events::{DisconnectReason, Event, EventSink};
use super::ws::MessageClient;
use super::ws_client::{ReconnectingWs, WsClientConfig};
use super::ws_naive::{NaiveWs, NaiveWsConfig};
use crate::hub::Hub;

const MS: Duration = Duration::from_millis(1);
const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- helpers

type Entry = (Instant, String, Event);

/// Records every event with the time it arrived.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<Entry>>);

impl EventSink for Recorder {
    fn record(&self, source: &str, event: Event) {
        let mut events = self.0.lock().unwrap_or_else(|e| e.into_inner());
        events.push((Instant::now(), source.to_owned(), event));
    }
}

impl Recorder {
    fn of(&self, source: &str) -> Vec<(Instant, Event)> {
        let events = self.0.lock().unwrap_or_else(|e| e.into_inner());
        events
            .iter()
            .filter(|(_, s, _)| s == source)
            .map(|(t, _, e)| (*t, e.clone()))
            .collect()
    }

    fn count(&self, source: &str, kind: &str) -> usize {
        self.of(source)
            .iter()
            .filter(|(_, e)| e.kind() == kind)
            .count()
    }

    /// Wait until `source` has emitted `n` events of `kind`; returns the
    /// time of the n-th.
    async fn wait_kind(
        &self,
        source: &str,
        kind: &str,
        n: usize,
        within: Duration,
    ) -> Result<Instant> {
        let give_up = Instant::now() + within;
        loop {
            let matching: Vec<_> = self
                .of(source)
                .into_iter()
                .filter(|(_, e)| e.kind() == kind)
                .collect();
            if let Some((at, _)) = matching.get(n - 1) {
                return Ok(*at);
            }
            if Instant::now() > give_up {
                bail!(
                    "{source}: no {n}×{kind} within {within:?}; events: {:?}",
                    self.of(source).iter().map(|(_, e)| e).collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(5 * MS).await;
        }
    }
}

async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let give_up = Instant::now() + within;
    while !done() {
        ensure!(
            Instant::now() < give_up,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(5 * MS).await;
    }
    Ok(())
}

/// An in-process hub serving a (possibly shared) [`Hub`] state.
struct HubRun {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl HubRun {
    async fn start(hub: &Hub, addr: SocketAddr) -> Result<Self> {
        // The old listener's port may linger for a moment after a restart.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::debug!(%e, "rebinding the hub");
                    tokio::time::sleep(20 * MS).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(hub.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(Self { addr, stop, server })
    }

    fn url(addr: SocketAddr, client: &str) -> String {
        format!("ws://{addr}/ws?client={client}")
    }

    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(3), self.server).await???;
        Ok(())
    }
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A port on 127.0.0.1 where nothing listens.
async fn dead_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind(any_port()).await?;
    Ok(listener.local_addr()?)
}

/// A TCP relay that can freeze: it then stops forwarding in both directions
/// without closing anything, which is what a half-open connection looks like
/// from either end.
struct Relay {
    addr: SocketAddr,
    frozen: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(any_port()).await?;
        let addr = listener.local_addr()?;
        let frozen = watch::Sender::new(false);
        let gate = frozen.subscribe();
        let accept = tokio::spawn(async move {
            // Owned here, so aborting the relay aborts every pump.
            let mut pumps = JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                pumps.spawn(pump(in_read, out_write, gate.clone()));
                pumps.spawn(pump(out_read, in_write, gate.clone()));
            }
        });
        Ok(Self {
            addr,
            frozen,
            accept,
        })
    }

    fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut gate: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if gate.wait_for(|frozen| !*frozen).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        // Data read just as the relay froze is held, not delivered.
        if gate.wait_for(|frozen| !*frozen).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn hardened(url: String) -> WsClientConfig {
    WsClientConfig {
        url,
        heartbeat: 100 * MS,
        pong_deadline: 300 * MS,
        backoff: Backoff {
            base: 20 * MS,
            max: 200 * MS,
        },
        max_attempts: None,
        connect_timeout: 500 * MS,
    }
}

fn naive(url: String) -> NaiveWsConfig {
    NaiveWsConfig {
        url,
        ping_interval: 100 * MS,
        reconnect_interval: 50 * MS,
        max_attempts: 5,
    }
}

// ---------------------------------------------------------------- hardened

#[tokio::test]
async fn hardened_client_gets_every_message_acked() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::new();
        let run = HubRun::start(&hub, any_port()).await?;
        let events = Arc::new(Recorder::default());
        let client = ReconnectingWs::spawn(
            "h1",
            hardened(HubRun::url(run.addr, "h1")),
            1,
            events.clone(),
        );
        // Accepted before the connection is even up: queued, not lost.
        for i in 0..50 {
            client.send(format!("message {i}"));
        }
        client.wait_acked(50).await;
        let status = client.status();
        assert_eq!((status.accepted, status.acked, status.pending), (50, 50, 0));
        assert!(status.connected && status.last_ack.is_some());
        assert_eq!(status.connects, 1);
        let view = hub.view("h1");
        let seen = view.clients.get("h1").context("hub saw h1")?;
        assert!(seen.missing(50).is_empty());
        assert_eq!(seen.duplicates, 0);
        assert_eq!(
            events.of("h1").first().map(|(_, e)| e.clone()),
            Some(Event::Connected { attempt: 1 })
        );

        let final_status = Box::new(client).shutdown().await;
        assert!(!final_status.connected);
        assert_eq!(
            events.of("h1").last().map(|(_, e)| e.clone()),
            Some(Event::Disconnected {
                reason: DisconnectReason::Shutdown
            })
        );
        // The close frame reached the hub.
        wait_until("the hub to see the close", Duration::from_secs(2), || {
            hub.view("").connections_open == 0
        })
        .await?;
        run.stop().await
    })
    .await?
}

#[tokio::test]
async fn hardened_client_loses_nothing_across_a_hub_restart() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::new();
        let run = HubRun::start(&hub, any_port()).await?;
        let addr = run.addr;
        let events = Arc::new(Recorder::default());
        let client =
            ReconnectingWs::spawn("r1", hardened(HubRun::url(addr, "r1")), 2, events.clone());
        for i in 1..=10 {
            client.send(format!("before {i}"));
        }
        client.wait_acked(10).await;

        run.stop().await?;
        events
            .wait_kind("r1", "disconnected", 1, Duration::from_secs(2))
            .await?;
        // Accepted while the hub is down: held until it is back.
        for i in 11..=20 {
            client.send(format!("during {i}"));
        }
        events
            .wait_kind("r1", "connect_failed", 2, Duration::from_secs(2))
            .await?;
        let status = client.status();
        assert!(!status.connected);
        assert_eq!(status.pending, 10);

        let run = HubRun::start(&hub, addr).await?;
        client.wait_acked(20).await;
        let seen = hub
            .view("r1")
            .clients
            .get("r1")
            .cloned()
            .context("hub saw r1")?;
        assert_eq!(seen.missing(20), Vec::<u64>::new(), "nothing lost");
        let connected: Vec<_> = events
            .of("r1")
            .into_iter()
            .filter_map(|(_, e)| match e {
                Event::Connected { attempt } => Some(attempt),
                _ => None,
            })
            .collect();
        assert_eq!(connected.len(), 2);
        assert!(
            connected[1] >= 3,
            "reconnected after ≥2 failures: {connected:?}"
        );

        // The attempt counter restarted after that connect.
        let retries_before = events.count("r1", "retry");
        run.stop().await?;
        events
            .wait_kind("r1", "disconnected", 2, Duration::from_secs(2))
            .await?;
        events
            .wait_kind("r1", "retry", retries_before + 1, Duration::from_secs(2))
            .await?;
        let after_second_drop: Vec<_> = events
            .of("r1")
            .into_iter()
            .skip_while(|(_, e)| e.kind() != "disconnected")
            .skip(1)
            .skip_while(|(_, e)| e.kind() != "disconnected")
            .filter_map(|(_, e)| match e {
                Event::RetryScheduled { attempt, .. } => Some(attempt),
                _ => None,
            })
            .collect();
        assert_eq!(after_second_drop.first(), Some(&1), "{after_second_drop:?}");
        // Retries never wait longer than the cap.
        for (_, event) in events.of("r1") {
            if let Event::RetryScheduled { delay, .. } = event {
                assert!(delay <= 200 * MS, "{delay:?}");
            }
        }
        drop(client);
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn half_open_is_detected_by_hardened_but_not_by_naive() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::new();
        let run = HubRun::start(&hub, any_port()).await?;
        let relay = Relay::start(run.addr).await?;
        let events = Arc::new(Recorder::default());
        let config = hardened(HubRun::url(relay.addr, "hard"));
        let pong_deadline = config.pong_deadline;
        let heartbeat = config.heartbeat;
        let hard = ReconnectingWs::spawn("hard", config, 3, events.clone());
        let soft = NaiveWs::spawn(
            "soft",
            naive(HubRun::url(relay.addr, "soft")),
            events.clone(),
        );
        let first = hard.send("hello".into());
        hard.wait_acked(first).await;
        wait_until(
            "the naive client to connect",
            Duration::from_secs(2),
            || soft.status().connected,
        )
        .await?;
        soft.send("hello".into());
        wait_until("the naive ack", Duration::from_secs(2), || {
            soft.status().acked == 1
        })
        .await?;
        // Let a few heartbeats pass while healthy: none may be missed.
        tokio::time::sleep(3 * heartbeat).await;
        assert_eq!(events.count("hard", "heartbeat_missed"), 0);

        relay.freeze();
        let frozen_at = Instant::now();
        // Worst case: the freeze lands right after a pong; the next ping
        // goes out within one heartbeat and misses its deadline after that.
        let window = heartbeat + pong_deadline + 400 * MS;
        let missed_at = events
            .wait_kind("hard", "heartbeat_missed", 1, window)
            .await?;
        let detected_in = missed_at - frozen_at;
        assert!(detected_in <= window, "{detected_in:?}");
        let waited = events
            .of("hard")
            .into_iter()
            .find_map(|(_, e)| match e {
                Event::HeartbeatMissed { waited } => Some(waited),
                _ => None,
            })
            .context("heartbeat_missed")?;
        assert!(waited >= pong_deadline, "{waited:?}");
        assert!(events.of("hard").iter().any(|(_, e)| *e
            == Event::Disconnected {
                reason: DisconnectReason::PongTimeout
            }));

        // Same window for the naive client: it pings into the void and
        // notices nothing.
        tokio::time::sleep_until((frozen_at + window).into()).await;
        let naive_failures: Vec<_> = events
            .of("soft")
            .into_iter()
            .filter(|(at, e)| *at >= frozen_at && e.is_failure_signal())
            .collect();
        assert!(naive_failures.is_empty(), "{naive_failures:?}");
        assert!(
            soft.status().connected,
            "the naive client still thinks it is connected"
        );
        println!("half-open detected by the hardened client in {detected_in:?}");

        relay.thaw();
        drop(soft);
        drop(hard);
        drop(relay);
        run.stop().await
    })
    .await?
}

#[tokio::test]
async fn hardened_client_resends_what_a_half_open_connection_swallowed() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::new();
        let run = HubRun::start(&hub, any_port()).await?;
        let relay = Relay::start(run.addr).await?;
        let events = Arc::new(Recorder::default());
        let client = ReconnectingWs::spawn(
            "s1",
            hardened(HubRun::url(relay.addr, "s1")),
            4,
            events.clone(),
        );
        let first = client.send("before".into());
        client.wait_acked(first).await;

        relay.freeze();
        // Written into the frozen connection: never acked.
        for i in 0..5 {
            client.send(format!("swallowed {i}"));
        }
        events
            .wait_kind("s1", "heartbeat_missed", 1, Duration::from_secs(2))
            .await?;
        assert_eq!(client.status().pending, 5);
        relay.thaw();
        let resent_at = events
            .wait_kind("s1", "resent", 1, Duration::from_secs(3))
            .await?;
        client.wait_acked(6).await;
        let resent = events
            .of("s1")
            .into_iter()
            .find(|(at, _)| *at == resent_at)
            .map(|(_, e)| e);
        assert_eq!(resent, Some(Event::Resent { count: 5 }));
        let seen = hub
            .view("s1")
            .clients
            .get("s1")
            .cloned()
            .context("hub saw s1")?;
        assert!(seen.missing(6).is_empty(), "{seen:?}");
        let status = Box::new(client).shutdown().await;
        assert_eq!((status.acked, status.pending), (6, 0));
        drop(relay);
        run.stop().await
    })
    .await?
}

#[tokio::test]
async fn stalled_write_does_not_hold_the_heartbeat_back() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::new();
        let run = HubRun::start(&hub, any_port()).await?;
        let relay = Relay::start(run.addr).await?;
        let events = Arc::new(Recorder::default());
        let config = hardened(HubRun::url(relay.addr, "big"));
        let window = config.heartbeat + config.pong_deadline + 400 * MS;
        let client = ReconnectingWs::spawn("big", config, 5, events.clone());
        let first = client.send("small".into());
        client.wait_acked(first).await;

        relay.freeze();
        let frozen_at = Instant::now();
        // Far more than the socket buffers hold: this write stalls.
        client.send("x".repeat(12 << 20));
        events
            .wait_kind("big", "heartbeat_missed", 1, window)
            .await?;
        assert!(frozen_at.elapsed() <= window + 200 * MS);
        drop(client);
        drop(relay);
        run.stop().await
    })
    .await?
}

#[tokio::test]
async fn hardened_client_retries_without_bound_by_default() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let addr = dead_port().await?;
        let events = Arc::new(Recorder::default());
        let mut config = hardened(HubRun::url(addr, "u"));
        config.backoff = Backoff {
            base: 2 * MS,
            max: 10 * MS,
        };
        let client = ReconnectingWs::spawn("u", config, 6, events.clone());
        events
            .wait_kind("u", "connect_failed", 12, Duration::from_secs(3))
            .await?;
        let attempts: Vec<u32> = events
            .of("u")
            .into_iter()
            .filter_map(|(_, e)| match e {
                Event::ConnectFailed { attempt, .. } => Some(attempt),
                _ => None,
            })
            .take(12)
            .collect();
        assert_eq!(attempts, (1..=12).collect::<Vec<_>>());
        assert_eq!(events.count("u", "gave_up"), 0);
        assert!(!client.status().gave_up);
        drop(client);
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn hardened_client_gives_up_after_max_attempts_with_reproducible_jitter() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let addr = dead_port().await?;
        let backoff = Backoff {
            base: 5 * MS,
            max: 40 * MS,
        };
        let run_once = |id: &'static str| {
            let mut config = hardened(HubRun::url(addr, id));
            config.backoff = backoff;
            config.max_attempts = Some(4);
            let events = Arc::new(Recorder::default());
            (
                ReconnectingWs::spawn(id, config, 99, events.clone()),
                events,
            )
        };
        let mut delays = Vec::new();
        for id in ["g1", "g2"] {
            let (client, events) = run_once(id);
            events
                .wait_kind(id, "gave_up", 1, Duration::from_secs(3))
                .await?;
            let kinds: Vec<_> = events.of(id).iter().map(|(_, e)| e.kind()).collect();
            assert_eq!(
                kinds,
                [
                    "connect_failed",
                    "retry",
                    "connect_failed",
                    "retry",
                    "connect_failed",
                    "retry",
                    "connect_failed",
                    "gave_up"
                ]
            );
            let retries: Vec<(u32, Duration)> = events
                .of(id)
                .into_iter()
                .filter_map(|(_, e)| match e {
                    Event::RetryScheduled { attempt, delay } => Some((attempt, delay)),
                    _ => None,
                })
                .collect();
            for &(attempt, delay) in &retries {
                assert!(delay <= backoff.ceiling(attempt), "{attempt}: {delay:?}");
            }
            assert_eq!(
                events.of(id).last().map(|(_, e)| e.clone()),
                Some(Event::GaveUp { attempts: 4 })
            );
            // Still accepts (and holds) messages after giving up.
            let seq = client.send("late".into());
            let status = client.status();
            assert!(status.gave_up && seq == 1 && status.pending == 1);
            delays.push(retries);
        }
        assert_eq!(delays[0], delays[1], "same seed, same jitter");
        Ok(())
    })
    .await?
}

// ---------------------------------------------------------------- naive

#[tokio::test]
async fn naive_client_drops_messages_while_disconnected() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::new();
        let run = HubRun::start(&hub, any_port()).await?;
        let addr = run.addr;
        let events = Arc::new(Recorder::default());
        let client = NaiveWs::spawn("n1", naive(HubRun::url(addr, "n1")), events.clone());
        events
            .wait_kind("n1", "connected", 1, Duration::from_secs(2))
            .await?;
        for i in 1..=5 {
            client.send(format!("before {i}"));
        }
        wait_until("5 acks", Duration::from_secs(2), || {
            client.status().acked == 5
        })
        .await?;

        run.stop().await?;
        events
            .wait_kind("n1", "disconnected", 1, Duration::from_secs(2))
            .await?;
        // Sent while the socket is closed: gone, but the caller still gets seqs.
        let seqs: Vec<u64> = (6..=10)
            .map(|i| client.send(format!("during {i}")))
            .collect();
        assert_eq!(seqs, (6..=10).collect::<Vec<_>>());
        assert_eq!(events.count("n1", "dropped"), 5);
        assert_eq!(client.status().pending, 0);

        let run = HubRun::start(&hub, addr).await?;
        events
            .wait_kind("n1", "connected", 2, Duration::from_secs(3))
            .await?;
        for i in 11..=15 {
            client.send(format!("after {i}"));
        }
        wait_until("acks after reconnect", Duration::from_secs(2), || {
            client.status().acked == 10
        })
        .await?;
        let seen = hub
            .view("n1")
            .clients
            .get("n1")
            .cloned()
            .context("hub saw n1")?;
        assert_eq!(
            seen.missing(15),
            (6..=10).collect::<Vec<_>>(),
            "the naive client lost them"
        );
        // No jitter: the first retry waits exactly the base interval.
        let first_retry = events.of("n1").into_iter().find_map(|(_, e)| match e {
            Event::RetryScheduled { delay, .. } => Some(delay),
            _ => None,
        });
        assert_eq!(first_retry, Some(50 * MS));
        let status = Box::new(client).shutdown().await;
        assert_eq!(
            (status.accepted, status.acked, status.connects),
            (15, 10, 2)
        );
        run.stop().await
    })
    .await?
}

#[tokio::test]
async fn naive_client_gives_up_forever_after_five_attempts() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let addr = dead_port().await?;
        let events = Arc::new(Recorder::default());
        let mut config = naive(HubRun::url(addr, "n2"));
        config.reconnect_interval = 10 * MS;
        let client = NaiveWs::spawn("n2", config, events.clone());
        events
            .wait_kind("n2", "gave_up", 1, Duration::from_secs(3))
            .await?;
        let delays: Vec<Duration> = events
            .of("n2")
            .into_iter()
            .filter_map(|(_, e)| match e {
                Event::RetryScheduled { delay, .. } => Some(delay),
                _ => None,
            })
            .collect();
        // interval * 2^(n-1): no jitter, no cap, exactly five of them.
        assert_eq!(delays, [10 * MS, 20 * MS, 40 * MS, 80 * MS, 160 * MS]);
        // The first connect plus five reconnect attempts.
        assert_eq!(events.count("n2", "connect_failed"), 6);
        assert_eq!(
            events.of("n2").last().map(|(_, e)| e.clone()),
            Some(Event::GaveUp { attempts: 6 })
        );
        assert!(client.status().gave_up);
        // Forever: a hub appearing now is never found.
        let _listener = TcpListener::bind(addr).await?;
        tokio::time::sleep(300 * MS).await;
        assert_eq!(events.count("n2", "connect_failed"), 6);
        assert_eq!(events.count("n2", "connected"), 0);
        client.send("into the void".into());
        assert_eq!(events.count("n2", "dropped"), 1);
        Ok(())
    })
    .await?
}

#[tokio::test]
async fn dropping_a_client_stops_its_task_and_connection() -> Result<()> {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::new();
        let run = HubRun::start(&hub, any_port()).await?;
        let events = Arc::new(Recorder::default());
        let hard = ReconnectingWs::spawn(
            "d1",
            hardened(HubRun::url(run.addr, "d1")),
            7,
            events.clone(),
        );
        let soft = NaiveWs::spawn("d2", naive(HubRun::url(run.addr, "d2")), events.clone());
        let boxed: Vec<Box<dyn MessageClient>> = vec![Box::new(hard), Box::new(soft)];
        wait_until("both connected", Duration::from_secs(2), || {
            boxed.iter().all(|c| c.status().connected)
        })
        .await?;
        wait_until("the hub to count both", Duration::from_secs(2), || {
            hub.view("").connections_open == 2
        })
        .await?;
        drop(boxed);
        wait_until("the hub to see both go", Duration::from_secs(2), || {
            hub.view("").connections_open == 0
        })
        .await?;
        // Aborted, not shut down: no further events, and no reconnects.
        let before = events.0.lock().unwrap_or_else(|e| e.into_inner()).len();
        tokio::time::sleep(200 * MS).await;
        let after = events.0.lock().unwrap_or_else(|e| e.into_inner()).len();
        assert_eq!(before, after);
        assert_eq!(hub.view("").connections_total, 2);
        run.stop().await
    })
    .await?
}
