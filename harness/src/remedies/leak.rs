//! Memory Leak Detection: a trend of a process tree's resident memory.
//!
//! [`LeakMonitor`] keeps the samples of the last `window` and, once the
//! window is full, fits a least-squares line through them: a leak is
//! suspected when its slope exceeds the threshold. A healthy sawtooth
//! (allocate, free, again) has no trend over a window of several periods, so
//! it does not fire. [`Trend::FirstVsLast`] is the playbook's
//! `calculateTrend()`: the last sample minus the first over the time between
//! them, which swings with the sawtooth's phase and fires on it.
//!
//! The monitor itself is pure ([`LeakMonitor::push`] takes a time and a
//! value); [`watch`] samples a live process tree from `/proc`.
//!
//! ```
//! use std::time::Duration;
//! use firedrill::remedies::leak::{LeakMonitor, LeakMonitorConfig, Trend};
//! let config = LeakMonitorConfig {
//!     window: Duration::from_secs(4),
//!     threshold_bytes_per_sec: 1_000_000.0,
//! };
//! let mut monitor = LeakMonitor::new(config, Trend::LeastSquares);
//! let mut alarm = None;
//! for i in 0..60u64 {
//!     // 2 MB/s growth, sampled every 100 ms.
//!     let at = Duration::from_millis(100 * i);
//!     alarm = alarm.or(monitor.push(at, 50_000_000 + 200_000 * i));
//! }
//! assert!(alarm.is_some_and(|a| a.bytes_per_sec > 1_900_000.0));
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::events::{Event, EventSink};
use super::supervisor::procfs;

/// How a trend is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// Slope of the least-squares line through every sample of the window.
    LeastSquares,
    /// The playbook's: (last − first) / (t_last − t_first).
    FirstVsLast,
}

/// What the monitor judges by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakMonitorConfig {
    /// Samples older than this are dropped; no verdict before the samples
    /// span it.
    pub window: Duration,
    /// A trend above this many bytes per second is a leak.
    pub threshold_bytes_per_sec: f64,
}

/// A suspected leak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakAlarm {
    /// The trend, bytes per second.
    pub bytes_per_sec: f64,
    /// The newest sample.
    pub rss_bytes: u64,
}

/// Samples in, alarms out.
#[derive(Debug, Clone)]
pub struct LeakMonitor {
    config: LeakMonitorConfig,
    trend: Trend,
    samples: VecDeque<(f64, f64)>,
}

impl LeakMonitor {
    /// An empty monitor.
    pub fn new(config: LeakMonitorConfig, trend: Trend) -> Self {
        LeakMonitor {
            config,
            trend,
            samples: VecDeque::new(),
        }
    }

    /// Adds a sample taken at `at` (any fixed origin) and judges the window.
    pub fn push(&mut self, at: Duration, rss_bytes: u64) -> Option<LeakAlarm> {
        let t = at.as_secs_f64();
        self.samples.push_back((t, rss_bytes as f64));
        let window = self.config.window.as_secs_f64();
        // Keep exactly one sample at or before the window's start, so the
        // window is spanned but not exceeded.
        while self.samples.len() > 2 && t - self.samples[1].0 >= window {
            self.samples.pop_front();
        }
        let first = self.samples.front()?.0;
        if t - first < window * 0.999 {
            return None;
        }
        let slope = self.slope()?;
        (slope > self.config.threshold_bytes_per_sec).then_some(LeakAlarm {
            bytes_per_sec: slope,
            rss_bytes,
        })
    }

    /// The current trend in bytes per second, if there are two samples.
    pub fn slope(&self) -> Option<f64> {
        match self.trend {
            Trend::LeastSquares => least_squares_slope(self.samples.iter().copied()),
            Trend::FirstVsLast => {
                let (t0, v0) = *self.samples.front()?;
                let (t1, v1) = *self.samples.back()?;
                (t1 > t0).then(|| (v1 - v0) / (t1 - t0))
            }
        }
    }
}

/// Slope of the least-squares line through `(x, y)` points.
pub fn least_squares_slope(points: impl Iterator<Item = (f64, f64)> + Clone) -> Option<f64> {
    let n = points.clone().count() as f64;
    if n < 2.0 {
        return None;
    }
    let (sx, sy) = points
        .clone()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den)
}

/// Samples the resident memory of `pid` and its descendants every
/// `every`, and emits [`Event::LeakSuspected`] (once) when `monitor` fires.
/// Ends when the process is gone or `cancel` fires.
pub async fn watch(
    pid: i32,
    every: Duration,
    mut monitor: LeakMonitor,
    source: String,
    sink: Arc<dyn EventSink>,
    cancel: CancellationToken,
) {
    let origin = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut alarmed = false;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(rss) = tokio::task::spawn_blocking(move || procfs::tree_rss(pid))
            .await
            .ok()
            .flatten()
        else {
            return;
        };
        if let Some(alarm) = monitor.push(origin.elapsed(), rss)
            && !alarmed
        {
            alarmed = true;
            sink.record(
                &source,
                Event::LeakSuspected {
                    bytes_per_sec: alarm.bytes_per_sec.max(0.0) as u64,
                    rss_bytes: alarm.rss_bytes,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    fn config() -> LeakMonitorConfig {
        LeakMonitorConfig {
            window: Duration::from_secs(6),
            threshold_bytes_per_sec: 4.0 * MIB,
        }
    }

    /// A sawtooth: grows linearly to `peak` over each period, then drops.
    fn sawtooth(t: f64, peak: f64, period: f64) -> f64 {
        30.0 * MIB + peak * ((t / period).fract())
    }

    /// First alarm time over `secs` of 100 ms samples of `signal`.
    fn first_alarm(
        trend: Trend,
        secs: f64,
        offset: f64,
        signal: impl Fn(f64) -> f64,
    ) -> Option<f64> {
        let mut monitor = LeakMonitor::new(config(), trend);
        (0..(secs * 10.0) as u64).find_map(|i| {
            let t = i as f64 / 10.0;
            monitor
                .push(Duration::from_secs_f64(t), signal(t + offset) as u64)
                .map(|_| t)
        })
    }

    #[test]
    fn least_squares_recovers_a_line() {
        let points = (0..10).map(|x| (f64::from(x), 3.0 * f64::from(x) + 1.0));
        let slope = least_squares_slope(points).expect("slope");
        assert!((slope - 3.0).abs() < 1e-9);
        assert_eq!(least_squares_slope(std::iter::once((1.0, 1.0))), None);
    }

    #[test]
    fn a_steady_leak_fires_once_the_window_is_full() {
        for trend in [Trend::LeastSquares, Trend::FirstVsLast] {
            let at = first_alarm(trend, 20.0, 0.0, |t| 30.0 * MIB + 10.0 * MIB * t);
            assert!(
                at.is_some_and(|t| (5.9..=6.2).contains(&t)),
                "{trend:?}: {at:?}"
            );
        }
    }

    #[test]
    fn a_healthy_sawtooth_never_fires_least_squares_at_any_phase() {
        for phase in 0..24 {
            let offset = f64::from(phase) * 0.05;
            let at = first_alarm(Trend::LeastSquares, 30.0, offset, |t| {
                sawtooth(t, 64.0 * MIB, 0.9)
            });
            assert_eq!(at, None, "phase offset {offset}");
        }
    }

    #[test]
    fn first_vs_last_fires_on_the_same_sawtooth() {
        for phase in 0..24 {
            let offset = f64::from(phase) * 0.05;
            let at = first_alarm(Trend::FirstVsLast, 30.0, offset, |t| {
                sawtooth(t, 64.0 * MIB, 0.9)
            });
            assert!(at.is_some(), "phase offset {offset}");
        }
    }

    #[test]
    fn nothing_is_judged_before_the_window_is_spanned() {
        let mut monitor = LeakMonitor::new(config(), Trend::FirstVsLast);
        assert_eq!(monitor.push(Duration::ZERO, 0), None);
        assert_eq!(monitor.push(Duration::from_secs(1), u64::MAX / 2), None);
    }
}
