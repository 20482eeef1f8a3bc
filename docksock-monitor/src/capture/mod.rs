//! Decoding of the records the kernel program puts in the ring buffer, and
//! the record file that `--record` writes and `replay` reads.
//!
//! A record is a [`RecordHeader`] followed by the body its `kind` names (see
//! `docksock-common`). Kernel bytes are untrusted input to this module: every
//! length is checked against the slice before a field is read, fields are
//! read one by one with `from_le_bytes` at their `offset_of!` position, and
//! no byte is ever transmuted into a Rust enum. A record that fails a check
//! yields a [`DecodeError`] whose [`DecodeError::reason`] is the label it is
//! counted under; decoding never panics.

mod file;

pub use file::{RecordFileError, RecordReader, RecordWriter, RECORD_FILE_MAGIC};

use core::mem::{offset_of, size_of};

use docksock_common::{
    direction, kind, ConnectRecord, RecordHeader, SendRecord, TaskInfo, MAX_PAYLOAD,
    RECORD_VERSION,
};

/// Which way a send went, seen from the client of the watched socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to the server behind the socket.
    Request,
    /// Server behind the socket back to the client.
    Response,
}

/// The task that connected or sent, as the kernel stamped it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Task {
    /// Thread group id (the pid user space sees).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// cgroup v2 id (inode of the cgroup2 directory).
    pub cgroup_id: u64,
    /// `comm`, without NUL padding; invalid UTF-8 is replaced.
    pub comm: String,
    /// Leaf name of the default-hierarchy cgroup; invalid UTF-8 is replaced.
    pub cgroup_name: String,
}

/// One decoded ring-buffer record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A successful `connect()` to a watched socket.
    Connect {
        /// Kernel `CLOCK_MONOTONIC` time of the connect, in ns.
        ts_ns: u64,
        /// Connection id, unique while the kernel program is loaded.
        conn_id: u64,
        /// Who connected.
        task: Task,
        /// Device of the socket file, kernel encoding (`major << 20 | minor`).
        sock_dev: u32,
        /// Inode of the socket file.
        sock_ino: u64,
        /// File descriptor the client connected.
        fd: u32,
    },
    /// One send on a watched connection, in either direction.
    Send {
        /// Kernel `CLOCK_MONOTONIC` time of the send, in ns.
        ts_ns: u64,
        /// Connection id from the connect record.
        conn_id: u64,
        /// Who sent.
        task: Task,
        /// Bytes the kernel reports sent; may exceed `payload.len()`.
        len: u32,
        /// `docksock_common::send_flags` bits.
        flags: u32,
        /// x86_64 syscall number the send came from, or `u32::MAX`.
        syscall: u32,
        /// Which way the bytes went.
        direction: Direction,
        /// The captured bytes, at most `MAX_PAYLOAD`.
        payload: Vec<u8>,
    },
}

impl Record {
    /// Kernel monotonic time of the record, in ns.
    pub fn ts_ns(&self) -> u64 {
        match self {
            Record::Connect { ts_ns, .. } | Record::Send { ts_ns, .. } => *ts_ns,
        }
    }

    /// Connection id the record belongs to.
    pub fn conn_id(&self) -> u64 {
        match self {
            Record::Connect { conn_id, .. } | Record::Send { conn_id, .. } => *conn_id,
        }
    }
}

/// Why a ring-buffer record was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a record header.
    #[error("record of {len} bytes is shorter than its {need}-byte header")]
    ShortHeader {
        /// Bytes available.
        len: usize,
        /// Size of the header.
        need: usize,
    },
    /// The header names a record kind this daemon does not know.
    #[error("unknown record kind {kind}; is the kernel program newer than the daemon?")]
    UnknownKind {
        /// The kind found.
        kind: u16,
    },
    /// The record was written by a kernel program of another format version.
    #[error(
        "record version {version}, expected {expected}; rebuild both halves together"
    )]
    BadVersion {
        /// The version found.
        version: u16,
        /// The version this daemon decodes.
        expected: u16,
    },
    /// The header's length, the slice and the body size disagree.
    #[error("record length mismatch: {detail}")]
    LengthMismatch {
        /// Which lengths disagree, with their values.
        detail: String,
    },
    /// A send record claims more captured bytes than the kernel may copy.
    #[error("send record claims {captured} captured bytes, more than the {max} allowed")]
    CapturedTooLarge {
        /// Captured bytes claimed.
        captured: u32,
        /// `MAX_PAYLOAD`.
        max: usize,
    },
    /// A send record's direction byte is neither request nor response.
    #[error("send record has unknown direction {direction}")]
    BadDirection {
        /// The direction byte found.
        direction: u8,
    },
}

impl DecodeError {
    /// Every reason label [`DecodeError::reason`] can return, for metrics
    /// that should show a zero before the first failure.
    pub const REASONS: [&'static str; 6] = [
        "short_header",
        "unknown_kind",
        "bad_version",
        "length_mismatch",
        "captured_too_large",
        "bad_direction",
    ];

    /// Stable label of this failure, used as the `reason` of
    /// `docksock_records_bad_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::ShortHeader { .. } => "short_header",
            DecodeError::UnknownKind { .. } => "unknown_kind",
            DecodeError::BadVersion { .. } => "bad_version",
            DecodeError::LengthMismatch { .. } => "length_mismatch",
            DecodeError::CapturedTooLarge { .. } => "captured_too_large",
            DecodeError::BadDirection { .. } => "bad_direction",
        }
    }
}

/// Decodes one raw record as handed out by the ring buffer.
///
/// `bytes` may be longer than the header's `len` (trailing bytes are
/// ignored), never shorter. A send record's `captured` must equal the bytes
/// its `len` leaves after the fixed part.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let header = read_header(bytes)?;
    if header.version != RECORD_VERSION {
        return Err(DecodeError::BadVersion {
            version: header.version,
            expected: RECORD_VERSION,
        });
    }

    let len = header.len as usize;
    if len > bytes.len() {
        return Err(mismatch(format!(
            "header says {len} bytes, ring buffer gave {}",
            bytes.len()
        )));
    }
    let record = &bytes[..len];

    match header.kind {
        kind::CONNECT => decode_connect(record, header.ts_ns),
        kind::SEND => decode_send(record, header.ts_ns),
        other => Err(DecodeError::UnknownKind { kind: other }),
    }
}

fn read_header(bytes: &[u8]) -> Result<RecordHeader, DecodeError> {
    let need = size_of::<RecordHeader>();
    if bytes.len() < need {
        return Err(DecodeError::ShortHeader {
            len: bytes.len(),
            need,
        });
    }
    let f = Fields(bytes);
    Ok(RecordHeader {
        kind: f.u16(offset_of!(RecordHeader, kind))?,
        version: f.u16(offset_of!(RecordHeader, version))?,
        len: f.u32(offset_of!(RecordHeader, len))?,
        ts_ns: f.u64(offset_of!(RecordHeader, ts_ns))?,
    })
}

fn decode_connect(record: &[u8], ts_ns: u64) -> Result<Record, DecodeError> {
    expect_len(record, size_of::<ConnectRecord>(), "connect")?;
    let f = Fields(record);
    Ok(Record::Connect {
        ts_ns,
        conn_id: f.u64(offset_of!(ConnectRecord, conn_id))?,
        task: read_task(&f, offset_of!(ConnectRecord, task))?,
        sock_dev: f.u32(offset_of!(ConnectRecord, sock_dev))?,
        sock_ino: f.u64(offset_of!(ConnectRecord, sock_ino))?,
        fd: f.u32(offset_of!(ConnectRecord, fd))?,
    })
}

fn decode_send(record: &[u8], ts_ns: u64) -> Result<Record, DecodeError> {
    let fixed = size_of::<SendRecord>();
    if record.len() < fixed {
        return Err(mismatch(format!(
            "send record of {} bytes, its fixed part alone is {fixed}",
            record.len()
        )));
    }
    let f = Fields(record);

    let captured = f.u32(offset_of!(SendRecord, captured))?;
    if captured as usize > MAX_PAYLOAD {
        return Err(DecodeError::CapturedTooLarge {
            captured,
            max: MAX_PAYLOAD,
        });
    }
    let payload = &record[fixed..];
    if payload.len() != captured as usize {
        return Err(mismatch(format!(
            "send record says {captured} captured bytes, {} follow it",
            payload.len()
        )));
    }

    let direction = match f.u8(offset_of!(SendRecord, direction))? {
        direction::REQUEST => Direction::Request,
        direction::RESPONSE => Direction::Response,
        other => return Err(DecodeError::BadDirection { direction: other }),
    };

    Ok(Record::Send {
        ts_ns,
        conn_id: f.u64(offset_of!(SendRecord, conn_id))?,
        task: read_task(&f, offset_of!(SendRecord, task))?,
        len: f.u32(offset_of!(SendRecord, len))?,
        flags: f.u32(offset_of!(SendRecord, flags))?,
        syscall: f.u32(offset_of!(SendRecord, syscall))?,
        direction,
        payload: payload.to_vec(),
    })
}

fn read_task(f: &Fields<'_>, at: usize) -> Result<Task, DecodeError> {
    Ok(Task {
        pid: f.u32(at + offset_of!(TaskInfo, pid))?,
        tid: f.u32(at + offset_of!(TaskInfo, tid))?,
        uid: f.u32(at + offset_of!(TaskInfo, uid))?,
        gid: f.u32(at + offset_of!(TaskInfo, gid))?,
        cgroup_id: f.u64(at + offset_of!(TaskInfo, cgroup_id))?,
        comm: f.c_string(at + offset_of!(TaskInfo, comm), docksock_common::COMM_LEN)?,
        cgroup_name: f.c_string(
            at + offset_of!(TaskInfo, cgroup_name),
            docksock_common::CGROUP_NAME_LEN,
        )?,
    })
}

fn expect_len(record: &[u8], want: usize, what: &str) -> Result<(), DecodeError> {
    if record.len() == want {
        Ok(())
    } else {
        Err(mismatch(format!(
            "{what} record of {} bytes, expected {want}",
            record.len()
        )))
    }
}

fn mismatch(detail: String) -> DecodeError {
    DecodeError::LengthMismatch { detail }
}

/// Bounds-checked little-endian field reads from a record slice.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn array<const N: usize>(&self, at: usize) -> Result<[u8; N], DecodeError> {
        at.checked_add(N)
            .and_then(|end| self.0.get(at..end))
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                mismatch(format!(
                    "field at {at}+{N} is past the {}-byte record",
                    self.0.len()
                ))
            })
    }

    fn u8(&self, at: usize) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(at)?[0])
    }

    fn u16(&self, at: usize) -> Result<u16, DecodeError> {
        self.array(at).map(u16::from_le_bytes)
    }

    fn u32(&self, at: usize) -> Result<u32, DecodeError> {
        self.array(at).map(u32::from_le_bytes)
    }

    fn u64(&self, at: usize) -> Result<u64, DecodeError> {
        self.array(at).map(u64::from_le_bytes)
    }

    /// A NUL-padded string field of `len` bytes.
    fn c_string(&self, at: usize, len: usize) -> Result<String, DecodeError> {
        let raw = at
            .checked_add(len)
            .and_then(|end| self.0.get(at..end))
            .ok_or_else(|| {
                mismatch(format!("string field at {at}+{len} is past the record"))
            })?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        Ok(String::from_utf8_lossy(&raw[..end]).into_owned())
    }
}

pub mod testing;

#[cfg(test)]
mod tests;
