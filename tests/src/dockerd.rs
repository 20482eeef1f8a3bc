//! A private Docker daemon for one suite run.
//!
//! Debian's `dockerd` (Docker Engine 20.10) started on a socket inside the
//! run directory, with its own data root, exec root and pid file, so a
//! Docker daemon already running on the host is neither used nor
//! disturbed. No bridge and no iptables rules: containers run with
//! `--network none`. When no system containerd is running, dockerd starts
//! and stops its own; when one is, the private namespaces below keep this
//! daemon's containers apart from the host daemon's.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use crate::{client, process, rundir};

/// The Docker CLI from Debian's `docker.io` package.
pub const DOCKER_CLI: &str = "/usr/bin/docker";

/// How long dockerd may take to answer `/_ping` after it starts.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long dockerd may take to shut down on SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// How long one `docker` CLI command may run.
pub const CLI_LIMIT: Duration = Duration::from_secs(120);

/// A running private dockerd.
#[derive(Debug)]
pub struct Dockerd {
    child: Child,
    socket: PathBuf,
    data_root: PathBuf,
    exec_root: PathBuf,
    config: PathBuf,
    log: PathBuf,
}

impl Dockerd {
    /// Starts dockerd under `dir` and waits until `/_ping` answers.
    pub fn start(dir: &Path) -> Result<Self> {
        let socket = dir.join("docker.sock");
        let data_root = dir.join("data");
        let exec_root = dir.join("exec");
        let config = dir.join("docker-cli-config");
        let log = dir.join("dockerd.log");
        fs::create_dir_all(&config)?;
        let log_file = fs::File::create(&log).context("creating dockerd.log")?;

        let mut cmd = Command::new("dockerd");
        cmd.arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(&data_root)
            .arg("--exec-root")
            .arg(&exec_root)
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .args(["--ip-masq=false", "--userland-proxy=false"])
            .args(["--containerd-namespace", "docksock-test"])
            .args(["--containerd-plugins-namespace", "docksock-test-plugins"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        process::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .context("starting dockerd (is docker.io installed? `cargo xtask setup`)")?;

        let mut dockerd = Self {
            child,
            socket,
            data_root,
            exec_root,
            config,
            log,
        };
        if let Err(err) = dockerd.wait_ready() {
            let log = rundir::tail(&dockerd.log, 30);
            dockerd.stop().ok();
            return Err(err.context(format!("dockerd did not come up; its log:\n{log}")));
        }
        Ok(dockerd)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("dockerd exited ({status})");
            }
            if let Ok(reply) = client::request(&self.socket, "GET", "/_ping") {
                if reply.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "no answer to GET /_ping on {} in {START_LIMIT:?}",
                    self.socket.display()
                );
            }
            thread::sleep(process::POLL);
        }
    }

    /// The daemon's API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// A `docker` CLI command aimed at this daemon, with a private CLI
    /// config directory and no host context.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(DOCKER_CLI);
        cmd.env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", &self.config)
            .arg("--host")
            .arg(format!("unix://{}", self.socket.display()));
        cmd
    }

    /// Runs `docker ARGS` against this daemon; returns its trimmed output.
    pub fn docker<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = process::run_ok(self.cli().args(args), CLI_LIMIT)?;
        Ok(out.trim().to_owned())
    }

    /// Stops dockerd (SIGTERM, then SIGKILL, also for the containerd it
    /// started), then undoes the mounts it leaves behind: where `/` has
    /// private propagation dockerd bind-mounts its data root onto itself
    /// and does not always unmount it.
    pub fn stop(mut self) -> Result<()> {
        let stopped = process::terminate(&mut self.child, STOP_LIMIT)?;
        if stopped.is_none() {
            let pidfile = self.exec_root.join("containerd").join("containerd.pid");
            if let Ok(pid) = fs::read_to_string(&pidfile) {
                if let Ok(pid) = pid.trim().parse::<u32>() {
                    process::signal(pid, libc::SIGKILL).ok();
                }
            }
        }
        rundir::unmount_below(&self.data_root)?;
        rundir::unmount_below(&self.exec_root)?;
        if stopped.is_none() {
            bail!("dockerd did not stop within {STOP_LIMIT:?} of SIGTERM and was killed");
        }
        Ok(())
    }
}
