//! `cargo xtask test`: every test, in the order CI runs them.
//!
//! 1. setup (quiet when nothing is missing);
//! 2. unit tests: `cargo test --workspace`, no root needed; the root
//!    suites in `tests/` notice they were not asked to run and say so;
//! 3. the release daemon, which the root suites drive;
//! 4. the root suites: `cargo test -p docksock-tests` with
//!    `DOCKSOCK_ROOT_TESTS=1`; each suite starts its own dockerd;
//! 5. a check that every suite in `tests/tests/` really ran its tests,
//!    read from the ledger the suites write, so that a suite that skipped
//!    itself cannot pass for one that succeeded.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};

use crate::{cmd, monitor, setup, toolchain::Route};

/// Set to `1` to make the root suites run instead of excusing themselves.
const ROOT_TESTS_ENV: &str = "DOCKSOCK_ROOT_TESTS";
/// Path of the daemon binary the root suites start.
const MONITOR_ENV: &str = "DOCKSOCK_MONITOR";
/// File the root suites append their results to.
const LEDGER_ENV: &str = "DOCKSOCK_TEST_LEDGER";

/// Runs every step, keeps going after a failed one where that still
/// tells something, and fails if any step failed.
pub fn all(args: &[OsString]) -> Result<()> {
    cmd::section("setup");
    let route = setup::ensure()?;

    let mut steps: Vec<(&str, Result<()>)> = Vec::new();
    steps.push(("unit tests (cargo test --workspace)", unit(route)));

    match monitor::build(route) {
        Ok(binary) => {
            steps.push(("release build", Ok(())));
            let ledger = cmd::target_dir().join("docksock-tests").join("ledger.txt");
            steps.push((
                "root integration suites",
                integration(route, &binary, &ledger, args),
            ));
            cmd::section("check: every integration suite ran its tests");
            steps.push(("check: integration tests ran", check_ledger(&ledger)));
        }
        Err(err) => {
            steps.push(("release build", Err(err)));
            steps.push((
                "root integration suites",
                Err(anyhow::anyhow!("not run: no build")),
            ));
        }
    }

    cmd::section("summary");
    let mut failed = 0;
    for (name, result) in &steps {
        match result {
            Ok(()) => println!("  ok      {name}"),
            Err(err) => {
                failed += 1;
                println!("  FAILED  {name}: {err:#}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} steps failed", steps.len());
    }
    Ok(())
}

fn unit(route: Route) -> Result<()> {
    cmd::section("unit tests: cargo test --workspace (no root needed)");
    let mut cargo = cmd::cargo();
    cargo.args(["test", "--workspace", "--no-fail-fast"]);
    route.apply(&mut cargo);
    cmd::run(&mut cargo)
}

fn integration(route: Route, binary: &Path, ledger: &Path, args: &[OsString]) -> Result<()> {
    cmd::section("integration tests: tests/ (root, private dockerd)");
    if !cmd::is_root() {
        bail!(
            "the integration suites load eBPF programs and start dockerd, so they \
             need root: run `cargo xtask test` as root"
        );
    }
    if let Some(dir) = ledger.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match fs::remove_file(ledger) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("removing {}", ledger.display())),
    }

    let mut cargo = cmd::cargo();
    cargo
        .args([
            "test",
            "--package",
            "docksock-tests",
            "--tests",
            "--no-fail-fast",
            "--",
        ])
        .args(args)
        .env(ROOT_TESTS_ENV, "1")
        .env(MONITOR_ENV, binary)
        .env(LEDGER_ENV, ledger);
    route.apply(&mut cargo);
    cmd::run(&mut cargo)
}

/// Fails unless every suite in `tests/tests/` reported each test it
/// selected, and at least one test ran.
fn check_ledger(ledger: &Path) -> Result<()> {
    let text = fs::read_to_string(ledger).with_context(|| {
        format!(
            "no ledger at {}: the root suites did not run (was {ROOT_TESTS_ENV} lost?)",
            ledger.display()
        )
    })?;
    let suites = suite_names(&cmd::workspace_root().join("tests").join("tests"))?;
    let counts = parse_ledger(&text)?;

    let mut ran = 0;
    for suite in &suites {
        let Some(count) = counts.get(suite) else {
            bail!("suite `{suite}` (tests/tests/{suite}.rs) wrote nothing to the ledger");
        };
        if count.reported != count.selected {
            bail!(
                "suite `{suite}` selected {} tests but reported {}",
                count.selected,
                count.reported
            );
        }
        ran += count.reported;
    }
    if ran == 0 {
        bail!("no integration test ran (does the filter match any test?)");
    }
    println!(
        "check: {ran} integration tests ran in {} suites",
        suites.len()
    );
    Ok(())
}

/// Tests one suite selected, and how many it reported a result for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Count {
    selected: usize,
    reported: usize,
}

/// Reads ledger lines `suite NAME selected N` and `test SUITE NAME RESULT`.
fn parse_ledger(text: &str) -> Result<BTreeMap<String, Count>> {
    let mut counts: BTreeMap<String, Count> = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["suite", suite, "selected", n] => {
                let n = n
                    .parse()
                    .with_context(|| format!("bad ledger line {line:?}"))?;
                counts.entry((*suite).to_owned()).or_default().selected = n;
            }
            ["test", suite, _name, "ok" | "failed"] => {
                counts.entry((*suite).to_owned()).or_default().reported += 1;
            }
            _ => bail!("bad ledger line {line:?}"),
        }
    }
    Ok(counts)
}

/// Names of the suites: the `.rs` files directly in `tests/tests/`.
fn suite_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path: PathBuf = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            if let Some(stem) = path.file_stem() {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_counts_selected_and_reported_tests() -> Result<()> {
        let counts = parse_ledger(
            "suite a selected 2\ntest a one ok\ntest a two failed\nsuite b selected 1\n",
        )?;
        assert_eq!(
            counts["a"],
            Count {
                selected: 2,
                reported: 2
            }
        );
        assert_eq!(
            counts["b"],
            Count {
                selected: 1,
                reported: 0
            }
        );
        Ok(())
    }

    #[test]
    fn ledger_rejects_lines_it_does_not_know() {
        assert!(parse_ledger("test a one skipped\n").is_err());
        assert!(parse_ledger("suite a selected many\n").is_err());
    }
}
