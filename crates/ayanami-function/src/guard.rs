//! The guard: a small process, forked from Ayanami at its start, that kills
//! the process groups of the function calls still running when Ayanami dies
//! outright (SIGKILL, the OOM killer), which would otherwise run on under
//! init past every timeout.
//!
//! Ayanami tells the guard each group it starts and ends over a pipe, one
//! line each (`+1234`, `-1234`); the guard learns of Ayanami's death when
//! that pipe closes. Starting processes with `posix_spawn` stays possible
//! this way: asking the kernel for a signal at the parent's death
//! (`PR_SET_PDEATHSIG`) would need code run in the child before `exec`,
//! which makes the standard library fork all of Ayanami for every call.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, PipeWriter, Write};
use std::sync::{Mutex, OnceLock, PoisonError};

use nix::sys::signal::{SigHandler, Signal, killpg, signal};
use nix::unistd::{ForkResult, Pid, fork};

/// The pipe to the guard, once it runs.
static GUARD: OnceLock<Mutex<PipeWriter>> = OnceLock::new();

/// Forks the guard. Calls made before, or when it could not start, are
/// not guarded; later calls of this function do nothing.
///
/// # Errors
///
/// When the pipe or the fork fails.
///
/// # Safety
///
/// No other thread may run yet: the forked guard runs ordinary Rust code,
/// which is sound only when the process it copies had a single thread.
pub unsafe fn start() -> std::io::Result<()> {
    if GUARD.get().is_some() {
        return Ok(());
    }
    let (reader, writer) = std::io::pipe()?;
    // SAFETY: the caller promises a single thread, so the child is a whole
    // copy of the process and may run anything.
    match unsafe { fork() }.map_err(std::io::Error::from)? {
        ForkResult::Child => {
            drop(writer);
            watch_until_orphaned(BufReader::new(reader));
        }
        ForkResult::Parent { .. } => {
            drop(reader);
            let _ = GUARD.set(Mutex::new(writer));
            Ok(())
        }
    }
}

/// The guard's life: keep the set of live groups until the pipe closes,
/// then kill those left and exit.
fn watch_until_orphaned(reader: impl BufRead) -> ! {
    let _ = nix::sys::prctl::set_name(c"ayanami-guard");
    // Stopping is Ayanami's job; the guard only ends with its pipe, so a
    // Ctrl-C sent to the whole terminal group leaves it watching while
    // Ayanami finishes its grace period.
    for stop in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: ignoring a signal installs no handler code.
        let _ = unsafe { signal(stop, SigHandler::SigIgn) };
    }
    let mut live = HashSet::new();
    for line in reader.lines() {
        let Ok(line) = line else { break };
        match (line.get(..1), line.get(1..).map(str::parse::<i32>)) {
            (Some("+"), Some(Ok(group))) => live.insert(group),
            (Some("-"), Some(Ok(group))) => live.remove(&group),
            _ => false,
        };
    }
    for group in live {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
    std::process::exit(0)
}

fn tell(op: char, group: Pid) {
    if let Some(guard) = GUARD.get() {
        let line = format!("{op}{group}\n");
        // A guard that is gone leaves calls unguarded; they still end.
        let _ = guard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_all(line.as_bytes());
    }
}

/// A process group started for a call: the guard knows of it while it
/// lives, and dropping it kills the whole group.
#[derive(Debug)]
pub(crate) struct Group(Pid);

impl Group {
    pub(crate) fn new(group: Pid) -> Self {
        tell('+', group);
        Self(group)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = killpg(self.0, Signal::SIGKILL);
        tell('-', self.0);
    }
}
