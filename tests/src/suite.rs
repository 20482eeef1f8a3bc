//! The harness each root suite runs in: one private dockerd and one
//! daemon under test for the whole suite, its tests one after another, a
//! report in libtest's style, and a ledger line per test for xtask.
//!
//! Suites are test binaries with `harness = false`, so that setup and
//! teardown happen once, in order, on the main thread (the children are
//! tied to it with `PR_SET_PDEATHSIG`).

use std::{
    env,
    fs::OpenOptions,
    io::Write as _,
    os::unix::fs::MetadataExt as _,
    panic::{self, AssertUnwindSafe},
    path::Path,
    process::ExitCode,
    time::Instant,
};

use anyhow::{bail, Context as _, Result};

use crate::{
    client,
    dockerd::Dockerd,
    events::{self, EventLog},
    images,
    monitor::Monitor,
    process,
    rundir::RunDir,
};

/// Set to `1` (by `cargo xtask test`) to run the root suites.
pub const ROOT_TESTS_ENV: &str = "DOCKSOCK_ROOT_TESTS";
/// File each suite appends `suite`/`test` lines to, for xtask's check.
pub const LEDGER_ENV: &str = "DOCKSOCK_TEST_LEDGER";

/// One test of a suite.
#[derive(Debug, Clone, Copy)]
pub struct Test {
    /// Name, as selected by a filter argument.
    pub name: &'static str,
    /// The test: fails with an error (or a panic).
    pub run: fn(&mut Env) -> Result<()>,
}

/// What every test of a suite shares: the private dockerd, the daemon
/// watching its socket, and the daemon's events.
#[derive(Debug)]
pub struct Env {
    /// The private Docker daemon.
    pub dockerd: Dockerd,
    /// The daemon's JSON lines.
    pub events: EventLog,
    monitor: Monitor,
    dir: RunDir,
    images: bool,
    counter: u64,
}

impl Env {
    fn start(suite: &str) -> Result<Self> {
        // Fail before starting anything when there is nothing to test.
        Monitor::binary()?;
        let dir = RunDir::create(suite)?;
        let kept = |err: anyhow::Error| {
            anyhow::anyhow!("{err:#}\nrun directory kept: {}", dir.path().display())
        };
        let dockerd = Dockerd::start(dir.path()).map_err(kept)?;
        let events_path = dir.path().join("events.jsonl");
        let log = dir.path().join("monitor.log");
        let monitor = match Monitor::start(dockerd.socket(), &events_path, &log) {
            Ok(monitor) => monitor,
            Err(err) => {
                if let Err(stop) = dockerd.stop() {
                    eprintln!("{suite}: {stop:#}");
                }
                return Err(kept(err));
            }
        };
        Ok(Self {
            dockerd,
            events: EventLog::new(&events_path),
            monitor,
            dir,
            images: false,
            counter: 0,
        })
    }

    /// The watched socket: the private dockerd's.
    pub fn socket(&self) -> &Path {
        self.dockerd.socket()
    }

    /// Inode of the watched socket file.
    pub fn socket_inode(&self) -> Result<u64> {
        let meta = std::fs::metadata(self.socket()).context("stat of the docker socket")?;
        Ok(meta.ino())
    }

    /// The suite's private directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Imports the test images into the private dockerd (once per suite).
    pub fn import_images(&mut self) -> Result<()> {
        if !self.images {
            images::import_all(&self.dockerd, self.dir.path())?;
            self.images = true;
        }
        Ok(())
    }

    /// A name no other call in this run returns: `<prefix>-<pid>-<n>`.
    pub fn unique(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}-{}", std::process::id(), self.counter)
    }

    /// Sends a marker request on a new connection and waits for the daemon
    /// to report it; returns its index in [`Self::events`]. Everything sent
    /// before the barrier has been seen by then, so a test can assert that
    /// something was *not* reported without sleeping.
    pub fn barrier(&mut self) -> Result<usize> {
        let target = format!("/_ping?docksock-barrier={}", self.unique("b"));
        let reply = client::request(self.socket(), "GET", &target)?;
        if reply.status != 200 {
            bail!("barrier request {target} answered {}", reply.status);
        }
        let pid = std::process::id();
        self.events
            .wait_from(0, &format!("for the barrier request {target}"), |ev| {
                events::from_pid(ev, pid)
                    && events::text(ev, "/kind") == Some("request")
                    && events::text(ev, "/http/path") == Some(target.as_str())
            })
    }

    fn stop(self, failed: bool) -> Result<()> {
        let monitor = self.monitor.stop();
        let dockerd = self.dockerd.stop();
        let keep = failed || monitor.is_err() || dockerd.is_err();
        let dir = self.dir.finish(keep);
        monitor.and(dockerd).and(dir)
    }
}

/// Command-line arguments cargo passes to test binaries.
#[derive(Debug, Default)]
struct Args {
    list: bool,
    exact: bool,
    filters: Vec<String>,
    skip: Vec<String>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Self {
        let mut parsed = Self::default();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--list" => parsed.list = true,
                "--exact" => parsed.exact = true,
                "--skip" => parsed.skip.extend(args.next()),
                // libtest options that take a value; their values are no filters.
                "--format" | "--color" | "--test-threads" | "--logfile" | "-Z" => {
                    args.next();
                }
                flag if flag.starts_with('-') => {}
                filter => parsed.filters.push(filter.to_owned()),
            }
        }
        parsed
    }

    fn selects(&self, name: &str) -> bool {
        let matches = |f: &String| {
            if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self.skip.iter().any(|s| name.contains(s.as_str()))
    }
}

/// Runs the suite `suite` (the file name of its test binary) and returns
/// the process exit code.
pub fn run(suite: &str, tests: &[Test]) -> ExitCode {
    let args = Args::parse(env::args().skip(1));
    if args.list {
        for test in tests {
            println!("{}: test", test.name);
        }
        return ExitCode::SUCCESS;
    }
    let selected: Vec<Test> = tests
        .iter()
        .copied()
        .filter(|t| args.selects(t.name))
        .collect();

    if env::var(ROOT_TESTS_ENV).ok().as_deref() != Some("1") {
        println!(
            "\n{suite}: {} root tests not run: they need root and start their own \
             dockerd; `cargo xtask test` runs them ({ROOT_TESTS_ENV}=1)\n",
            selected.len()
        );
        return ExitCode::SUCCESS;
    }

    let mut ledger = Ledger::open(suite);
    ledger.line(&format!("suite {suite} selected {}", selected.len()));
    println!("\nrunning {} root tests of {suite}", selected.len());
    if selected.is_empty() {
        return ExitCode::SUCCESS;
    }

    let started = Instant::now();
    let failures = match start_and_run(suite, &selected, &mut ledger) {
        Ok(failures) => failures,
        Err(err) => {
            for test in &selected {
                ledger.line(&format!("test {suite} {} failed", test.name));
            }
            vec![("setup".to_owned(), format!("{err:#}"))]
        }
    };

    for (name, message) in &failures {
        println!("\n---- {name} ----\n{message}");
    }
    let outcome = if failures.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {outcome}. {} selected; {} failures; finished in {:.1}s\n",
        selected.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts the environment, runs `tests`, stops it; returns the failures
/// as (name, message). Fails only if the environment did not start.
fn start_and_run(
    suite: &str,
    tests: &[Test],
    ledger: &mut Ledger,
) -> Result<Vec<(String, String)>> {
    if !process::is_root() {
        bail!(
            "the root suites load eBPF programs and start dockerd: run them as root \
             (`cargo xtask test` as root)"
        );
    }
    let mut env = Env::start(suite)?;
    let mut failures = Vec::new();

    for test in tests {
        print!("test {} ... ", test.name);
        std::io::stdout().flush().ok();
        let started = Instant::now();
        let result = match panic::catch_unwind(AssertUnwindSafe(|| (test.run)(&mut env))) {
            Ok(result) => result.and_then(|()| env.monitor.check_alive()),
            Err(_) => Err(anyhow::anyhow!("panicked (message above)")),
        };
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                println!("ok ({secs:.1}s)");
                ledger.line(&format!("test {suite} {} ok", test.name));
            }
            Err(err) => {
                println!("FAILED ({secs:.1}s)");
                ledger.line(&format!("test {suite} {} failed", test.name));
                failures.push((test.name.to_owned(), format!("{err:#}")));
            }
        }
    }

    if let Err(err) = env.stop(!failures.is_empty()) {
        failures.push(("teardown".to_owned(), format!("{err:#}")));
    }
    Ok(failures)
}

/// The ledger file xtask reads, if `DOCKSOCK_TEST_LEDGER` names one.
struct Ledger {
    file: Option<std::fs::File>,
}

impl Ledger {
    fn open(suite: &str) -> Self {
        let file = env::var_os(LEDGER_ENV).and_then(|path| {
            let opened = OpenOptions::new().create(true).append(true).open(&path);
            match opened {
                Ok(file) => Some(file),
                Err(err) => {
                    eprintln!("{suite}: cannot open ledger {path:?}: {err}");
                    None
                }
            }
        });
        Self { file }
    }

    fn line(&mut self, line: &str) {
        if let Some(file) = &mut self.file {
            writeln!(file, "{line}").ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Args {
        Args::parse(words.iter().map(|w| (*w).to_owned()))
    }

    #[test]
    fn filters_select_by_substring_or_exactly() {
        let a = args(&["--test-threads", "1", "split", "--nocapture"]);
        assert!(a.selects("request_line_split_across_writes"));
        assert!(!a.selects("pipelined_requests"));
        assert!(!a.selects("1"));

        let a = args(&["--exact", "split"]);
        assert!(!a.selects("request_line_split_across_writes"));
        assert!(a.selects("split"));
    }

    #[test]
    fn no_filter_selects_all_but_skipped() {
        let a = args(&["--skip", "pipe"]);
        assert!(a.selects("split"));
        assert!(!a.selects("pipelined_requests"));
        assert!(args(&[]).selects("anything"));
    }
}
