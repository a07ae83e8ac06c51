//! The fault proxy's costs, each measured side by side with the direct path
//! in the same run, on loopback:
//!
//! - `proxy_bulk`: a bulk transfer (32 MiB per iteration, then a one-byte
//!   acknowledgement) direct and through a proxy with no toxic.
//! - `proxy_rtt`: a 64-byte request echoed back, direct and proxied.
//! - `proxy_churn`: adding and removing a latency toxic on a proxy with 8
//!   open connections, each of which applies the change.
//!
//! Before criterion's groups, a timed loop prints the summary the README
//! quotes: throughput of both paths and their ratio, and the round trip's
//! p50/p99 on both paths (interleaved batches, so drift hits both alike)
//! with the proxy's added latency.
//!
//! Run: `cargo bench -p firedrill-benches --bench proxy`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firedrill::faults::proxy::{Proxy, ProxyConfig};
use firedrill::toxic::{Stream, Toxic, ToxicKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// Bytes per bulk iteration; the sink acknowledges each with one byte.
const BULK: usize = 32 << 20;
/// Request and response size of a round trip.
const MESSAGE: usize = 64;

/// Servers and proxies on a 2-worker runtime (the machine's 2 cores); the
/// clients are plain blocking sockets on the bench thread.
struct Rig {
    runtime: Runtime,
    sink: SocketAddr,
    echo: SocketAddr,
    sink_proxy: Proxy,
    echo_proxy: Proxy,
}

impl Rig {
    fn new() -> Rig {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (sink, echo, sink_proxy, echo_proxy) = runtime.block_on(async {
            let sink = serve(|mut stream| async move {
                let mut buf = vec![0; 256 * 1024];
                let mut counted = 0;
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    counted += n;
                    while counted >= BULK {
                        counted -= BULK;
                        if stream.write_all(b"k").await.is_err() {
                            return;
                        }
                    }
                }
            })
            .await;
            let echo = serve(|mut stream| async move {
                let _ = stream.set_nodelay(true);
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            })
            .await;
            let sink_proxy = Proxy::start(ProxyConfig::new("sink", sink.to_string()))
                .await
                .expect("a proxy");
            let echo_proxy = Proxy::start(ProxyConfig::new("echo", echo.to_string()))
                .await
                .expect("a proxy");
            (sink, echo, sink_proxy, echo_proxy)
        });
        Rig {
            runtime,
            sink,
            echo,
            sink_proxy,
            echo_proxy,
        }
    }
}

async fn serve<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    addr
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Sends `BULK` bytes and waits for the sink's acknowledgement.
fn bulk_once(stream: &mut TcpStream, block: &[u8]) {
    let mut sent = 0;
    while sent < BULK {
        let n = block.len().min(BULK - sent);
        stream.write_all(&block[..n]).expect("write");
        sent += n;
    }
    let mut ack = [0];
    stream.read_exact(&mut ack).expect("ack");
}

fn round_trip(stream: &mut TcpStream, message: &mut [u8; MESSAGE]) -> Duration {
    let started = Instant::now();
    stream.write_all(message).expect("write");
    stream.read_exact(message).expect("read");
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The figures the README quotes, from plain timed loops.
fn summary(rig: &Rig) {
    let block = vec![0x5a; 256 * 1024];
    let throughput = |addr: SocketAddr| {
        let mut stream = connect(addr);
        bulk_once(&mut stream, &block); // warm-up
        let rounds = 32; // 1 GiB
        let started = Instant::now();
        for _ in 0..rounds {
            bulk_once(&mut stream, &block);
        }
        (rounds * BULK) as f64 / started.elapsed().as_secs_f64() / 1e9
    };
    let direct = throughput(rig.sink);
    let proxied = throughput(rig.sink_proxy.listen_addr());
    println!(
        "proxy summary: bulk direct {direct:.2} GB/s, proxied {proxied:.2} GB/s, ratio {:.2}",
        proxied / direct
    );

    let mut direct_stream = connect(rig.echo);
    let mut proxied_stream = connect(rig.echo_proxy.listen_addr());
    let mut message = [7u8; MESSAGE];
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for batch in 0..40 {
        for _ in 0..500 {
            let d = round_trip(&mut direct_stream, &mut message);
            let p = round_trip(&mut proxied_stream, &mut message);
            if batch > 0 {
                direct.push(d);
                proxied.push(p);
            }
        }
    }
    direct.sort();
    proxied.sort();
    let (d50, d99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
    let (p50, p99) = (percentile(&proxied, 0.5), percentile(&proxied, 0.99));
    println!(
        "proxy summary: rtt of {MESSAGE} B over {} round trips: direct p50 {:.1} µs p99 {:.1} µs; proxied p50 {:.1} µs p99 {:.1} µs; added p50 {:.1} µs p99 {:.1} µs",
        direct.len(),
        micros(d50),
        micros(d99),
        micros(p50),
        micros(p99),
        micros(p50) - micros(d50),
        micros(p99) - micros(d99),
    );
}

fn proxy(c: &mut Criterion) {
    let rig = Rig::new();
    summary(&rig);

    let block = vec![0x5a; 256 * 1024];
    let mut group = c.benchmark_group("proxy_bulk");
    group.throughput(Throughput::Bytes(BULK as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    for (name, addr) in [
        ("direct", rig.sink),
        ("proxied", rig.sink_proxy.listen_addr()),
    ] {
        let mut stream = connect(addr);
        group.bench_function(name, |b| b.iter(|| bulk_once(&mut stream, &block)));
    }
    group.finish();

    let mut group = c.benchmark_group("proxy_rtt");
    for (name, addr) in [
        ("direct", rig.echo),
        ("proxied", rig.echo_proxy.listen_addr()),
    ] {
        let mut stream = connect(addr);
        let mut message = [7u8; MESSAGE];
        group.bench_function(name, |b| b.iter(|| round_trip(&mut stream, &mut message)));
    }
    group.finish();

    // Toxic churn: every open connection watches the toxic list and
    // reconciles its chains on each change.
    let open: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = connect(rig.echo_proxy.listen_addr());
            round_trip(&mut stream, &mut [1u8; MESSAGE]);
            stream
        })
        .collect();
    let toxic = Toxic::new(
        ToxicKind::Latency {
            latency: 10,
            jitter: 0,
        },
        Stream::Downstream,
    );
    let mut group = c.benchmark_group("proxy_churn");
    group.bench_function("add_remove_latency_8_open", |b| {
        b.iter(|| {
            rig.echo_proxy.add_toxic(toxic.clone()).expect("add");
            rig.echo_proxy.remove_toxic(&toxic.name).expect("remove");
        })
    });
    // The same, then a round trip on one open connection: the change has
    // reached the connections and the data path is clear again.
    let mut probe = connect(rig.echo_proxy.listen_addr());
    let mut message = [3u8; MESSAGE];
    group.bench_function("add_remove_then_rtt_8_open", |b| {
        b.iter(|| {
            rig.echo_proxy.add_toxic(toxic.clone()).expect("add");
            rig.echo_proxy.remove_toxic(&toxic.name).expect("remove");
            round_trip(&mut probe, &mut message)
        })
    });
    group.finish();
    drop(open);
    rig.runtime.block_on(async {
        rig.sink_proxy.shutdown().await;
        rig.echo_proxy.shutdown().await;
    });
}

criterion_group!(benches, proxy);
criterion_main!(benches);
