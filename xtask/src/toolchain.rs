//! Which Rust toolchain builds the eBPF crate, and how cargo is told.
//!
//! The eBPF crate needs the `core` library's source (`-Z build-std=core`).
//! Two routes provide it:
//!
//! - **nightly**: rustup's nightly with the `rust-src` component, the usual
//!   aya setup on a machine with network access to rustup's servers.
//! - **debian-web**: Debian 12's `rustc-web` and `rust-web-src` packages
//!   (rustc 1.96 with its library source), linked into rustup as the
//!   `debian-web` toolchain, with `RUSTC_BOOTSTRAP=1` to unlock `-Z` flags.
//!
//! `docksock-monitor/build.rs` reads `DOCKSOCK_EBPF_TOOLCHAIN` to pick the
//! toolchain it hands to `aya-build`; the same variable, when set by the
//! user, forces a route here.

use std::{fmt, path::PathBuf, process::Command};

use anyhow::{bail, Result};

use crate::cmd;

/// Environment variable naming the eBPF toolchain; read by the monitor's
/// `build.rs`, and honoured here when the user sets it.
pub const TOOLCHAIN_ENV: &str = "DOCKSOCK_EBPF_TOOLCHAIN";

/// Name of the rustup toolchain that points at Debian's compiler.
pub const DEBIAN_TOOLCHAIN: &str = "debian-web";

/// How the eBPF crate gets built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// rustup's nightly toolchain with `rust-src`.
    Nightly,
    /// Debian's `rustc-web`, linked as the `debian-web` rustup toolchain.
    DebianWeb,
}

impl Route {
    /// The route this machine should use: the one named in
    /// `DOCKSOCK_EBPF_TOOLCHAIN`, else nightly when it has `rust-src`,
    /// else Debian's compiler.
    pub fn detect() -> Result<Self> {
        if let Ok(forced) = std::env::var(TOOLCHAIN_ENV) {
            return match forced.as_str() {
                "nightly" => Ok(Self::Nightly),
                DEBIAN_TOOLCHAIN => Ok(Self::DebianWeb),
                other => bail!(
                    "{TOOLCHAIN_ENV}={other:?} is not a known eBPF toolchain: \
                     use `nightly` or `{DEBIAN_TOOLCHAIN}`, or unset it"
                ),
            };
        }
        if nightly_rust_src().is_some() {
            Ok(Self::Nightly)
        } else {
            Ok(Self::DebianWeb)
        }
    }

    /// The toolchain name, as given to `rustup run` and `build.rs`.
    pub fn toolchain(self) -> &'static str {
        match self {
            Self::Nightly => "nightly",
            Self::DebianWeb => DEBIAN_TOOLCHAIN,
        }
    }

    /// Sets what `docksock-monitor/build.rs` and `aya-build` need on a
    /// cargo command: the toolchain name, `RUSTC_BOOTSTRAP` for Debian's
    /// stable compiler, and cargo's bin directory (for `bpf-linker`).
    pub fn apply(self, cargo: &mut Command) {
        cargo.env(TOOLCHAIN_ENV, self.toolchain());
        cargo.env("PATH", cmd::path_with_cargo_bin());
        if self == Self::DebianWeb {
            cargo.env("RUSTC_BOOTSTRAP", "1");
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nightly => f.write_str("nightly (rustup nightly with rust-src)"),
            Self::DebianWeb => {
                f.write_str("debian-web (Debian's rustc-web and rust-web-src, RUSTC_BOOTSTRAP=1)")
            }
        }
    }
}

/// The library source of rustup's nightly, if nightly and `rust-src` are
/// both installed. Never installs anything: the toolchain list is read
/// first so that `rustup run` cannot trigger a download.
pub fn nightly_rust_src() -> Option<PathBuf> {
    let listed = rustup_toolchains()?;
    if !listed.iter().any(|t| t.starts_with("nightly")) {
        return None;
    }
    let sysroot = cmd::output(
        cmd::program("rustup")
            .env("RUSTUP_AUTO_INSTALL", "0")
            .args(["run", "nightly", "rustc", "--print", "sysroot"]),
    )?;
    let library = PathBuf::from(sysroot.trim()).join("lib/rustlib/src/rust/library");
    library.join("core/Cargo.toml").is_file().then_some(library)
}

/// Names of rustup's installed toolchains, or `None` without rustup.
pub fn rustup_toolchains() -> Option<Vec<String>> {
    cmd::which("rustup")?;
    let listed = cmd::output(cmd::program("rustup").args(["toolchain", "list"]))?;
    let names = listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    Some(names)
}
