//! Builds `docksock-ebpf` for the BPF target and leaves the object in
//! `OUT_DIR` for `include_bytes_aligned!`.
//!
//! Two routes, chosen by `DOCKSOCK_EBPF_TOOLCHAIN` or else detected:
//! - `debian-web`: Debian's rustc-web linked as a rustup toolchain, with its
//!   library source, building `core` through `RUSTC_BOOTSTRAP=1`;
//! - `nightly` (or any other toolchain name): rustup's nightly with
//!   `rust-src`, the usual aya route.

use std::process::Command;

use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=DOCKSOCK_EBPF_TOOLCHAIN");
    let toolchain = std::env::var("DOCKSOCK_EBPF_TOOLCHAIN").unwrap_or_else(|_| detect());
    if toolchain != "nightly" && !toolchain.starts_with("nightly-") {
        // A stable toolchain builds `core` for the BPF target only with
        // unstable flags unlocked; aya-build reads this variable.
        // SAFETY: build scripts are single-threaded at this point.
        unsafe { std::env::set_var("RUSTC_BOOTSTRAP", "1") };
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../docksock-ebpf");
    let package = Package { name: "docksock-ebpf", root_dir: root, ..Default::default() };
    aya_build::build_ebpf([package], Toolchain::Custom(&toolchain))
}

/// `debian-web` when rustup knows it, else `nightly`.
fn detect() -> String {
    let listed = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    if listed.lines().any(|line| line.starts_with("debian-web")) {
        "debian-web".to_owned()
    } else {
        "nightly".to_owned()
    }
}
