//! Types shared by docksock's kernel program and its daemon.
//!
//! Everything here crosses the kernel/user boundary, so every type is
//! `#[repr(C)]`, `Copy`, has explicit padding, holds no `bool` and no enum,
//! and has its size checked at compile time. The daemon never transmutes
//! kernel bytes into these types without first checking the record's length
//! and kind (see `docksock-monitor`'s `capture` module).
//!
//! A record in the ring buffer is a [`RecordHeader`] followed by the body its
//! `kind` names; a [`SendRecord`] is further followed by `captured` payload
//! bytes.
#![no_std]

/// Names of the maps in the kernel program, defined once for both sides.
pub mod maps {
    /// Ring buffer carrying every record to the daemon.
    pub const RECORDS: &str = "RECORDS";
    /// Watched socket files: [`crate::WatchedKey`] to [`crate::WatchedSocket`].
    pub const WATCHED: &str = "WATCHED";
    /// Live connections to a watched socket, keyed by the kernel address of
    /// either end's `struct sock`: [`crate::ConnEntry`].
    pub const CONNS: &str = "CONNS";
    /// Pids that created a watched listening socket, each at index
    /// `pid % SERVER_SLOTS`: a client socket's peer credentials name that
    /// pid, which lets unrelated unix sockets leave the hot path early.
    pub const SERVERS: &str = "SERVERS";
    /// Scratch space a send record is assembled in, one slot per CPU.
    pub const SCRATCH: &str = "SCRATCH";
    /// Per-CPU counters, indexed by [`crate::Counter`] values.
    pub const COUNTERS: &str = "COUNTERS";
}

/// Names of the programs in the kernel object.
pub mod programs {
    /// BTF tracepoint on `sock:sock_send_length`.
    pub const SEND: &str = "sock_send_length";
}

/// Names of the read-only globals the daemon sets at load.
pub mod globals {
    /// Thread group id of the daemon itself: its own connections are ignored.
    pub const SELF_TGID: &str = "SELF_TGID";
    /// Kernel struct offsets from BTF: one [`crate::Offsets`].
    pub const OFFSETS: &str = "OFFSETS";
    /// Bytes waiting in the ring buffer past which a record wakes the
    /// daemon; below it the daemon drains on its own timer.
    pub const WAKEUP_BYTES: &str = "WAKEUP_BYTES";
}

/// Bytes of one send that are copied into a record.
///
/// 16 KiB holds a request line, its headers and a `docker run` create body
/// with a long environment and many mounts (a typical one is 2-4 KiB).
/// Sends larger than this are reported with their true length and the
/// `FLAG_TRUNCATED` flag, and counted in [`Counter::Truncated`].
/// Must be a power of two: the kernel program masks offsets with it.
pub const MAX_PAYLOAD: usize = 16 * 1024;

/// Slots of the [`maps::SERVERS`] array (a power of two).
pub const SERVER_SLOTS: u32 = 64;

/// Bytes kept of the leaf cgroup name (`docker-<64 hex>.scope` is 77).
pub const CGROUP_NAME_LEN: usize = 128;

/// Bytes of the task's `comm`.
pub const COMM_LEN: usize = 16;

/// Record kinds. Fixed numbers, never reused.
pub mod kind {
    /// A new connection to a watched socket, written just before the first
    /// send seen on it: [`crate::ConnectRecord`].
    pub const CONNECT: u16 = 1;
    /// One send on a watched connection: [`crate::SendRecord`] + payload.
    pub const SEND: u16 = 2;
}

/// Format version of every record; bumped when a layout changes.
pub const RECORD_VERSION: u16 = 1;

/// First bytes of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordHeader {
    /// One of the [`kind`] constants.
    pub kind: u16,
    /// [`RECORD_VERSION`] of the program that wrote it.
    pub version: u16,
    /// Length of the whole record in bytes, header included.
    pub len: u32,
    /// `bpf_ktime_get_ns()` when the record was made (CLOCK_MONOTONIC).
    pub ts_ns: u64,
}

/// Who did something: the task and its cgroup, stamped in the kernel so a
/// process that exits at once is still attributed.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// Thread group id (what user space calls the pid).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// cgroup v2 id: the inode of the task's cgroup2 directory.
    pub cgroup_id: u64,
    /// `task->comm`, NUL padded.
    pub comm: [u8; COMM_LEN],
    /// Leaf name of the task's default-hierarchy cgroup, NUL terminated.
    pub cgroup_name: [u8; CGROUP_NAME_LEN],
}

/// Body of a [`kind::CONNECT`] record.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectRecord {
    /// Common header.
    pub header: RecordHeader,
    /// Connection id: the inode number of the client's socket (as in
    /// `socket:[N]` under `/proc/PID/fd` and in `ss -x`).
    pub conn_id: u64,
    /// Who sent first on the connection (the client, for HTTP).
    pub task: TaskInfo,
    /// Inode number of the watched socket file.
    pub sock_ino: u64,
    /// Device of the watched socket file, kernel encoding (`major << 20 | minor`).
    pub sock_dev: u32,
    /// fd of the connection in the task that sent first, or `u32::MAX`.
    pub fd: u32,
}

/// Direction of a send, as seen from the client.
pub mod direction {
    /// Client to the daemon behind the socket: a request.
    pub const REQUEST: u8 = 0;
    /// The daemon behind the socket to the client: a response.
    pub const RESPONSE: u8 = 1;
}

/// Flags of a [`SendRecord`].
pub mod send_flags {
    /// Fewer bytes were captured than were sent (cap or iovec limit).
    pub const TRUNCATED: u32 = 1 << 0;
    /// The payload could not be found (io_uring, splice, unknown syscall).
    pub const NO_PAYLOAD: u32 = 1 << 1;
    /// Reading the user buffer failed.
    pub const READ_FAILED: u32 = 1 << 2;
}

/// Body of a [`kind::SEND`] record; `captured` payload bytes follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendRecord {
    /// Common header.
    pub header: RecordHeader,
    /// Connection id from the connect record.
    pub conn_id: u64,
    /// Who sent.
    pub task: TaskInfo,
    /// Bytes the kernel reports sent.
    pub len: u32,
    /// Payload bytes following this struct (at most [`MAX_PAYLOAD`]).
    pub captured: u32,
    /// [`send_flags`] bits.
    pub flags: u32,
    /// Syscall number the send came from (x86_64 numbering), or `u32::MAX`.
    pub syscall: u32,
    /// One of the [`direction`] constants.
    pub direction: u8,
    /// Explicit padding.
    pub _pad: [u8; 7],
}

/// Key of the watched-sockets map: the socket file's device and inode.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WatchedKey {
    /// Inode number.
    pub ino: u64,
    /// Device, kernel encoding (`major << 20 | minor`).
    pub dev: u32,
    /// Explicit padding, always zero.
    pub _pad: u32,
}

/// Value of the watched-sockets map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchedSocket {
    /// Index of the socket in the daemon's list.
    pub index: u32,
    /// Explicit padding.
    pub _pad: u32,
}

/// Value of the connections map, for one end of a watched connection.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnEntry {
    /// Connection id.
    pub conn_id: u64,
    /// Kernel address of the other end's `struct sock`; a send whose socket's
    /// peer differs is on a reused address and is dropped from the map.
    pub peer: u64,
    /// One of the [`direction`] constants for sends on this end.
    pub direction: u8,
    /// Non-zero for the daemon's own connections, which are never recorded.
    pub muted: u8,
    /// Non-zero once the connect record was written. A connection first
    /// seen from the server's side is announced at the client's first send,
    /// so that the record names the client.
    pub announced: u8,
    /// Explicit padding.
    pub _pad: [u8; 5],
}

/// Kernel counters, per CPU; the daemon sums them.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Records that did not fit in the ring buffer.
    Lost = 0,
    /// Sends captured with fewer bytes than were sent.
    Truncated = 1,
    /// New connections to a watched socket seen.
    Connects = 2,
    /// Sends on a watched connection seen.
    Sends = 3,
    /// Sends whose payload could not be located.
    NoPayload = 4,
    /// Kernel reads that failed on the hit path.
    ReadErrors = 5,
    /// Stale connection entries removed (socket address reused).
    Stale = 6,
}

/// Number of [`Counter`] slots.
pub const COUNTER_SLOTS: u32 = 8;

/// Offsets into kernel structs, in bytes, read by the daemon from the running
/// kernel's BTF and set as the read-only global [`globals::OFFSETS`] at load, where the
/// verifier treats them as constants.
///
/// rustc emits no CO-RE relocations, so the program cannot have them baked
/// in; a zero `ready` means the daemon did not fill them and the program
/// does nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    /// `task_struct.files`
    pub task_files: u32,
    /// `task_struct.cgroups`
    pub task_cgroups: u32,
    /// `files_struct.fdt`
    pub files_fdt: u32,
    /// `fdtable.max_fds`
    pub fdt_max_fds: u32,
    /// `fdtable.fd`
    pub fdt_fd: u32,
    /// `file.private_data`
    pub file_private_data: u32,
    /// `inode.i_ino`
    pub inode_ino: u32,
    /// `inode.i_sb`
    pub inode_sb: u32,
    /// `super_block.s_dev`
    pub sb_dev: u32,
    /// `socket.sk`
    pub socket_sk: u32,
    /// `sock.__sk_common.skc_family`
    pub sock_family: u32,
    /// `sock.sk_type`
    pub sock_type: u32,
    /// `sock.sk_peer_pid`
    pub sock_peer_pid: u32,
    /// `sock.sk_socket`
    pub sock_socket: u32,
    /// `socket.file`
    pub socket_file: u32,
    /// `file.f_inode`
    pub file_inode: u32,
    /// `pid.numbers[0].nr`: the pid in the initial namespace
    pub pid_nr: u32,
    /// `unix_sock.peer`
    pub unix_peer: u32,
    /// `unix_sock.path.dentry`
    pub unix_path_dentry: u32,
    /// `dentry.d_inode`
    pub dentry_inode: u32,
    /// `css_set.dfl_cgrp`
    pub css_set_dfl_cgrp: u32,
    /// `cgroup.kn`
    pub cgroup_kn: u32,
    /// `kernfs_node.name`
    pub kernfs_name: u32,
    /// Non-zero once the daemon has filled this struct.
    pub ready: u32,
}

#[cfg(feature = "user")]
mod user {
    //! `Pod` implementations so aya maps can hold these types.
    use super::{ConnEntry, Offsets, WatchedKey, WatchedSocket};

    // SAFETY: each type is repr(C), Copy, with explicit padding and no
    // invalid bit patterns.
    unsafe impl aya::Pod for WatchedKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for WatchedSocket {}
    // SAFETY: as above.
    unsafe impl aya::Pod for ConnEntry {}
    // SAFETY: as above.
    unsafe impl aya::Pod for Offsets {}
}

const _: () = {
    assert!(core::mem::size_of::<RecordHeader>() == 16);
    assert!(core::mem::size_of::<TaskInfo>() == 168);
    assert!(core::mem::size_of::<ConnectRecord>() == 208);
    assert!(core::mem::size_of::<SendRecord>() == 216);
    assert!(core::mem::size_of::<WatchedKey>() == 16);
    assert!(core::mem::size_of::<WatchedSocket>() == 8);
    assert!(core::mem::size_of::<ConnEntry>() == 24);
    assert!(core::mem::size_of::<Offsets>() == 96);
    assert!(MAX_PAYLOAD.is_power_of_two());
};
