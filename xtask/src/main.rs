//! docksock's developer commands, run as `cargo xtask <command>`.
//!
//! - `setup`: install what this machine lacks (Debian packages, the
//!   `debian-web` rustup toolchain, `bpf-linker`); quiet when all is there.
//! - `build`: `target/release/docksock-monitor` with the eBPF object inside.
//! - `run [-- ARGS]`: setup, build, then `docksock-monitor run ARGS` as root.
//! - `test [-- FILTER]`: setup, then every test: unit tests, the release
//!   build, and the root integration suites in `tests/`.

mod cmd;
mod monitor;
mod setup;
mod testing;
mod toolchain;

use std::{ffi::OsString, process::ExitCode};

use anyhow::Result;
use clap::{Parser, Subcommand};

/// docksock's developer commands.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install what this machine lacks to build and test docksock.
    Setup,
    /// Build target/release/docksock-monitor with the eBPF object embedded.
    Build,
    /// Set up, build, and run `docksock-monitor run` (as root).
    Run {
        /// Arguments for `docksock-monitor run`.
        #[arg(last = true)]
        args: Vec<OsString>,
    },
    /// Set up, then run every test; integration tests need root.
    Test {
        /// Arguments for the integration suites (a test name filter).
        #[arg(last = true)]
        args: Vec<OsString>,
    },
}

fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Task::Setup => setup::ensure().map(drop),
        Task::Build => monitor::build(setup::ensure()?).map(drop),
        Task::Run { args } => monitor::run(setup::ensure()?, &args),
        Task::Test { args } => testing::all(&args),
    }
}
