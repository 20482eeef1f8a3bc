//! The daemon under test: `docksock-monitor run`, started once per suite.
//!
//! Agreed with the daemon: once its programs are attached and the events
//! file is open, it logs a line containing `docksock ready` at `info` on
//! standard error. Until then nothing it reports can be relied on.

use std::{
    fs::File,
    io::{BufRead as _, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use anyhow::{bail, Context as _, Result};

use crate::{process, rundir};

/// Path of the daemon binary; default: the workspace's release build.
pub const MONITOR_ENV: &str = "DOCKSOCK_MONITOR";
/// What the daemon logs once it is attached and writing events.
pub const READY_LINE: &str = "docksock ready";

/// How long the daemon may take to load and attach its programs.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// How long it may take to exit on SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(15);

/// A running `docksock-monitor run`.
#[derive(Debug)]
pub struct Monitor {
    child: Child,
    log: PathBuf,
}

/// What the stderr reader tells the waiting test.
enum Seen {
    Ready,
    Closed,
}

impl Monitor {
    /// The daemon binary to test.
    pub fn binary() -> Result<PathBuf> {
        let binary = match std::env::var_os(MONITOR_ENV) {
            Some(path) => PathBuf::from(path),
            None => {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/docksock-monitor")
            }
        };
        if !binary.is_file() {
            bail!(
                "no daemon binary at {}: run `cargo xtask build`, or set {MONITOR_ENV}",
                binary.display()
            );
        }
        Ok(binary)
    }

    /// Starts the daemon watching `socket`, writing events to `events` and
    /// its log to `log`, and waits until it says it is ready.
    pub fn start(socket: &Path, events: &Path, log: &Path) -> Result<Self> {
        let binary = Self::binary()?;
        let mut cmd = Command::new(&binary);
        cmd.arg("run")
            .arg("--socket")
            .arg(socket)
            .arg("--events")
            .arg(events)
            // Any free port: a daemon already on the host keeps the default.
            .args(["--metrics-addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        process::die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;

        let (seen_tx, seen) = mpsc::channel();
        let stderr = child.stderr.take().context("daemon stderr")?;
        let log_file = File::create(log).context("creating the daemon's log")?;
        thread::spawn(move || copy_log(stderr, log_file, &seen_tx));

        let mut monitor = Self {
            child,
            log: log.to_path_buf(),
        };
        if let Err(err) = monitor.wait_ready(&seen) {
            bail!(
                "docksock-monitor never got ready: {err:#}; its log:\n{}",
                monitor.log_tail()
            );
        }
        Ok(monitor)
    }

    fn wait_ready(&mut self, seen: &mpsc::Receiver<Seen>) -> Result<()> {
        match seen.recv_timeout(READY_LIMIT) {
            Ok(Seen::Ready) => Ok(()),
            Ok(Seen::Closed) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = match process::terminate(&mut self.child, STOP_LIMIT)? {
                    Some(status) => status.to_string(),
                    None => "still running; killed".to_owned(),
                };
                bail!("it closed standard error ({status}) before `{READY_LINE}`")
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                process::terminate(&mut self.child, STOP_LIMIT)?;
                bail!("no `{READY_LINE}` line within {READY_LIMIT:?}; stopped it")
            }
        }
    }

    /// Fails if the daemon is no longer running.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "docksock-monitor exited ({status}); its log:\n{}",
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The end of the daemon's log, for failure messages.
    pub fn log_tail(&self) -> String {
        rundir::tail(&self.log, 40)
    }

    /// Stops the daemon with SIGTERM; fails if it does not exit cleanly.
    pub fn stop(mut self) -> Result<()> {
        match process::terminate(&mut self.child, STOP_LIMIT)? {
            Some(status) if status.success() => Ok(()),
            Some(status) => bail!(
                "docksock-monitor exited with {status} on SIGTERM; its log:\n{}",
                self.log_tail()
            ),
            None => bail!("docksock-monitor ignored SIGTERM for {STOP_LIMIT:?}; killed"),
        }
    }
}

/// Copies the daemon's stderr into its log file, telling the waiting
/// test when the ready line passes and when the stream ends.
fn copy_log(stderr: impl std::io::Read, mut log: File, seen: &mpsc::Sender<Seen>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        writeln!(log, "{line}").ok();
        if line.contains(READY_LINE) {
            seen.send(Seen::Ready).ok();
        }
    }
    seen.send(Seen::Closed).ok();
}
