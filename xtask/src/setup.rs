//! `cargo xtask setup`: install what this machine lacks to build and test
//! docksock, and nothing when all is there.
//!
//! Every step checks before it acts (`dpkg-query`, `PATH`, `rustup
//! toolchain list`), and `apt-get update` runs only when a package is
//! missing, so a second run prints one line and changes nothing.

use std::process::Command;

use anyhow::{bail, Context as _, Result};

use crate::{
    cmd,
    toolchain::{self, Route, DEBIAN_TOOLCHAIN},
};

/// Debian packages for building the eBPF crate with Debian's compiler, and
/// for building `bpf-linker` against Debian's LLVM 22.
const DEBIAN_ROUTE_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
];

/// Debian packages the integration tests use on every route: the Docker
/// engine and CLI, and a static busybox to build test images from.
const TEST_PACKAGES: &[&str] = &["docker.io", "busybox-static"];

/// LLVM that Debian's `rustc-web` uses, and that `bpf-linker` links.
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";

/// The `bpf-linker` release known to build against LLVM 22 here.
const BPF_LINKER_VERSION: &str = "=0.13.0";

/// What setup did, so callers can stay quiet when nothing was needed.
#[derive(Debug, Default)]
pub struct Report {
    /// Human-readable list of actions taken.
    pub actions: Vec<String>,
}

/// Installs whatever is missing and returns the eBPF route in use.
///
/// Prints one line when everything is already there.
pub fn ensure() -> Result<Route> {
    let route = Route::detect()?;
    let mut report = Report::default();

    install_packages(route, &mut report)?;
    if route == Route::DebianWeb {
        link_debian_toolchain(&mut report)?;
    }
    install_bpf_linker(route, &mut report)?;

    if report.actions.is_empty() {
        println!("setup: everything is installed; eBPF toolchain: {route}");
    } else {
        println!("setup: eBPF toolchain: {route}");
        for action in &report.actions {
            println!("setup: {action}");
        }
    }
    Ok(route)
}

fn install_packages(route: Route, report: &mut Report) -> Result<()> {
    let mut wanted: Vec<&str> = TEST_PACKAGES.to_vec();
    if route == Route::DebianWeb {
        wanted.extend(DEBIAN_ROUTE_PACKAGES);
    }
    let missing: Vec<&str> = wanted
        .into_iter()
        .filter(|package| !package_present(package))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }

    if cmd::which("apt-get").is_none() {
        bail!(
            "missing packages {missing:?} and no apt-get on this machine: install \
             their equivalents (Docker engine with CLI at /usr/bin/docker, a static \
             busybox, LLVM 22 development files) and run `cargo xtask setup` again"
        );
    }
    cmd::section(&format!("setup: installing {}", missing.join(" ")));
    cmd::run(privileged("apt-get").args(["update", "-q"]))?;
    cmd::run(
        privileged("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )?;
    report
        .actions
        .push(format!("installed {}", missing.join(" ")));
    Ok(())
}

/// Whether `package` is installed, or (for Docker) an equivalent is: a
/// machine with Docker's own `docker-ce` packages has `dockerd` and
/// `/usr/bin/docker` without `docker.io`, which conflicts with them.
fn package_present(package: &str) -> bool {
    if package == "docker.io"
        && cmd::which("dockerd").is_some()
        && std::path::Path::new("/usr/bin/docker").is_file()
    {
        return true;
    }
    let status = cmd::output(Command::new("dpkg-query").args([
        "--show",
        "--showformat=${db:Status-Abbrev}",
        package,
    ]));
    status.is_some_and(|s| s.starts_with("ii"))
}

/// `program` run as root: directly when we are root, else through sudo.
fn privileged(program: &str) -> Command {
    if cmd::is_root() || cmd::which("sudo").is_none() {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg(program);
        sudo
    }
}

/// Makes Debian's compiler a rustup toolchain, which is how `aya-build`
/// selects a compiler (`rustup run debian-web cargo build ...`).
fn link_debian_toolchain(report: &mut Report) -> Result<()> {
    let Some(listed) = toolchain::rustup_toolchains() else {
        println!(
            "setup: no rustup here; the eBPF crate will be built by the `cargo` \
             on PATH, which must be Debian's (/usr/bin/cargo from cargo-web)"
        );
        return Ok(());
    };
    if listed.iter().any(|name| name == DEBIAN_TOOLCHAIN) {
        return Ok(());
    }
    cmd::run(cmd::program("rustup").args(["toolchain", "link", DEBIAN_TOOLCHAIN, "/usr"]))?;
    report.actions.push(format!(
        "linked /usr as the rustup toolchain {DEBIAN_TOOLCHAIN}"
    ));
    Ok(())
}

/// Installs `bpf-linker` when it is on neither `PATH` nor cargo's bin dir.
fn install_bpf_linker(route: Route, report: &mut Report) -> Result<()> {
    if cmd::which("bpf-linker").is_some() {
        return Ok(());
    }
    cmd::section("setup: installing bpf-linker (about a minute)");
    let mut install = cmd::cargo();
    install.args(["install", "bpf-linker"]);
    match route {
        Route::DebianWeb => {
            install
                .env("LLVM_PREFIX", LLVM_PREFIX)
                .args(["--version", BPF_LINKER_VERSION])
                .args(["--no-default-features", "--features", "llvm-22"]);
        }
        // The usual aya route: bpf-linker's default LLVM.
        Route::Nightly => {}
    }
    cmd::run(&mut install).context(
        "installing bpf-linker failed (cargo's output is above); on the debian-web \
         route it builds against llvm-22-dev, libpolly-22-dev, libzstd-dev and zlib1g-dev",
    )?;
    report.actions.push("installed bpf-linker".to_owned());
    Ok(())
}
