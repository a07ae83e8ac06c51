//! The `ws-stream` workload: clients stream numbered messages to the hub
//! through the fault proxy while faults come and go.
//!
//! Steady state: every client is connected and has had a message
//! acknowledged recently. Recovery: every client is connected and has had a
//! message acknowledged *after the fault ended* — proof that data flows end to
//! end again, not just that a socket is open.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::{MissedTickBehavior, sleep_until};

use super::recorder::Recorder;
use super::verdict::InvariantResult;
use super::{
    EngineError, FaultWindow, Judged, VariantContext, VariantReport, apply_proxy_fault,
    fault_schedule, mix_seed, observation_after_faults, service_named, timed_events,
    unstamped_faults, wire_proxies,
};
use crate::diagnose;
use crate::faults::proxy::Proxy;
use crate::hub::{self, HubView};
use crate::remedies::backoff::Backoff;
use crate::remedies::events::EventSink;
use crate::remedies::ws_client::{ReconnectingWs, WsClientConfig};
use crate::remedies::ws_naive::{NaiveWs, NaiveWsConfig};
use crate::remedies::{ClientStatus, MessageClient};
use crate::scenario::{Fault, Invariant, Remedy, ServiceKind, Workload, WsStream};
use crate::services::RunningService;

/// The playbook's naive client gives up after this many attempts.
const NAIVE_MAX_ATTEMPTS: u32 = 5;
/// Longest wait for in-flight messages to be acknowledged after the run.
const DRAIN_LIMIT: Duration = Duration::from_secs(3);
/// Acknowledgements that stop moving for this long are considered settled.
const DRAIN_SETTLED: Duration = Duration::from_millis(500);

pub(crate) async fn run_variant(ctx: &VariantContext<'_>) -> Result<VariantReport, EngineError> {
    let Workload::WsStream(ws) = &ctx.scenario.workload else {
        return Err(EngineError::Hub("not a ws-stream workload".to_owned()));
    };
    let origin = Instant::now();

    let mut proxies: BTreeMap<String, Proxy> = BTreeMap::new();
    let wired = wire_proxies(ctx, &mut proxies).await;
    let result = match wired {
        Ok(()) => drive(ctx, ws, &proxies, origin).await,
        Err(error) => Err(error),
    };
    // Teardown, on every path: heal every fault, close every proxy.
    for proxy in proxies.values() {
        proxy.reset();
        proxy.shutdown().await;
    }
    result
}

async fn drive(
    ctx: &VariantContext<'_>,
    ws: &WsStream,
    proxies: &BTreeMap<String, Proxy>,
    origin: Instant,
) -> Result<VariantReport, EngineError> {
    let target = proxies
        .get(&ws.target)
        .ok_or_else(|| EngineError::Hub(format!("proxy {} is not running", ws.target)))?;
    let upstream = ctx
        .scenario
        .proxies
        .get(&ws.target)
        .map(|p| p.upstream.clone())
        .unwrap_or_default();
    let hub_service = service_named(ctx.services, &upstream)?;
    if hub_service.kind() != &ServiceKind::WsHub {
        return Err(EngineError::Hub(format!(
            "the ws-stream workload needs a ws-hub behind proxy {}",
            ws.target
        )));
    }

    let recorder = Arc::new(Recorder::default());
    let prefix = format!("v{}.", ctx.index);
    let clients: Vec<Box<dyn MessageClient>> = (0..ws.clients)
        .map(|i| {
            let id = format!("{prefix}{}.c{i}", ctx.variant.name);
            let url = format!("ws://{}/ws?client={id}", target.listen_addr());
            let sink: Arc<dyn EventSink> = recorder.clone();
            let seed = mix_seed(ctx.seed, (ctx.index as u64) << 16 | u64::from(i));
            spawn_client(ctx.variant.remedy, id, url, ws, seed, sink)
        })
        .collect::<Result<_, _>>()?;

    let observed = observe(ctx, ws, proxies, &clients, origin).await;
    let outcome = match observed {
        Ok(observation) => {
            finish(
                ctx,
                hub_service,
                &prefix,
                &clients,
                &recorder,
                observation,
                origin,
            )
            .await
        }
        Err(error) => Err(error),
    };
    // Stop every client whatever happened, so no task outlives the variant.
    futures_util::future::join_all(clients.into_iter().map(|c| c.shutdown())).await;
    outcome
}

fn spawn_client(
    remedy: Remedy,
    id: String,
    url: String,
    ws: &WsStream,
    seed: u64,
    sink: Arc<dyn EventSink>,
) -> Result<Box<dyn MessageClient>, EngineError> {
    Ok(match remedy {
        Remedy::WsClient => Box::new(ReconnectingWs::spawn(
            id,
            WsClientConfig {
                url,
                heartbeat: ws.heartbeat,
                pong_deadline: ws.pong_deadline,
                backoff: Backoff {
                    base: ws.backoff_base,
                    max: ws.backoff_max,
                },
                max_attempts: ws.max_attempts,
                connect_timeout: ws.connect_timeout,
            },
            seed,
            sink,
        )),
        Remedy::WsClientNaive => Box::new(NaiveWs::spawn(
            id,
            NaiveWsConfig {
                url,
                ping_interval: ws.heartbeat,
                reconnect_interval: ws.backoff_base,
                max_attempts: NAIVE_MAX_ATTEMPTS,
            },
            sink,
        )),
        other => {
            return Err(EngineError::Unsupported(format!(
                "{other} is not a ws-stream remedy"
            )));
        }
    })
}

/// What the observation loop saw.
struct Observation {
    /// A client stayed connected with no acknowledgement past the detection bound.
    stalled: bool,
    /// The fault and recovery timeline.
    window: FaultWindow,
    fault_end: Instant,
    /// Client statuses when observation ended (before draining).
    at_end: Vec<(String, ClientStatus)>,
}

/// Watches for a client that stays on one connection with nothing
/// acknowledged for longer than a threshold: a failure it has not noticed.
///
/// The age counts from the later of the last ack and the moment the current
/// connection appeared, so a client that just reconnected after a fault and
/// waits for its first ack is not mistaken for a stalled one.
struct StallWatch {
    /// Per client: the connect count last seen and when it was first seen.
    connections: Vec<(u32, Instant)>,
}

impl StallWatch {
    fn new(clients: &[Box<dyn MessageClient>], now: Instant) -> Self {
        StallWatch {
            connections: clients.iter().map(|c| (c.status().connects, now)).collect(),
        }
    }

    /// Whether a client is stalled now, given every client's status in the
    /// order they were watched.
    fn stalled(&mut self, statuses: &[ClientStatus], now: Instant, threshold: Duration) -> bool {
        let mut stalled = false;
        for (status, seen) in statuses.iter().zip(&mut self.connections) {
            if status.connects != seen.0 {
                *seen = (status.connects, now);
            }
            let quiet_since = status.last_ack.map_or(seen.1, |ack| ack.max(seen.1));
            stalled |= status.connected && now.saturating_duration_since(quiet_since) > threshold;
        }
        stalled
    }
}

struct Probe {
    ok: bool,
    detail: String,
}

/// Steady-state probe: every client connected with an ack within `window`,
/// and, when `after` is set, an ack received after that instant.
fn probe(
    clients: &[Box<dyn MessageClient>],
    now: Instant,
    window: Duration,
    after: Option<Instant>,
) -> Probe {
    for client in clients {
        let status = client.status();
        let problem = if !status.connected {
            Some("not connected".to_owned())
        } else {
            match status.last_ack {
                None => Some("no acknowledgement yet".to_owned()),
                Some(at) if now.saturating_duration_since(at) > window => Some(format!(
                    "no acknowledgement for {}",
                    crate::report::human_duration(now.saturating_duration_since(at))
                )),
                Some(at) if after.is_some_and(|after| at <= after) => {
                    Some("no acknowledgement since the fault ended".to_owned())
                }
                Some(_) => None,
            }
        };
        if let Some(problem) = problem {
            return Probe {
                ok: false,
                detail: format!("client {}: {problem}", client.id()),
            };
        }
    }
    Probe {
        ok: true,
        detail: "every client connected and acknowledged".to_owned(),
    }
}

async fn apply(
    fault: &Fault,
    proxies: &BTreeMap<String, Proxy>,
    inject: bool,
) -> Result<(), EngineError> {
    if apply_proxy_fault(fault, proxies, inject).await? {
        Ok(())
    } else {
        Err(EngineError::Hub(
            "the ws-stream workload supports only proxy faults".to_owned(),
        ))
    }
}

async fn observe(
    ctx: &VariantContext<'_>,
    ws: &WsStream,
    proxies: &BTreeMap<String, Proxy>,
    clients: &[Box<dyn MessageClient>],
    origin: Instant,
) -> Result<Observation, EngineError> {
    let steady = &ctx.scenario.steady;
    let hard_deadline = origin + ctx.scenario.drill.timeout;
    let window = (ws.send_every * 5).max(Duration::from_millis(500));
    let mut send_tick = tokio::time::interval(ws.send_every);
    send_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut probe_tick = tokio::time::interval(steady.probe_every);
    probe_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // A client starts streaming once its session is first established, so
    // what the drill measures is the fault's doing, not start-up ordering.
    let send_all = |clients: &[Box<dyn MessageClient>]| {
        for client in clients {
            if client.status().connects > 0 {
                client.send("m".to_owned());
            }
        }
    };

    // 1. Steady state must hold before anything is broken.
    let steady_deadline = Instant::now() + steady.timeout;
    let mut in_a_row = 0;
    let steady0 = loop {
        tokio::select! {
            () = ctx.cancel.cancelled() => return Err(EngineError::Cancelled),
            _ = send_tick.tick() => send_all(clients),
            _ = probe_tick.tick() => {
                let now = Instant::now();
                let last = probe(clients, now, window, None);
                in_a_row = if last.ok { in_a_row + 1 } else { 0 };
                if in_a_row >= steady.consecutive {
                    break now;
                }
                if now >= steady_deadline {
                    return Err(EngineError::SteadyNeverHeld { waited: steady.timeout, detail: last.detail });
                }
            }
        }
    };

    // 2. The fault schedule, from the moment steady state held.
    let actions = fault_schedule(&ctx.scenario.faults, steady0);
    let mut stamps = unstamped_faults(ctx.scenario, steady0);
    let recovery_window = observation_after_faults(&ctx.scenario.expect);

    // A client that stays "connected" with nothing acknowledged for longer
    // than the drill's detection bound has not noticed the failure.
    let stall_threshold = ctx
        .scenario
        .expect
        .detect_within
        .unwrap_or(Duration::from_secs(2));
    let mut stalled = false;
    let mut stall_watch = StallWatch::new(clients, Instant::now());
    let mut next = 0;
    let mut fault_end: Option<Instant> = None;
    let mut observe_deadline = hard_deadline;
    let mut recover = None;
    let mut steady_again = None;
    in_a_row = 0;
    loop {
        let next_action = actions.get(next).map(|(at, _, _)| *at);
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return Err(EngineError::Cancelled),
            () = sleep_until(next_action.unwrap_or(hard_deadline).into()), if next_action.is_some() => {
                let (_, i, inject) = actions[next];
                // An injection is stamped as it starts (its effect can begin
                // before the call returns: `down` closes connections inside
                // it); a heal as it completes (the fault is gone only then).
                let started = Instant::now();
                apply(&ctx.scenario.faults[i], proxies, inject).await?;
                let now = Instant::now();
                if inject { stamps[i].2 = started } else { stamps[i].3 = Some(now) }
                next += 1;
                if next == actions.len() {
                    fault_end = Some(now);
                    observe_deadline = (now + recovery_window).min(hard_deadline);
                }
            }
            _ = send_tick.tick() => send_all(clients),
            _ = probe_tick.tick() => {
                // Tracked from the start (to know each connection's age),
                // counted from the first injection.
                let statuses: Vec<ClientStatus> = clients.iter().map(|c| c.status()).collect();
                let stall = stall_watch.stalled(&statuses, Instant::now(), stall_threshold);
                stalled |= next > 0 && stall;
                if let Some(end) = fault_end {
                    let now = Instant::now();
                    let window_probe = probe(clients, now, window, Some(end));
                    if window_probe.ok {
                        recover.get_or_insert(now);
                        in_a_row += 1;
                        if in_a_row >= steady.consecutive {
                            steady_again = Some(now);
                        }
                    } else {
                        in_a_row = 0;
                    }
                }
            }
        }
        let now = Instant::now();
        if steady_again.is_some() || now >= observe_deadline {
            break;
        }
    }
    let observed_until = Instant::now();
    let at_end = clients
        .iter()
        .map(|c| (c.id().to_owned(), c.status()))
        .collect();
    Ok(Observation {
        stalled,
        window: FaultWindow {
            steady0,
            stamps,
            recover,
            steady: steady_again,
            observed_until,
        },
        fault_end: fault_end.unwrap_or(observed_until),
        at_end,
    })
}

/// Waits until every accepted message is acknowledged, or acknowledgements
/// stop moving, within [`DRAIN_LIMIT`].
async fn drain(clients: &[Box<dyn MessageClient>]) {
    let limit = Instant::now() + DRAIN_LIMIT;
    let acked = |clients: &[Box<dyn MessageClient>]| -> (u64, bool) {
        let statuses: Vec<_> = clients.iter().map(|c| c.status()).collect();
        (
            statuses.iter().map(|s| s.acked).sum(),
            statuses.iter().all(|s| s.acked >= s.accepted),
        )
    };
    let (mut last, mut done) = acked(clients);
    let mut last_change = Instant::now();
    while !done && Instant::now() < limit && last_change.elapsed() < DRAIN_SETTLED {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (now_acked, now_done) = acked(clients);
        if now_acked != last {
            last = now_acked;
            last_change = Instant::now();
        }
        done = now_done;
    }
}

async fn finish(
    ctx: &VariantContext<'_>,
    hub_service: &RunningService,
    prefix: &str,
    clients: &[Box<dyn MessageClient>],
    recorder: &Recorder,
    observation: Observation,
    origin: Instant,
) -> Result<VariantReport, EngineError> {
    drain(clients).await;
    let finals: Vec<(String, ClientStatus)> = clients
        .iter()
        .map(|c| (c.id().to_owned(), c.status()))
        .collect();
    let view = hub::fetch_view(hub_service.endpoint(), prefix, Duration::from_secs(5))
        .await
        .map_err(|e| EngineError::Hub(e.to_string()))?;

    let events = recorder.snapshot();
    let clock = &observation.window;
    let invariants = vec![
        no_message_loss(&finals, &view),
        all_reconnected(&observation.at_end),
    ];
    let judged = Judged::new(ctx, clock.points(origin, &events), invariants);
    let diagnostics = diagnose::ws_diagnostics(diagnose::WsRun {
        scenario: ctx.scenario,
        variant: ctx.variant,
        events: &events,
        inject: clock.t_inject(),
        fault_end: Some(observation.fault_end),
        unnoticed_stall: observation.stalled,
        view: &view,
        finals: &finals,
        checks: &judged.checks,
        outcome: &judged.outcome,
    });
    Ok(VariantReport::judged(
        ctx.variant,
        judged,
        clock.fault_stamps(origin),
        timed_events(&events, origin),
        diagnostics,
        origin.elapsed(),
    ))
}

/// Every message a client accepted reached the hub.
fn no_message_loss(finals: &[(String, ClientStatus)], view: &HubView) -> InvariantResult {
    let mut lost_total = 0u64;
    let mut accepted_total = 0u64;
    let mut examples = Vec::new();
    for (id, status) in finals {
        accepted_total += status.accepted;
        let missing = match view.clients.get(id) {
            Some(seen) => seen.missing(status.accepted),
            None => (1..=status.accepted).collect(),
        };
        if !missing.is_empty() {
            lost_total += missing.len() as u64;
            if examples.len() < 3 {
                let shown: Vec<String> = missing.iter().take(5).map(u64::to_string).collect();
                examples.push(format!(
                    "{id} lost {} (seq {}{})",
                    missing.len(),
                    shown.join(", "),
                    if missing.len() > 5 { ", …" } else { "" }
                ));
            }
        }
    }
    InvariantResult {
        invariant: Invariant::NoMessageLoss,
        holds: lost_total == 0,
        detail: if lost_total == 0 {
            format!("all {accepted_total} accepted messages reached the hub")
        } else {
            format!(
                "{lost_total} of {accepted_total} accepted messages never reached the hub: {}",
                examples.join("; ")
            )
        },
    }
}

/// Every client is connected (and has not given up) when observation ends.
fn all_reconnected(at_end: &[(String, ClientStatus)]) -> InvariantResult {
    let down: Vec<String> = at_end
        .iter()
        .filter(|(_, s)| !s.connected || s.gave_up)
        .map(|(id, s)| {
            if s.gave_up {
                format!("{id} gave up")
            } else {
                format!("{id} not connected")
            }
        })
        .collect();
    InvariantResult {
        invariant: Invariant::AllReconnected,
        holds: down.is_empty(),
        detail: if down.is_empty() {
            format!("all {} clients connected at the end", at_end.len())
        } else {
            down.join(", ")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_mix_into_distinct_reproducible_streams() {
        assert_eq!(mix_seed(7, 1), mix_seed(7, 1));
        assert_ne!(mix_seed(7, 1), mix_seed(7, 2));
        assert_ne!(mix_seed(7, 1), mix_seed(8, 1));
    }

    fn status(connected: bool, connects: u32, last_ack: Option<Instant>) -> ClientStatus {
        ClientStatus {
            connected,
            accepted: 0,
            acked: 0,
            pending: 0,
            last_ack,
            connects,
            gave_up: false,
        }
    }

    #[test]
    fn a_stall_is_a_quiet_connection_not_a_fresh_one() {
        let t0 = Instant::now();
        let s = |ms: u64| t0 + Duration::from_millis(ms);
        let threshold = Duration::from_millis(1_500);
        let mut watch = StallWatch {
            connections: vec![(1, t0)],
        };
        // Quiet on the same connection past the threshold: stalled.
        assert!(!watch.stalled(&[status(true, 1, Some(t0))], s(1_000), threshold));
        assert!(watch.stalled(&[status(true, 1, Some(t0))], s(1_600), threshold));
        // Disconnected: not a stall (the client noticed).
        assert!(!watch.stalled(&[status(false, 1, Some(t0))], s(2_000), threshold));
        // Reconnected long after the last ack, first ack not back yet: the
        // age counts from the new connection, so not a stall…
        assert!(!watch.stalled(&[status(true, 2, Some(t0))], s(3_000), threshold));
        assert!(!watch.stalled(&[status(true, 2, Some(t0))], s(4_400), threshold));
        // …until that connection too stays quiet past the threshold.
        assert!(watch.stalled(&[status(true, 2, Some(t0))], s(4_600), threshold));
        // A client connected but never acked counts from its connection.
        let mut fresh = StallWatch {
            connections: vec![(0, t0)],
        };
        assert!(!fresh.stalled(&[status(true, 1, None)], s(500), threshold));
        assert!(fresh.stalled(&[status(true, 1, None)], s(2_100), threshold));
    }
}
