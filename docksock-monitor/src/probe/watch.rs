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

use aya::maps::{Array, HashMap, MapData};
use docksock_common::{WatchedKey, WatchedSocket, SERVER_SLOTS};

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

/// The pid that created the listening socket at `path`: the peer
/// credentials a client of it gets (`SO_PEERCRED`). Connecting and closing
/// without sending is invisible to the kernel program.
pub fn listener_pid(path: &std::path::Path) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd as _;
    let stream = std::os::unix::net::UnixStream::connect(path)?;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writing a ucred.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.pid as u32)
}

/// Keeps the kernel's `WATCHED` map equal to the resolved socket files,
/// and `SERVERS` holding the pids that created them.
pub struct Watcher {
    paths: Vec<PathBuf>,
    map: HashMap<MapData, WatchedKey, WatchedSocket>,
    servers: Array<MapData, u32>,
    current: Vec<WatchedFile>,
    missing: BTreeMap<PathBuf, String>,
}

impl Watcher {
    /// Takes ownership of the maps and the paths to watch.
    pub fn new(
        paths: Vec<PathBuf>,
        map: HashMap<MapData, WatchedKey, WatchedSocket>,
        servers: Array<MapData, u32>,
    ) -> Self {
        Self { paths, map, servers, current: Vec::new(), missing: BTreeMap::new() }
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
            // The kernel also learns this pid from the server's first
            // answer; knowing it now lets the first request through.
            match listener_pid(&file.path) {
                Ok(pid) if pid != 0 => {
                    self.servers.set(pid % SERVER_SLOTS, pid, 0).map_err(|err| {
                        anyhow::anyhow!("adding pid {pid} to the server map: {err}")
                    })?;
                }
                Ok(_) => {}
                Err(err) => log::warn!(
                    "asking {} who listens on it: {err}; its first requests may be missed",
                    file.path.display()
                ),
            }
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
