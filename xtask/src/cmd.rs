//! Small helpers for running programs and finding things on this machine.

use std::{
    env,
    ffi::OsStr,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

/// The workspace root: the parent of this crate's directory.
pub fn workspace_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

/// Cargo's target directory for this workspace.
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// The cargo that runs us (`cargo xtask` sets `CARGO`), else `cargo`.
pub fn cargo() -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    cmd
}

/// Prints a section header, so a long CI log reads as a list of steps.
pub fn section(title: &str) {
    println!("\n==> {title}");
}

/// Runs `cmd` with inherited output and fails unless it exits with 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = display(cmd);
    println!("+ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its standard output if it exits with 0.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(std::process::Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

/// The command line of `cmd`, for messages.
pub fn display(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Finds `program` on `PATH` (or in cargo's bin directory, which a fresh
/// shell may not have on `PATH` yet).
pub fn which(program: impl AsRef<OsStr>) -> Option<PathBuf> {
    let program = program.as_ref();
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(cargo_bin_dir())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// A command for `program`, found as [`which`] finds it (so `rustup` in
/// cargo's bin directory works even when that is not on `PATH`).
pub fn program(program: &str) -> Command {
    Command::new(which(program).unwrap_or_else(|| PathBuf::from(program)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;

    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where `cargo install` puts programs: `$CARGO_HOME/bin`.
pub fn cargo_bin_dir() -> Option<PathBuf> {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(home.join("bin"))
}

/// `PATH` with cargo's bin directory appended when it is missing, so that
/// cargo finds a `bpf-linker` that `cargo install` just put there.
pub fn path_with_cargo_bin() -> std::ffi::OsString {
    let path = env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = env::split_paths(&path).collect();
    if let Some(bin) = cargo_bin_dir() {
        if !dirs.contains(&bin) {
            dirs.push(bin);
        }
    }
    env::join_paths(dirs).unwrap_or(path)
}

/// Whether we run as root (effective uid 0), read from `/proc/self/status`.
pub fn is_root() -> bool {
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}
