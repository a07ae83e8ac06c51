//! Process Spawn and System-Level Issues: a spawn wrapper that says *why*.
//!
//! [`spawn`] resolves the program the way `which` does (each PATH
//! directory in order, executable files only), spawns it, and on failure
//! returns a [`SpawnError`] whose [`Diagnosis`] names the cause and the fix:
//! - `ENOENT`: the PATH searched, near matches, a platform hint; or, when the
//!   file exists, the missing interpreter of its `#!` line;
//! - `EACCES`: the file has no execute bit (or its directory is not searchable);
//! - `ENOEXEC`: neither a binary for this machine nor a `#!` script;
//! - `EMFILE`/`ENFILE`: the descriptor limit, with the limit;
//! - `E2BIG`: the argument list and environment exceed `ARG_MAX`.
//!
//! The playbook's `EINVAL` on Windows (Node ≥ 20.12.2, CVE-2024-27980:
//! `.bat`/`.cmd` need a shell) is [`plan_windows`], a pure function: it says
//! how such a program must be started and escapes the arguments for
//! `cmd.exe` (Rust ≥ 1.77.2 does the same itself).
//!
//! ```
//! use firedrill::remedies::spawn::{SpawnRequest, spawn};
//! let error = spawn(&SpawnRequest::new("pyhton3").path("/usr/bin:/bin")).unwrap_err();
//! let diagnosis = error.diagnosis();
//! assert_eq!(diagnosis.errno, "ENOENT");
//! assert!(diagnosis.searched.contains(&"/usr/bin".to_owned()));
//! ```

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

/// What to spawn.
#[derive(Debug, Clone, Default)]
pub struct SpawnRequest {
    /// A name looked up on PATH, or a path (anything with a `/`).
    pub program: OsString,
    /// Arguments.
    pub args: Vec<OsString>,
    /// The PATH to search and to give the child; `None`: this process's.
    pub path: Option<OsString>,
}

impl SpawnRequest {
    /// A request for `program` with no arguments.
    pub fn new(program: impl Into<OsString>) -> Self {
        SpawnRequest {
            program: program.into(),
            ..SpawnRequest::default()
        }
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets the PATH.
    pub fn path(mut self, path: impl Into<OsString>) -> Self {
        self.path = Some(path.into());
        self
    }

    fn path_var(&self) -> OsString {
        self.path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default()
    }
}

/// A failed spawn, classified.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// `ENOENT`: no such program on PATH (or at the path given).
    #[error("failed to spawn {program}: command not found (ENOENT)")]
    NotFound {
        /// What was asked for.
        program: String,
        /// The PATH directories searched, in order.
        searched: Vec<String>,
        /// Similar names found there.
        near: Vec<String>,
        /// Files of that name that exist but are not executable.
        not_executable: Vec<String>,
    },
    /// `ENOENT` from exec of a file that exists: its `#!` interpreter is missing.
    #[error("failed to spawn {path}: its interpreter {interpreter} does not exist (ENOENT)")]
    InterpreterMissing {
        /// The script.
        path: String,
        /// The interpreter of its `#!` line.
        interpreter: String,
    },
    /// `EACCES`: not executable.
    #[error("failed to spawn {path}: permission denied (EACCES)")]
    PermissionDenied {
        /// The file.
        path: String,
        /// Its permission bits, octal.
        mode: String,
    },
    /// `ENOEXEC`: not a format this kernel runs.
    #[error("failed to spawn {path}: exec format error (ENOEXEC)")]
    ExecFormat {
        /// The file.
        path: String,
        /// Its first bytes, escaped.
        starts_with: String,
    },
    /// `EMFILE`/`ENFILE`: no descriptor left for the child's pipes.
    #[error("failed to spawn {program}: too many open files ({errno})")]
    DescriptorLimit {
        /// What was spawned.
        program: String,
        /// `EMFILE` (this process) or `ENFILE` (the system).
        errno: &'static str,
        /// The soft `RLIMIT_NOFILE`.
        limit: u64,
    },
    /// `E2BIG`: argument list and environment too long.
    #[error("failed to spawn {program}: argument list too long (E2BIG)")]
    ArgumentListTooLong {
        /// What was spawned.
        program: String,
        /// Bytes of arguments and environment passed.
        bytes: usize,
        /// The system's `ARG_MAX`.
        limit: u64,
    },
    /// Anything else.
    #[error("failed to spawn {program}: {source}")]
    Other {
        /// What was spawned.
        program: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A failure's cause and fix, in words (serializable, so a process can
/// report it to another).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// `ENOENT`, `EACCES`, `ENOEXEC`, `EMFILE`, `ENFILE`, `E2BIG` or `other`.
    pub errno: String,
    /// What is wrong.
    pub cause: String,
    /// How to fix it.
    pub fix: String,
    /// PATH directories searched (ENOENT).
    pub searched: Vec<String>,
    /// Similar program names found on PATH (ENOENT).
    pub near_matches: Vec<String>,
}

impl SpawnError {
    /// The errno name.
    pub fn errno(&self) -> &'static str {
        match self {
            SpawnError::NotFound { .. } | SpawnError::InterpreterMissing { .. } => "ENOENT",
            SpawnError::PermissionDenied { .. } => "EACCES",
            SpawnError::ExecFormat { .. } => "ENOEXEC",
            SpawnError::DescriptorLimit { errno, .. } => errno,
            SpawnError::ArgumentListTooLong { .. } => "E2BIG",
            SpawnError::Other { .. } => "other",
        }
    }

    /// Cause and fix.
    pub fn diagnosis(&self) -> Diagnosis {
        let mut searched = Vec::new();
        let mut near_matches = Vec::new();
        let (cause, fix) = match self {
            SpawnError::NotFound {
                program,
                searched: dirs,
                near,
                not_executable,
            } => {
                searched = dirs.clone();
                near_matches = near.clone();
                let cause = if dirs.is_empty() {
                    format!("{program} does not exist")
                } else {
                    format!(
                        "no executable named {program} in any of the {} PATH directories",
                        dirs.len()
                    )
                };
                let mut fix = match near.first() {
                    Some(close) => format!("did you mean {close}? "),
                    None => String::new(),
                };
                if let Some(file) = not_executable.first() {
                    fix.push_str(&format!("{file} exists but is not executable (chmod +x); "));
                }
                fix.push_str("install it, or give the agent the PATH it needs: services and IDEs often start agents with a shorter PATH than a login shell");
                fix.push_str(&platform_hint(program));
                (cause, fix)
            }
            SpawnError::InterpreterMissing { interpreter, .. } => (
                format!("the script exists, but the interpreter on its #! line ({interpreter}) does not"),
                format!("install {interpreter}, or change the #! line (e.g. #!/usr/bin/env <interpreter>)"),
            ),
            SpawnError::PermissionDenied { mode, .. } => (
                format!("the file is not executable (mode {mode}), or a directory on its path is not searchable"),
                "chmod +x the file (and check the mount is not noexec)".to_owned(),
            ),
            SpawnError::ExecFormat { starts_with, .. } => (
                format!("the file is neither a binary for this machine nor a script with a #! line (it starts with {starts_with})"),
                "add a #! line naming its interpreter, or run it through the interpreter (sh FILE), or build it for this architecture".to_owned(),
            ),
            SpawnError::DescriptorLimit { errno, limit, .. } => (
                if *errno == "EMFILE" {
                    format!("this process has used all {limit} file descriptors its RLIMIT_NOFILE allows; the child's pipes cannot be created")
                } else {
                    "the system-wide file table is full".to_owned()
                },
                "close leaked descriptors (sockets, pipes of finished children); raise the limit (ulimit -n, LimitNOFILE= in systemd)".to_owned(),
            ),
            SpawnError::ArgumentListTooLong { bytes, limit, .. } => (
                format!("arguments and environment take {} KiB; the kernel accepts at most {} KiB (ARG_MAX), and 128 KiB per argument", bytes / 1024, limit / 1024),
                "pass large data through stdin or a file, not the command line".to_owned(),
            ),
            SpawnError::Other { source, .. } => (source.to_string(), "see the error".to_owned()),
        };
        Diagnosis {
            errno: self.errno().to_owned(),
            cause,
            fix,
            searched,
            near_matches,
        }
    }
}

fn platform_hint(program: &str) -> String {
    if cfg!(windows) && !program.contains('.') {
        format!("; on Windows try {program}.exe or {program}.cmd (PATHEXT)")
    } else if program == "python" {
        "; on Debian and Ubuntu the program is python3 (package python-is-python3 adds python)"
            .to_owned()
    } else {
        String::new()
    }
}

/// Finds `program` the way `which` does.
pub fn resolve(program: &OsStr, path_var: &OsStr) -> Result<PathBuf, SpawnError> {
    let name = program.to_string_lossy().into_owned();
    if name.contains('/') {
        let path = PathBuf::from(program);
        return if path.exists() {
            Ok(path)
        } else {
            Err(SpawnError::NotFound {
                program: name,
                searched: Vec::new(),
                near: Vec::new(),
                not_executable: Vec::new(),
            })
        };
    }
    let dirs: Vec<PathBuf> = std::env::split_paths(path_var)
        .filter(|d| !d.as_os_str().is_empty())
        .collect();
    let mut not_executable = Vec::new();
    for dir in &dirs {
        let candidate = dir.join(program);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
        {
            if meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
            not_executable.push(candidate.display().to_string());
        }
    }
    Err(SpawnError::NotFound {
        near: near_matches(&name, &dirs),
        program: name,
        searched: dirs.iter().map(|d| d.display().to_string()).collect(),
        not_executable,
    })
}

/// Names in `dirs` within a small edit distance of `name`, or extending it
/// (`python` → `python3`), best first, at most 5.
fn near_matches(name: &str, dirs: &[PathBuf]) -> Vec<String> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let candidate = entry.file_name().to_string_lossy().into_owned();
            let distance = edit_distance(name, &candidate);
            let extends = candidate.len() <= name.len() + 2 && candidate.starts_with(name);
            let close = distance <= (name.chars().count() / 4).max(1);
            if (close || extends)
                && candidate != name
                && !found.iter().any(|(_, c)| *c == candidate)
            {
                found.push((distance, candidate));
            }
        }
    }
    found.sort();
    found.into_iter().take(5).map(|(_, c)| c).collect()
}

/// Edit distance counting an adjacent swap as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Resolves and spawns `request` (stdin, stdout and stderr piped), and
/// diagnoses any failure.
pub fn spawn(request: &SpawnRequest) -> Result<Child, SpawnError> {
    let path_var = request.path_var();
    let resolved = resolve(&request.program, &path_var)?;
    let mut command = Command::new(&resolved);
    command
        .args(&request.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(path) = &request.path {
        command.env("PATH", path);
    }
    command
        .spawn()
        .map_err(|error| classify(error, request, &resolved))
}

fn classify(error: std::io::Error, request: &SpawnRequest, resolved: &Path) -> SpawnError {
    let program = request.program.to_string_lossy().into_owned();
    let path = resolved.display().to_string();
    match error.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ENOENT) => match interpreter_of(resolved) {
            Some(interpreter) => SpawnError::InterpreterMissing { path, interpreter },
            None => SpawnError::NotFound {
                program: path,
                searched: Vec::new(),
                near: Vec::new(),
                not_executable: Vec::new(),
            },
        },
        Some(Errno::EACCES) => SpawnError::PermissionDenied {
            mode: std::fs::metadata(resolved)
                .map(|m| format!("{:o}", m.permissions().mode() & 0o7777))
                .unwrap_or_else(|_| "unknown".to_owned()),
            path,
        },
        Some(Errno::ENOEXEC) => SpawnError::ExecFormat {
            starts_with: first_bytes(resolved),
            path,
        },
        Some(errno @ (Errno::EMFILE | Errno::ENFILE)) => SpawnError::DescriptorLimit {
            program,
            errno: if errno == Errno::EMFILE {
                "EMFILE"
            } else {
                "ENFILE"
            },
            limit: nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map_or(0, |(soft, _)| soft),
        },
        Some(Errno::E2BIG) => SpawnError::ArgumentListTooLong {
            program,
            bytes: request
                .args
                .iter()
                .map(|a| a.len() + 1)
                .chain(std::env::vars_os().map(|(k, v)| k.len() + v.len() + 2))
                .sum(),
            // Linux: a quarter of the stack limit, within 128 KiB..=6 MiB.
            limit: nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK)
                .map_or(0, |(soft, _)| (soft / 4).clamp(128 * 1024, 6 * 1024 * 1024)),
        },
        _ => SpawnError::Other {
            program,
            source: error,
        },
    }
}

/// The interpreter of a `#!` line, if the file has one.
fn interpreter_of(path: &Path) -> Option<String> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let text = String::from_utf8_lossy(line);
    text.split_whitespace().next().map(str::to_owned)
}

fn first_bytes(path: &Path) -> String {
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let hex: Vec<String> = head[..n].iter().map(|b| format!("{b:02x}")).collect();
    format!("bytes {}", hex.join(" "))
}

/// How a program must be started on Windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowsPlan {
    /// `CreateProcess` on the program itself.
    Direct,
    /// A batch file: through `cmd.exe /d /e:ON /v:OFF /c`, with this exact
    /// command line (Node: `shell: true`; Rust ≥ 1.77.2 builds the same).
    ViaCmd {
        /// The argument after `/c`.
        command_line: String,
    },
}

/// Why a batch file cannot be given these arguments safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "failed to plan a batch-file spawn: argument {index} contains a line break or NUL, which cmd.exe cannot receive safely"
)]
pub struct UnsafeBatchArgument {
    /// Position of the argument.
    pub index: usize,
}

/// Whether Windows runs `program` as a batch file: its extension, ignoring
/// case and the trailing dots and spaces Windows strips (`run.BAT. ` is a
/// batch file: the "BatBadBut" bypass).
pub fn is_batch_file(program: &str) -> bool {
    let trimmed = program.trim_end_matches(['.', ' ']).to_ascii_lowercase();
    trimmed.ends_with(".bat") || trimmed.ends_with(".cmd")
}

/// Plans a spawn on Windows: batch files go through `cmd.exe` with every
/// argument quoted (`"` doubled, `%` neutralised, trailing backslashes
/// doubled) so no argument can inject a command (CVE-2024-27980).
pub fn plan_windows(program: &str, args: &[String]) -> Result<WindowsPlan, UnsafeBatchArgument> {
    if !is_batch_file(program) {
        return Ok(WindowsPlan::Direct);
    }
    let mut line = quote_for_cmd(program);
    for (index, arg) in args.iter().enumerate() {
        if arg.contains(['\n', '\r', '\0']) {
            return Err(UnsafeBatchArgument { index });
        }
        line.push(' ');
        line.push_str(&quote_for_cmd(arg));
    }
    Ok(WindowsPlan::ViaCmd { command_line: line })
}

/// Percent sign replacement: `%%cd:~,%` expands to nothing, so `%VAR%` can
/// never expand (what Rust's standard library does).
const PERCENT: &str = "%%cd:~,%";

fn quote_for_cmd(arg: &str) -> String {
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => {
                backslashes += 1;
                out.push('\\');
            }
            '"' => {
                // cmd.exe's escape for a quote inside quotes: two quotes.
                out.push_str("\"\"");
                backslashes = 0;
            }
            '%' => {
                out.push_str(PERCENT);
                backslashes = 0;
            }
            c => {
                out.push(c);
                backslashes = 0;
            }
        }
    }
    // Trailing backslashes doubled, so the closing quote stays a quote for
    // programs that parse with CommandLineToArgvW.
    out.extend(std::iter::repeat_n('\\', backslashes));
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use proptest::prelude::*;

    use super::*;

    fn script(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, body).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    #[test]
    fn enoent_names_the_path_searched_and_near_matches() {
        let dir = tempfile::tempdir().expect("tempdir");
        script(dir.path(), "fixture-agent", "#!/bin/sh\n", 0o755);
        let path = format!("{}:/nonexistent-dir", dir.path().display());
        let error = spawn(&SpawnRequest::new("fixture-agnet").path(&path)).expect_err("typo");
        let d = error.diagnosis();
        assert_eq!(d.errno, "ENOENT");
        assert_eq!(d.searched.len(), 2);
        assert_eq!(d.near_matches, vec!["fixture-agent".to_owned()]);
        assert!(
            d.fix.starts_with("did you mean fixture-agent?"),
            "{}",
            d.fix
        );
    }

    #[test]
    fn a_missing_interpreter_is_not_a_missing_program() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = script(dir.path(), "agent", "#!/nonexistent/python9\n", 0o755);
        let error = spawn(&SpawnRequest::new(path)).expect_err("no interpreter");
        assert!(
            matches!(error, SpawnError::InterpreterMissing { ref interpreter, .. } if interpreter == "/nonexistent/python9"),
            "{error:?}"
        );
    }

    #[test]
    fn eacces_and_enoexec_are_told_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = script(dir.path(), "plain", "#!/bin/sh\n", 0o644);
        let error = spawn(&SpawnRequest::new(plain)).expect_err("not executable");
        assert_eq!(error.errno(), "EACCES");
        assert!(error.diagnosis().cause.contains("644"));
        let garbage = script(dir.path(), "garbage", "\u{7f}ELF\u{1}junk", 0o755);
        let error = spawn(&SpawnRequest::new(garbage)).expect_err("bad format");
        assert_eq!(error.errno(), "ENOEXEC", "{error:?}");
    }

    #[test]
    fn e2big_reports_the_limit() {
        let args = vec!["x".repeat(1000); 4096];
        let error = spawn(&SpawnRequest::new("/bin/true").args(args)).expect_err("too long");
        assert_eq!(error.errno(), "E2BIG", "{error:?}");
        assert!(error.diagnosis().cause.contains("ARG_MAX"));
    }

    #[test]
    fn a_found_program_spawns() {
        let mut child = spawn(&SpawnRequest::new("true").path("/usr/bin:/bin")).expect("true");
        assert!(child.wait().expect("wait").success());
    }

    /// Splits a `ViaCmd` command line back into its arguments, undoing the
    /// quoting (a model of what the batch file receives).
    fn unquote_all(line: &str) -> Vec<String> {
        let chars: Vec<char> = line.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            assert_eq!(chars[i], '"', "every argument is quoted: {line}");
            i += 1;
            let mut raw = String::new();
            loop {
                assert!(i < chars.len(), "unterminated: {line}");
                if chars[i] == '"' {
                    if chars.get(i + 1) == Some(&'"') {
                        raw.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                raw.push(chars[i]);
                i += 1;
            }
            let trailing = raw.len() - raw.trim_end_matches('\\').len();
            assert_eq!(trailing % 2, 0, "trailing backslashes doubled");
            raw.truncate(raw.len() - trailing / 2);
            out.push(raw.replace(PERCENT, "%"));
            if i < chars.len() {
                assert_eq!(chars[i], ' ');
                i += 1;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn batch_files_are_recognised_like_windows_does(
            stem in "[a-zA-Z0-9_-]{1,8}",
            ext in prop::sample::select(vec!["bat", "BAT", "cmd", "Cmd", "exe", "ps1", "batx", ""]),
            tail in "[. ]{0,3}",
        ) {
            let name = if ext.is_empty() { format!("{stem}{tail}") } else { format!("{stem}.{ext}{tail}") };
            let batch = matches!(ext.to_ascii_lowercase().as_str(), "bat" | "cmd");
            prop_assert_eq!(is_batch_file(&name), batch);
            let plan = plan_windows(&name, &[]).expect("no arguments");
            prop_assert_eq!(matches!(plan, WindowsPlan::ViaCmd { .. }), batch);
        }

        #[test]
        fn batch_arguments_round_trip_and_metacharacters_stay_quoted(
            args in prop::collection::vec("[ -~]{0,12}", 0..6),
        ) {
            let plan = plan_windows("tool.cmd", &args).expect("printable arguments");
            let WindowsPlan::ViaCmd { command_line } = plan else {
                return Err(TestCaseError::fail("a .cmd must go through cmd.exe"));
            };
            let parsed = unquote_all(&command_line);
            prop_assert_eq!(&parsed[0], "tool.cmd");
            prop_assert_eq!(&parsed[1..], &args[..]);
            // cmd.exe toggles its quote state on every quote: & | < > ^ ( )
            // must all be inside quotes, so none can start a command.
            let mut quoted = false;
            for c in command_line.chars() {
                if c == '"' {
                    quoted = !quoted;
                } else if "&|<>^()".contains(c) {
                    prop_assert!(quoted, "{c} outside quotes in {command_line}");
                }
            }
        }

        #[test]
        fn line_breaks_are_refused_not_escaped(before in "[a-z]{0,4}", after in "[a-z]{0,4}") {
            let args = vec!["ok".to_owned(), format!("{before}\n{after}")];
            prop_assert_eq!(plan_windows("a.bat", &args), Err(UnsafeBatchArgument { index: 1 }));
            prop_assert_eq!(plan_windows("a.exe", &args), Ok(WindowsPlan::Direct));
        }
    }
}
