//! Test images, made with `docker import` from files on this machine:
//! nothing is pulled.
//!
//! - [`BUSYBOX_IMAGE`]: Debian's static busybox with a link per applet in `/bin`.
//! - [`CLI_IMAGE`]: the same plus Debian's Docker CLI (`/usr/bin/docker`)
//!   and the shared libraries `ldd` names for it.

use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, Context as _, Result};

use crate::{
    dockerd::{self, Dockerd},
    process,
};

/// Image holding only a static busybox.
pub const BUSYBOX_IMAGE: &str = "busybox";
/// Image holding busybox and the Docker CLI at `/usr/bin/docker`.
pub const CLI_IMAGE: &str = "docksock-docker-cli";

/// Debian's static busybox (package `busybox-static`).
const BUSYBOX_BIN: &str = "/bin/busybox";
/// How long building one image tarball may take.
const TAR_LIMIT: Duration = Duration::from_secs(120);

/// Builds both images under `work` and imports them into `dockerd`.
pub fn import_all(dockerd: &Dockerd, work: &Path) -> Result<()> {
    let busybox = work.join("rootfs-busybox");
    busybox_rootfs(&busybox)?;
    import(dockerd, &busybox, BUSYBOX_IMAGE)?;

    let cli = work.join("rootfs-docker-cli");
    busybox_rootfs(&cli)?;
    add_with_libraries(&cli, Path::new(dockerd::DOCKER_CLI))?;
    import(dockerd, &cli, CLI_IMAGE)
}

/// A root filesystem with busybox, its applet links, and the directories
/// a container expects.
fn busybox_rootfs(root: &Path) -> Result<()> {
    for dir in ["bin", "etc", "root", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(root.join(dir))?;
    }
    if !libraries(Path::new(BUSYBOX_BIN))?.is_empty() {
        bail!("{BUSYBOX_BIN} is dynamically linked: install busybox-static");
    }
    fs::copy(BUSYBOX_BIN, root.join("bin/busybox"))
        .with_context(|| format!("copying {BUSYBOX_BIN} (install busybox-static)"))?;

    let applets = process::run_ok(Command::new(BUSYBOX_BIN).arg("--list"), TAR_LIMIT)?;
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet.contains('/') || applet == "busybox" {
            continue;
        }
        symlink("busybox", root.join("bin").join(applet))
            .with_context(|| format!("linking applet {applet}"))?;
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    Ok(())
}

/// Copies `binary` and every shared library it needs into `root`, each at
/// its own path.
fn add_with_libraries(root: &Path, binary: &Path) -> Result<()> {
    for file in std::iter::once(binary.to_path_buf()).chain(libraries(binary)?) {
        let relative = file.strip_prefix("/").unwrap_or(&file);
        let dest = root.join(relative);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        // fs::copy follows symlinks: the image gets the library itself.
        fs::copy(&file, &dest)
            .with_context(|| format!("copying {} into the image", file.display()))?;
    }
    Ok(())
}

/// Absolute paths of the shared libraries `ldd` lists for `binary`
/// (none for a static binary).
fn libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = process::run(Command::new("ldd").arg(binary), TAR_LIMIT)?;
    if !out.status.success() {
        // ldd exits 1 with "not a dynamic executable" for static binaries.
        if format!("{}{}", out.stdout, out.stderr).contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        bail!("ldd {} failed: {}", binary.display(), out.stderr.trim());
    }
    Ok(parse_ldd(&out.stdout))
}

/// The library paths in `ldd` output: the word after `=>`, or the first
/// word when it is a path (the dynamic loader).
fn parse_ldd(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [_, "=>", path, ..] if path.starts_with('/') => Some(*path),
                [path, ..] if path.starts_with('/') => Some(*path),
                _ => None,
            }
        })
        .map(PathBuf::from)
        .collect()
}

/// Packs `root` into a tarball and imports it as `name`.
fn import(dockerd: &Dockerd, root: &Path, name: &str) -> Result<()> {
    let tarball = root.with_extension("tar");
    let mut tar = Command::new("tar");
    tar.arg("--numeric-owner")
        .arg("-C")
        .arg(root)
        .arg("-cf")
        .arg(&tarball)
        .arg(".");
    process::run_ok(&mut tar, TAR_LIMIT)?;
    dockerd
        .docker([
            Path::new("import").as_os_str(),
            tarball.as_os_str(),
            name.as_ref(),
        ])
        .with_context(|| format!("importing image {name}"))?;
    fs::remove_file(&tarball).ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_libraries_and_the_loader_in_ldd_output() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f69)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f6a)\n";
        assert_eq!(
            parse_ldd(out),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }
}
