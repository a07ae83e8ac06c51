//! Human durations: `"250ms"`, `"2s"`, `"1.5s"`, `"1m"`.
//!
//! One grammar for scenario files, reports and the command line: an unsigned
//! integer or decimal followed directly (no space) by one of `us`, `ms`, `s`
//! or `m`. Hours are deliberately absent: no drill should run that long.
//! Parsing is exact (no floating point), so `"0.1s"` is exactly 100ms and
//! [`format_duration`] output always parses back to the same value.

use std::time::Duration;

/// The fix shown for every malformed duration.
pub const DURATION_HELP: &str = r#"write durations like "250ms", "2s" or "1m""#;

/// Units in the order they are tried when formatting, largest first, with
/// their length in nanoseconds.
const UNITS: [(&str, u128); 4] = [
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
];

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[diagnostic(
    code(firedrill::scenario::duration),
    help(r#"write durations like "250ms", "2s" or "1m""#)
)]
pub enum DurationError {
    /// The string was empty or only whitespace.
    #[error("empty duration")]
    Empty,
    /// A leading `-`.
    #[error("invalid duration {input:?}: durations cannot be negative")]
    Negative {
        /// The rejected text.
        input: String,
    },
    /// The string does not start with a digit (`"s"`, `".5s"`, `"+1s"`).
    #[error("invalid duration {input:?}: it must start with a number")]
    NoNumber {
        /// The rejected text.
        input: String,
    },
    /// A decimal point without digits after it (`"1.s"`).
    #[error("invalid duration {input:?}: expected digits after the decimal point")]
    Malformed {
        /// The rejected text.
        input: String,
    },
    /// A bare number (`"2"`): the unit is not implied.
    #[error("invalid duration {input:?}: missing unit (us, ms, s or m)")]
    MissingUnit {
        /// The rejected text.
        input: String,
    },
    /// A unit other than `us`, `ms`, `s`, `m` (`"1h"`, `"2 seconds"`).
    #[error("invalid duration {input:?}: unknown unit {unit:?} (expected us, ms, s or m)")]
    UnknownUnit {
        /// The rejected text.
        input: String,
        /// Everything after the number.
        unit: String,
    },
    /// More than [`Duration::MAX`].
    #[error("invalid duration {input:?}: too large")]
    TooLarge {
        /// The rejected text.
        input: String,
    },
    /// A fraction finer than one nanosecond (`"0.0001us"`).
    #[error("invalid duration {input:?}: finer than a nanosecond")]
    TooPrecise {
        /// The rejected text.
        input: String,
    },
}

/// Parses a duration such as `"250ms"`, `"2s"`, `"1.5s"` or `"1m"`.
///
/// ```
/// use std::time::Duration;
/// use firedrill::scenario::parse_duration;
///
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("2 seconds").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let owned = || input.to_owned();
    if input.trim().is_empty() {
        return Err(DurationError::Empty);
    }
    if input.starts_with('-') {
        return Err(DurationError::Negative { input: owned() });
    }
    let int_end = input
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(input.len());
    if int_end == 0 {
        return Err(DurationError::NoNumber { input: owned() });
    }
    let (int_digits, rest) = input.split_at(int_end);
    let (frac_digits, unit) = match rest.strip_prefix('.') {
        Some(after_dot) => {
            let frac_end = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            if frac_end == 0 {
                return Err(DurationError::Malformed { input: owned() });
            }
            after_dot.split_at(frac_end)
        }
        None => ("", rest),
    };
    let unit_nanos = match unit {
        "" => return Err(DurationError::MissingUnit { input: owned() }),
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        other => {
            return Err(DurationError::UnknownUnit {
                input: owned(),
                unit: other.to_owned(),
            });
        }
    };
    let too_large = || DurationError::TooLarge { input: owned() };
    let whole: u128 = int_digits.parse().map_err(|_| too_large())?;
    let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(too_large)?;
    // Trailing zeros add no value, and dropping them keeps the arithmetic small.
    let frac_digits = frac_digits.trim_end_matches('0');
    if !frac_digits.is_empty() {
        // Digits past the unit's nanosecond resolution are not representable.
        let scale = u32::try_from(frac_digits.len()).map_err(|_| too_large())?;
        let denominator = 10u128.checked_pow(scale);
        let numerator: Option<u128> = frac_digits.parse().ok();
        let frac_nanos = match (numerator, denominator) {
            (Some(n), Some(d)) => {
                let scaled = n.checked_mul(unit_nanos).ok_or_else(too_large)?;
                if !scaled.is_multiple_of(d) {
                    return Err(DurationError::TooPrecise { input: owned() });
                }
                scaled / d
            }
            // Dozens of significant fraction digits: finer than a nanosecond.
            _ => return Err(DurationError::TooPrecise { input: owned() }),
        };
        nanos = nanos.checked_add(frac_nanos).ok_or_else(too_large)?;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_large())?;
    let subsec = u32::try_from(nanos % 1_000_000_000).expect("remainder of 1e9 fits in u32");
    Ok(Duration::new(secs, subsec))
}

/// Formats a duration compactly, in the largest unit that reads naturally:
/// `"250ms"`, `"2s"`, `"1.5s"`, `"1m"`, `"90s"`. Always parses back to the
/// same value with [`parse_duration`].
///
/// Minutes are used only for whole minutes; otherwise seconds from one
/// second up, then milliseconds, then microseconds (with decimals for
/// sub-microsecond remainders).
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    for (unit, unit_nanos) in UNITS {
        let whole_minutes_only = unit == "m" && !nanos.is_multiple_of(unit_nanos);
        if nanos >= unit_nanos && !whole_minutes_only {
            return in_unit(nanos, unit_nanos, unit);
        }
    }
    in_unit(nanos, 1_000, "us")
}

/// `nanos` written as a decimal number of `unit`, trailing zeros trimmed.
fn in_unit(nanos: u128, unit_nanos: u128, unit: &str) -> String {
    let whole = nanos / unit_nanos;
    let frac = nanos % unit_nanos;
    if frac == 0 {
        return format!("{whole}{unit}");
    }
    // unit_nanos is a power of ten times 1 or 60; only powers of ten reach
    // here because minutes are only used for whole minutes.
    let width = unit_nanos.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}{unit}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("2s"), Ok(ms(2000)));
        assert_eq!(parse_duration("1m"), Ok(ms(60_000)));
        assert_eq!(parse_duration("15us"), Ok(Duration::from_micros(15)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("0.1s"), Ok(ms(100)));
        assert_eq!(parse_duration("0.5m"), Ok(ms(30_000)));
        assert_eq!(parse_duration("1.25ms"), Ok(Duration::from_micros(1250)));
        assert_eq!(parse_duration("0.001us"), Ok(Duration::from_nanos(1)));
        assert_eq!(
            parse_duration("1.500000000000000000000000000000000000000000s"),
            Ok(ms(1500))
        );
    }

    #[test]
    fn rejects_what_the_grammar_excludes() {
        for bad in [
            "",
            " ",
            "2",
            "2 seconds",
            "-1s",
            "1h",
            "s",
            ".5s",
            "1.s",
            "+1s",
            "1e3s",
            "1 s",
            "1S",
            "1ms ",
            " 1ms",
            "1,5s",
            "0x10s",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            // Every rejection carries the same concrete fix.
            let help = miette::Diagnostic::help(&err).map(|h| h.to_string());
            assert_eq!(help.as_deref(), Some(DURATION_HELP), "{bad:?}");
        }
    }

    #[test]
    fn names_the_reason() {
        assert!(matches!(
            parse_duration("2 seconds"),
            Err(DurationError::UnknownUnit { unit, .. }) if unit == " seconds"
        ));
        assert!(matches!(
            parse_duration("2"),
            Err(DurationError::MissingUnit { .. })
        ));
        assert!(matches!(
            parse_duration("-1s"),
            Err(DurationError::Negative { .. })
        ));
        assert!(matches!(
            parse_duration("1h"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("0.0001us"),
            Err(DurationError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999999999999999999999999999m"),
            Err(DurationError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_duration("307445734561825861m"),
            Err(DurationError::TooLarge { .. })
        ));
        assert_eq!(
            parse_duration("2 seconds").map_err(|e| e.to_string()),
            Err(r#"invalid duration "2 seconds": unknown unit " seconds" (expected us, ms, s or m)"#
                .to_owned())
        );
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(ms(250)), "250ms");
        assert_eq!(format_duration(ms(2000)), "2s");
        assert_eq!(format_duration(ms(1500)), "1.5s");
        assert_eq!(format_duration(ms(60_000)), "1m");
        assert_eq!(format_duration(ms(120_000)), "2m");
        assert_eq!(format_duration(ms(90_000)), "90s");
        assert_eq!(format_duration(Duration::from_micros(1250)), "1.25ms");
        assert_eq!(format_duration(Duration::from_micros(15)), "15us");
        assert_eq!(format_duration(Duration::from_nanos(1)), "0.001us");
        assert_eq!(
            format_duration(Duration::from_nanos(1_000_000_001)),
            "1.000000001s"
        );
    }

    #[test]
    fn format_round_trips() {
        let samples = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999),
            Duration::from_nanos(1_001),
            Duration::from_micros(999_999),
            ms(1),
            ms(59_999),
            ms(60_001),
            ms(3_600_000),
            Duration::new(12_345, 678_901_234),
            Duration::MAX,
        ];
        for d in samples {
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Ok(d), "{text}");
        }
    }
}
