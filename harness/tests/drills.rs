//! Every `scenarios/*.toml` file is its own test, run against real containers:
//! `cargo test --test drills -- ws-half-open` runs one.
//!
//! A drill passes when its hardened variants pass every bound and its naive
//! variants fail for their documented reason; then each variant's
//! diagnostics are compared with the insta snapshot in `tests/snapshots/`.
//!
//! Each drill's journal entry (every measured figure and event) is written to
//! `target/tmp/drills/<drill>.json`: when a drill or a snapshot fails, it
//! says what the run saw.
//!
//! libtest-mimic (what datatest-stable builds on) is used directly so this
//! binary owns `main`: it installs the SIGINT/SIGTERM handler that removes
//! this process's containers before anything starts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use firedrill::engine::{Engine, EngineConfig};
use libtest_mimic::{Arguments, Failed, Trial};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let files = match firedrill::scenario::discover(&scenarios_dir()) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("{:?}", miette::Report::new(error));
            return ExitCode::FAILURE;
        }
    };
    firedrill::services::remove_containers_on_interrupt();
    let trials = files
        .into_iter()
        .map(|file| {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.display().to_string());
            Trial::test(name, move || run_drill(&file))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

fn run_drill(file: &Path) -> Result<(), Failed> {
    let scenario =
        firedrill::scenario::load(file).map_err(|e| format!("{:?}", miette::Report::new(e)))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let engine = Engine::new(EngineConfig::new(PathBuf::from(env!(
        "CARGO_BIN_EXE_firedrill"
    ))));
    let report = runtime.block_on(engine.run_drill(&scenario, Default::default()));
    let journals = Path::new(env!("CARGO_TARGET_TMPDIR")).join("drills");
    let journal = journals.join(format!("{}.json", scenario.drill.name));
    std::fs::create_dir_all(&journals)?;
    std::fs::write(&journal, serde_json::to_vec_pretty(&report)?)?;
    if !report.passed() {
        return Err(report.failure_summary().into());
    }
    if scenario.expect.snapshot {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        for variant in &report.variants {
            let name = format!("{}__{}", scenario.drill.name, variant.name);
            let compared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                settings.bind(|| insta::assert_json_snapshot!(name.as_str(), variant.diagnostics));
            }));
            if compared.is_err() {
                return Err(format!(
                    "the diagnostics of {name} differ from tests/snapshots/{name}.snap (diff above); what the run measured: {}",
                    journal.display()
                )
                .into());
            }
        }
    }
    Ok(())
}
