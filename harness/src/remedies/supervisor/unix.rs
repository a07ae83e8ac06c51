//! The libc parts of the hardened supervisor: a **guard** process between
//! the supervisor and each agent.
//!
//! The guard is forked in the child set-up (`pre_exec`) and never execs:
//! - it is a child subreaper, so every descendant of the agent that loses its
//!   parent (a daemonizing grandchild included: `setsid` does not escape a
//!   subreaper) is reparented to it and reaped by it: no zombies;
//! - it exits only when it has no children left, so the guard's exit means
//!   the agent's whole tree is gone — the supervisor judges a stop by that,
//!   not by a signal having been sent;
//! - when the supervisor dies, even by SIGKILL, the guard notices (its
//!   parent changes) and SIGKILLs the whole tree; the agent itself also has
//!   a parent-death signal (SIGKILL) in case the guard dies.
//!
//! The agent runs in its own process group; the guard in another, so the
//! supervisor can signal the agent's group without touching the guard.
//!
//! After `fork` in a multi-threaded process only async-signal-safe calls are
//! allowed: everything below is a thin syscall wrapper from nix, with no
//! allocation, lock or panic. `unsafe` is allowed on the items that need
//! it, each block with its SAFETY line.

use std::io;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::prctl;
use nix::sys::signal::{SigSet, Signal, kill, killpg};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getppid, setpgid};

/// How often the guard reaps and checks that the supervisor is alive.
const GUARD_POLL: Duration = Duration::from_millis(10);

/// Makes `command` start its program behind a guard (see the module docs).
/// The spawned child's pid is the guard's; the agent is its only child.
#[allow(unsafe_code)]
pub(super) fn install_guard(command: &mut tokio::process::Command) {
    let supervisor = Pid::this();
    // SAFETY: the closure runs in the forked child before exec. It only
    // calls async-signal-safe syscalls (setpgid, prctl, fork, waitpid, kill,
    // read, nanosleep, _exit) through nix, never allocates, locks or panics.
    unsafe {
        command.pre_exec(move || guard_then_exec(supervisor));
    }
}

/// In the forked child: becomes the guard and forks the agent, which
/// returns to exec the program. The guard never returns.
#[allow(unsafe_code)]
fn guard_then_exec(supervisor: Pid) -> io::Result<()> {
    setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
    prctl::set_child_subreaper(true)?;
    let guard = Pid::this();
    // SAFETY: the child only calls async-signal-safe functions before exec
    // (setpgid, prctl, getppid); the parent becomes the guard loop, which
    // does the same.
    match unsafe { fork() }? {
        ForkResult::Child => {
            // The agent: its own process group, and SIGKILL if the guard dies.
            setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            prctl::set_pdeathsig(Signal::SIGKILL)?;
            if getppid() != guard {
                // The guard died before the death signal was armed.
                return Err(io::Error::from(Errno::ESRCH));
            }
            Ok(())
        }
        ForkResult::Parent { child } => guard_loop(supervisor, child),
    }
}

fn guard_loop(supervisor: Pid, agent: Pid) -> ! {
    // Terminal and stop signals are for the agent; the guard leaves when the
    // tree is gone. (SIGKILL still ends it: the agent then gets its
    // parent-death signal.)
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(signal);
    }
    let _ = set.thread_block();
    close_inherited_descriptors();
    let mut status = 0;
    let mut orphaned = false;
    loop {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(WaitStatus::Exited(pid, code)) if pid == agent => status = code,
                Ok(WaitStatus::Signaled(pid, signal, _)) if pid == agent => {
                    status = 128 + signal as i32;
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(Errno::ECHILD) => exit(status),
                Err(_) => break,
            }
        }
        if !orphaned && getppid() != supervisor {
            orphaned = true;
        }
        if orphaned {
            kill_children();
        }
        std::thread::sleep(GUARD_POLL);
    }
}

/// The guard holds copies of the supervisor's descriptors, including the
/// pipe on which the standard library waits for `exec` to succeed: closing
/// them lets `spawn` return as soon as the agent has exec'd.
#[allow(unsafe_code)]
fn close_inherited_descriptors() {
    // SAFETY: close_range is async-signal-safe and only closes descriptors of
    // this (guard) process; 0..=2 stay open.
    let done = unsafe { nix::libc::syscall(nix::libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if done != 0 {
        for fd in 3..4096 {
            // SAFETY: closing a descriptor of this process; errors (not
            // open) are irrelevant.
            unsafe {
                nix::libc::close(fd);
            }
        }
    }
}

/// SIGKILLs every child of the guard and the process group each leads
/// (the agent leads its group; a daemon leads its own). Their children are
/// reparented to the guard and killed on the next round.
fn kill_children() {
    let Ok(fd) = nix::fcntl::open(
        c"/proc/thread-self/children",
        OFlag::O_RDONLY,
        Mode::empty(),
    ) else {
        return;
    };
    let mut buf = [0u8; 4096];
    let Ok(n) = nix::unistd::read(&fd, &mut buf) else {
        return;
    };
    let mut pid: i32 = 0;
    for &byte in buf.iter().take(n).chain(std::iter::once(&b' ')) {
        if byte.is_ascii_digit() {
            pid = pid
                .saturating_mul(10)
                .saturating_add(i32::from(byte - b'0'));
        } else if pid > 0 {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            pid = 0;
        }
    }
}

#[allow(unsafe_code)]
fn exit(status: i32) -> ! {
    // SAFETY: _exit ends this process at once, without running the parent's
    // atexit handlers or flushing its buffers (which this fork does not own).
    unsafe { nix::libc::_exit(status) }
}
