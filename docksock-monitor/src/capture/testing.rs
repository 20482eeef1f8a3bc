//! Builders of raw records, byte by byte, in the layout of
//! `docksock-common`: for unit tests, replay fixtures and fuzz seeds.
//!
//! Each field is written with `to_le_bytes` at its `offset_of!` position, so
//! the bytes are what the kernel program would put in the ring buffer.

use core::mem::{offset_of, size_of};

use docksock_common::{
    direction, kind, ConnectRecord, RecordHeader, SendRecord, TaskInfo, CGROUP_NAME_LEN,
    COMM_LEN, RECORD_VERSION,
};

use super::{Direction, Task};

/// Raw bytes of a connect record.
pub fn connect(
    ts_ns: u64,
    conn_id: u64,
    task: &Task,
    sock_dev: u32,
    sock_ino: u64,
) -> Vec<u8> {
    let mut b = vec![0u8; size_of::<ConnectRecord>()];
    put_header(&mut b, kind::CONNECT, ts_ns);
    put(
        &mut b,
        offset_of!(ConnectRecord, conn_id),
        &conn_id.to_le_bytes(),
    );
    put_task(&mut b, offset_of!(ConnectRecord, task), task);
    put(
        &mut b,
        offset_of!(ConnectRecord, sock_ino),
        &sock_ino.to_le_bytes(),
    );
    put(
        &mut b,
        offset_of!(ConnectRecord, sock_dev),
        &sock_dev.to_le_bytes(),
    );
    put(&mut b, offset_of!(ConnectRecord, fd), &3u32.to_le_bytes());
    b
}

/// Raw bytes of a send record whose whole payload was captured.
pub fn send(
    ts_ns: u64,
    conn_id: u64,
    task: &Task,
    dir: Direction,
    payload: &[u8],
) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    send_partial(ts_ns, conn_id, task, dir, payload, len, 0)
}

/// Raw bytes of a send record of `len` bytes of which `payload` was
/// captured, with the given `send_flags`.
pub fn send_partial(
    ts_ns: u64,
    conn_id: u64,
    task: &Task,
    dir: Direction,
    payload: &[u8],
    len: u32,
    flags: u32,
) -> Vec<u8> {
    let fixed = size_of::<SendRecord>();
    let mut b = vec![0u8; fixed + payload.len()];
    put_header(&mut b, kind::SEND, ts_ns);
    put(
        &mut b,
        offset_of!(SendRecord, conn_id),
        &conn_id.to_le_bytes(),
    );
    put_task(&mut b, offset_of!(SendRecord, task), task);
    put(&mut b, offset_of!(SendRecord, len), &len.to_le_bytes());
    let captured = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    put(
        &mut b,
        offset_of!(SendRecord, captured),
        &captured.to_le_bytes(),
    );
    put(&mut b, offset_of!(SendRecord, flags), &flags.to_le_bytes());
    put(&mut b, offset_of!(SendRecord, syscall), &1u32.to_le_bytes());
    let d = match dir {
        Direction::Request => direction::REQUEST,
        Direction::Response => direction::RESPONSE,
    };
    put(&mut b, offset_of!(SendRecord, direction), &[d]);
    put(&mut b, fixed, payload);
    b
}

/// Sets the header's `len` field of a built record to `len`.
pub fn set_len(record: &mut [u8], len: u32) {
    put(record, offset_of!(RecordHeader, len), &len.to_le_bytes());
}

/// Sets the header's `kind` field of a built record.
pub fn set_kind(record: &mut [u8], kind: u16) {
    put(record, offset_of!(RecordHeader, kind), &kind.to_le_bytes());
}

/// Sets the header's `version` field of a built record.
pub fn set_version(record: &mut [u8], version: u16) {
    put(
        record,
        offset_of!(RecordHeader, version),
        &version.to_le_bytes(),
    );
}

/// Sets a send record's `captured` field.
pub fn set_captured(record: &mut [u8], captured: u32) {
    put(
        record,
        offset_of!(SendRecord, captured),
        &captured.to_le_bytes(),
    );
}

/// Sets a send record's `direction` byte.
pub fn set_direction(record: &mut [u8], direction: u8) {
    put(record, offset_of!(SendRecord, direction), &[direction]);
}

fn put_header(b: &mut [u8], kind: u16, ts_ns: u64) {
    put(b, offset_of!(RecordHeader, kind), &kind.to_le_bytes());
    put(
        b,
        offset_of!(RecordHeader, version),
        &RECORD_VERSION.to_le_bytes(),
    );
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    put(b, offset_of!(RecordHeader, len), &len.to_le_bytes());
    put(b, offset_of!(RecordHeader, ts_ns), &ts_ns.to_le_bytes());
}

fn put_task(b: &mut [u8], at: usize, t: &Task) {
    put(b, at + offset_of!(TaskInfo, pid), &t.pid.to_le_bytes());
    put(b, at + offset_of!(TaskInfo, tid), &t.tid.to_le_bytes());
    put(b, at + offset_of!(TaskInfo, uid), &t.uid.to_le_bytes());
    put(b, at + offset_of!(TaskInfo, gid), &t.gid.to_le_bytes());
    put(
        b,
        at + offset_of!(TaskInfo, cgroup_id),
        &t.cgroup_id.to_le_bytes(),
    );
    put_c_string(b, at + offset_of!(TaskInfo, comm), COMM_LEN, &t.comm);
    put_c_string(
        b,
        at + offset_of!(TaskInfo, cgroup_name),
        CGROUP_NAME_LEN,
        &t.cgroup_name,
    );
}

/// Writes `s` NUL padded into a field of `cap` bytes, cut like the kernel
/// cuts it (always NUL terminated).
fn put_c_string(b: &mut [u8], at: usize, cap: usize, s: &str) {
    let bytes = s.as_bytes();
    let n = bytes.len().min(cap - 1);
    put(b, at, &bytes[..n]);
}

/// Copies `v` into `b` at `at`; a write past the end is cut off, which only
/// a test that builds a deliberately short record would ask for.
fn put(b: &mut [u8], at: usize, v: &[u8]) {
    let end = (at + v.len()).min(b.len());
    if at < end {
        b[at..end].copy_from_slice(&v[..end - at]);
    }
}
