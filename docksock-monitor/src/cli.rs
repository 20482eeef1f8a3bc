//! Command line of `docksock-monitor`.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

/// Socket files watched when no `--socket` is given.
pub const DEFAULT_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];

/// docksock: who uses the Docker API socket on this host, and for what.
#[derive(Debug, Parser)]
#[command(name = "docksock-monitor", version, about)]
pub struct Cli {
    /// Log level for operator logs: error, warn, info, debug, trace.
    /// `RUST_LOG` overrides it.
    #[arg(long, global = true, default_value = "info", env = "DOCKSOCK_LOG")]
    pub log_level: String,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the kernel program and report every connect and request on the
    /// watched sockets as JSON lines.
    Run(RunArgs),
    /// Print what this kernel allows and which hooks `run` would use,
    /// leaving nothing loaded.
    Check(CheckArgs),
    /// Run records written by `run --record` through the same pipeline.
    Replay(ReplayArgs),
}

/// Where events go.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write JSON lines here instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,
}

/// `run`'s options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Socket file to watch; repeat for several. Default:
    /// /var/run/docker.sock and /run/docker.sock.
    #[arg(long = "socket", value_name = "PATH")]
    pub sockets: Vec<PathBuf>,

    /// Event output.
    #[command(flatten)]
    pub output: OutputArgs,

    /// Serve Prometheus metrics and health checks on this address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:10027")]
    pub metrics_addr: SocketAddr,

    /// Do not serve metrics.
    #[arg(long)]
    pub no_metrics: bool,

    /// Also write every raw kernel record to this file, for `replay`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Ring buffer size in bytes: a power of two, at least 4096.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024,
          value_parser = parse_ring_size)]
    pub ring_buffer_size: u32,

    /// Query the Docker API on this socket for container names and images.
    /// Default: the watched sockets, in order.
    #[arg(long, value_name = "PATH")]
    pub docker_api: Option<PathBuf>,

    /// Do not query any container runtime API (ids only).
    #[arg(long)]
    pub no_api_lookups: bool,
}

impl RunArgs {
    /// The sockets to watch, with the defaults applied.
    pub fn sockets(&self) -> Vec<PathBuf> {
        if self.sockets.is_empty() {
            DEFAULT_SOCKETS.iter().map(PathBuf::from).collect()
        } else {
            self.sockets.clone()
        }
    }
}

/// `check`'s options.
#[derive(Debug, Args)]
pub struct CheckArgs {}

/// `replay`'s options.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A file written by `run --record`.
    pub file: PathBuf,

    /// Event output.
    #[command(flatten)]
    pub output: OutputArgs,

    /// Socket file the records were made on, as `PATH=DEV:INODE` (repeatable;
    /// `run` prints DEV and INODE at start), so that events name it.
    /// Replayed times are the kernel's monotonic clock (time since boot),
    /// not wall-clock time.
    #[arg(long = "socket", value_name = "PATH=DEV:INODE")]
    pub sockets: Vec<String>,
}

fn parse_ring_size(text: &str) -> Result<u32, String> {
    let size: u32 = text.parse().map_err(|err| format!("{text:?} is not a byte count: {err}"))?;
    if size < 4096 || !size.is_power_of_two() {
        return Err(format!("{size} is not a power of two of at least 4096"));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_watch_both_docker_paths() {
        let cli = Cli::try_parse_from(["docksock-monitor", "run"]).expect("parses");
        let Command::Run(args) = cli.command else { panic!("not run") };
        assert_eq!(args.sockets(), vec![PathBuf::from("/var/run/docker.sock"), PathBuf::from("/run/docker.sock")]);
        assert_eq!(args.ring_buffer_size, 16 * 1024 * 1024);
    }

    #[test]
    fn ring_size_must_be_a_power_of_two() {
        assert!(parse_ring_size("12345").is_err());
        assert!(parse_ring_size("1024").is_err());
        assert!(parse_ring_size("abc").is_err());
        assert_eq!(parse_ring_size("65536"), Ok(65536));
    }
}
