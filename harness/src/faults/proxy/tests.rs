//! Real-socket tests of the fault proxy: everything on 127.0.0.1, every test
//! bounded in time, timing asserted with generous headroom (busy machines).

use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep, timeout};

use super::chain::toxicity_draw;
use super::{Proxy, ProxyConfig, ProxyError};
use crate::toxic::{Stream, Toxic, ToxicKind};

const LIMIT: Duration = Duration::from_secs(60);

async fn bounded<T>(test: impl Future<Output = Result<T>>) -> Result<T> {
    timeout(LIMIT, test).await.context("test took too long")?
}

/// A loopback server running `behaviour` on every connection; stopped on drop.
struct Upstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn upstream<F, Fut>(behaviour: F) -> Result<Upstream>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        conns.spawn(behaviour(stream));
                    }
                    Err(_) => return,
                },
                Some(_) = conns.join_next() => {}
            }
        }
    });
    Ok(Upstream { addr, task })
}

async fn echo(stream: TcpStream) {
    let (mut read, mut write) = stream.into_split();
    if tokio::io::copy(&mut read, &mut write).await.is_ok() {
        let _ = write.shutdown().await;
    }
}

type Behaviour = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server that writes `payload` to every client, then closes.
fn writes_then_closes(payload: Vec<u8>) -> impl Fn(TcpStream) -> Behaviour + Send + 'static {
    move |mut stream| {
        let payload = payload.clone();
        Box::pin(async move {
            let _ = stream.write_all(&payload).await;
        })
    }
}

/// A server that writes `payload` to every client and keeps the socket open.
fn writes_then_waits(payload: Vec<u8>) -> impl Fn(TcpStream) -> Behaviour + Send + 'static {
    move |mut stream| {
        let payload = payload.clone();
        Box::pin(async move {
            let _ = stream.write_all(&payload).await;
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink).await;
        })
    }
}

async fn start_proxy(upstream: &Upstream, seed: u64) -> Result<Proxy> {
    let config = ProxyConfig {
        seed,
        ..ProxyConfig::new("test", upstream.addr.to_string())
    };
    Ok(Proxy::start(config).await?)
}

fn latency(ms: u64, stream: Stream) -> Toxic {
    Toxic::new(
        ToxicKind::Latency {
            latency: ms,
            jitter: 0,
        },
        stream,
    )
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// Sends `data` through `addr` (an echo behind it) in pieces of random size
/// while reading the echo; returns what came back.
async fn echo_roundtrip(addr: SocketAddr, data: Vec<u8>, seed: u64) -> Result<Vec<u8>> {
    let stream = TcpStream::connect(addr).await?;
    let (mut read, mut write) = stream.into_split();
    let expected = data.len();
    let writer = tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut rest = &data[..];
        while !rest.is_empty() {
            let n = rng.random_range(1..=32 * 1024).min(rest.len());
            write.write_all(&rest[..n]).await?;
            rest = &rest[n..];
        }
        write.shutdown().await?;
        io::Result::Ok(())
    });
    let mut back = Vec::with_capacity(expected);
    read.read_to_end(&mut back).await?;
    writer.await??;
    Ok(back)
}

/// One echo round trip of a small message; returns its duration.
async fn ping(stream: &mut TcpStream) -> Result<Duration> {
    let started = Instant::now();
    stream.write_all(b"ping").await?;
    let mut back = [0; 4];
    stream.read_exact(&mut back).await?;
    ensure!(&back == b"ping", "echo returned {back:?}");
    Ok(started.elapsed())
}

/// Waits for a condition, polling; fails after `within`.
async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + within;
    while !condition() {
        ensure!(
            Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn within(value: Duration, low: Duration, high: Duration, what: &str) -> Result<()> {
    ensure!(
        (low..=high).contains(&value),
        "{what}: {value:?} not within [{low:?}, {high:?}]"
    );
    Ok(())
}

async fn expect_refused(addr: SocketAddr) -> Result<()> {
    match TcpStream::connect(addr).await {
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => Ok(()),
        other => bail!("expected connection refused, got {other:?}"),
    }
}

/// Reads until the connection ends; true when it ended with a reset.
async fn read_until_closed(stream: &mut TcpStream) -> Result<bool> {
    let mut buf = [0; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return Ok(true),
            Err(error) => return Err(error.into()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_pass_exactly_both_ways_without_toxics() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let proxy = start_proxy(&server, 0).await?;
        let data = random_bytes(1 << 20, 1);
        let back = echo_roundtrip(proxy.listen_addr(), data.clone(), 2).await?;
        ensure!(back == data, "1 MiB echo differs");
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_pass_exactly_both_ways_through_latency() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let proxy = start_proxy(&server, 3).await?;
        for stream in [Stream::Upstream, Stream::Downstream] {
            proxy.add_toxic(Toxic::new(
                ToxicKind::Latency {
                    latency: 20,
                    jitter: 10,
                },
                stream,
            ))?;
        }
        let data = random_bytes(1 << 20, 4);
        let back = echo_roundtrip(proxy.listen_addr(), data.clone(), 5).await?;
        ensure!(back == data, "1 MiB echo through latency differs");
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_does_not_accumulate_across_pipelined_writes() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let proxy = start_proxy(&server, 0).await?;
        proxy.add_toxic(latency(100, Stream::Upstream))?;
        let stream = TcpStream::connect(proxy.listen_addr()).await?;
        stream.set_nodelay(true)?;
        let (mut read, mut write) = stream.into_split();
        let writer = tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in 0..10u64 {
                sent.push(Instant::now());
                write.write_all(&i.to_be_bytes()).await?;
                sleep(ms(10)).await;
            }
            io::Result::Ok((sent, write))
        });
        let mut arrived = Vec::new();
        for i in 0..10u64 {
            let mut frame = [0; 8];
            read.read_exact(&mut frame).await?;
            ensure!(u64::from_be_bytes(frame) == i, "frame {i} out of order");
            arrived.push(Instant::now());
        }
        let (sent, _write) = writer.await??;
        for (i, (sent, arrived)) in sent.iter().zip(&arrived).enumerate() {
            within(
                *arrived - *sent,
                ms(90),
                ms(400),
                &format!("delay of write {i}"),
            )?;
        }
        within(
            arrived[9] - sent[0],
            ms(180),
            ms(700),
            "first write to last arrival",
        )?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delivers_everything_before_the_close() -> Result<()> {
    bounded(async {
        let payload = random_bytes(256 * 1024, 6);
        let server = upstream(writes_then_closes(payload.clone())).await?;
        let proxy = start_proxy(&server, 0).await?;
        proxy.add_toxic(latency(100, Stream::Downstream))?;
        let started = Instant::now();
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        let mut received = Vec::new();
        client.read_to_end(&mut received).await?;
        ensure!(
            received == payload,
            "got {} of {} bytes",
            received.len(),
            payload.len()
        );
        within(started.elapsed(), ms(90), ms(2000), "delivery then EOF")?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_change_on_an_open_connection() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let proxy = start_proxy(&server, 0).await?;
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        client.set_nodelay(true)?;
        within(ping(&mut client).await?, ms(0), ms(90), "round trip before")?;
        let toxic = proxy.add_toxic(latency(150, Stream::Upstream))?;
        within(ping(&mut client).await?, ms(140), ms(700), "with latency")?;
        proxy.update_toxic(&toxic.name, latency(300, Stream::Upstream))?;
        within(ping(&mut client).await?, ms(290), ms(900), "after update")?;
        proxy.remove_toxic(&toxic.name)?;
        within(ping(&mut client).await?, ms(0), ms(140), "after removal")?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_latency_releases_queued_data_at_once_in_order() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let proxy = start_proxy(&server, 0).await?;
        let toxic = proxy.add_toxic(latency(5_000, Stream::Downstream))?;
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        client.write_all(b"first").await?;
        sleep(ms(100)).await;
        client.write_all(b"second").await?;
        sleep(ms(100)).await;
        let started = Instant::now();
        proxy.remove_toxic(&toxic.name)?;
        let mut back = [0; 11];
        client.read_exact(&mut back).await?;
        ensure!(&back == b"firstsecond", "got {back:?}");
        within(started.elapsed(), ms(0), ms(300), "release on removal")?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_passes_through() -> Result<()> {
    bounded(async {
        let server = upstream(|mut stream: TcpStream| async move {
            let mut request = Vec::new();
            if stream.read_to_end(&mut request).await.is_ok() {
                request.reverse();
                let _ = stream.write_all(&request).await;
            }
        })
        .await?;
        let proxy = start_proxy(&server, 0).await?;
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        client.write_all(b"request").await?;
        client.shutdown().await?;
        let mut response = Vec::new();
        client.read_to_end(&mut response).await?;
        ensure!(response == b"tseuqer", "got {response:?}");
        eventually(ms(2000), || proxy.open_connections() == 0).await?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_refuses_connections_and_up_listens_again() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let proxy = start_proxy(&server, 0).await?;
        let addr = proxy.listen_addr();
        let mut client = TcpStream::connect(addr).await?;
        ping(&mut client).await?;

        proxy.set_enabled(false).await?;
        ensure!(!proxy.enabled());
        ensure!(
            proxy.open_connections() == 0,
            "open connections survived down"
        );
        let reset = timeout(ms(2000), read_until_closed(&mut client)).await??;
        ensure!(!reset, "down closes with FIN");
        expect_refused(addr).await?;

        proxy.set_enabled(true).await?;
        ensure!(proxy.enabled() && proxy.listen_addr() == addr);
        let mut again = TcpStream::connect(addr).await?;
        ping(&mut again).await?;

        // `reset` enables a disabled proxy too.
        proxy.set_enabled(false).await?;
        expect_refused(addr).await?;
        proxy.reset();
        ensure!(proxy.enabled());
        let mut after_reset = TcpStream::connect(addr).await?;
        ping(&mut after_reset).await?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_at_start_refuses_until_enabled() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let config = ProxyConfig {
            enabled: false,
            ..ProxyConfig::new("down", server.addr.to_string())
        };
        let proxy = Proxy::start(config).await?;
        ensure!(proxy.listen_addr().port() != 0);
        expect_refused(proxy.listen_addr()).await?;
        proxy.set_enabled(true).await?;
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        ping(&mut client).await?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_resets_open_and_new_connections() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let proxy = start_proxy(&server, 0).await?;
        let mut open = TcpStream::connect(proxy.listen_addr()).await?;
        ping(&mut open).await?;
        let toxic = proxy.add_toxic(Toxic::new(
            ToxicKind::ResetPeer { timeout: 0 },
            Stream::Downstream,
        ))?;
        let mut buf = [0; 16];
        match timeout(ms(2000), open.read(&mut buf)).await? {
            Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
            other => bail!("open connection: expected ECONNRESET, got {other:?}"),
        }

        proxy.update_toxic(
            &toxic.name,
            Toxic::new(ToxicKind::ResetPeer { timeout: 200 }, Stream::Downstream),
        )?;
        let started = Instant::now();
        let mut fresh = TcpStream::connect(proxy.listen_addr()).await?;
        ping(&mut fresh).await?;
        match timeout(ms(3000), fresh.read(&mut buf)).await? {
            Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
            other => bail!("new connection: expected ECONNRESET, got {other:?}"),
        }
        within(started.elapsed(), ms(180), ms(1500), "reset after 200 ms")?;
        eventually(ms(2000), || proxy.open_connections() == 0).await?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_on_the_upstream_stream_resets_both_sides() -> Result<()> {
    bounded(async {
        let (seen, mut server_outcome) = tokio::sync::mpsc::unbounded_channel();
        let server = upstream(move |mut stream: TcpStream| {
            let seen = seen.clone();
            async move {
                let mut buf = [0; 64];
                let outcome = loop {
                    match stream.read(&mut buf).await {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            let _ = stream.write_all(&buf[..n]).await;
                        }
                        Err(error) => break Err(error.kind()),
                    }
                };
                let _ = seen.send(outcome);
            }
        })
        .await?;
        let proxy = start_proxy(&server, 0).await?;
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        ping(&mut client).await?;
        proxy.add_toxic(Toxic::new(
            ToxicKind::ResetPeer { timeout: 0 },
            Stream::Upstream,
        ))?;
        let mut buf = [0; 16];
        match timeout(ms(2000), client.read(&mut buf)).await? {
            Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
            other => bail!("client: expected ECONNRESET, got {other:?}"),
        }
        let server_saw = timeout(ms(2000), server_outcome.recv())
            .await?
            .context("server task gone")?;
        ensure!(
            server_saw == Err(ErrorKind::ConnectionReset),
            "server saw {server_saw:?}"
        );
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_closes_the_client() -> Result<()> {
    bounded(async {
        let gone = TcpListener::bind("127.0.0.1:0").await?;
        let addr = gone.local_addr()?;
        drop(gone);
        let proxy = Proxy::start(ProxyConfig::new("nowhere", addr.to_string())).await?;
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        timeout(ms(2000), read_until_closed(&mut client)).await??;
        eventually(ms(2000), || proxy.open_connections() == 0).await?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_holds_data_then_releases_it_on_removal() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let proxy = start_proxy(&server, 0).await?;
        let mut open = TcpStream::connect(proxy.listen_addr()).await?;
        ping(&mut open).await?;
        let toxic = proxy.add_toxic(Toxic::new(
            ToxicKind::Timeout { timeout: 0 },
            Stream::Upstream,
        ))?;
        open.write_all(b"held").await?;
        let mut fresh = TcpStream::connect(proxy.listen_addr()).await?;
        fresh.write_all(b"also").await?;
        let mut buf = [0; 4];
        // Half-open: neither data nor EOF.
        ensure!(
            timeout(ms(300), open.read(&mut buf)).await.is_err(),
            "open connection not held"
        );
        ensure!(
            timeout(ms(300), fresh.read(&mut buf)).await.is_err(),
            "new connection not held"
        );

        proxy.remove_toxic(&toxic.name)?;
        timeout(ms(2000), open.read_exact(&mut buf)).await??;
        ensure!(&buf == b"held");
        timeout(ms(2000), fresh.read_exact(&mut buf)).await??;
        ensure!(&buf == b"also");

        // With a timeout, the connection closes that long after the toxic took effect.
        let started = Instant::now();
        proxy.add_toxic(Toxic::new(
            ToxicKind::Timeout { timeout: 200 },
            Stream::Upstream,
        ))?;
        let mut late = TcpStream::connect(proxy.listen_addr()).await?;
        for stream in [&mut open, &mut late] {
            stream.write_all(b"lost").await?;
            timeout(ms(3000), read_until_closed(stream)).await??;
        }
        within(started.elapsed(), ms(180), ms(1500), "close after 200 ms")?;
        eventually(ms(2000), || proxy.open_connections() == 0).await?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

/// Connects `count` times in turn; true for each connection the
/// `reset_peer` toxic hit (the reset may even beat the connect's completion).
async fn affected_connections(proxy: &Proxy, count: usize) -> Result<Vec<bool>> {
    async fn probe(addr: SocketAddr) -> io::Result<()> {
        let mut client = TcpStream::connect(addr).await?;
        client.write_all(b"ping").await?;
        let mut back = [0; 4];
        client.read_exact(&mut back).await?;
        Ok(())
    }
    let mut affected = Vec::with_capacity(count);
    for _ in 0..count {
        let hit = match timeout(ms(2000), probe(proxy.listen_addr())).await? {
            Ok(()) => false,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe
                ) =>
            {
                true
            }
            Err(error) => return Err(error.into()),
        };
        affected.push(hit);
    }
    Ok(affected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_picks_connections_deterministically() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let flaky = Toxic {
            name: "flaky".to_owned(),
            toxicity: 0.5,
            ..Toxic::new(ToxicKind::ResetPeer { timeout: 0 }, Stream::Downstream)
        };
        let proxy = start_proxy(&server, 99).await?;
        proxy.add_toxic(flaky.clone())?;
        let first = affected_connections(&proxy, 200).await?;
        let hits = first.iter().filter(|hit| **hit).count();
        ensure!(
            (60..=140).contains(&hits),
            "{hits} of 200 connections affected"
        );
        let expected: Vec<bool> = (0..200)
            .map(|conn| toxicity_draw(99, conn, "flaky") < 0.5)
            .collect();
        ensure!(
            first == expected,
            "affected connections differ from the seeded draws"
        );
        proxy.shutdown().await;

        // The same seed picks the same connections.
        let again = start_proxy(&server, 99).await?;
        again.add_toxic(flaky)?;
        ensure!(affected_connections(&again, 50).await? == first[..50]);
        again.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_limits_throughput() -> Result<()> {
    bounded(async {
        let payload = random_bytes(50_000, 7);
        let server = upstream(writes_then_closes(payload.clone())).await?;
        let proxy = start_proxy(&server, 0).await?;
        proxy.add_toxic(Toxic::new(
            ToxicKind::Bandwidth { rate: 100 },
            Stream::Downstream,
        ))?;
        let started = Instant::now();
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        let mut received = Vec::new();
        client.read_to_end(&mut received).await?;
        ensure!(received == payload);
        // 50 000 bytes at 100 KB/s: half a second.
        within(started.elapsed(), ms(420), ms(2000), "50 kB at 100 KB/s")?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_delays_the_fin() -> Result<()> {
    bounded(async {
        let server = upstream(writes_then_closes(b"hi".to_vec())).await?;
        let proxy = start_proxy(&server, 0).await?;
        proxy.add_toxic(Toxic::new(
            ToxicKind::SlowClose { delay: 300 },
            Stream::Downstream,
        ))?;
        let started = Instant::now();
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        let mut hi = [0; 2];
        client.read_exact(&mut hi).await?;
        within(
            started.elapsed(),
            ms(0),
            ms(250),
            "data before the slow close",
        )?;
        ensure!(&hi == b"hi");
        let reset = read_until_closed(&mut client).await?;
        ensure!(!reset, "slow close ends with FIN");
        within(started.elapsed(), ms(290), ms(1500), "FIN after 300 ms")?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicer_splits_data_into_paced_slices() -> Result<()> {
    bounded(async {
        let payload = random_bytes(10_000, 8);
        let server = upstream(writes_then_closes(payload.clone())).await?;
        let proxy = start_proxy(&server, 0).await?;
        proxy.add_toxic(Toxic::new(
            ToxicKind::Slicer {
                average_size: 1000,
                size_variation: 200,
                delay: 20_000,
            },
            Stream::Downstream,
        ))?;
        let started = Instant::now();
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        let mut received = Vec::new();
        let mut reads = 0;
        let mut buf = [0; 16 * 1024];
        loop {
            let n = client.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            reads += 1;
            received.extend_from_slice(&buf[..n]);
        }
        ensure!(received == payload);
        ensure!(reads >= 5, "only {reads} reads: not sliced");
        // About ten slices 20 ms apart.
        within(started.elapsed(), ms(150), ms(2000), "sliced delivery")?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_closes_after_the_budget() -> Result<()> {
    bounded(async {
        let payload = random_bytes(10_000, 9);
        let server = upstream(writes_then_waits(payload.clone())).await?;
        let proxy = start_proxy(&server, 0).await?;
        proxy.add_toxic(Toxic::new(
            ToxicKind::LimitData { bytes: 1000 },
            Stream::Downstream,
        ))?;
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        let mut received = Vec::new();
        timeout(ms(3000), client.read_to_end(&mut received)).await??;
        ensure!(received == payload[..1000], "got {} bytes", received.len());
        eventually(ms(2000), || proxy.open_connections() == 0).await?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_stack_in_insertion_order() -> Result<()> {
    bounded(async {
        let payload = random_bytes(1000, 10);
        let server = upstream(writes_then_waits(payload.clone())).await?;
        let proxy = start_proxy(&server, 0).await?;
        proxy.add_toxic(latency(100, Stream::Downstream))?;
        proxy.add_toxic(Toxic::new(
            ToxicKind::LimitData { bytes: 500 },
            Stream::Downstream,
        ))?;
        let names: Vec<String> = proxy.toxics().into_iter().map(|t| t.name).collect();
        ensure!(names == ["latency_downstream", "limit_data_downstream"]);
        let started = Instant::now();
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        let mut received = Vec::new();
        timeout(ms(3000), client.read_to_end(&mut received)).await??;
        ensure!(received == payload[..500], "got {} bytes", received.len());
        within(
            started.elapsed(),
            ms(90),
            ms(1500),
            "latency, then the limit",
        )?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxic_list_reports_errors() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let proxy = start_proxy(&server, 0).await?;
        let unnamed = Toxic {
            name: String::new(),
            ..latency(10, Stream::Upstream)
        };
        let added = proxy.add_toxic(unnamed)?;
        ensure!(added.name == "latency_upstream");
        ensure!(matches!(
            proxy.add_toxic(latency(20, Stream::Upstream)),
            Err(ProxyError::ToxicExists { .. })
        ));
        proxy.add_toxic(latency(30, Stream::Downstream))?;
        let updated = proxy.update_toxic(
            "latency_upstream",
            Toxic {
                name: "ignored".to_owned(),
                ..latency(40, Stream::Upstream)
            },
        )?;
        ensure!(updated.name == "latency_upstream");
        ensure!(proxy.toxics() == [updated, latency(30, Stream::Downstream)]);
        ensure!(matches!(
            proxy.update_toxic("missing", latency(1, Stream::Upstream)),
            Err(ProxyError::ToxicNotFound { .. })
        ));
        let missing = proxy.remove_toxic("missing");
        ensure!(matches!(missing, Err(ProxyError::ToxicNotFound { .. })));
        ensure!(
            missing.err().map(|e| e.to_string()).as_deref()
                == Some("failed to find toxic missing on proxy test")
        );
        let invalid = Toxic {
            toxicity: 1.5,
            ..latency(1, Stream::Upstream)
        };
        ensure!(matches!(
            proxy.add_toxic(invalid),
            Err(ProxyError::InvalidToxic { .. })
        ));
        proxy.reset();
        ensure!(proxy.toxics().is_empty() && proxy.enabled());
        ensure!(proxy.name() == "test" && proxy.upstream() == server.addr.to_string());
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_error_names_the_address() -> Result<()> {
    bounded(async {
        let taken = TcpListener::bind("127.0.0.1:0").await?;
        let addr = taken.local_addr()?;
        let config = ProxyConfig {
            listen: addr,
            ..ProxyConfig::new("clash", "127.0.0.1:9")
        };
        match Proxy::start(config).await {
            Err(error @ ProxyError::Listen { .. }) => {
                ensure!(error.to_string() == format!("failed to listen on {addr}"));
            }
            other => bail!("expected a listen error, got {other:?}"),
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_counted_and_released() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let proxy = start_proxy(&server, 0).await?;
        let mut clients = Vec::new();
        for _ in 0..5 {
            let mut client = TcpStream::connect(proxy.listen_addr()).await?;
            ping(&mut client).await?;
            clients.push(client);
        }
        ensure!(proxy.open_connections() == 5);
        drop(clients);
        eventually(ms(3000), || proxy.open_connections() == 0).await?;
        proxy.shutdown().await;
        Ok(())
    })
    .await
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_everything_and_joins_every_task() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let baseline = alive_tasks();
        let proxy = start_proxy(&server, 0).await?;
        proxy.add_toxic(latency(50, Stream::Downstream))?;
        let mut clients = Vec::new();
        for _ in 0..3 {
            let mut client = TcpStream::connect(proxy.listen_addr()).await?;
            ping(&mut client).await?;
            clients.push(client);
        }
        proxy.shutdown().await;
        ensure!(proxy.open_connections() == 0 && !proxy.enabled());
        expect_refused(proxy.listen_addr()).await?;
        for client in &mut clients {
            timeout(ms(2000), read_until_closed(client)).await??;
        }
        proxy.shutdown().await;
        ensure!(matches!(
            proxy.set_enabled(true).await,
            Err(ProxyError::ShutDown { .. })
        ));
        drop(clients);
        // The echo tasks end once their clients are gone; the proxy's are
        // already joined.
        eventually(ms(3000), || alive_tasks() <= baseline).await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_stops_every_task() -> Result<()> {
    bounded(async {
        let server = upstream(echo).await?;
        let baseline = alive_tasks();
        let proxy = start_proxy(&server, 0).await?;
        let addr = proxy.listen_addr();
        let clone = proxy.clone();
        let mut client = TcpStream::connect(addr).await?;
        ping(&mut client).await?;
        drop(proxy);
        ping(&mut client).await?;
        drop(clone);
        timeout(ms(2000), read_until_closed(&mut client)).await??;
        expect_refused(addr).await?;
        drop(client);
        eventually(ms(3000), || alive_tasks() <= baseline).await?;
        Ok(())
    })
    .await
}

/// Byte `offset` of the test stream: a fixed pseudo-random pattern, so a
/// reader can check any amount of data without storing it.
fn pattern(offset: u64) -> u8 {
    let word = (offset / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let word = word ^ (word >> 29);
    word.to_le_bytes()[(offset % 8) as usize]
}

/// Streams the pattern through `addr` (an echo behind it) until `stop` and
/// at least 256 KiB sent, checking the echo byte by byte; returns the count.
async fn stream_until(addr: SocketAddr, seed: u64, stop: watch::Receiver<bool>) -> Result<u64> {
    let stream = TcpStream::connect(addr).await?;
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sent: u64 = 0;
        let mut chunk = Vec::new();
        while !(*stop.borrow() && sent >= 256 * 1024) {
            let n: u64 = rng.random_range(1..=16 * 1024);
            chunk.clear();
            chunk.extend((sent..sent + n).map(pattern));
            write.write_all(&chunk).await?;
            sent += n;
            sleep(ms(1)).await;
        }
        write.shutdown().await?;
        io::Result::Ok(sent)
    });
    let mut received: u64 = 0;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = read.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        for byte in &buf[..n] {
            ensure!(
                *byte == pattern(received),
                "byte {received} lost or reordered"
            );
            received += 1;
        }
    }
    let sent = writer.await??;
    ensure!(received == sent, "sent {sent} bytes, got {received} back");
    Ok(received)
}

/// Four connections stream both ways while the toxics change 100 times;
/// every byte must arrive, in order.
async fn stress(kinds: fn(&mut StdRng) -> ToxicKind) -> Result<()> {
    let server = upstream(echo).await?;
    let proxy = start_proxy(&server, 11).await?;
    let (stop, stopped) = watch::channel(false);
    let mut clients = JoinSet::new();
    for i in 0..4u64 {
        let addr = proxy.listen_addr();
        let stopped = stopped.clone();
        clients.spawn(async move { stream_until(addr, 100 + i, stopped).await });
    }
    let mut rng = StdRng::seed_from_u64(12);
    for round in 0..100 {
        let name = format!("toxic{}", round % 4);
        if proxy.remove_toxic(&name).is_err() {
            let stream = if rng.random() {
                Stream::Upstream
            } else {
                Stream::Downstream
            };
            proxy.add_toxic(Toxic {
                name,
                stream,
                toxicity: 1.0,
                kind: kinds(&mut rng),
            })?;
        }
        sleep(ms(rng.random_range(1..=5))).await;
    }
    proxy.reset();
    stop.send_replace(true);
    let mut total = 0;
    while let Some(result) = clients.join_next().await {
        total += result??;
    }
    ensure!(total >= 4 * 256 * 1024);
    eventually(ms(3000), || proxy.open_connections() == 0).await?;
    proxy.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_latency_changes_keep_every_byte_in_order() -> Result<()> {
    bounded(stress(|rng| ToxicKind::Latency {
        latency: rng.random_range(0..=20),
        jitter: rng.random_range(0..=5),
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_mixed_toxic_changes_keep_every_byte_in_order() -> Result<()> {
    bounded(stress(|rng| match rng.random_range(0..4) {
        0 => ToxicKind::Latency {
            latency: rng.random_range(0..=20),
            jitter: rng.random_range(0..=5),
        },
        1 => ToxicKind::Slicer {
            average_size: 2048,
            size_variation: 1024,
            delay: 50,
        },
        2 => ToxicKind::Bandwidth { rate: 50_000 },
        _ => ToxicKind::Timeout { timeout: 0 },
    }))
    .await
}

/// The module documentation's example, run as a test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_example_runs() -> Result<()> {
    bounded(async {
        let server = TcpListener::bind("127.0.0.1:0").await?;
        let upstream = server.local_addr()?.to_string();
        let greeter = tokio::spawn(async move {
            while let Ok((mut conn, _)) = server.accept().await {
                let _ = conn.write_all(b"hello").await;
            }
        });
        let proxy = Proxy::start(ProxyConfig::new("greeter", upstream)).await?;
        proxy.add_toxic(Toxic::new(
            ToxicKind::Latency {
                latency: 100,
                jitter: 0,
            },
            Stream::Downstream,
        ))?;
        let started = Instant::now();
        let mut client = TcpStream::connect(proxy.listen_addr()).await?;
        let mut greeting = [0; 5];
        client.read_exact(&mut greeting).await?;
        ensure!(&greeting == b"hello");
        ensure!(started.elapsed() >= ms(90));
        proxy.set_enabled(false).await?;
        ensure!(TcpStream::connect(proxy.listen_addr()).await.is_err());
        proxy.reset();
        ensure!(proxy.enabled() && proxy.toxics().is_empty());
        proxy.shutdown().await;
        greeter.abort();
        Ok(())
    })
    .await
}
