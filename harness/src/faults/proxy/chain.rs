//! The toxic chain of one direction of one connection: pure logic, no I/O.
//!
//! Data read from the source enters the first stage; each stage releases
//! its queue's front when the toxic says so, into the next stage, and the
//! last stage releases into `out`, which the pump writes to the destination.
//! Every stage only ever releases its front, so bytes can be delayed, split
//! or held but never reordered. Time comes in as `now`, so tests can drive
//! the chain with a synthetic clock.
//!
//! When the toxic set changes, surviving stages keep their queues and state;
//! a removed stage hands its queue to the next surviving stage downstream
//! (or to `out`), behind everything already there, so nothing is lost or
//! reordered.

use std::collections::VecDeque;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::toxic::{Stream, Toxic, ToxicKind};

/// What travels through a chain.
#[derive(Debug)]
pub(super) enum Item {
    /// Bytes from the source.
    Data(Chunk),
    /// The source closed its side: send FIN once everything before it is out.
    Eof,
    /// A toxic (`limit_data`) asks for the connection to close once
    /// everything before it is out.
    Close,
}

/// Owned bytes with a cursor, so slicing off the front copies only the slice.
#[derive(Debug)]
pub(super) struct Chunk {
    bytes: Vec<u8>,
    start: usize,
}

impl Chunk {
    pub(super) fn new(bytes: Vec<u8>) -> Self {
        Chunk { bytes, start: 0 }
    }

    pub(super) fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Drops the first `n` bytes (`n <= len`).
    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.bytes.len());
    }

    /// Splits off the first `n` bytes (`n < len`) as a chunk of their own.
    fn split_front(&mut self, n: usize) -> Chunk {
        let piece = self.bytes[self.start..self.start + n].to_vec();
        self.start += n;
        Chunk::new(piece)
    }
}

/// A connection-level fault a chain's timers ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// Close both sides (FIN): `timeout` expired.
    Close,
    /// Reset the connection (RST): `reset_peer` expired.
    Reset,
}

#[derive(Debug)]
struct Queued {
    item: Item,
    /// When the item entered the stage; delays are measured from here, so
    /// pipelined chunks do not accumulate latency.
    arrived: Instant,
}

/// How the front of a stage's queue leaves it.
#[derive(Debug, Clone, Copy)]
struct Release {
    due: Instant,
    /// `Some(n)`: only the first `n` bytes leave (bandwidth, slicer).
    split: Option<usize>,
}

/// The toxic chain of one direction of one connection.
#[derive(Debug)]
pub(super) struct Chain {
    stream: Stream,
    conn: u64,
    seed: u64,
    stages: Vec<Stage>,
    /// Items past every toxic, waiting to be written, oldest first.
    out: VecDeque<Item>,
    /// Data bytes held in stages and `out`.
    buffered: usize,
}

impl Chain {
    pub(super) fn new(stream: Stream, conn: u64, seed: u64) -> Self {
        Chain {
            stream,
            conn,
            seed,
            stages: Vec::new(),
            out: VecDeque::new(),
            buffered: 0,
        }
    }

    pub(super) fn stream(&self) -> Stream {
        self.stream
    }

    /// Data bytes held anywhere in the chain (the pump stops reading above a
    /// bound).
    pub(super) fn buffered(&self) -> usize {
        self.buffered
    }

    /// True when no toxic affects this direction and nothing is queued: the
    /// pump may copy straight from its read buffer.
    pub(super) fn is_idle(&self) -> bool {
        self.out.is_empty()
            && self
                .stages
                .iter()
                .all(|stage| !stage.active && stage.queue.is_empty())
    }

    /// True while a `timeout` toxic stops this direction: the pump must not
    /// read, so held data stays in the sender's socket and nothing is lost.
    pub(super) fn holds_input(&self) -> bool {
        self.stages
            .iter()
            .any(|stage| stage.active && matches!(stage.kind, ToxicKind::Timeout { .. }))
    }

    /// Adds an item read from the source at `now`.
    pub(super) fn push(&mut self, item: Item, now: Instant) {
        if let Item::Data(chunk) = &item {
            self.buffered += chunk.len();
        }
        match self.stages.first_mut() {
            Some(first) => first.queue.push_back(Queued { item, arrived: now }),
            None => self.out.push_back(item),
        }
    }

    /// The bytes to write next, if the front of `out` is data.
    pub(super) fn out_bytes(&self) -> Option<&[u8]> {
        match self.out.front() {
            Some(Item::Data(chunk)) => Some(chunk.as_slice()),
            _ => None,
        }
    }

    /// Records that `n` bytes of the front of `out` were written.
    pub(super) fn consume_out(&mut self, n: usize) {
        if let Some(Item::Data(chunk)) = self.out.front_mut() {
            let n = n.min(chunk.len());
            chunk.consume(n);
            self.buffered -= n;
            if chunk.len() == 0 {
                self.out.pop_front();
            }
        }
    }

    /// Pops a marker (`Eof` or `Close`) from the front of `out`.
    pub(super) fn pop_marker(&mut self) -> Option<Item> {
        match self.out.front() {
            Some(Item::Eof | Item::Close) => self.out.pop_front(),
            Some(Item::Data(chunk)) if chunk.len() == 0 => {
                self.out.pop_front();
                self.pop_marker()
            }
            _ => None,
        }
    }

    /// Moves every item that is due at `now` along the chain, then checks the
    /// toxics' timers.
    pub(super) fn advance(&mut self, now: Instant) -> Option<Fault> {
        let mut dropped = 0;
        for index in 0..self.stages.len() {
            while let Some(queued) = self.stages[index].pop_due(now, &mut dropped) {
                match self.stages.get_mut(index + 1) {
                    Some(next) => next.queue.push_back(queued),
                    None => self.out.push_back(queued.item),
                }
            }
        }
        self.buffered -= dropped;
        self.stages
            .iter()
            .filter_map(|stage| stage.timer())
            .find(|(at, _)| *at <= now)
            .map(|(_, fault)| fault)
    }

    /// When `advance` has something to do next, if ever.
    pub(super) fn next_wakeup(&self) -> Option<Instant> {
        self.stages
            .iter()
            .flat_map(|stage| {
                let head = stage
                    .release
                    .filter(|_| !stage.queue.is_empty())
                    .map(|release| release.due);
                [head, stage.timer().map(|(at, _)| at)]
            })
            .flatten()
            .min()
    }

    /// Brings the chain in line with the proxy's toxic list (all streams;
    /// only this chain's stream is used). Called at connection start and on
    /// every change.
    pub(super) fn reconcile(&mut self, toxics: &[Toxic], now: Instant) {
        let wanted: Vec<&Toxic> = toxics.iter().filter(|t| t.stream == self.stream).collect();
        let survives = |stage: &Stage| {
            wanted
                .iter()
                .any(|t| t.name == stage.name && t.kind.type_name() == stage.kind.type_name())
        };

        // Hand the queues of removed stages downstream, walking from the
        // back so that older items (further down) stay ahead of newer ones.
        let mut old = std::mem::take(&mut self.stages);
        let mut sink: Option<usize> = None;
        for index in (0..old.len()).rev() {
            if survives(&old[index]) {
                sink = Some(index);
                continue;
            }
            let queue = std::mem::take(&mut old[index].queue);
            match sink {
                Some(sink) => old[sink].queue.extend(queue.into_iter().map(|q| Queued {
                    item: q.item,
                    arrived: now,
                })),
                None => self.out.extend(queue.into_iter().map(|q| q.item)),
            }
        }

        let mut old: Vec<Option<Stage>> = old.into_iter().map(Some).collect();
        for toxic in wanted {
            let kept = old.iter_mut().find_map(|slot| {
                slot.take_if(|stage| {
                    stage.name == toxic.name && stage.kind.type_name() == toxic.kind.type_name()
                })
            });
            let stage = match kept {
                Some(mut stage) => {
                    stage.update(toxic, now);
                    stage
                }
                None => Stage::new(toxic, self.seed, self.conn, now),
            };
            self.stages.push(stage);
        }
    }
}

/// One toxic acting on one direction of one connection.
#[derive(Debug)]
struct Stage {
    name: String,
    kind: ToxicKind,
    /// Uniform draw in [0, 1) for this (connection, toxic): the toxic acts
    /// when `draw < toxicity`.
    draw: f32,
    active: bool,
    /// When the toxic took effect on this connection (timers count from here).
    started: Instant,
    queue: VecDeque<Queued>,
    /// Cached release plan for the queue's front (`None` when not planned).
    release: Option<Release>,
    /// When the previous item left (bandwidth and slicer pace from here).
    last_release: Option<Instant>,
    rng: StdRng,
    /// `limit_data`: bytes let through so far.
    passed: u64,
    /// `limit_data`: when the budget ran out.
    exhausted_at: Option<Instant>,
    /// `limit_data`: the close was sent; everything after is dropped.
    close_sent: bool,
}

impl Stage {
    fn new(toxic: &Toxic, seed: u64, conn: u64, now: Instant) -> Self {
        let draw = toxicity_draw(seed, conn, &toxic.name);
        Stage {
            name: toxic.name.clone(),
            kind: toxic.kind.clone(),
            draw,
            active: draw < toxic.toxicity,
            started: now,
            queue: VecDeque::new(),
            release: None,
            last_release: None,
            rng: StdRng::seed_from_u64(mix(seed, conn, &toxic.name, SALT_BEHAVIOUR)),
            passed: 0,
            exhausted_at: None,
            close_sent: false,
        }
    }

    fn update(&mut self, toxic: &Toxic, now: Instant) {
        let active = self.draw < toxic.toxicity;
        if active && !self.active {
            self.started = now;
        }
        if active != self.active || toxic.kind != self.kind {
            self.release = None;
        }
        self.active = active;
        self.kind = toxic.kind.clone();
    }

    /// The timer of a `timeout` (close) or `reset_peer` (reset) toxic.
    fn timer(&self) -> Option<(Instant, Fault)> {
        if !self.active {
            return None;
        }
        match self.kind {
            ToxicKind::Timeout { timeout } if timeout > 0 => {
                Some((after(self.started, millis(timeout)), Fault::Close))
            }
            ToxicKind::ResetPeer { timeout } => {
                Some((after(self.started, millis(timeout)), Fault::Reset))
            }
            _ => None,
        }
    }

    /// Plans how the queue's front leaves; `None` while it is held or the
    /// queue is empty.
    fn plan(&mut self) -> Option<Release> {
        if let Some(release) = self.release {
            return Some(release);
        }
        let front = self.queue.front()?;
        let arrived = front.arrived;
        let data_len = match &front.item {
            Item::Data(chunk) => Some(chunk.len()),
            Item::Eof | Item::Close => None,
        };
        let whole = |due| Release { due, split: None };
        let release = if !self.active {
            whole(arrived)
        } else {
            match self.kind {
                ToxicKind::Latency { latency, jitter } => {
                    // Jitter in microseconds, drawn once per item.
                    let jitter_us = i128::from(jitter.min(1 << 40)) * 1000;
                    let offset = if jitter_us > 0 {
                        self.rng.random_range(-jitter_us..=jitter_us)
                    } else {
                        0
                    };
                    let delay_us = (i128::from(latency) * 1000 + offset).max(0);
                    let delay_us = u64::try_from(delay_us).unwrap_or(u64::MAX);
                    whole(after(arrived, Duration::from_micros(delay_us)))
                }
                ToxicKind::Bandwidth { rate: 0 } => whole(arrived),
                ToxicKind::Bandwidth { rate } => {
                    let start = self.last_release.map_or(arrived, |last| last.max(arrived));
                    // Pace in pieces of about 10 ms worth (1 KB = 1000 bytes,
                    // as Toxiproxy counts), so a large chunk trickles out.
                    let piece_max = usize::try_from(rate.saturating_mul(10))
                        .unwrap_or(usize::MAX)
                        .max(1);
                    let len = data_len.unwrap_or(0);
                    let piece = len.min(piece_max);
                    let nanos = (piece as u128) * 1_000_000 / u128::from(rate);
                    let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
                    Release {
                        due: after(start, Duration::from_nanos(nanos)),
                        split: (piece < len).then_some(piece),
                    }
                }
                ToxicKind::SlowClose { delay } => match data_len {
                    Some(_) => whole(arrived),
                    None => whole(after(arrived, millis(delay))),
                },
                ToxicKind::Timeout { .. } => return None,
                ToxicKind::ResetPeer { .. } | ToxicKind::LimitData { .. } => whole(arrived),
                ToxicKind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => {
                    let start = self.last_release.map_or(arrived, |last| {
                        after(last, Duration::from_micros(delay)).max(arrived)
                    });
                    let len = data_len.unwrap_or(0);
                    let piece = if average_size == 0 || len == 0 {
                        len
                    } else {
                        let average = i128::from(average_size.min(1 << 40));
                        let variation = i128::from(size_variation.min(1 << 40));
                        let size = average + self.rng.random_range(-variation..=variation);
                        usize::try_from(size.max(1)).unwrap_or(usize::MAX).min(len)
                    };
                    Release {
                        due: start,
                        split: (piece < len).then_some(piece),
                    }
                }
            }
        };
        self.release = Some(release);
        Some(release)
    }

    /// Releases the queue's front if it is due at `now`. Bytes a toxic
    /// discards (`limit_data` past its budget) are added to `dropped`.
    fn pop_due(&mut self, now: Instant, dropped: &mut usize) -> Option<Queued> {
        if self.active
            && let ToxicKind::LimitData { bytes } = self.kind
        {
            return self.pop_limited(bytes, dropped);
        }
        let release = self.plan()?;
        if release.due > now {
            return None;
        }
        self.release = None;
        self.last_release = Some(release.due);
        let item = match release.split {
            Some(n) => match self.queue.front_mut().map(|front| &mut front.item) {
                Some(Item::Data(chunk)) if n < chunk.len() => Item::Data(chunk.split_front(n)),
                _ => self.queue.pop_front()?.item,
            },
            None => self.queue.pop_front()?.item,
        };
        Some(Queued {
            item,
            arrived: release.due,
        })
    }

    /// `limit_data`: lets `bytes` through, then a `Close`, then nothing.
    fn pop_limited(&mut self, bytes: u64, dropped: &mut usize) -> Option<Queued> {
        if self.close_sent {
            self.drop_queue(dropped);
            return None;
        }
        if let Some(at) = self.exhausted_at {
            self.close_sent = true;
            self.drop_queue(dropped);
            return Some(Queued {
                item: Item::Close,
                arrived: at,
            });
        }
        loop {
            let front = self.queue.front_mut()?;
            let arrived = front.arrived;
            let Item::Data(chunk) = &mut front.item else {
                return self.queue.pop_front();
            };
            let len = chunk.len();
            let remaining = bytes.saturating_sub(self.passed);
            let take = usize::try_from(remaining).map_or(len, |r| r.min(len));
            self.passed += take as u64;
            if self.passed >= bytes {
                self.exhausted_at = Some(arrived);
            }
            if take == len {
                return self.queue.pop_front();
            }
            if take > 0 {
                // The rest is dropped on the next call.
                return Some(Queued {
                    item: Item::Data(chunk.split_front(take)),
                    arrived,
                });
            }
            *dropped += len;
            self.queue.pop_front();
            if self.exhausted_at.is_some() {
                return self.pop_limited(bytes, dropped);
            }
        }
    }

    fn drop_queue(&mut self, dropped: &mut usize) {
        for queued in self.queue.drain(..) {
            if let Item::Data(chunk) = queued.item {
                *dropped += chunk.len();
            }
        }
    }
}

const SALT_TOXICITY: u64 = 0x746f_7869_6369_7479;
const SALT_BEHAVIOUR: u64 = 0x6a69_7474_6572_7321;

/// The uniform draw in [0, 1) that decides whether toxic `name` affects
/// connection `conn`: deterministic for a seed, independent across
/// connections and toxics.
pub(super) fn toxicity_draw(seed: u64, conn: u64, name: &str) -> f32 {
    StdRng::seed_from_u64(mix(seed, conn, name, SALT_TOXICITY)).random::<f32>()
}

/// Mixes the drill's seed, a connection number and a toxic name into one
/// seed (FNV-1a over the name, SplitMix64 finalisers): stable across Rust
/// releases, unlike `DefaultHasher`.
fn mix(seed: u64, conn: u64, name: &str, salt: u64) -> u64 {
    let mut name_hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        name_hash ^= u64::from(byte);
        name_hash = name_hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(seed ^ splitmix64(conn ^ splitmix64(name_hash ^ salt)))
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// `at + delay`, saturating to a century away instead of overflowing.
fn after(at: Instant, delay: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    at.checked_add(delay.min(FAR)).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toxic(name: &str, stream: Stream, kind: ToxicKind) -> Toxic {
        Toxic {
            name: name.to_owned(),
            stream,
            toxicity: 1.0,
            kind,
        }
    }

    fn data(bytes: &[u8]) -> Item {
        Item::Data(Chunk::new(bytes.to_vec()))
    }

    /// Drains `out` into (bytes, markers) for inspection.
    fn drain(chain: &mut Chain) -> (Vec<u8>, Vec<&'static str>) {
        let mut bytes = Vec::new();
        let mut markers = Vec::new();
        while let Some(item) = chain.out.pop_front() {
            match item {
                Item::Data(chunk) => {
                    chain.buffered -= chunk.len();
                    bytes.extend_from_slice(chunk.as_slice());
                }
                Item::Eof => markers.push("eof"),
                Item::Close => markers.push("close"),
            }
        }
        (bytes, markers)
    }

    #[test]
    fn latency_counts_from_arrival_and_does_not_accumulate() {
        let t0 = Instant::now();
        let mut chain = Chain::new(Stream::Downstream, 0, 7);
        let latency = toxic(
            "lat",
            Stream::Downstream,
            ToxicKind::Latency {
                latency: 100,
                jitter: 0,
            },
        );
        chain.reconcile(&[latency], t0);
        for i in 0..10u8 {
            chain.push(data(&[i]), t0 + Duration::from_millis(10 * u64::from(i)));
        }
        for i in 0..10u8 {
            let due = t0 + Duration::from_millis(100 + 10 * u64::from(i));
            chain.advance(due - Duration::from_micros(1));
            assert!(chain.out.is_empty(), "chunk {i} released early");
            assert_eq!(chain.next_wakeup(), Some(due));
            chain.advance(due);
            assert_eq!(drain(&mut chain).0, vec![i]);
        }
        assert_eq!(chain.buffered(), 0);
    }

    #[test]
    fn jitter_is_bounded_and_seeded() {
        let t0 = Instant::now();
        let dues = |seed: u64| {
            let mut chain = Chain::new(Stream::Upstream, 3, seed);
            let kind = ToxicKind::Latency {
                latency: 100,
                jitter: 50,
            };
            chain.reconcile(&[toxic("j", Stream::Upstream, kind)], t0);
            let mut dues = Vec::new();
            for _ in 0..50 {
                chain.push(data(b"x"), t0);
                chain.advance(t0);
                let due = chain.next_wakeup().unwrap_or(t0);
                chain.advance(due);
                drain(&mut chain);
                dues.push(due - t0);
            }
            dues
        };
        let first = dues(1);
        assert_eq!(first, dues(1), "same seed, same jitter");
        assert_ne!(first, dues(2), "another seed, other jitter");
        assert!(first.iter().all(|d| *d >= Duration::from_millis(50)));
        assert!(first.iter().all(|d| *d <= Duration::from_millis(150)));
    }

    #[test]
    fn toxicity_draws_are_deterministic_and_proportional() {
        let affected = |seed: u64| -> Vec<bool> {
            (0..200)
                .map(|conn| toxicity_draw(seed, conn, "reset_peer_downstream") < 0.5)
                .collect()
        };
        let first = affected(42);
        assert_eq!(first, affected(42));
        assert_ne!(first, affected(43));
        let count = first.iter().filter(|a| **a).count();
        assert!((70..=130).contains(&count), "{count} of 200 affected");
        // Another toxic name draws independently.
        let other: Vec<bool> = (0..200)
            .map(|conn| toxicity_draw(42, conn, "other") < 0.5)
            .collect();
        assert_ne!(first, other);
    }

    #[test]
    fn removing_a_toxic_releases_its_queue_in_order() {
        let t0 = Instant::now();
        let mut chain = Chain::new(Stream::Downstream, 0, 0);
        let slow = toxic(
            "slow",
            Stream::Downstream,
            ToxicKind::Latency {
                latency: 10_000,
                jitter: 0,
            },
        );
        let hold = toxic(
            "hold",
            Stream::Downstream,
            ToxicKind::Timeout { timeout: 0 },
        );
        chain.reconcile(&[hold.clone(), slow.clone()], t0);
        chain.push(data(b"ab"), t0);
        chain.advance(t0);
        // "ab" is held by the timeout; remove it, and "ab" moves into the
        // latency stage; then "cd" follows.
        chain.reconcile(std::slice::from_ref(&slow), t0);
        chain.push(data(b"cd"), t0);
        chain.push(Item::Eof, t0);
        chain.advance(t0);
        assert!(chain.out.is_empty());
        chain.reconcile(&[], t0);
        chain.advance(t0);
        assert_eq!(drain(&mut chain), (b"abcd".to_vec(), vec!["eof"]));
        assert!(chain.is_idle());
    }

    #[test]
    fn bandwidth_paces_pieces() {
        let t0 = Instant::now();
        let mut chain = Chain::new(Stream::Downstream, 0, 0);
        let kind = ToxicKind::Bandwidth { rate: 100 };
        chain.reconcile(&[toxic("bw", Stream::Downstream, kind)], t0);
        chain.push(data(&[7; 10_000]), t0);
        chain.advance(t0 + Duration::from_millis(50));
        assert_eq!(drain(&mut chain).0.len(), 5_000);
        chain.advance(t0 + Duration::from_millis(99));
        assert_eq!(drain(&mut chain).0.len(), 4_000);
        chain.advance(t0 + Duration::from_millis(100));
        assert_eq!(drain(&mut chain).0.len(), 1_000);
    }

    #[test]
    fn limit_data_truncates_then_closes() {
        let t0 = Instant::now();
        let mut chain = Chain::new(Stream::Upstream, 0, 0);
        let kind = ToxicKind::LimitData { bytes: 5 };
        chain.reconcile(&[toxic("limit", Stream::Upstream, kind)], t0);
        chain.push(data(b"abc"), t0);
        chain.push(data(b"defg"), t0);
        chain.push(data(b"hij"), t0);
        chain.advance(t0);
        assert_eq!(drain(&mut chain), (b"abcde".to_vec(), vec!["close"]));
        assert_eq!(chain.buffered(), 0);
    }

    #[test]
    fn slicer_slices_and_slow_close_delays_eof() {
        let t0 = Instant::now();
        let mut chain = Chain::new(Stream::Downstream, 0, 0);
        let slicer = ToxicKind::Slicer {
            average_size: 3,
            size_variation: 0,
            delay: 1_000,
        };
        let slow_close = ToxicKind::SlowClose { delay: 50 };
        chain.reconcile(
            &[
                toxic("slicer", Stream::Downstream, slicer),
                toxic("slow_close", Stream::Downstream, slow_close),
            ],
            t0,
        );
        chain.push(data(b"abcdefgh"), t0);
        chain.push(Item::Eof, t0);
        chain.advance(t0);
        assert_eq!(drain(&mut chain).0, b"abc");
        chain.advance(t0 + Duration::from_millis(2));
        assert_eq!(drain(&mut chain).0, b"defgh");
        chain.advance(t0 + Duration::from_millis(40));
        assert_eq!(drain(&mut chain).1, Vec::<&str>::new());
        chain.advance(t0 + Duration::from_millis(53));
        assert_eq!(drain(&mut chain).1, vec!["eof"]);
    }

    #[test]
    fn timers_fire_from_when_the_toxic_took_effect() {
        let t0 = Instant::now();
        let mut chain = Chain::new(Stream::Downstream, 0, 0);
        let later = t0 + Duration::from_millis(30);
        let reset = toxic(
            "r",
            Stream::Downstream,
            ToxicKind::ResetPeer { timeout: 20 },
        );
        chain.reconcile(std::slice::from_ref(&reset), later);
        assert_eq!(chain.advance(later), None);
        assert_eq!(chain.next_wakeup(), Some(later + Duration::from_millis(20)));
        assert_eq!(
            chain.advance(later + Duration::from_millis(20)),
            Some(Fault::Reset)
        );
        let timeout = toxic("t", Stream::Downstream, ToxicKind::Timeout { timeout: 5 });
        let mut chain = Chain::new(Stream::Downstream, 0, 0);
        chain.reconcile(std::slice::from_ref(&timeout), t0);
        assert!(chain.holds_input());
        assert_eq!(
            chain.advance(t0 + Duration::from_millis(5)),
            Some(Fault::Close)
        );
    }
}
