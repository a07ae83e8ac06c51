//! Reports: JUnit XML for CI, a JSON journal of every drill (timeline,
//! measurements, verdicts, seed), and a summary table for people.
//!
//! Written under `reports/` by `firedrill run`. This module only formats and
//! writes what the engine measured; it must never judge anything itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::engine::DrillReport;

/// Errors of writing reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written.
    #[error("failed to write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Serialization failed (an internal error).
    #[error("failed to serialize the {what}: {message}")]
    Serialize {
        /// Which report.
        what: &'static str,
        /// Why.
        message: String,
    },
}

/// Where the reports went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// JUnit XML.
    pub junit: PathBuf,
    /// JSON journal.
    pub journal: PathBuf,
}

/// The JSON journal: every drill, every variant, every clock point.
pub fn journal_json(reports: &[DrillReport]) -> Result<String, ReportError> {
    let (caught, naive) = teeth(reports);
    let journal = serde_json::json!({
        "firedrill": env!("CARGO_PKG_VERSION"),
        "teeth": { "naive_caught": caught, "naive_run": naive },
        "drills": reports,
    });
    serde_json::to_string_pretty(&journal).map_err(|e| ReportError::Serialize {
        what: "journal",
        message: e.to_string(),
    })
}

/// JUnit XML: one test suite per drill, one test case per variant.
pub fn junit_xml(reports: &[DrillReport]) -> Result<String, ReportError> {
    let mut report = Report::new("firedrill");
    let mut total = Duration::ZERO;
    for drill in reports {
        let mut suite = TestSuite::new(drill.drill.clone());
        suite.set_time(drill.wall);
        total += drill.wall;
        if let Some(error) = &drill.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(error.clone());
            status.set_description(drill.failure_summary());
            let mut case = TestCase::new("setup", status);
            case.set_classname(drill.drill.clone());
            suite.add_test_case(case);
        }
        for variant in &drill.variants {
            let status = if variant.outcome.is_ok() {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(match variant.outcome {
                    crate::engine::verdict::Outcome::Error { .. } => NonSuccessKind::Error,
                    _ => NonSuccessKind::Failure,
                });
                status.set_message(variant.outcome.explain());
                status.set_description(drill.failure_summary());
                status
            };
            let mut case = TestCase::new(format!("{} ({})", variant.name, variant.remedy), status);
            case.set_classname(drill.drill.clone());
            case.set_time(variant.wall);
            case.set_system_out(format!(
                "outcome: {}\ntime_to_detect: {}\ntime_to_recover: {}\noutage: {}\nseed: {}",
                variant.outcome.word(),
                opt(variant.measurements.time_to_detect),
                opt(variant.measurements.time_to_recover),
                opt(variant.measurements.outage),
                drill.seed
            ));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.set_time(total);
    report.to_string().map_err(|e| ReportError::Serialize {
        what: "JUnit report",
        message: e.to_string(),
    })
}

/// Writes `junit.xml` and `journal.json` into `dir` (created if missing).
pub fn write(dir: &Path, reports: &[DrillReport]) -> Result<Written, ReportError> {
    let write_file = |name: &str, content: String| -> Result<PathBuf, ReportError> {
        let path = dir.join(name);
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, content))
            .map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    };
    Ok(Written {
        junit: write_file("junit.xml", junit_xml(reports)?)?,
        journal: write_file("journal.json", journal_json(reports)?)?,
    })
}

fn opt(d: Option<Duration>) -> String {
    d.map(human_duration).unwrap_or_else(|| "—".to_owned())
}

/// A measured duration for people: three significant digits at most
/// (`"620µs"`, `"7.5ms"`, `"704ms"`, `"3.20s"`). Exact values stay in the
/// journal as milliseconds.
pub fn human_duration(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.0}µs")
    } else if micros < 10_000.0 {
        format!("{:.1}ms", micros / 1e3)
    } else if micros < 1_000_000.0 {
        format!("{:.0}ms", micros / 1e3)
    } else {
        format!("{:.2}s", micros / 1e6)
    }
}

/// Naive variants caught, and naive variants run, over all drills.
pub fn teeth(reports: &[DrillReport]) -> (usize, usize) {
    reports
        .iter()
        .map(DrillReport::teeth)
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}

/// The summary table printed after a run.
pub fn summary_table(reports: &[DrillReport]) -> String {
    let header = [
        "drill",
        "variant",
        "verdict",
        "time_to_detect",
        "time_to_recover",
        "outage",
    ];
    let mut rows: Vec<[String; 6]> = Vec::new();
    for drill in reports {
        if let Some(error) = &drill.error {
            rows.push([
                drill.drill.clone(),
                "-".into(),
                "ERROR".into(),
                "-".into(),
                "-".into(),
                first_line(error),
            ]);
        }
        for v in &drill.variants {
            rows.push([
                drill.drill.clone(),
                v.name.clone(),
                v.outcome.word().to_owned(),
                opt(v.measurements.time_to_detect),
                opt(v.measurements.time_to_recover),
                opt(v.measurements.outage),
            ]);
        }
    }
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(&header.map(String::from));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    let passed = reports.iter().filter(|r| r.passed()).count();
    let (caught, naive) = teeth(reports);
    out.push_str(&format!(
        "\n{passed} of {} drills as expected; teeth: {caught} of {naive} naive variants caught\n",
        reports.len()
    ));
    out
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(60)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_durations_read_at_three_digits() {
        let cases = [
            (Duration::from_micros(620), "620µs"),
            (Duration::from_micros(7_480), "7.5ms"),
            (Duration::from_micros(704_057), "704ms"),
            (Duration::from_micros(3_199_072), "3.20s"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want);
        }
    }
}
