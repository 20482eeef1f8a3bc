//! Reading the daemon's JSON lines as they are written, and looking up
//! fields of schema v1 (docs/events.md) in them.

use std::{
    fs::File,
    io::{Read as _, Seek as _, SeekFrom},
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::process;

/// How long a test waits for an event the daemon should report.
pub const EVENT_LIMIT: Duration = Duration::from_secs(30);

/// The events file of one daemon, read incrementally.
///
/// Every complete line must be one JSON object; anything else fails the
/// test that reads it. Lines are kept, so a test can look back at
/// everything reported since a point it marked.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    events: Vec<Value>,
}

impl EventLog {
    /// Reads the file at `path`, which may not exist yet.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every event read so far, in file order.
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// Reads what the daemon has appended and returns how many events
    /// have been read in all: an index a test can later slice from.
    pub fn mark(&mut self) -> Result<usize> {
        self.read_new()?;
        Ok(self.events.len())
    }

    /// Waits until an event at index `from` or later satisfies `pred`, and
    /// returns its index. `what` describes the event for the failure
    /// message.
    pub fn wait_from(
        &mut self,
        from: usize,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<usize> {
        let deadline = Instant::now() + EVENT_LIMIT;
        let mut checked = from;
        loop {
            self.read_new()?;
            if let Some(found) = self.events.iter().skip(checked).position(&pred) {
                return Ok(checked + found);
            }
            checked = checked.max(self.events.len());
            if Instant::now() >= deadline {
                bail!(
                    "no event {what} within {EVENT_LIMIT:?}; {} events in {}, the last ones:\n{}",
                    self.events.len(),
                    self.path.display(),
                    self.recent(8)
                );
            }
            thread::sleep(process::POLL);
        }
    }

    /// [`Self::wait_from`] the first event, returning the event.
    pub fn wait_for_event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        let at = self.wait_from(0, what, pred)?;
        Ok(self.events[at].clone())
    }

    /// The last `n` events, one per line, for failure messages.
    pub fn recent(&self, n: usize) -> String {
        if self.events.is_empty() {
            return "(none)".to_owned();
        }
        let start = self.events.len().saturating_sub(n);
        let lines: Vec<String> = self.events[start..].iter().map(Value::to_string).collect();
        lines.join("\n")
    }

    fn read_new(&mut self) -> Result<()> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err).context(format!("opening {}", self.path.display())),
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut fresh = Vec::new();
        let n = file.read_to_end(&mut fresh)?;
        self.offset += n as u64;
        self.push_bytes(&fresh)
    }

    /// Splits appended bytes into lines, keeping an unfinished last line
    /// for the next read.
    fn push_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = &line[..end];
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event: Value = serde_json::from_slice(line).with_context(|| {
                format!(
                    "line {} of {} is not JSON: {:?}",
                    self.events.len() + 1,
                    self.path.display(),
                    String::from_utf8_lossy(line)
                )
            })?;
            if !event.is_object() {
                bail!(
                    "line {} of {} is not a JSON object",
                    self.events.len() + 1,
                    self.path.display()
                );
            }
            self.events.push(event);
        }
        Ok(())
    }
}

/// The string at JSON pointer `at` (e.g. `/container/id`), if it is one.
pub fn text<'a>(event: &'a Value, at: &str) -> Option<&'a str> {
    event.pointer(at).and_then(Value::as_str)
}

/// The unsigned number at JSON pointer `at`, if it is one.
pub fn number(event: &Value, at: &str) -> Option<u64> {
    event.pointer(at).and_then(Value::as_u64)
}

/// Whether `event` is a `request` for `method` on API `endpoint` (the
/// path template, e.g. `/containers/{id}/start`).
pub fn is_request(event: &Value, method: &str, endpoint: &str) -> bool {
    text(event, "/kind") == Some("request")
        && text(event, "/http/method") == Some(method)
        && text(event, "/api/endpoint") == Some(endpoint)
}

/// Whether `event` was reported for process `pid`.
pub fn from_pid(event: &Value, pid: u32) -> bool {
    number(event, "/process/pid") == Some(u64::from(pid))
}

/// Whether `event` belongs to connection `conn`.
pub fn on_conn(event: &Value, conn: &Value) -> bool {
    event.get("conn") == Some(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_an_unfinished_line_for_later() -> Result<()> {
        let mut log = EventLog::new(Path::new("/nonexistent"));
        log.push_bytes(b"{\"kind\":\"connect\"}\n{\"kind\":\"req")?;
        assert_eq!(log.events().len(), 1);
        log.push_bytes(b"uest\"}\n\n")?;
        assert_eq!(log.events().len(), 2);
        assert_eq!(text(&log.events()[1], "/kind"), Some("request"));
        Ok(())
    }

    #[test]
    fn rejects_lines_that_are_not_json_objects() {
        let mut log = EventLog::new(Path::new("/nonexistent"));
        assert!(log.push_bytes(b"docksock ready\n").is_err());
        let mut log = EventLog::new(Path::new("/nonexistent"));
        assert!(log.push_bytes(b"[1, 2]\n").is_err());
    }

    #[test]
    fn matches_requests_by_method_and_endpoint() -> Result<()> {
        let event: Value = serde_json::from_str(
            r#"{"kind":"request","http":{"method":"POST"},
                "api":{"endpoint":"/containers/create"},"process":{"pid":7}}"#,
        )?;
        assert!(is_request(&event, "POST", "/containers/create"));
        assert!(!is_request(&event, "GET", "/containers/create"));
        assert!(from_pid(&event, 7));
        assert!(!from_pid(&event, 8));
        Ok(())
    }

    #[test]
    fn a_file_not_written_yet_has_no_events() {
        let mut log = EventLog::new(Path::new("/nonexistent/events.jsonl"));
        assert_eq!(log.mark().ok(), Some(0));
    }
}
