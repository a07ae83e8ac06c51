//! The command line: argument definitions and what each command does.
//! `main.rs` only parses and calls [`run`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::{Engine, EngineConfig, Progress};
use crate::scenario::{self, Scenario};
use crate::services::{self, docker};

/// Exit code: a drill did not end as its scenario expects.
pub const EXIT_DRILL_FAILED: u8 = 1;
/// Exit code: bad input (a malformed scenario file, bad arguments).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: the environment is not ready (Docker, images, files).
pub const EXIT_ENVIRONMENT: u8 = 3;

/// Chaos drills for AI-agent systems, from the production debugging playbook.
///
/// Each scenario file in scenarios/ reproduces one playbook failure against
/// real services in Docker containers, reached through firedrill's fault
/// proxy; the playbook's remedy must detect and recover within the file's
/// bounds, and its naive variant must be caught for its documented weakness.
///
/// First time on this machine: `./fixtures/setup.sh` (as root) installs Docker,
/// starts it and builds the local images.
#[derive(Debug, Parser)]
#[command(name = "firedrill", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run drills and write reports (JUnit XML, JSON journal) under reports/.
    ///
    /// Exit codes: 0 every drill ended as expected, 1 a drill did not,
    /// 2 a scenario file is malformed, 3 Docker or an image is missing.
    Run {
        /// Scenario files or directories of them.
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
        /// Only drills whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Replace every drill's seed (printed on failure, to replay a run).
        #[arg(long)]
        seed: Option<u64>,
        /// Where reports go.
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
    },
    /// List drills with the playbook entry each reproduces.
    List {
        /// Scenario files or directories of them.
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
    },
    /// Validate scenario files without running them.
    Check {
        /// Scenario files or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Remove containers left behind by firedrill runs that were killed.
    Clean {
        /// Remove every firedrill container, also those of live runs.
        #[arg(long)]
        all: bool,
    },
    /// Run the WebSocket hub (this is what runs inside the hub container).
    Hub {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// The fault proxy on its own, driven by Toxiproxy's HTTP API.
    Proxy {
        /// What to do.
        #[command(subcommand)]
        command: ProxyCommand,
    },
}

/// `firedrill proxy` commands.
#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Serve Toxiproxy's HTTP API (any Toxiproxy client can drive it) until
    /// Ctrl-C or SIGTERM.
    ///
    /// Exit codes: 0 stopped by a signal, 2 a bad config file, 3 an address
    /// cannot be bound.
    Serve {
        /// Address of the API (`host:port`); `0.0.0.0:8474` to reach it from
        /// other hosts or containers.
        #[arg(long, default_value = crate::faults::api::DEFAULT_API_LISTEN)]
        listen: String,
        /// Proxies (and their toxics) to create at start: Toxiproxy's
        /// populate JSON, or `.toml` with `[[proxies]]` tables.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed of every random choice the proxies make (jitter, which
        /// connections a toxic with `toxicity` < 1 applies to): the same
        /// seed and traffic give the same choices.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIREDRILL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("firedrill: failed to start the async runtime: {error}");
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Run {
                paths,
                filter,
                seed,
                reports,
            } => run_drills(&paths, filter.as_deref(), seed, &reports).await,
            Command::List { paths } => list(&paths),
            Command::Check { paths } => check(&paths),
            Command::Clean { all } => clean(all).await,
            Command::Hub { listen } => match crate::hub::run(listen).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("firedrill hub: {error}");
                    ExitCode::from(EXIT_ENVIRONMENT)
                }
            },
            Command::Proxy {
                command:
                    ProxyCommand::Serve {
                        listen,
                        config,
                        seed,
                    },
            } => proxy_serve(&listen, config.as_deref(), seed).await,
        }
    })
}

/// `firedrill proxy serve`: loads the config, binds the API, creates the
/// proxies, prints `firedrill proxy ready: API on http://ADDR (N proxies)`
/// and serves until SIGINT or SIGTERM.
async fn proxy_serve(listen: &str, config: Option<&Path>, seed: u64) -> ExitCode {
    use crate::faults::api::{self, ProxyServer};
    let specs = match config.map(api::load_config).transpose() {
        Ok(specs) => specs.unwrap_or_default(),
        Err(error) => {
            eprintln!("firedrill proxy: {error}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("firedrill proxy: failed to listen on {listen}: {error}");
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr.to_string(),
        Err(_) => listen.to_owned(),
    };
    let server = ProxyServer::new(seed);
    let count = specs.len();
    if let Err(error) = server.populate(specs).await {
        eprintln!("firedrill proxy: failed to create the proxies of the config: {error}");
        let code = if matches!(error, api::ApiError::Listen { .. }) {
            EXIT_ENVIRONMENT
        } else {
            EXIT_BAD_INPUT
        };
        return ExitCode::from(code);
    }
    println!("firedrill proxy ready: API on http://{addr} ({count} proxies)");
    match api::serve(listener, server, stop_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("firedrill proxy: failed to serve the API: {error}");
            ExitCode::from(EXIT_ENVIRONMENT)
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (`docker stop`).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            tracing::warn!("failed to install signal handlers; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Loads every scenario under `paths`; prints each error (file:line:column
/// and the fix) and returns `None` if any file is bad.
fn load_all(paths: &[PathBuf]) -> Option<Vec<Scenario>> {
    let mut files = Vec::new();
    let mut ok = true;
    for path in paths {
        match scenario::discover(path) {
            Ok(found) => files.extend(found),
            Err(error) => {
                eprintln!("{:?}", miette::Report::new(error));
                ok = false;
            }
        }
    }
    let mut scenarios = Vec::new();
    for file in files {
        match scenario::load(&file) {
            Ok(s) => scenarios.push(s),
            Err(error) => {
                eprintln!("{:?}", miette::Report::new(error));
                ok = false;
            }
        }
    }
    ok.then_some(scenarios)
}

fn check(paths: &[PathBuf]) -> ExitCode {
    match load_all(paths) {
        Some(scenarios) => {
            for s in &scenarios {
                println!("ok  {}  ({})", s.path.display(), s.drill.name);
            }
            ExitCode::SUCCESS
        }
        None => ExitCode::from(EXIT_BAD_INPUT),
    }
}

fn list(paths: &[PathBuf]) -> ExitCode {
    let Some(scenarios) = load_all(paths) else {
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    let width = scenarios
        .iter()
        .map(|s| s.drill.name.len())
        .max()
        .unwrap_or(0);
    for s in &scenarios {
        let variants: Vec<&str> = s.variants.iter().map(|v| v.name.as_str()).collect();
        println!(
            "{:<width$}  {}  [{}]  {}",
            s.drill.name,
            s.drill.playbook,
            variants.join(", "),
            s.path.display()
        );
    }
    ExitCode::SUCCESS
}

async fn clean(all: bool) -> ExitCode {
    let result = if all {
        remove_all().await
    } else {
        docker::sweep(None).await
    };
    match result {
        Ok(n) => {
            println!("removed {n} firedrill container(s)");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("firedrill: {error}");
            ExitCode::from(EXIT_ENVIRONMENT)
        }
    }
}

async fn remove_all() -> Result<usize, services::ServiceError> {
    let containers = docker::list_labelled().await?;
    for c in &containers {
        docker::remove(&c.id).await?;
    }
    Ok(containers.len())
}

/// Progress on stderr: a spinner naming the current step, when stderr is a
/// terminal; plain lines otherwise (CI logs).
struct Spinner {
    bar: ProgressBar,
    plain: bool,
}

impl Progress for Spinner {
    fn step(&self, drill: &str, message: &str) {
        if self.plain {
            eprintln!("[{drill}] {message}");
        } else {
            self.bar.set_message(format!("{drill}: {message}"));
        }
    }
}

async fn run_drills(
    paths: &[PathBuf],
    filter: Option<&str>,
    seed: Option<u64>,
    reports_dir: &Path,
) -> ExitCode {
    let Some(mut scenarios) = load_all(paths) else {
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    if let Some(filter) = filter {
        scenarios.retain(|s| s.drill.name.contains(filter));
    }
    if scenarios.is_empty() {
        eprintln!("firedrill: no drill matches");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("firedrill: failed to find my own executable: {error}");
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    };
    // Containers a killed run left behind go first.
    match docker::sweep(None).await {
        Ok(0) => {}
        Ok(n) => eprintln!("firedrill: removed {n} container(s) left by an earlier run"),
        Err(error) => {
            eprintln!("firedrill: {error}");
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    }
    let plain = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = ProgressBar::new_spinner();
    if !plain {
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
    }
    let mut config = EngineConfig::new(exe);
    config.seed = seed;
    config.progress = Arc::new(Spinner {
        bar: bar.clone(),
        plain,
    });
    let engine = Engine::new(config);
    let mut reports = Vec::new();
    let mut environment_error = false;
    for scenario in &scenarios {
        let report = engine.run_drill(scenario, Default::default()).await;
        if report.error.is_some() && report.variants.is_empty() {
            environment_error = true;
        }
        let line = format!(
            "{} {} ({})",
            if report.passed() { "ok  " } else { "FAIL" },
            report.drill,
            crate::report::human_duration(report.wall)
        );
        bar.suspend(|| {
            println!("{line}");
            if !report.passed() {
                println!("{}", report.failure_summary());
            }
        });
        reports.push(report);
    }
    bar.finish_and_clear();
    println!("\n{}", crate::report::summary_table(&reports));
    match crate::report::write(reports_dir, &reports) {
        Ok(written) => println!(
            "reports: {} and {}",
            written.junit.display(),
            written.journal.display()
        ),
        Err(error) => {
            eprintln!("firedrill: {error}");
            return ExitCode::from(EXIT_ENVIRONMENT);
        }
    }
    if reports.iter().all(|r| r.passed()) {
        ExitCode::SUCCESS
    } else if environment_error {
        ExitCode::from(EXIT_ENVIRONMENT)
    } else {
        ExitCode::from(EXIT_DRILL_FAILED)
    }
}
