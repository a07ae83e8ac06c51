//! Tests of the whole pipeline: TOML text in, `Scenario` or located problems out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::toxic::{Stream, Toxic, ToxicKind};

const EXAMPLE: &str = include_str!("example.toml");

/// A small valid scenario; tests break it one line at a time.
/// Line numbers (1-based) are in the comments of the tests that use them.
const BASE: &str = r#"[drill]
name = "ws-half-open"
playbook = "WebSocket Connection Drops"

[services.hub]
kind = "ws-hub"

[proxies.hub]
upstream = "hub"

[workload]
kind = "ws-stream"
target = "hub"

[[variants]]
remedy = "ws-client"

[[variants]]
remedy = "ws-client-naive"
caught_by = ["detect_within"]

[[faults]]
at = "1s"
proxy = "hub"
toxic = { type = "timeout", attributes = { timeout = 0 } }
heal_after = "3s"

[expect]
detect_within = "1s"
"#;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn path() -> &'static Path {
    Path::new("scenarios/test.toml")
}

/// `source` with `from` replaced by `to`; `from` must occur exactly once.
fn edit(source: &str, from: &str, to: &str) -> String {
    assert_eq!(source.matches(from).count(), 1, "{from:?} must occur once");
    source.replacen(from, to, 1)
}

/// The 1-based line and column where `needle` first occurs in `source`.
fn position(source: &str, needle: &str) -> (usize, usize) {
    let offset = source
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in source"));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn parse_err(source: &str) -> ScenarioError {
    match parse(source, path()) {
        Ok(_) => panic!("expected an error for:\n{source}"),
        Err(error) => error,
    }
}

/// The one problem of `source`, asserting there is exactly one.
fn only_problem(source: &str) -> Problem {
    let error = parse_err(source);
    let problems = error.problems();
    assert_eq!(problems.len(), 1, "expected one problem, got {problems:#?}");
    problems[0].clone()
}

/// Asserts the only problem of `source` is at `needle`, its message
/// contains `message` and its help contains `help`.
fn assert_problem(source: &str, needle: &str, message: &str, help: &str) {
    let problem = only_problem(source);
    assert_eq!(
        (problem.line, problem.column),
        position(source, needle),
        "position of {problem:#?}"
    );
    assert!(
        problem.message.contains(message),
        "message {:?} lacks {message:?}",
        problem.message
    );
    let actual_help = problem.help.clone().unwrap_or_default();
    assert!(
        actual_help.contains(help),
        "help {actual_help:?} lacks {help:?}"
    );
}

#[test]
fn example_file_parses_to_expected_structs() -> Result<(), ScenarioError> {
    let scenario = parse(EXAMPLE, path())?;
    let expected = Scenario {
        path: PathBuf::from("scenarios/test.toml"),
        drill: Drill {
            name: "ws-half-open".into(),
            playbook: "WebSocket Connection Drops".into(),
            description: "Data stops without a FIN; the client must notice and reconnect.".into(),
            seed: 7,
            timeout: Duration::from_secs(60),
        },
        services: BTreeMap::from([(
            "hub".to_owned(),
            Service {
                name: "hub".into(),
                kind: ServiceKind::WsHub,
            },
        )]),
        proxies: BTreeMap::from([(
            "hub".to_owned(),
            ProxyDecl {
                name: "hub".into(),
                upstream: "hub".into(),
            },
        )]),
        workload: Workload::WsStream(WsStream {
            target: "hub".into(),
            clients: 4,
            send_every: ms(50),
            heartbeat: ms(200),
            pong_deadline: ms(600),
            backoff_base: ms(100),
            backoff_max: ms(1000),
            connect_timeout: ms(1000),
            max_attempts: None,
        }),
        variants: vec![
            Variant {
                name: "ws-client".into(),
                remedy: Remedy::WsClient,
                caught_by: vec![],
            },
            Variant {
                name: "naive".into(),
                remedy: Remedy::WsClientNaive,
                caught_by: vec![Check::DetectWithin],
            },
        ],
        steady: Steady {
            probe_every: ms(100),
            consecutive: 3,
            timeout: Duration::from_secs(15),
        },
        faults: vec![
            Fault {
                at: ms(1000),
                heal_after: Some(ms(3000)),
                proxy: "hub".into(),
                action: FaultAction::Toxic(Toxic {
                    name: "timeout_downstream".into(),
                    stream: Stream::Downstream,
                    toxicity: 1.0,
                    kind: ToxicKind::Timeout { timeout: 0 },
                }),
            },
            Fault {
                at: ms(6000),
                heal_after: Some(ms(2000)),
                proxy: "hub".into(),
                action: FaultAction::ProxyDown,
            },
        ],
        expect: Expect {
            detect_within: Some(ms(1000)),
            recover_within: Some(ms(1500)),
            invariants: vec![Invariant::NoMessageLoss, Invariant::AllReconnected],
            snapshot: true,
        },
    };
    assert_eq!(scenario, expected);
    assert_eq!(
        scenario.checks(),
        vec![
            Check::DetectWithin,
            Check::RecoverWithin,
            Check::Invariant(Invariant::NoMessageLoss),
            Check::Invariant(Invariant::AllReconnected),
        ]
    );
    Ok(())
}

#[test]
fn minimal_file_gets_every_default() -> Result<(), ScenarioError> {
    let scenario = parse(BASE, path())?;
    assert_eq!(scenario.drill.description, "");
    assert_eq!(scenario.drill.seed, 0);
    assert_eq!(scenario.drill.timeout, Duration::from_secs(60));
    assert_eq!(
        scenario.workload,
        Workload::WsStream(WsStream {
            target: "hub".into(),
            clients: 4,
            send_every: ms(50),
            heartbeat: ms(1000),
            pong_deadline: ms(3000),
            backoff_base: ms(100),
            backoff_max: ms(5000),
            connect_timeout: ms(2000),
            max_attempts: None,
        })
    );
    assert_eq!(scenario.steady, Steady::default());
    assert_eq!(
        scenario.expect,
        Expect {
            detect_within: Some(ms(1000)),
            recover_within: None,
            invariants: vec![],
            snapshot: true,
        }
    );
    assert_eq!(scenario.checks(), vec![Check::DetectWithin]);
    assert_eq!(scenario.variants[0].name, "ws-client");
    assert_eq!(scenario.variants[1].name, "ws-client-naive");
    assert!(scenario.variants[1].remedy.is_naive());
    Ok(())
}

#[test]
fn other_shapes_parse() -> Result<(), ScenarioError> {
    let source = edit(
        &edit(
            BASE,
            "toxic = { type = \"timeout\", attributes = { timeout = 0 } }",
            "toxic = { name = \"slow\", type = \"latency\", stream = \"upstream\", toxicity = 0.5, attributes = { latency = 300, jitter = 20 } }",
        ),
        "kind = \"ws-hub\"",
        "kind = \"ws-hub\"\n\n[services.db]\nkind = \"postgres\"\nmax_connections = 20",
    );
    let source = edit(
        &source,
        "target = \"hub\"",
        "target = \"hub\"\nmax_attempts = 7\nclients = 64",
    );
    let scenario = parse(&source, path())?;
    assert_eq!(
        scenario.faults[0].action,
        FaultAction::Toxic(Toxic {
            name: "slow".into(),
            stream: Stream::Upstream,
            toxicity: 0.5,
            kind: ToxicKind::Latency {
                latency: 300,
                jitter: 20
            },
        })
    );
    assert_eq!(
        scenario.services["db"].kind,
        ServiceKind::Postgres {
            max_connections: Some(20)
        }
    );
    let Workload::WsStream(stream) = &scenario.workload else {
        panic!("expected a ws-stream workload");
    };
    assert_eq!(stream.max_attempts, Some(7));
    assert_eq!(stream.clients, 64);
    Ok(())
}

#[test]
fn doc_example_error_position() {
    // Mirrors the example in the module docs.
    let source = r#"
[drill]
name = "ws-reset"
playbook = "WebSocket Connection Drops"

[services.hub]
kind = "ws-hub"

[proxies.hub]
upstream = "hub"

[workload]
kind = "ws-stream"
target = "hub"

[[variants]]
remedy = "ws-client"

[[faults]]
at = "1s"
proxy = "hub"
toxic = { type = "reset_peer" }
heal_after = "500ms"

[expect]
recover_within = "2s"
"#;
    let drill =
        parse(source, Path::new("scenarios/ws-reset.toml")).expect("the doc example is valid");
    assert_eq!(drill.variants[0].remedy, Remedy::WsClient);
    assert_eq!(drill.faults[0].heal_after, Some(Duration::from_millis(500)));
    assert!(
        matches!(&drill.faults[0].action, FaultAction::Toxic(t) if t.name == "reset_peer_downstream")
    );
    let error = parse(
        &source.replace("heal_after", "heal_afer"),
        Path::new("x.toml"),
    )
    .expect_err("heal_afer is unknown");
    assert_eq!(error.line_col(), Some((23, 1)));
    assert!(
        error
            .to_string()
            .starts_with("x.toml:23:1: unknown key \"heal_afer\" in [[faults]]")
    );
}

#[test]
fn display_reads_path_line_column_message() {
    let error = parse_err(&edit(BASE, "heal_after = \"3s\"", "heal_afer = \"3s\""));
    assert_eq!(
        error.to_string(),
        "scenarios/test.toml:26:1: unknown key \"heal_afer\" in [[faults]]; \
         expected one of: at, proxy, toxic, down, heal_after, service, container, leak_sessions"
    );
    assert_eq!(error.line_col(), Some((26, 1)));
    assert_eq!(error.path(), path());
}

#[test]
fn unknown_key_in_faults_suggests_the_fix() {
    assert_problem(
        &edit(BASE, "heal_after = \"3s\"", "heal_afer = \"3s\""),
        "heal_afer",
        "unknown key \"heal_afer\" in [[faults]]; expected one of: at, proxy, toxic, down, heal_after, service, container, leak_sessions",
        "did you mean `heal_after`?",
    );
}

#[test]
fn unknown_keys_are_errors_in_every_table() {
    // (text to extend, unknown key added after it, context, suggestion)
    let cases = [
        ("name = \"ws-half-open\"", "nmae", "[drill]", "name"),
        ("kind = \"ws-hub\"", "kinds", "[services.hub]", "kind"),
        (
            "upstream = \"hub\"",
            "upstraem",
            "[proxies.hub]",
            "upstream",
        ),
        ("target = \"hub\"", "heartbeet", "[workload]", "heartbeat"),
        ("remedy = \"ws-client\"\n", "nmae", "[[variants]]", "name"),
        (
            "detect_within = \"1s\"",
            "snapshots",
            "[expect]",
            "snapshot",
        ),
    ];
    for (line, key, context, suggestion) in cases {
        let source = edit(BASE, line, &format!("{}\n{key} = 1\n", line.trim_end()));
        let problem = only_problem(&source);
        assert_eq!(
            (problem.line, problem.column),
            position(&source, key),
            "{key}: {problem:#?}"
        );
        assert!(
            problem.message.starts_with(&format!(
                "unknown key {key:?} in {context}; expected one of: "
            )),
            "{problem:#?}"
        );
        assert_eq!(problem.help, Some(format!("did you mean `{suggestion}`?")));
    }
    // A whole unknown table, the [steady] table, and the toxic table.
    for (from, to, key, context, suggestion) in [
        (
            "[drill]",
            "[dril]\nname = \"x\"\n\n[drill]",
            "dril",
            "at the top level",
            "drill",
        ),
        (
            "[expect]",
            "[steady]\nprobe_evry = \"1s\"\n\n[expect]",
            "probe_evry",
            "[steady]",
            "probe_every",
        ),
        (
            "type = \"timeout\",",
            "type = \"timeout\", strem = \"upstream\",",
            "strem",
            "the toxic of [[faults]]",
            "stream",
        ),
    ] {
        let source = edit(BASE, from, to);
        let problem = only_problem(&source);
        assert_eq!(
            (problem.line, problem.column),
            position(&source, key),
            "{key}: {problem:#?}"
        );
        assert!(
            problem.message.starts_with(&format!(
                "unknown key {key:?} in {context}; expected one of: "
            )),
            "{problem:#?}"
        );
        assert_eq!(problem.help, Some(format!("did you mean `{suggestion}`?")));
    }
}

#[test]
fn unknown_key_without_close_match_lists_keys() {
    let source = edit(BASE, "[expect]", "[expect]\nbananas = 3");
    let problem = only_problem(&source);
    assert_eq!((problem.line, problem.column), (29, 1));
    assert_eq!(
        problem.message,
        "unknown key \"bananas\" in [expect]; expected one of: detect_within, recover_within, invariants, snapshot"
    );
}

#[test]
fn unknown_toxic_attribute_is_an_error() {
    let source = edit(
        BASE,
        "{ type = \"timeout\", attributes = { timeout = 0 } }",
        "{ type = \"latency\", attributes = { latncy = 100 } }",
    );
    assert_problem(
        &source,
        "latncy",
        "unknown key \"latncy\" in the attributes of a latency toxic; expected one of: latency, jitter",
        "did you mean `latency`?",
    );
}

#[test]
fn unknown_toxic_type_lists_the_valid_ones() {
    let source = edit(BASE, "type = \"timeout\"", "type = \"latncy\"");
    assert_problem(
        &source,
        "\"latncy\"",
        "unknown toxic type \"latncy\"",
        "did you mean \"latency\"?",
    );
    let problem = only_problem(&edit(BASE, "type = \"timeout\"", "type = \"latncy\""));
    assert!(problem.message.ends_with(
        "expected one of: \"latency\", \"bandwidth\", \"slow_close\", \"timeout\", \"reset_peer\", \"slicer\", \"limit_data\""
    ));
    let source = edit(BASE, "type = \"timeout\"", "type = \"chaos\"");
    assert_problem(
        &source,
        "\"chaos\"",
        "unknown toxic type \"chaos\"",
        "use one of: \"latency\",",
    );
}

#[test]
fn duration_written_in_words_is_an_error() {
    let source = edit(BASE, "at = \"1s\"", "at = \"2 seconds\"");
    assert_problem(
        &source,
        "\"2 seconds\"",
        "`at` in [[faults]]: invalid duration \"2 seconds\"",
        r#"write durations like "250ms", "2s" or "1m""#,
    );
}

#[test]
fn bad_durations_are_errors() {
    for (bad, reason) in [
        ("\"2\"", "missing unit"),
        ("\"-1s\"", "negative"),
        ("\"1h\"", "unknown unit \"h\""),
        ("60", "expected a duration string, found integer 60"),
        ("1.5", "expected a duration string, found float"),
    ] {
        let source = edit(BASE, "[drill]", &format!("[drill]\ntimeout = {bad}"));
        let problem = only_problem(&source);
        assert_eq!((problem.line, problem.column), (2, 11), "{bad}");
        assert!(
            problem.message.starts_with("`timeout` in [drill]: "),
            "{problem:#?}"
        );
        assert!(problem.message.contains(reason), "{bad}: {problem:#?}");
        assert_eq!(problem.help.as_deref(), Some(DURATION_HELP));
    }
}

#[test]
fn unknown_service_reference_names_declared_ones() {
    let source = edit(BASE, "upstream = \"hub\"", "upstream = \"hbu\"");
    assert_problem(
        &source,
        "\"hbu\"",
        "`upstream` in [proxies.hub] names no declared service: \"hbu\"",
        "did you mean \"hub\"? declared services: hub",
    );
    let source = edit(
        &edit(BASE, "upstream = \"hub\"", "upstream = \"db\""),
        "kind = \"ws-hub\"",
        "kind = \"ws-hub\"\n\n[services.cache]\nkind = \"ws-hub\"",
    );
    assert_problem(
        &source,
        "\"db\"",
        "names no declared service",
        "declared services: cache, hub",
    );
}

#[test]
fn unknown_proxy_references_name_declared_ones() {
    let source = edit(BASE, "target = \"hub\"", "target = \"gateway\"");
    assert_problem(
        &source,
        "\"gateway\"",
        "`target` in [workload] names no declared proxy: \"gateway\"",
        "declared proxies: hub",
    );
    let source = edit(BASE, "proxy = \"hub\"", "proxy = \"hbu\"");
    assert_problem(
        &source,
        "\"hbu\"",
        "`proxy` in [[faults]] names no declared proxy: \"hbu\"",
        "did you mean \"hub\"?",
    );
}

#[test]
fn targeting_a_service_directly_says_to_add_a_proxy() {
    let source = edit(
        &edit(BASE, "[proxies.hub]", "[proxies.edge]"),
        "proxy = \"hub\"",
        "proxy = \"edge\"",
    );
    // `target = "hub"` now names a service, not a proxy.
    let problem = only_problem(&source);
    assert_eq!((problem.line, problem.column), (13, 10));
    let help = problem.help.unwrap_or_default();
    assert!(
        help.contains("\"hub\" is a service; traffic must go through a proxy"),
        "{help}"
    );
    assert!(help.contains("declared proxies: edge"), "{help}");
}

#[test]
fn ws_stream_must_reach_a_ws_hub() {
    let source = edit(BASE, "kind = \"ws-hub\"", "kind = \"postgres\"");
    assert_problem(
        &source,
        "\"hub\"\n\n[[variants]]",
        "`target` in [workload]: proxy \"hub\" forwards to postgres service \"hub\"",
        "ws-stream clients need a ws-hub service",
    );
}

#[test]
fn toxic_and_down_are_exclusive() {
    let both = edit(
        BASE,
        "heal_after = \"3s\"",
        "heal_after = \"3s\"\ndown = true",
    );
    assert_problem(&both, "true", "both `toxic` and `down = true`", "keep one");

    let neither = edit(
        BASE,
        "toxic = { type = \"timeout\", attributes = { timeout = 0 } }\n",
        "",
    );
    assert_problem(
        &neither,
        "[[faults]]",
        "needs either `toxic` or `down = true`",
        "down = true",
    );

    let down_false = edit(
        BASE,
        "toxic = { type = \"timeout\", attributes = { timeout = 0 } }",
        "down = false",
    );
    assert_problem(
        &down_false,
        "false",
        "`down = false` in [[faults]] does nothing",
        "down = true",
    );
}

#[test]
fn toxic_values_are_checked() {
    let toxic = "toxic = { type = \"timeout\", attributes = { timeout = 0 } }";
    let cases = [
        (
            "toxic = { type = \"timeout\", toxicity = 1.5 }",
            "1.5",
            "toxicity must be between 0 and 1",
            "0.0 to 1.0",
        ),
        (
            "toxic = { type = \"timeout\", toxicity = -0.1 }",
            "-0.1",
            "toxicity must be between 0 and 1",
            "0.0 to 1.0",
        ),
        (
            "toxic = { type = \"bandwidth\", attributes = { rate = 0 } }",
            "0 }",
            "bandwidth toxic with rate = 0",
            "1 or more",
        ),
        (
            "toxic = { type = \"bandwidth\" }",
            "{ type",
            "bandwidth toxic with rate = 0",
            "rate = <KB/s>",
        ),
        (
            "toxic = { type = \"slicer\", attributes = { average_size = 0, delay = 10 } }",
            "0,",
            "slicer toxic with average_size = 0",
            "average_size = <bytes>",
        ),
        (
            "toxic = { type = \"slicer\", attributes = { average_size = 8, size_variation = 8 } }",
            "8 }",
            "size_variation (8) must be smaller than average_size (8)",
            "below 8",
        ),
        (
            "toxic = { type = \"latency\", attributes = { latency = \"100ms\" } }",
            "\"100ms\"",
            "toxic attribute `latency` must be a non-negative integer (milliseconds)",
            "latency = 100 means 100 milliseconds",
        ),
        (
            "toxic = { type = \"limit_data\", attributes = { bytes = -1 } }",
            "-1",
            "`bytes` must be a non-negative integer (bytes)",
            "Toxiproxy's units",
        ),
        (
            "toxic = { type = \"timeout\", stream = \"down\" }",
            "\"down\"",
            "unknown stream \"down\"",
            "\"upstream\", \"downstream\"",
        ),
        (
            "toxic = { stream = \"upstream\" }",
            "{ stream",
            "missing key \"type\" in the toxic of [[faults]]",
            "type = \"<latency | bandwidth",
        ),
    ];
    for (replacement, needle, message, help) in cases {
        assert_problem(&edit(BASE, toxic, replacement), needle, message, help);
    }
}

#[test]
fn workload_numbers_are_checked() {
    for clients in ["0", "65", "-3"] {
        let source = edit(
            BASE,
            "target = \"hub\"",
            &format!("target = \"hub\"\nclients = {clients}"),
        );
        let problem = only_problem(&source);
        assert_eq!((problem.line, problem.column), (14, 11));
        assert!(
            problem
                .message
                .contains("`clients` in [workload] must be 1..=64"),
            "{problem:#?}"
        );
        assert!(problem.help.unwrap_or_default().contains("from 1 to 64"));
    }
    let source = edit(
        BASE,
        "target = \"hub\"",
        "target = \"hub\"\nmax_attempts = -1",
    );
    assert_problem(
        &source,
        "-1",
        "`max_attempts` in [workload] is out of range",
        "0 for unbounded",
    );
}

#[test]
fn backoff_base_above_max_is_an_error() {
    let source = edit(
        BASE,
        "target = \"hub\"",
        "target = \"hub\"\nbackoff_base = \"2s\"\nbackoff_max = \"1s\"",
    );
    assert_problem(
        &source,
        "\"1s\"\n",
        "`backoff_base` (2s) is greater than `backoff_max` (1s)",
        "raise backoff_max to at least 2s",
    );
    // Against the default backoff_max (5s), the span is on backoff_base.
    let source = edit(
        BASE,
        "target = \"hub\"",
        "target = \"hub\"\nbackoff_base = \"10s\"",
    );
    assert_problem(
        &source,
        "\"10s\"",
        "(10s) is greater than `backoff_max` (5s)",
        "at least 10s",
    );
}

#[test]
fn zero_intervals_are_errors() {
    for (table, key) in [
        ("[workload]", "pong_deadline"),
        ("[workload]", "heartbeat"),
        ("[workload]", "send_every"),
        ("[workload]", "connect_timeout"),
        ("[workload]", "backoff_base"),
        ("[steady]", "probe_every"),
        ("[steady]", "timeout"),
        ("[drill]", "timeout"),
    ] {
        let source = if table == "[steady]" {
            edit(
                BASE,
                "[expect]",
                &format!("[steady]\n{key} = \"0ms\"\n\n[expect]"),
            )
        } else {
            edit(BASE, table, &format!("{table}\n{key} = \"0s\""))
        };
        let problem = only_problem(&source);
        assert_eq!(
            (problem.line, problem.column),
            position(&source, "\"0"),
            "{key}"
        );
        assert_eq!(
            problem.message,
            format!("`{key}` in {table} must be greater than 0")
        );
        assert!(
            problem
                .help
                .unwrap_or_default()
                .starts_with("use a positive duration (default ")
        );
    }
}

#[test]
fn zero_bounds_and_consecutive_are_errors() {
    let source = edit(BASE, "detect_within = \"1s\"", "detect_within = \"0s\"");
    assert_problem(
        &source,
        "\"0s\"",
        "`detect_within` in [expect] must be greater than 0",
        "positive duration",
    );
    let source = edit(
        BASE,
        "detect_within = \"1s\"",
        "detect_within = \"1s\"\nrecover_within = \"0ms\"",
    );
    assert_problem(
        &source,
        "\"0ms\"",
        "`recover_within` in [expect] must be greater than 0",
        "positive duration",
    );
    let source = edit(BASE, "[expect]", "[steady]\nconsecutive = 0\n\n[expect]");
    assert_problem(
        &source,
        "0\n",
        "`consecutive` in [steady] must be at least 1",
        "1 or more",
    );
    let source = edit(BASE, "heal_after = \"3s\"", "heal_after = \"0s\"");
    assert_problem(
        &source,
        "\"0s\"",
        "`heal_after` in [[faults]] must be greater than 0",
        "positive duration",
    );
}

#[test]
fn caught_by_an_undeclared_check_is_impossible() {
    let source = edit(
        BASE,
        "caught_by = [\"detect_within\"]",
        "caught_by = [\"detect_within\", \"no-message-loss\"]",
    );
    assert_problem(
        &source,
        "\"no-message-loss\"",
        "caught_by \"no-message-loss\" is impossible: the check is not measured",
        "add \"no-message-loss\" to invariants in [expect], or remove it from caught_by",
    );
    let source = edit(
        BASE,
        "caught_by = [\"detect_within\"]",
        "caught_by = [\"recover_within\"]",
    );
    assert_problem(
        &source,
        "\"recover_within\"",
        "impossible",
        "add recover_within = \"2s\" to [expect]",
    );
    let source = edit(
        BASE,
        "caught_by = [\"detect_within\"]",
        "caught_by = [\"detect_withn\"]",
    );
    assert_problem(
        &source,
        "\"detect_withn\"",
        "unknown check \"detect_withn\"",
        "did you mean \"detect_within\"?",
    );
}

#[test]
fn fault_past_the_drill_timeout_is_an_error() {
    let source = edit(BASE, "[drill]", "[drill]\ntimeout = \"3s\"");
    assert_problem(
        &source,
        "\"3s\"\n\n[expect]",
        "fault ends after the drill timeout: at + heal_after = 4s, but [drill] timeout = 3s",
        "raise timeout in [drill] to more than 4s",
    );
    // Without heal_after, a fault starting after the timeout is caught at `at`.
    let source = edit(
        &edit(BASE, "at = \"1s\"", "at = \"2m\""),
        "heal_after = \"3s\"\n",
        "",
    );
    assert_problem(
        &source,
        "\"2m\"",
        "fault starts after the drill timeout: at = 2m, but [drill] timeout = 1m",
        "more than 2m",
    );
}

#[test]
fn duplicate_variant_names_are_errors() {
    let source = edit(
        BASE,
        "remedy = \"ws-client-naive\"",
        "remedy = \"ws-client\"",
    );
    let problem = only_problem(&source);
    assert_eq!((problem.line, problem.column), (19, 10));
    assert_eq!(problem.message, "duplicate variant name \"ws-client\"");
    assert!(
        problem
            .help
            .unwrap_or_default()
            .contains("defaults to its remedy; add name")
    );

    let source = edit(
        &edit(
            BASE,
            "remedy = \"ws-client\"\n",
            "name = \"same\"\nremedy = \"ws-client\"\n",
        ),
        "remedy = \"ws-client-naive\"",
        "name = \"same\"\nremedy = \"ws-client-naive\"",
    );
    let problem = only_problem(&source);
    assert_eq!((problem.line, problem.column), (20, 8));
    assert_eq!(
        problem.help.as_deref(),
        Some("give each variant a distinct name")
    );
}

#[test]
fn no_variants_or_faults_are_errors() {
    let no_variants = edit(
        BASE,
        "[[variants]]\nremedy = \"ws-client\"\n\n[[variants]]\nremedy = \"ws-client-naive\"\ncaught_by = [\"detect_within\"]\n",
        "",
    );
    let problem = only_problem(&no_variants);
    assert_eq!((problem.line, problem.column), (1, 1));
    assert_eq!(problem.message, "the scenario has no [[variants]]");
    assert!(
        problem
            .help
            .unwrap_or_default()
            .contains("remedy = \"ws-client\"")
    );

    let empty = edit(&no_variants, "[drill]", "variants = []\n\n[drill]");
    assert_problem(
        &empty,
        "[]",
        "the scenario has no [[variants]]",
        "add at least one variant",
    );

    let no_faults = edit(
        BASE,
        "[[faults]]\nat = \"1s\"\nproxy = \"hub\"\ntoxic = { type = \"timeout\", attributes = { timeout = 0 } }\nheal_after = \"3s\"\n",
        "",
    );
    let problem = only_problem(&no_faults);
    assert_eq!((problem.line, problem.column), (1, 1));
    assert_eq!(problem.message, "the scenario has no [[faults]]");
}

#[test]
fn unknown_names_list_the_valid_ones() {
    let source = edit(
        BASE,
        "detect_within = \"1s\"",
        "detect_within = \"1s\"\ninvariants = [\"no-mesage-loss\"]",
    );
    assert_problem(
        &source,
        "\"no-mesage-loss\"",
        "unknown invariant \"no-mesage-loss\" in [expect] invariants",
        "did you mean \"no-message-loss\"?",
    );
    let source = edit(BASE, "remedy = \"ws-client\"\n", "remedy = \"ws-clinet\"\n");
    assert_problem(
        &source,
        "\"ws-clinet\"",
        "unknown remedy \"ws-clinet\"",
        "did you mean \"ws-client\"?",
    );
    let source = edit(BASE, "kind = \"ws-hub\"", "kind = \"redis\"");
    assert_problem(
        &source,
        "\"redis\"",
        "unknown service kind \"redis\"",
        "\"ws-hub\", \"postgres\"",
    );
    let source = edit(BASE, "kind = \"ws-stream\"", "kind = \"http\"");
    assert_problem(
        &source,
        "\"http\"",
        "unknown workload kind \"http\"",
        "\"ws-stream\"",
    );
}

#[test]
fn service_and_drill_names_are_checked() {
    let source = edit(
        BASE,
        "kind = \"ws-hub\"",
        "kind = \"ws-hub\"\nmax_connections = 5",
    );
    assert_problem(
        &source,
        "5",
        "applies only to postgres services",
        "kind = \"postgres\"",
    );
    let source = edit(
        BASE,
        "kind = \"ws-hub\"",
        "kind = \"ws-hub\"\n\n[services.db]\nkind = \"postgres\"\nmax_connections = 0",
    );
    assert_problem(
        &source,
        "0",
        "`max_connections` in [services.db] must be at least 1",
        "1 or more",
    );
    let source = edit(BASE, "name = \"ws-half-open\"", "name = \"WS Half_Open\"");
    assert_problem(
        &source,
        "\"WS",
        "drill name \"WS Half_Open\" may use only",
        "name = \"ws-half-open\"",
    );
    let source = edit(
        BASE,
        "[proxies.hub]",
        "[proxies.\"Hub Proxy\"]\nupstream = \"hub\"\n\n[proxies.hub]",
    );
    assert_problem(
        &source,
        "[proxies.\"Hub",
        "proxy name \"Hub Proxy\" may use only",
        "\"hub-proxy\"",
    );
}

#[test]
fn missing_required_keys_name_key_and_table() {
    let cases = [
        (
            "playbook = \"WebSocket Connection Drops\"\n",
            "[drill]",
            "missing key \"playbook\" in [drill]",
            "add playbook =",
        ),
        (
            "target = \"hub\"\n",
            "[workload]",
            "missing key \"target\" in [workload]",
            "add target = \"<proxy>\" (declared proxies: hub)",
        ),
        (
            "at = \"1s\"\n",
            "[[faults]]",
            "missing key \"at\" in [[faults]]",
            "add at = \"1s\"",
        ),
        (
            "proxy = \"hub\"\n",
            "[[faults]]",
            "missing key \"proxy\" in [[faults]]",
            "add proxy =",
        ),
        (
            "kind = \"ws-hub\"\n",
            "[services.hub]",
            "missing key \"kind\" in [services.hub]",
            "kind = \"postgres\"",
        ),
        (
            "upstream = \"hub\"\n",
            "[proxies.hub]",
            "missing key \"upstream\" in [proxies.hub]",
            "declared services: hub",
        ),
        (
            "remedy = \"ws-client\"\n",
            "[[variants]]\n\n",
            "missing key \"remedy\" in [[variants]]",
            "remedy = \"ws-client\"",
        ),
    ];
    for (line, table, message, help) in cases {
        assert_problem(&edit(BASE, line, ""), table, message, help);
    }
    let source = edit(
        BASE,
        "[drill]\nname = \"ws-half-open\"\nplaybook = \"WebSocket Connection Drops\"\n",
        "",
    );
    assert_problem(
        &source,
        "\n",
        "missing table [drill]",
        "add a [drill] table",
    );
}

#[test]
fn wrong_toml_type_names_the_key() {
    let source = edit(
        BASE,
        "target = \"hub\"",
        "target = \"hub\"\nclients = \"four\"",
    );
    let problem = only_problem(&source);
    assert_eq!((problem.line, problem.column), (14, 11));
    assert!(
        problem
            .message
            .starts_with("`workload.clients`: invalid type: string \"four\", expected an integer"),
        "{problem:#?}"
    );
    assert_eq!(
        problem.help.as_deref(),
        Some("write a whole number, without quotes")
    );

    let source = edit(
        BASE,
        "caught_by = [\"detect_within\"]",
        "caught_by = \"detect_within\"",
    );
    let problem = only_problem(&source);
    assert!(
        problem
            .message
            .starts_with("`variants[1].caught_by`: invalid type"),
        "{problem:#?}"
    );
}

#[test]
fn toml_syntax_error_is_located() {
    let source = edit(BASE, "at = \"1s\"", "at = \"1s");
    let error = parse_err(&source);
    assert_eq!(error.problems().len(), 1);
    assert_eq!(error.line_col().map(|(line, _)| line), Some(23));
    assert!(
        error.to_string().starts_with("scenarios/test.toml:23:"),
        "{error}"
    );
    assert!(error.to_string().contains("invalid TOML"), "{error}");
}

#[test]
fn several_problems_are_reported_together() {
    let source = edit(
        &edit(
            &edit(BASE, "heal_after = \"3s\"", "heal_afer = \"3s\""),
            "upstream = \"hub\"",
            "upstream = \"nowhere\"",
        ),
        "detect_within = \"1s\"",
        "detect_within = \"2 seconds\"",
    );
    let error = parse_err(&source);
    let found: Vec<(usize, usize)> = error
        .problems()
        .iter()
        .map(|p| (p.line, p.column))
        .collect();
    // In file order, unknown keys (pass 1) mixed with value problems (pass 3).
    assert_eq!(found, vec![(9, 12), (26, 1), (29, 17)]);
    assert_eq!(error.line_col(), Some((9, 12)));
    assert!(
        error.to_string().ends_with(" (and 2 more problems)"),
        "{error}"
    );
    let related = miette::Diagnostic::related(&error).map_or(0, |r| r.count());
    assert_eq!(related, 2);
}

#[test]
fn overlapping_toxics_with_one_name_are_errors() {
    let source = edit(
        BASE,
        "[expect]",
        "[[faults]]\nat = \"2s\"\nproxy = \"hub\"\ntoxic = { type = \"timeout\" }\n\n[expect]",
    );
    let problem = only_problem(&source);
    assert_eq!((problem.line, problem.column), (31, 9));
    assert!(
        problem
            .message
            .contains("adds toxic \"timeout_downstream\" while an earlier"),
        "{problem:#?}"
    );
    // Healed before the second starts: fine.
    let later = edit(&source, "at = \"2s\"", "at = \"4s\"");
    assert!(parse(&later, path()).is_ok());
    // Two `down` faults at once; a toxic named "down" is not one of them.
    let downs = edit(
        &edit(
            BASE,
            "toxic = { type = \"timeout\", attributes = { timeout = 0 } }",
            "down = true",
        ),
        "[expect]",
        "[[faults]]\nat = \"2s\"\nproxy = \"hub\"\ndown = true\n\n[expect]",
    );
    let problem = only_problem(&downs);
    assert_eq!((problem.line, problem.column), (31, 8));
    assert!(
        problem
            .message
            .contains("takes the proxy down while an earlier `down` fault"),
        "{problem:#?}"
    );
    let named_down = edit(
        &downs,
        "down = true\nheal_after",
        "toxic = { name = \"down\", type = \"timeout\" }\nheal_after",
    );
    assert!(parse(&named_down, path()).is_ok());
}

#[test]
fn every_prefix_of_a_valid_file_parses_or_errors() {
    let mut outcomes = (0, 0);
    for (end, _) in EXAMPLE.char_indices() {
        let prefix = &EXAMPLE[..end];
        match parse(prefix, path()) {
            Ok(_) => outcomes.0 += 1,
            Err(error) => {
                outcomes.1 += 1;
                let (line, column) = error.line_col().unwrap_or((0, 0));
                assert!(line >= 1 && column >= 1, "{error}");
                assert!(line <= prefix.matches('\n').count() + 1, "{error}");
            }
        }
    }
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "{outcomes:?}");
}

#[test]
fn garbage_never_panics() {
    let mut inputs: Vec<String> = [
        "",
        "\u{0}",
        "[",
        "[[",
        "]]",
        "=",
        "a = ",
        "[drill",
        "[[faults]]\n[faults]",
        "faults = 3",
        "services = 1",
        "services.hub = 1",
        "proxies.x.upstream = []",
        "variants = [1, 2]",
        "[[faults]]\ntoxic = 5",
        "[[faults]]\ntoxic = { attributes = 3, type = \"latency\" }",
        "[[faults]]\ntoxic = { type = 3 }",
        "[[faults]]\nat = { x = 1 }",
        "\u{feff}[drill]",
        "[drill]\nseed = 9223372036854775807",
        "[drill]\nseed = 99999999999999999999",
        "[expect]\ninvariants = [[]]",
        "[drill]\ntimeout = \"99999999999999999999999m\"",
        "[[faults]]\nat = \"1s\"\nheal_after = \"307445734561825860m\"",
        "[[faults]]\ntoxic = { type = \"latency\", toxicity = nan }",
        "[[faults]]\ntoxic = { type = \"latency\", toxicity = inf }",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Deterministic byte-level mutations of the example (a tiny LCG).
    let mut state: u64 = 0x5eed;
    let bytes = EXAMPLE.as_bytes();
    for _ in 0..300 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut mutated = bytes.to_vec();
        let at = usize::try_from(state >> 33).unwrap_or(0) % mutated.len();
        let byte = [b'"', b'=', b'[', b']', b'\n', b'{', b'x', b'0', b'-', b'.']
            [usize::from((state >> 8) as u8 % 10)];
        mutated[at] = byte;
        inputs.push(String::from_utf8_lossy(&mutated).into_owned());
    }
    for input in inputs {
        if let Err(error) = parse(&input, path()) {
            assert!(error.line_col().is_some());
            assert!(!error.problems().is_empty());
            // Rendering must not panic either.
            let mut out = String::new();
            let _ = miette::GraphicalReportHandler::new_themed(
                miette::GraphicalTheme::unicode_nocolor(),
            )
            .render_report(&mut out, &error);
        }
    }
}

#[test]
fn rendered_report_snapshot() {
    let source = edit(
        &edit(BASE, "heal_after = \"3s\"", "heal_afer = \"3s\""),
        "caught_by = [\"detect_within\"]",
        "caught_by = [\"recover_within\"]",
    );
    let error = parse_err(&source);
    let mut rendered = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut rendered, &error)
        .expect("rendering into a String cannot fail");
    insta::assert_snapshot!(rendered);
}

#[test]
fn load_reads_files_and_names_the_path_on_io_errors() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("drill.toml");
    std::fs::write(&file, BASE)?;
    assert_eq!(load(&file)?.path, file);

    let missing = dir.path().join("missing.toml");
    let error = load(&missing).expect_err("missing file");
    assert!(matches!(error, ScenarioError::Io { .. }));
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );
    assert_eq!(error.line_col(), None);
    Ok(())
}

#[test]
fn discover_lists_toml_files_sorted_not_recursive() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    for name in ["b.toml", "a.toml", "notes.txt"] {
        std::fs::write(dir.path().join(name), "")?;
    }
    std::fs::create_dir(dir.path().join("nested"))?;
    std::fs::write(dir.path().join("nested/c.toml"), "")?;
    std::fs::create_dir(dir.path().join("dir.toml"))?;

    let found = discover(dir.path())?;
    assert_eq!(
        found,
        vec![dir.path().join("a.toml"), dir.path().join("b.toml")]
    );
    let single = dir.path().join("notes.txt");
    assert_eq!(discover(&single)?, vec![single]);
    let error = discover(&dir.path().join("absent")).expect_err("absent path");
    assert!(error.to_string().contains("absent"), "{error}");
    Ok(())
}

#[test]
fn names_display_as_in_the_file() {
    assert_eq!(Remedy::WsClientNaive.to_string(), "ws-client-naive");
    assert_eq!(Remedy::WsClient.as_str(), "ws-client");
    assert!(!Remedy::WsClient.is_naive());
    assert_eq!(Check::DetectWithin.to_string(), "detect_within");
    assert_eq!(Check::RecoverWithin.to_string(), "recover_within");
    assert_eq!(
        Check::Invariant(Invariant::AllReconnected).to_string(),
        "all-reconnected"
    );
    assert_eq!(Invariant::NoMessageLoss.as_str(), "no-message-loss");
    for remedy in [Remedy::WsClient, Remedy::WsClientNaive] {
        assert_eq!(remedy.workload_kind(), WsStream::KIND);
    }
}

#[test]
fn raw_key_lists_come_from_the_raw_structs() {
    assert_eq!(
        raw::keys_of::<raw::RawFault>(),
        &[
            "at",
            "proxy",
            "toxic",
            "down",
            "heal_after",
            "service",
            "container",
            "leak_sessions"
        ]
    );
    assert_eq!(
        raw::keys_of::<raw::RawToxic>(),
        &["type", "name", "stream", "toxicity", "attributes"]
    );
}

#[test]
fn toxic_attribute_lists_match_the_toxic_model() -> Result<(), serde_json::Error> {
    for (kind, attributes) in raw::TOXIC_TYPES {
        let values: serde_json::Map<String, serde_json::Value> = attributes
            .iter()
            .map(|a| ((*a).to_owned(), serde_json::json!(1)))
            .collect();
        let toxic: ToxicKind =
            serde_json::from_value(serde_json::json!({"type": kind, "attributes": values}))?;
        assert_eq!(toxic.type_name(), *kind);
        let back = serde_json::to_value(&toxic)?;
        let keys: Vec<&str> = back["attributes"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut expected: Vec<&str> = attributes.to_vec();
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected, "{kind}");
    }
    Ok(())
}
