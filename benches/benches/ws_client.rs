//! The WebSocket remedy's costs: computing one jittered backoff delay, and
//! one message's round trip (send → ack) through the hardened client and the
//! in-process hub on loopback.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firedrill::remedies::backoff::{Backoff, rng_from_seed};
use firedrill::remedies::events::NoEvents;
use firedrill::remedies::ws_client::{ReconnectingWs, WsClientConfig};
use tokio::runtime::Runtime;

fn backoff(c: &mut Criterion) {
    let backoff = Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_secs(30),
    };
    let mut group = c.benchmark_group("backoff");
    group.bench_function("ceiling", |b| {
        let mut attempt = 0u32;
        b.iter(|| {
            attempt = attempt.wrapping_add(1) % 40;
            backoff.ceiling(black_box(attempt))
        });
    });
    group.bench_function("delay_full_jitter", |b| {
        let mut rng = rng_from_seed(7);
        let mut attempt = 0u32;
        b.iter(|| {
            attempt = attempt.wrapping_add(1) % 40;
            backoff.delay(black_box(attempt), &mut rng)
        });
    });
    group.finish();
}

/// A hub on 127.0.0.1 and a hardened client connected to it, inside `rt`.
fn connected_client(rt: &Runtime) -> ReconnectingWs {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        // Runs until the runtime is dropped.
        tokio::spawn(firedrill::hub::serve(listener, std::future::pending()));
        let config = WsClientConfig {
            url: format!("ws://{addr}/ws?client=bench"),
            heartbeat: Duration::from_millis(200),
            pong_deadline: Duration::from_millis(600),
            backoff: Backoff {
                base: Duration::from_millis(10),
                max: Duration::from_millis(100),
            },
            max_attempts: None,
            connect_timeout: Duration::from_secs(1),
        };
        let client = ReconnectingWs::spawn("bench", config, 1, Arc::new(NoEvents));
        let seq = client.send("warm-up".into());
        tokio::time::timeout(Duration::from_secs(5), client.wait_acked(seq))
            .await
            .expect("the hub acks the warm-up message");
        client
    })
}

fn round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = connected_client(&rt);
    let mut group = c.benchmark_group("ws_client");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("round_trip_send_to_ack", |b| {
        b.to_async(&rt).iter(|| async {
            let seq = client.send(String::from("ping-pong body"));
            client.wait_acked(seq).await;
        });
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("burst_100_until_all_acked", |b| {
        b.to_async(&rt).iter(|| async {
            let mut last = 0;
            for _ in 0..100 {
                last = client.send(String::from("burst body"));
            }
            client.wait_acked(last).await;
        });
    });
    group.finish();
    let status = client.status();
    assert_eq!(status.connects, 1, "no reconnects during the bench");
    drop(client);
    drop(rt);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = backoff, round_trip
}
criterion_main!(benches);
