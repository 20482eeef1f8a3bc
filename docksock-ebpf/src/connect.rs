//! Connects to a watched socket.
//!
//! Attaches to the syscall tracepoints `syscalls:sys_enter_connect` and
//! `syscalls:sys_exit_connect` (every kernel with syscall tracepoints). On
//! entry the fd of an `AF_UNIX` connect is remembered per thread; on a
//! successful exit the new socket's peer (the server end dockerd accepts)
//! is looked up, and if its socket file is watched both ends are registered
//! in `CONNS` and a connect record is sent.
//!
//! The watched file is matched by device and inode, never by the path the
//! caller used: a symlink, a bind mount or a container's own mount point of
//! the socket all lead to the same inode.
//!
//! Connections made before the program was loaded are not registered.
//! TODO(#5): walk existing unix sockets at start (bpf iterator) to find them.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns,
              bpf_get_smp_processor_id, bpf_probe_read_user},
    macros::tracepoint,
    programs::TracePointContext,
};
use aya_log_ebpf::{debug, warn};
use docksock_common::{
    direction, kind, ConnEntry, ConnectRecord, Counter, WatchedKey, RECORD_VERSION,
};

use crate::{
    kernel::{self, offset, read_ptr, sock_of_fd, unix_bound_file},
    maps::{count, wakeup_flags, CONNECTING, CONNS, NEXT_CONN, RECORDS, WATCHED},
    task,
};

/// `AF_UNIX` from `<sys/socket.h>`.
const AF_UNIX: u16 = 1;

// Offsets in the syscall tracepoints' records: 8 bytes of common fields,
// `int __syscall_nr` padded to 8, then the arguments as 8-byte slots. This
// layout is the same on every kernel that has syscall tracepoints.
const ENTER_FD: usize = 16;
const ENTER_ADDR: usize = 24;
const EXIT_RET: usize = 16;

/// `sys_enter_connect(int fd, struct sockaddr *uservaddr, int addrlen)`.
#[tracepoint(category = "syscalls", name = "sys_enter_connect")]
pub fn sys_enter_connect(ctx: TracePointContext) -> u32 {
    let _ = enter(&ctx);
    0
}

fn enter(ctx: &TracePointContext) -> Option<()> {
    // SAFETY: offsets inside the tracepoint record, see above.
    let fd: u64 = unsafe { ctx.read_at(ENTER_FD) }.ok()?;
    let addr: u64 = unsafe { ctx.read_at(ENTER_ADDR) }.ok()?;
    // SAFETY: bpf_probe_read_user checks the user address.
    let family: u16 = unsafe { bpf_probe_read_user(addr as *const u16) }.ok()?;
    if family != AF_UNIX {
        return None;
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    CONNECTING.insert(&tid, &(fd as u32), 0).ok()
}

/// `sys_exit_connect`: `long ret`.
#[tracepoint(category = "syscalls", name = "sys_exit_connect")]
pub fn sys_exit_connect(ctx: TracePointContext) -> u32 {
    let _ = exit(&ctx);
    0
}

fn exit(ctx: &TracePointContext) -> Option<()> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    // SAFETY: the value is copied out before the entry is removed.
    let fd = *unsafe { CONNECTING.get(&tid) }?;
    let _ = CONNECTING.remove(&tid);

    // SAFETY: offset inside the tracepoint record.
    let ret: i64 = unsafe { ctx.read_at(EXIT_RET) }.ok()?;
    if ret != 0 || (pid_tgid >> 32) as u32 == kernel::self_tgid() {
        return None;
    }
    if !kernel::ready() {
        warn!(ctx, "docksock: struct offsets were not set at load; nothing is recorded");
        return None;
    }

    // SAFETY: helper without preconditions.
    let task = unsafe { bpf_get_current_task() };
    let client = sock_of_fd(task, u64::from(fd))?;
    let server = read_ptr(client, offset!(unix_peer))?;
    let (dev, ino) = unix_bound_file(server)?;
    let key = WatchedKey { ino, dev, _pad: 0 };
    // SAFETY: only presence is checked.
    unsafe { WATCHED.get(&key) }?;

    let conn_id = next_conn_id()?;
    let request = ConnEntry { conn_id, peer: server, direction: direction::REQUEST, _pad: [0; 7] };
    let response = ConnEntry { conn_id, peer: client, direction: direction::RESPONSE, _pad: [0; 7] };
    CONNS.insert(&client, &request, 0).ok()?;
    CONNS.insert(&server, &response, 0).ok()?;
    count(Counter::Connects);
    debug!(ctx, "docksock: connection {} to watched socket inode {}", conn_id, ino);

    let Some(mut entry) = RECORDS.reserve::<ConnectRecord>(0) else {
        count(Counter::Lost);
        return None;
    };
    let record = entry.as_mut_ptr();
    // SAFETY: `record` points at a reserved, writable ConnectRecord; every
    // field is written before submit.
    unsafe {
        (*record).header.kind = kind::CONNECT;
        (*record).header.version = RECORD_VERSION;
        (*record).header.len = core::mem::size_of::<ConnectRecord>() as u32;
        (*record).header.ts_ns = bpf_ktime_get_ns();
        (*record).conn_id = conn_id;
        (*record).sock_ino = ino;
        (*record).sock_dev = dev;
        (*record).fd = fd;
        task::fill(&mut (*record).task, task);
    }
    entry.submit(wakeup_flags());
    Some(())
}

/// A connection id unique while the program is loaded: a per-CPU sequence
/// number with the CPU number in the low 10 bits.
fn next_conn_id() -> Option<u64> {
    let slot = NEXT_CONN.get_ptr_mut(0)?;
    // SAFETY: this CPU's slot of a live map value; programs do not migrate.
    let seq = unsafe {
        *slot += 1;
        *slot
    };
    // SAFETY: helper without preconditions.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    Some(seq << 10 | u64::from(cpu & 0x3ff))
}
