//! Executable paths from procfs, cached by pid and process start time.
//!
//! A pid alone is not an identity: pids are reused. The start time (field
//! 22 of `/proc/<pid>/stat`, in clock ticks since boot) is fixed for the
//! life of a process, so (pid, start time) names one process. Each lookup
//! reads `stat` to learn the start time; only a miss reads the `exe` link.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// Executable paths of processes, read from a procfs mount.
#[derive(Debug)]
pub struct ExeCache {
    proc_root: PathBuf,
    max: usize,
    entries: Mutex<HashMap<u32, (u64, Option<String>)>>,
}

impl ExeCache {
    /// A cache over the procfs mounted at `proc_root`, holding at most
    /// `max` processes.
    pub fn new(proc_root: impl Into<PathBuf>, max: usize) -> Self {
        Self {
            proc_root: proc_root.into(),
            max: max.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Path of the executable of `pid`, or `None` if its `exe` link cannot
    /// be read (kernel threads, no permission) or the process is gone and
    /// was never seen.
    ///
    /// A process that has exited keeps the path it was last seen with: no
    /// live process holds its pid, so the cached entry is the most recent
    /// one to have it, and events arrive milliseconds after the fact.
    pub fn exe(&self, pid: u32) -> Option<String> {
        let Some(start) = self.start_time(pid) else {
            return self.lock().get(&pid).and_then(|(_, exe)| exe.clone());
        };
        if let Some((s, exe)) = self.lock().get(&pid) {
            if *s == start {
                return exe.clone();
            }
        }

        let exe = std::fs::read_link(self.proc_root.join(pid.to_string()).join("exe"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        // The pid may have been reused between the two reads.
        if self.start_time(pid) != Some(start) {
            return None;
        }

        let mut entries = self.lock();
        if entries.len() >= self.max {
            // Forget everything rather than track recency: a refill costs
            // one readlink per live process.
            entries.clear();
        }
        entries.insert(pid, (start, exe.clone()));
        exe
    }

    fn start_time(&self, pid: u32) -> Option<u64> {
        let stat =
            std::fs::read_to_string(self.proc_root.join(pid.to_string()).join("stat"))
                .ok()?;
        parse_start_time(&stat)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, (u64, Option<String>)>> {
        // A panic while holding the lock leaves a plain map behind: usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Start time (field 22) from the text of `/proc/<pid>/stat`.
///
/// Field 2, the command name, is in parentheses and may itself hold spaces
/// and parentheses, so fields are counted from the last `)`.
pub(super) fn parse_start_time(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the comm come fields 3 (state) onward: field 22 is the 20th.
    after_comm.split_ascii_whitespace().nth(19)?.parse().ok()
}
