//! Running the programs a test needs, each with a deadline.

use std::{
    os::unix::process::CommandExt as _,
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

/// How often a deadline loop looks again at what it waits for.
pub const POLL: Duration = Duration::from_millis(10);

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// The command line of `cmd`, for messages.
pub fn display(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Makes the kernel send SIGTERM to the child when the thread that spawned
/// it dies, so a killed test run leaves no dockerd behind. Spawn such
/// children from the main thread only: the signal follows the spawning
/// thread, not the process.
pub fn die_with_parent(cmd: &mut Command) {
    let hook = || {
        // SAFETY: prctl with PR_SET_PDEATHSIG only sets a flag on the
        // calling (child) process; it touches no memory of ours.
        let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    // SAFETY: the hook calls one async-signal-safe system call.
    unsafe { cmd.pre_exec(hook) };
}

/// Runs `cmd` to completion, killing it if it is still running after
/// `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Result<Output> {
    let shown = display(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{shown}`"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    let status = wait_until(&mut child, Instant::now() + limit)
        .with_context(|| format!("waiting for `{shown}`"))?;
    let output = Output {
        status: status.unwrap_or_default(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if status.is_none() {
        bail!(
            "`{shown}` ran longer than {limit:?}; killed. stderr:\n{}",
            output.stderr
        );
    }
    Ok(output)
}

/// Runs `cmd` and returns its standard output; fails, with its standard
/// error, unless it exits with 0.
pub fn run_ok(cmd: &mut Command, limit: Duration) -> Result<String> {
    let output = run(cmd, limit)?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            display(cmd),
            output.status,
            output.stderr.trim()
        );
    }
    Ok(output.stdout)
}

/// Waits for `child` until `deadline`; on timeout kills it and returns
/// `None`.
pub fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            child.kill().ok();
            child.wait()?;
            return Ok(None);
        }
        thread::sleep(POLL);
    }
}

/// Sends SIGTERM and waits up to `grace` for `child` to exit, then kills
/// it. Returns how it exited, or `None` if it had to be killed.
pub fn terminate(child: &mut Child, grace: Duration) -> Result<Option<ExitStatus>> {
    if let Some(status) = child.try_wait()? {
        return Ok(Some(status));
    }
    signal(child.id(), libc::SIGTERM)?;
    wait_until(child, Instant::now() + grace)
}

/// Sends `sig` to process `pid`.
pub fn signal(pid: u32, sig: libc::c_int) -> Result<()> {
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    // SAFETY: kill() only sends a signal; `pid` is a child we spawned.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("sending signal {sig} to {pid}"));
    }
    Ok(())
}

/// Whether we run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and has no side effects.
    unsafe { libc::geteuid() == 0 }
}

fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes).ok();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
