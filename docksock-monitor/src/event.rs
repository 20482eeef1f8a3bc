//! The events docksock writes, schema v1: one JSON object per line.
//!
//! The serde names of these types are the one definition of the field
//! names; `docs/events.md` describes each of them, and a test checks that
//! the two agree in both directions.

use serde::{Serialize, Serializer};

/// Version of the event schema these types produce.
pub const SCHEMA_VERSION: u32 = 1;

/// One line of output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Wall-clock time of the record the event comes from.
    pub ts: Timestamp,
    /// What happened: `kind`, and for requests `http` and `api`.
    #[serde(flatten)]
    pub detail: Detail,
    /// The watched socket file, when the connect record was seen.
    pub socket: Option<SocketRef>,
    /// Connection id, shared by every event of one connection.
    pub conn: u64,
    /// The process that connected or sent.
    pub process: Process,
    /// Its cgroup.
    pub cgroup: Cgroup,
    /// The container it runs in, or `None` for a host process.
    pub container: Option<ContainerRef>,
}

/// Kind of an event and the fields only that kind has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Detail {
    /// A client connected to a watched socket.
    Connect,
    /// A client sent an HTTP request.
    Request {
        /// The request line as sent.
        http: Http,
        /// The Docker API view of it.
        api: Api,
    },
}

/// The watched socket file a connection went to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SocketRef {
    /// Path the daemon watches, when the inode is one it watches.
    pub path: Option<String>,
    /// Inode of the socket file.
    pub inode: u64,
}

/// The process behind an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Process {
    /// Process id (thread group id).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// Kernel `comm`.
    pub comm: String,
    /// Executable path from procfs, when it could still be read.
    pub exe: Option<String>,
}

/// The cgroup of the process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cgroup {
    /// cgroup v2 id.
    pub id: u64,
    /// Leaf name of the cgroup.
    pub name: String,
}

/// The container of the process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerRef {
    /// 64-hex container id.
    pub id: String,
    /// Container name without the leading slash, when known.
    pub name: Option<String>,
    /// Image name the container was created from, when known.
    pub image: Option<String>,
    /// Runtime recognised from the cgroup name.
    pub runtime: String,
}

impl From<crate::identity::Container> for ContainerRef {
    fn from(c: crate::identity::Container) -> Self {
        Self {
            id: c.id,
            name: c.name,
            image: c.image,
            runtime: c.runtime,
        }
    }
}

/// The HTTP request line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Http {
    /// Method as sent.
    pub method: String,
    /// Request target as sent, query included.
    pub path: String,
    /// HTTP version as sent, e.g. `HTTP/1.1`.
    pub version: String,
}

/// The Docker Engine API view of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Api {
    /// API version from the path (`1.41`), when the path has one.
    pub version: Option<String>,
    /// Route template, e.g. `/containers/{id}/exec`.
    pub endpoint: String,
    /// Object the route names (container, image, network...), if any.
    pub object: Option<String>,
    /// True when the endpoint is one dockerd routes; not written out, used
    /// to keep metric labels bounded.
    #[serde(skip)]
    pub known: bool,
}

/// A wall-clock instant, in ns since the Unix epoch, written as RFC 3339
/// in UTC with nine fractional digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i128);

impl Timestamp {
    /// Converts a kernel `CLOCK_MONOTONIC` time using `offset_ns`, the
    /// value of `CLOCK_REALTIME - CLOCK_MONOTONIC` measured at start.
    pub fn from_monotonic(mono_ns: u64, offset_ns: i64) -> Self {
        Self(i128::from(mono_ns) + i128::from(offset_ns))
    }

    /// RFC 3339 text, e.g. `2024-05-01T12:00:00.000000042Z`; `None` if the
    /// instant is outside the years 1..9999.
    pub fn to_rfc3339(self) -> Option<String> {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(self.0).ok()?;
        if t.year() < 1 {
            return None;
        }
        Some(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.nanosecond()
        ))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.to_rfc3339() {
            Some(text) => s.serialize_str(&text),
            None => Err(serde::ser::Error::custom(format!(
                "timestamp {} ns is outside the years 1..9999",
                self.0
            ))),
        }
    }
}

/// Measures `CLOCK_REALTIME - CLOCK_MONOTONIC` in ns, for
/// [`Timestamp::from_monotonic`].
///
/// This reads the clocks: call it once at start (the binary does) and pass
/// the value in the pipeline's configuration. It reads the real-time clock
/// on both sides of the monotonic one and takes the midpoint.
pub fn measure_clock_offset() -> std::io::Result<i64> {
    let before = clock_ns(libc::CLOCK_REALTIME)?;
    let mono = clock_ns(libc::CLOCK_MONOTONIC)?;
    let after = clock_ns(libc::CLOCK_REALTIME)?;
    let real = before + (after - before) / 2;
    i64::try_from(real - mono)
        .map_err(|_| std::io::Error::other("clock offset does not fit in 64 bits"))
}

/// `CLOCK_MONOTONIC` now, in ns: the clock of the kernel's record times.
pub fn monotonic_ns() -> std::io::Result<u64> {
    let now = clock_ns(libc::CLOCK_MONOTONIC)?;
    u64::try_from(now).map_err(|_| std::io::Error::other("monotonic clock is negative"))
}

fn clock_ns(clock: libc::clockid_t) -> std::io::Result<i128> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the whole call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec))
}

#[cfg(test)]
mod tests;
