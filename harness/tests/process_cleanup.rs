//! The harness's own teardown: orphans a naive supervisor leaves behind are
//! found, reported and killed, and after a process drill no process of it
//! remains — alive or zombie.
//!
//! The fixture programs must be built next to firedrill (`cargo test
//! --workspace` does it; or `cargo build -p firedrill-fixtures`).

use std::path::{Path, PathBuf};

use firedrill::engine::{Engine, EngineConfig};

fn tagged_processes() -> Vec<(i32, char)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|v| v.starts_with(b"FIREDRILL_DRILL=supervisor-sigkilled."))
            })
        })
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some((pid, state))
        })
        .collect()
}

fn zombie_children_of_this_process() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                .filter(|stat| {
                    let fields: Vec<&str> = stat
                        .rsplit_once(')')
                        .map(|(_, rest)| rest.split_whitespace().collect())
                        .unwrap_or_default();
                    fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn orphans_of_a_killed_naive_supervisor_are_reported_then_cleaned_up() -> anyhow::Result<()> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/supervisor-sigkilled.toml");
    let scenario = firedrill::scenario::load(&file)?;
    let engine = Engine::new(EngineConfig::new(PathBuf::from(env!(
        "CARGO_BIN_EXE_firedrill"
    ))));
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(engine.run_drill(&scenario, Default::default()));
    assert!(report.passed(), "{}", report.failure_summary());

    let naive = report
        .variants
        .iter()
        .find(|v| v.name == "naive")
        .ok_or_else(|| anyhow::anyhow!("no naive variant"))?;
    let cleanup = naive
        .diagnostics
        .as_ref()
        .and_then(|d| d.process.as_ref())
        .and_then(|p| p.harness_cleanup.as_ref())
        .ok_or_else(|| anyhow::anyhow!("the naive run left nothing for the teardown"))?;
    // They existed before the clean-up: agents, grandchildren and daemons.
    for role in ["agent", "grandchild", "daemon"] {
        assert!(
            cleanup.left_behind.get(role).is_some_and(|n| *n > 0),
            "{cleanup:?}"
        );
    }
    assert!(cleanup.all_cleaned, "{cleanup:?}");
    // The hardened variant left nothing for the teardown.
    let hardened = report
        .variants
        .iter()
        .find(|v| v.name == "hardened")
        .and_then(|v| v.diagnostics.as_ref())
        .and_then(|d| d.process.as_ref());
    assert!(
        hardened.is_some_and(|p| p.harness_cleanup.is_none()),
        "{hardened:?}"
    );

    // And after the drill: nothing of it in /proc, not even a zombie.
    assert_eq!(tagged_processes(), Vec::new());
    assert_eq!(zombie_children_of_this_process(), 0);
    Ok(())
}
