//! A private working directory for one suite run, removed with care.

use std::{
    fs,
    os::unix::fs::{DirBuilderExt as _, MetadataExt as _},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context as _, Result};

/// Set to `1` to keep the run directory (logs, events) even on success.
pub const KEEP_ENV: &str = "DOCKSOCK_TEST_KEEP";

/// A fresh directory under `/tmp`, named so a leftover one can be traced
/// to its suite.
///
/// It lives in `/tmp` rather than the target directory because unix
/// socket paths are limited to 107 bytes and dockerd nests sockets deep
/// inside its exec root.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `/tmp/docksock-<suite>-<pid>-<nanos>` with mode 0700.
    pub fn create(suite: &str) -> Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path = PathBuf::from(format!(
            "/tmp/docksock-{suite}-{}-{nanos:09}",
            std::process::id()
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("creating run directory {}", path.display()))?;
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory unless `keep` is set or anything is still
    /// mounted below it (then it says so and leaves everything in place).
    /// Never crosses into another filesystem while removing.
    pub fn finish(self, keep: bool) -> Result<()> {
        let keep = keep || std::env::var(KEEP_ENV).is_ok_and(|v| v == "1");
        if keep {
            println!("run directory kept (logs, events): {}", self.path.display());
            return Ok(());
        }
        let mounted = mounts_below(&self.path)?;
        if !mounted.is_empty() {
            bail!(
                "not removing {}: still mounted below it: {}",
                self.path.display(),
                mounted.join(", ")
            );
        }
        let dev = fs::symlink_metadata(&self.path)?.dev();
        remove_tree(&self.path, dev)
    }
}

/// Mount points at or below `dir`, from `/proc/self/mountinfo`.
pub fn mounts_below(dir: &Path) -> Result<Vec<String>> {
    let info = fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    let prefix = dir.to_string_lossy();
    let mounts = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| {
            point
                .strip_prefix(prefix.as_ref())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .map(str::to_owned)
        .collect();
    Ok(mounts)
}

/// Detaches every mount at or below `dir`, deepest first. Unmounting
/// deletes nothing; it is what lets [`RunDir::finish`] remove the tree.
pub fn unmount_below(dir: &Path) -> Result<()> {
    let mut points = mounts_below(dir)?;
    points.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in points {
        let c_point = std::ffi::CString::new(unescape_mountinfo(&point))
            .context("mount point with a NUL byte")?;
        // SAFETY: umount2 reads the NUL-terminated path and changes no
        // memory of ours.
        let rc = unsafe { libc::umount2(c_point.as_ptr(), libc::MNT_DETACH) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("unmounting {point}"));
        }
    }
    Ok(())
}

/// Mountinfo writes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mountinfo(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Removes `path` recursively, refusing to enter a directory on a device
/// other than `dev`.
fn remove_tree(path: &Path, dev: u64) -> Result<()> {
    let meta = fs::symlink_metadata(path).with_context(|| format!("stat {}", path.display()))?;
    if !meta.is_dir() {
        return fs::remove_file(path).with_context(|| format!("removing {}", path.display()));
    }
    if meta.dev() != dev {
        bail!(
            "not removing {}: it is on another filesystem",
            path.display()
        );
    }
    for entry in fs::read_dir(path).with_context(|| format!("listing {}", path.display()))? {
        remove_tree(&entry?.path(), dev)?;
    }
    fs::remove_dir(path).with_context(|| format!("removing {}", path.display()))
}

/// The last `lines` lines of a log file, for failure messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return format!("({} unreadable)", path.display());
    };
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_a_tree_and_keeps_nothing() -> Result<()> {
        let dir = RunDir::create("rundir-unit")?;
        let path = dir.path().to_path_buf();
        fs::create_dir_all(path.join("a/b"))?;
        fs::write(path.join("a/b/f"), "x")?;
        std::os::unix::fs::symlink("/etc", path.join("a/link"))?;
        dir.finish(false)?;
        assert!(!path.exists());
        assert!(Path::new("/etc").is_dir());
        Ok(())
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b\134c"), b"/tmp/a b\\c");
        assert_eq!(unescape_mountinfo(r"/tmp/x\0"), b"/tmp/x\\0");
    }

    #[test]
    fn mount_points_match_whole_components_only() -> Result<()> {
        // `/proc` is mounted; `/pro` must not match it, `/` must.
        assert!(mounts_below(Path::new("/pro"))?.is_empty());
        assert!(!mounts_below(Path::new("/proc"))?.is_empty());
        Ok(())
    }
}
