//! The watched socket files, kept in step with the `WATCHED` map.
//!
//! A socket is identified by the device and inode of its file. A restarted
//! dockerd makes a new socket file with a new inode, so the daemon stats the
//! configured paths again from time to time and updates the map.

use std::{
    collections::BTreeMap,
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::PathBuf,
};

use aya::maps::{HashMap, MapData};
use docksock_common::{WatchedKey, WatchedSocket};

/// One watched socket file as the daemon last saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedFile {
    /// The first configured path that leads to this file.
    pub path: PathBuf,
    /// Device, kernel encoding (`major << 20 | minor`).
    pub dev: u32,
    /// Inode number.
    pub ino: u64,
}

/// Converts a `stat` device number to the kernel's internal encoding, which
/// is what `super_block.s_dev` holds.
pub fn kernel_dev(st_dev: u64) -> u32 {
    let major = libc::major(st_dev);
    let minor = libc::minor(st_dev);
    (major << 20) | minor
}

/// Stats `paths` and returns the distinct socket files they lead to, in
/// the order given. Paths that do not exist or are not sockets are returned
/// in the second list with the reason.
pub fn resolve(paths: &[PathBuf]) -> (Vec<WatchedFile>, Vec<(PathBuf, String)>) {
    let mut files: Vec<WatchedFile> = Vec::new();
    let mut missing = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                let file = WatchedFile { path: path.clone(), dev: kernel_dev(meta.dev()), ino: meta.ino() };
                if !files.iter().any(|f| f.dev == file.dev && f.ino == file.ino) {
                    files.push(file);
                }
            }
            Ok(_) => missing.push((path.clone(), "not a socket".to_owned())),
            Err(err) => missing.push((path.clone(), err.to_string())),
        }
    }
    (files, missing)
}

/// Keeps the kernel's `WATCHED` map equal to the resolved socket files.
pub struct Watcher {
    paths: Vec<PathBuf>,
    map: HashMap<MapData, WatchedKey, WatchedSocket>,
    current: Vec<WatchedFile>,
    missing: BTreeMap<PathBuf, String>,
}

impl Watcher {
    /// Takes ownership of the map and the paths to watch.
    pub fn new(paths: Vec<PathBuf>, map: HashMap<MapData, WatchedKey, WatchedSocket>) -> Self {
        Self { paths, map, current: Vec::new(), missing: BTreeMap::new() }
    }

    /// The socket files currently in the map.
    pub fn files(&self) -> &[WatchedFile] {
        &self.current
    }

    /// Configured paths that are not (yet) sockets, with the reason.
    pub fn missing(&self) -> &BTreeMap<PathBuf, String> {
        &self.missing
    }

    /// Stats the paths again and updates the map; returns whether the set
    /// of watched files changed.
    pub fn refresh(&mut self) -> anyhow::Result<bool> {
        let (files, missing) = resolve(&self.paths);
        self.missing = missing.into_iter().collect();
        if files == self.current {
            return Ok(false);
        }
        for old in &self.current {
            if !files.iter().any(|f| f.dev == old.dev && f.ino == old.ino) {
                // Gone already is fine: the goal is its absence.
                let _ = self.map.remove(&key(old));
            }
        }
        for (index, file) in files.iter().enumerate() {
            let value = WatchedSocket { index: index as u32, _pad: 0 };
            self.map.insert(key(file), value, 0).map_err(|err| {
                anyhow::anyhow!("adding {} to the watched-socket map: {err}", file.path.display())
            })?;
        }
        self.current = files;
        Ok(true)
    }
}

fn key(file: &WatchedFile) -> WatchedKey {
    WatchedKey { ino: file.ino, dev: file.dev, _pad: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn kernel_dev_packs_major_and_minor() {
        // makedev(8, 1) in glibc's encoding.
        let dev = libc::makedev(8, 1);
        assert_eq!(kernel_dev(dev), (8 << 20) | 1);
        let dev = libc::makedev(259, 300);
        assert_eq!(kernel_dev(dev), (259 << 20) | 300);
    }

    #[test]
    fn resolve_dedups_links_and_reports_missing() {
        let dir = std::env::temp_dir().join(format!("docksock-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sock = dir.join("d.sock");
        let _listener = UnixListener::bind(&sock).expect("bind");
        let link = dir.join("link.sock");
        std::os::unix::fs::symlink(&sock, &link).expect("symlink");
        let plain = dir.join("plain");
        std::fs::write(&plain, b"x").expect("file");

        let paths = vec![link.clone(), sock.clone(), plain.clone(), dir.join("absent")];
        let (files, missing) = resolve(&paths);

        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].path, link);
        assert_eq!(missing.len(), 2);
        assert_eq!(missing[0], (plain, "not a socket".to_owned()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
