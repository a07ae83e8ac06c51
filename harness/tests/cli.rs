//! The `firedrill` binary as a user meets it: bad scenario files, a missing
//! Docker daemon or image, reports, and Ctrl-C in the middle of a drill.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn firedrill() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firedrill"));
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    cmd.stdin(Stdio::null());
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A valid scenario to mutate, from the repository.
fn valid_scenario() -> Result<String, std::io::Error> {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/ws-proxy-down.toml"),
    )
}

fn check_file(
    content: &str,
) -> Result<(Output, PathBuf, tempfile::TempDir), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, content)?;
    let output = firedrill()
        .arg("check")
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()?;
    Ok((output, path, dir))
}

/// Line (1-based) of the first line containing `needle`.
fn line_of(content: &str, needle: &str) -> usize {
    content
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or(0)
}

#[test]
fn an_unknown_key_is_named_with_its_place_and_the_fix() -> TestResult {
    let content = valid_scenario()?.replace("heal_after = \"2s\"", "heal_afer = \"2s\"");
    let (output, path, _dir) = check_file(&content)?;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let place = format!("{}:{}:1", path.display(), line_of(&content, "heal_afer"));
    assert!(stderr.contains(&place), "expected {place} in:\n{stderr}");
    assert!(stderr.contains("heal_after"), "no fix offered:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    Ok(())
}

#[test]
fn a_duration_in_words_is_an_error_with_the_accepted_forms() -> TestResult {
    let content = valid_scenario()?.replace("heal_after = \"2s\"", "heal_after = \"2 seconds\"");
    let (output, path, _dir) = check_file(&content)?;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let place = format!("{}:{}:14", path.display(), line_of(&content, "2 seconds"));
    assert!(stderr.contains(&place), "expected {place} in:\n{stderr}");
    assert!(
        stderr.contains("\"250ms\""),
        "no accepted form shown:\n{stderr}"
    );
    Ok(())
}

#[test]
fn a_toxic_on_an_undeclared_proxy_names_the_declared_ones() -> TestResult {
    let content = valid_scenario()?.replace(
        "proxy = \"hub\"\ndown = true",
        "proxy = \"db\"\ndown = true",
    );
    assert!(
        content.contains("proxy = \"db\""),
        "test set-up: replacement missed"
    );
    let (output, path, _dir) = check_file(&content)?;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let place = format!(
        "{}:{}:",
        path.display(),
        line_of(&content, "proxy = \"db\"")
    );
    assert!(stderr.contains(&place), "expected {place} in:\n{stderr}");
    assert!(
        stderr.contains("hub"),
        "declared proxies not named:\n{stderr}"
    );
    Ok(())
}

#[test]
fn every_shipped_scenario_is_valid_and_listed() -> TestResult {
    let output = firedrill().args(["check", "scenarios"]).output()?;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let listed = firedrill().args(["list"]).output()?;
    let stdout = text(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"))? {
        let name = entry?
            .path()
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        assert!(stdout.contains(&name), "{name} not listed:\n{stdout}");
    }
    assert!(stdout.contains("WebSocket Connection Drops"), "{stdout}");
    Ok(())
}

#[test]
fn a_missing_docker_daemon_names_the_set_up_command() -> TestResult {
    let reports = tempfile::tempdir()?;
    let output = firedrill()
        .args(["run", "scenarios/ws-proxy-down.toml", "--reports"])
        .arg(reports.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()?;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("Docker is not running"), "{stderr}");
    assert!(stderr.contains("./fixtures/setup.sh"), "{stderr}");
    Ok(())
}

#[test]
fn a_missing_image_names_the_set_up_command() -> TestResult {
    let reports = tempfile::tempdir()?;
    let output = firedrill()
        .args(["run", "scenarios/ws-proxy-down.toml", "--reports"])
        .arg(reports.path())
        .env("FIREDRILL_RUNNER_IMAGE", "firedrill/no-such-image:0")
        .output()?;
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(3), "{all}");
    assert!(
        all.contains("image firedrill/no-such-image:0 is missing"),
        "{all}"
    );
    assert!(all.contains("./fixtures/setup.sh"), "{all}");
    Ok(())
}

/// Containers labelled as started by `pid`.
fn containers_of(pid: u32) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let output = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=org.firedrill.owner={pid}"),
        ])
        .output()?;
    Ok(text(&output.stdout).lines().map(str::to_owned).collect())
}

#[test]
fn a_run_writes_reports_and_leaves_no_container() -> TestResult {
    let reports = tempfile::tempdir()?;
    let child = firedrill()
        .args(["run", "scenarios/ws-proxy-down.toml", "--reports"])
        .arg(reports.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let output = child.wait_with_output()?;
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("ws-proxy-down"), "{stdout}");
    assert!(
        stdout.contains("teeth: 1 of 1 naive variants caught"),
        "{stdout}"
    );
    let journal: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        reports.path().join("journal.json"),
    )?)?;
    let variants = &journal["drills"][0]["variants"];
    assert_eq!(variants[0]["outcome"], "passed", "{journal:#}");
    assert_eq!(variants[1]["outcome"], "caught", "{journal:#}");
    assert!(variants[0]["measurements"]["time_to_recover"].is_number());
    let junit = std::fs::read_to_string(reports.path().join("junit.xml"))?;
    assert!(
        junit.contains("<testsuite name=\"ws-proxy-down\""),
        "{junit}"
    );
    assert_eq!(containers_of(pid)?, Vec::<String>::new());
    Ok(())
}

#[test]
fn ctrl_c_during_a_drill_removes_its_containers() -> TestResult {
    let reports = tempfile::tempdir()?;
    let mut child = firedrill()
        .args([
            "run",
            "scenarios/ws-outage-beyond-retry-budget.toml",
            "--reports",
        ])
        .arg(reports.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while containers_of(pid)?.is_empty() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            return Err("the drill never started a container".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the drill get going, then interrupt it like a person would.
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()?;
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait()? {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("firedrill did not stop within 30 s of SIGINT".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit.code(), Some(130));
    assert_eq!(containers_of(pid)?, Vec::<String>::new());
    Ok(())
}
