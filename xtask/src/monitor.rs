//! `cargo xtask build` and `cargo xtask run`: the release daemon with its
//! eBPF object embedded.
//!
//! The eBPF crate is not built here: `docksock-monitor/build.rs` builds it
//! with `aya-build` and embeds it. What this module adds is the
//! environment that build script needs (see [`Route::apply`]).

use std::{ffi::OsString, path::PathBuf, process::Command};

use anyhow::{bail, Result};

use crate::{cmd, toolchain::Route};

/// The daemon's package and binary name.
const MONITOR: &str = "docksock-monitor";

/// Where `cargo xtask build` leaves the daemon.
pub fn binary() -> PathBuf {
    cmd::target_dir().join("release").join(MONITOR)
}

/// Builds the release daemon with the eBPF object embedded.
pub fn build(route: Route) -> Result<PathBuf> {
    cmd::section(&format!(
        "build: {MONITOR}, eBPF toolchain {}",
        route.toolchain()
    ));
    let mut cargo = cmd::cargo();
    cargo.args(["build", "--release", "--package", MONITOR, "--bin", MONITOR]);
    route.apply(&mut cargo);
    cmd::run(&mut cargo)?;

    let binary = binary();
    if !binary.is_file() {
        bail!("cargo succeeded but {} is missing", binary.display());
    }
    println!("build: {} (eBPF toolchain: {route})", binary.display());
    Ok(binary)
}

/// Runs `docksock-monitor run ARGS` in the foreground, through sudo when
/// we are not root (loading eBPF programs needs root).
pub fn run(route: Route, args: &[OsString]) -> Result<()> {
    let binary = build(route)?;
    cmd::section(&format!("run: {MONITOR} run (Ctrl-C stops it)"));

    let mut daemon = if cmd::is_root() {
        Command::new(&binary)
    } else if cmd::which("sudo").is_some() {
        let mut sudo = Command::new("sudo");
        sudo.arg("--preserve-env=RUST_LOG").arg(&binary);
        sudo
    } else {
        bail!(
            "{MONITOR} run loads eBPF programs and needs root; run `cargo xtask run` \
             as root or install sudo"
        );
    };
    daemon.arg("run").args(args);
    cmd::run(&mut daemon)
}
