//! Measurements and verdicts: pure functions of a timeline.
//!
//! Kept free of I/O so the arithmetic of `time_to_detect`, `time_to_recover`
//! and `outage`, and the judgement of every bound, are unit-tested directly;
//! the drills in `scenarios/` test the same code against real services.

use std::time::Duration;

use serde::Serialize;

use crate::report::human_duration;
use crate::scenario::{Check, Expect, Invariant, Variant, format_duration};

/// The clock points of one variant run, as offsets from its start.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClockPoints {
    /// Steady state first held (faults are scheduled from here).
    #[serde(with = "millis_opt")]
    pub t_steady0: Option<Duration>,
    /// The first fault is in effect.
    #[serde(with = "millis_opt")]
    pub t_inject: Option<Duration>,
    /// The workload first observed the failure.
    #[serde(with = "millis_opt")]
    pub t_detect: Option<Duration>,
    /// The last fault was removed (absent for faults that stay).
    #[serde(with = "millis_opt")]
    pub t_heal: Option<Duration>,
    /// The first successful steady-state probe after the fault.
    #[serde(with = "millis_opt")]
    pub t_recover: Option<Duration>,
    /// N consecutive successful probes after recovery.
    #[serde(with = "millis_opt")]
    pub t_steady: Option<Duration>,
    /// Observation ended here.
    #[serde(with = "millis")]
    pub observed_until: Duration,
}

/// What DESIGN.md §1 reports, derived from [`ClockPoints`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Measurements {
    /// `t_detect − t_inject`.
    #[serde(with = "millis_opt")]
    pub time_to_detect: Option<Duration>,
    /// `t_recover − max(t_heal, t_inject)`.
    #[serde(with = "millis_opt")]
    pub time_to_recover: Option<Duration>,
    /// `t_recover − t_inject`.
    #[serde(with = "millis_opt")]
    pub outage: Option<Duration>,
}

impl Measurements {
    /// Derives the measurements. A point before the one it is measured from
    /// (which a correct engine never records) counts as zero, not a panic.
    pub fn from_points(p: &ClockPoints) -> Self {
        let since = |later: Option<Duration>, earlier: Option<Duration>| {
            Some(later?.saturating_sub(earlier?))
        };
        let fault_end = match (p.t_heal, p.t_inject) {
            (Some(heal), Some(inject)) => Some(heal.max(inject)),
            (None, inject) => inject,
            (heal, None) => heal,
        };
        Measurements {
            time_to_detect: since(p.t_detect, p.t_inject),
            time_to_recover: since(p.t_recover, fault_end),
            outage: since(p.t_recover, p.t_inject),
        }
    }
}

/// Whether an invariant held, and the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvariantResult {
    /// Which invariant.
    #[serde(serialize_with = "as_display")]
    pub invariant: Invariant,
    /// Whether it held.
    pub holds: bool,
    /// The evidence, readable.
    pub detail: String,
}

/// One line of a verdict: a declared bound or invariant and what was measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The check, as spelled in the file (`detect_within`, `no-message-loss`…).
    #[serde(serialize_with = "as_display")]
    pub check: Check,
    /// The bound, for timing checks (`"1s"`).
    pub bound: Option<String>,
    /// What was measured (`"412ms"`, `"not detected"`, `"held"`…).
    pub measured: String,
    /// Whether the check passed.
    pub passed: bool,
    /// Why, in a sentence.
    pub detail: String,
}

/// Judges every check declared in `[expect]`.
pub fn evaluate(
    expect: &Expect,
    points: &ClockPoints,
    measured: &Measurements,
    invariants: &[InvariantResult],
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    if let Some(bound) = expect.detect_within {
        results.push(timing_check(
            Check::DetectWithin,
            bound,
            measured.time_to_detect,
            || match points.t_inject {
                None => "no fault was injected".to_owned(),
                Some(inject) => format!(
                    "the workload never observed the fault in {} of observation after injection",
                    human_duration(points.observed_until.saturating_sub(inject))
                ),
            },
            "not detected",
        ));
    }
    if let Some(bound) = expect.recover_within {
        results.push(timing_check(
            Check::RecoverWithin,
            bound,
            measured.time_to_recover,
            || {
                let from = points.t_heal.or(points.t_inject).unwrap_or_default();
                format!(
                    "no successful steady-state probe in {} of observation after the fault ended",
                    human_duration(points.observed_until.saturating_sub(from))
                )
            },
            "not recovered",
        ));
    }
    for invariant in &expect.invariants {
        let result = invariants.iter().find(|r| r.invariant == *invariant);
        results.push(match result {
            Some(r) => CheckResult {
                check: Check::Invariant(*invariant),
                bound: None,
                measured: if r.holds { "held" } else { "violated" }.to_owned(),
                passed: r.holds,
                detail: r.detail.clone(),
            },
            None => CheckResult {
                check: Check::Invariant(*invariant),
                bound: None,
                measured: "not checked".to_owned(),
                passed: false,
                detail: "this workload cannot check this invariant".to_owned(),
            },
        });
    }
    results
}

fn timing_check(
    check: Check,
    bound: Duration,
    measured: Option<Duration>,
    missing: impl FnOnce() -> String,
    missing_word: &str,
) -> CheckResult {
    match measured {
        Some(value) => {
            let passed = value <= bound;
            CheckResult {
                check,
                bound: Some(format_duration(bound)),
                measured: human_duration(value),
                passed,
                detail: if passed {
                    format!("{} ≤ {}", human_duration(value), format_duration(bound))
                } else {
                    format!("{} > {}", human_duration(value), format_duration(bound))
                },
            }
        }
        None => CheckResult {
            check,
            bound: Some(format_duration(bound)),
            measured: missing_word.to_owned(),
            passed: false,
            detail: missing(),
        },
    }
}

/// How one variant ended, judged against what it was expected to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A variant expected to pass passed every check.
    Passed,
    /// A naive variant failed every check it is documented to fail.
    Caught,
    /// A variant expected to pass failed these checks.
    Failed {
        /// The failed checks.
        failed: Vec<String>,
    },
    /// A naive variant was not caught for its documented reason: these
    /// expected failures passed. The harness has no teeth here.
    Escaped {
        /// Checks that were expected to fail but passed.
        passed_unexpectedly: Vec<String>,
    },
    /// The drill could not be run (services, steady state, internal error).
    Error {
        /// What went wrong.
        message: String,
    },
}

impl Outcome {
    /// Whether this outcome is what the scenario asked for.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Caught)
    }

    /// One word for tables.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Caught => "caught",
            Outcome::Failed { .. } => "FAILED",
            Outcome::Escaped { .. } => "ESCAPED",
            Outcome::Error { .. } => "ERROR",
        }
    }

    /// A sentence for failure messages.
    pub fn explain(&self) -> String {
        match self {
            Outcome::Passed => "every check passed".to_owned(),
            Outcome::Caught => "the naive variant failed for its documented reason".to_owned(),
            Outcome::Failed { failed } => format!("failed: {}", failed.join(", ")),
            Outcome::Escaped {
                passed_unexpectedly,
            } => format!(
                "the naive variant was not caught: {} passed but the scenario documents {} as its weakness",
                passed_unexpectedly.join(", "),
                if passed_unexpectedly.len() == 1 {
                    "it"
                } else {
                    "them"
                }
            ),
            Outcome::Error { message } => format!("error: {message}"),
        }
    }
}

/// Judges a variant's check results against its `caught_by` list.
pub fn judge(variant: &Variant, checks: &[CheckResult]) -> Outcome {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.check.to_string())
        .collect();
    if variant.caught_by.is_empty() {
        return if failed.is_empty() {
            Outcome::Passed
        } else {
            Outcome::Failed { failed }
        };
    }
    let passed_unexpectedly: Vec<String> = variant
        .caught_by
        .iter()
        .filter(|expected| {
            checks
                .iter()
                .find(|c| c.check == **expected)
                .is_none_or(|c| c.passed)
        })
        .map(|c| c.to_string())
        .collect();
    if passed_unexpectedly.is_empty() {
        Outcome::Caught
    } else {
        Outcome::Escaped {
            passed_unexpectedly,
        }
    }
}

fn as_display<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Durations as milliseconds (floating point) in the JSON journal.
pub(crate) mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
}

/// Optional durations as milliseconds, `null` when absent.
pub(crate) mod millis_opt {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_secs_f64() * 1000.0)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Remedy;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn points() -> ClockPoints {
        ClockPoints {
            t_steady0: Some(ms(500)),
            t_inject: Some(ms(1_500)),
            t_detect: Some(ms(1_900)),
            t_heal: Some(ms(3_500)),
            t_recover: Some(ms(4_200)),
            t_steady: Some(ms(4_500)),
            observed_until: ms(5_000),
        }
    }

    fn expect() -> Expect {
        Expect {
            detect_within: Some(ms(1_000)),
            recover_within: Some(ms(1_000)),
            invariants: vec![Invariant::NoMessageLoss],
            snapshot: true,
        }
    }

    #[test]
    fn measurements_follow_the_design_formulas() {
        let m = Measurements::from_points(&points());
        assert_eq!(m.time_to_detect, Some(ms(400)));
        assert_eq!(m.time_to_recover, Some(ms(700)));
        assert_eq!(m.outage, Some(ms(2_700)));
    }

    #[test]
    fn recovery_counts_from_injection_when_nothing_heals() {
        let p = ClockPoints {
            t_heal: None,
            ..points()
        };
        assert_eq!(
            Measurements::from_points(&p).time_to_recover,
            Some(ms(2_700))
        );
    }

    #[test]
    fn bounds_pass_fail_and_missing_values_fail_with_a_reason() {
        let mut p = points();
        let held = [InvariantResult {
            invariant: Invariant::NoMessageLoss,
            holds: true,
            detail: "0 lost".into(),
        }];
        let checks = evaluate(&expect(), &p, &Measurements::from_points(&p), &held);
        assert!(checks.iter().all(|c| c.passed), "{checks:#?}");

        p.t_detect = Some(ms(2_600)); // 1.1 s after injection
        p.t_recover = None;
        let checks = evaluate(&expect(), &p, &Measurements::from_points(&p), &held);
        assert!(!checks[0].passed);
        assert_eq!(checks[0].measured, "1.10s");
        assert!(!checks[1].passed);
        assert_eq!(checks[1].measured, "not recovered");
        assert!(checks[1].detail.contains("1.50s"), "{}", checks[1].detail);
    }

    #[test]
    fn an_invariant_the_workload_cannot_check_fails() {
        let p = points();
        let checks = evaluate(&expect(), &p, &Measurements::from_points(&p), &[]);
        assert!(!checks[2].passed);
    }

    #[test]
    fn a_naive_variant_is_caught_only_for_its_documented_reason() {
        let p = points();
        let violated = [InvariantResult {
            invariant: Invariant::NoMessageLoss,
            holds: false,
            detail: "3 lost".into(),
        }];
        let checks = evaluate(&expect(), &p, &Measurements::from_points(&p), &violated);
        let naive = Variant {
            name: "naive".into(),
            remedy: Remedy::WsClientNaive,
            caught_by: vec![Check::Invariant(Invariant::NoMessageLoss)],
        };
        assert_eq!(judge(&naive, &checks), Outcome::Caught);

        let wrong_reason = Variant {
            caught_by: vec![Check::DetectWithin],
            ..naive.clone()
        };
        assert_eq!(
            judge(&wrong_reason, &checks),
            Outcome::Escaped {
                passed_unexpectedly: vec!["detect_within".into()]
            }
        );

        let hardened = Variant {
            name: "hardened".into(),
            remedy: Remedy::WsClient,
            caught_by: vec![],
        };
        assert_eq!(
            judge(&hardened, &checks),
            Outcome::Failed {
                failed: vec!["no-message-loss".into()]
            }
        );
    }
}
