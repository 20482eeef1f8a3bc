//! Sends on a watched connection, and the connections themselves.
//!
//! Attaches to the BTF tracepoint `sock:sock_send_length(struct sock *sk,
//! int ret, int flags)` (kernel 6.3 and later), which fires after every
//! socket send with the byte count. Every send on the host passes through
//! here, so the first steps are plain loads that the verifier checks
//! against BTF, no helper that copies memory:
//!
//! 1. not `AF_UNIX` or not `SOCK_STREAM`: leave (TCP, journald, syslog);
//! 2. the socket is bound to a file (a server end, dockerd's side): look
//!    the file up in `WATCHED`;
//! 3. else its peer is bound to a file (a client end): look that up.
//!
//! An unbound socketpair leaves after a few loads, one cheap helper call
//! (`bpf_skc_to_unix_sock`) and one 8-byte kernel read (the peer's bound
//! path); a socket with a bound peer after one hash lookup. Only a hit goes
//! further.
//!
//! Connections are not hooked at `connect()`: a syscall tracepoint puts
//! every syscall of every task on the slow tracing path (a 1-byte `write`
//! to `/dev/null` measured 50 % slower). Instead the first send seen on a
//! connection registers both of its ends in `CONNS` and writes a connect
//! record. A connection's id is the inode number of its client socket,
//! which both ends can read and which, unlike a socket's address, is not
//! handed out again when the socket is freed. This also finds connections opened before
//! docksock started. A client that connects and never sends is not seen.
//!
//! For a watched send the payload is found in the sending syscall's user
//! registers (`write`/`sendto`: buffer in `rsi`; `writev`, `pwritev`,
//! `pwritev2`: iovec array in `rsi`, count in `rdx`; `sendmsg`: `msghdr` in
//! `rsi`), after checking that the syscall's
//! fd really is this socket. Sends without such a syscall (io_uring,
//! `sendfile`, `splice`, `sendmmsg`) are reported with their length and no
//! payload. Kernels without this tracepoint need the socket-layer backend
//! (#5).

use aya_ebpf::{
    bindings::pt_regs,
    helpers::{
        bpf_get_current_task, bpf_get_current_task_btf, bpf_get_smp_processor_id,
        bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_user,
        generated::{bpf_probe_read_user as read_user_raw, bpf_skc_to_unix_sock, bpf_task_pt_regs},
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use docksock_common::{
    direction, kind, send_flags, ConnEntry, ConnectRecord, Counter, SendRecord, WatchedKey,
    MAX_PAYLOAD, RECORD_VERSION, SERVER_SLOTS,
};

use crate::{
    kernel::{self, field, offset, peer_bound_file, sock_of_fd, unix_bound_file},
    maps::{count, wakeup_flags, Scratch, CONNS, RECORDS, SCRATCH, SERVERS, WATCHED},
    task,
};

// x86_64 syscall numbers whose user registers locate the payload.
const SYS_WRITE: u64 = 1;
const SYS_WRITEV: u64 = 20;
const SYS_SENDTO: u64 = 44;
const SYS_SENDMSG: u64 = 46;
const SYS_PWRITEV: u64 = 296;
const SYS_PWRITEV2: u64 = 328;

const AF_UNIX: u16 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const SOCK_STREAM: u16 = 1;

/// iovecs followed per send (empty ones included); Go and the Docker CLI
/// send one buffer. A send spread over more is reported truncated.
const MAX_IOVECS: u64 = 16;

/// `struct user_msghdr`: `msg_iov` and `msg_iovlen` offsets (uapi, fixed).
const MSGHDR_IOV: u64 = 16;
const MSGHDR_IOVLEN: u64 = 24;

/// One end of a watched connection, as found from its `struct sock`.
struct WatchedEnd {
    key: WatchedKey,
    peer: u64,
    direction: u8,
    /// Inode number of the client end's socket: the connection's id.
    client_ino: u64,
}

/// `sock_send_length(struct sock *sk, int ret, int flags)`.
#[btf_tracepoint(function = "sock_send_length")]
pub fn sock_send_length(ctx: BtfTracePointContext) -> i32 {
    let sk: *const u8 = ctx.arg(0);
    // SAFETY: `sk` is the tracepoint's BTF-typed `struct sock *`.
    let Some(end) = (unsafe { watched_end(sk) }) else {
        return 0;
    };
    let sent: i32 = ctx.arg(1);
    if sent > 0 && kernel::ready() {
        let _ = capture(sk, &end, sent as u32);
    }
    0
}

/// Whether `sk` is one end of a connection to a watched socket file.
///
/// # Safety
/// `sk` must be a BTF-typed `struct sock` pointer.
#[inline(always)]
unsafe fn watched_end(sk: *const u8) -> Option<WatchedEnd> {
    // SAFETY: plain loads and helpers on BTF-typed pointers, see `field`.
    unsafe {
        if field::<u16>(sk, offset!(sock_family)) != AF_UNIX
            || field::<u16>(sk, offset!(sock_type)) != SOCK_STREAM
        {
            return None;
        }
        let usk = bpf_skc_to_unix_sock(sk as *mut _) as *const u8;
        if usk.is_null() {
            return None;
        }
        let peer: *const u8 = field(usk, offset!(unix_peer));
        if peer.is_null() {
            return None;
        }
        // The server end (dockerd's) is bound to the socket file itself.
        if let Some(key) = unix_bound_file(usk) {
            if WATCHED.get(&key).is_some() {
                // The client's peer credentials name the listening socket's
                // creator: remember it for the client-side filter below.
                let server = peer_cred_pid(peer);
                if let Some(slot) = SERVERS.get_ptr_mut(server % SERVER_SLOTS) {
                    *slot = server;
                }
                let client_ino = socket_ino(peer);
                return Some(WatchedEnd {
                    key,
                    peer: peer as u64,
                    direction: direction::RESPONSE,
                    client_ino,
                });
            }
        }
        // A client of a watched socket has the listening socket's creator
        // as its peer credentials: anything else leaves here, after two
        // loads and an array lookup the verifier inlines.
        let creator = peer_cred_pid(sk);
        if SERVERS.get(creator % SERVER_SLOTS) != Some(&creator) || creator == 0 {
            return None;
        }
        // The client end's peer is the server end. The verifier does not let
        // a peer pointer be cast to `unix_sock`, so its fields are copied.
        let key = peer_bound_file(peer as u64)?;
        WATCHED.get(&key)?;
        let client_ino = socket_ino(sk);
        Some(WatchedEnd { key, peer: peer as u64, direction: direction::REQUEST, client_ino })
    }
}

/// The pid in `sk`'s peer credentials (`sk->sk_peer_pid`), in the initial
/// pid namespace; 0 when there is none.
///
/// # Safety
/// `sk` must be a BTF-typed `struct sock` pointer.
#[inline(always)]
unsafe fn peer_cred_pid(sk: *const u8) -> u32 {
    // SAFETY: plain loads on BTF-typed pointers, see `field`.
    unsafe {
        let pid: *const u8 = field(sk, offset!(sock_peer_pid));
        if pid.is_null() {
            return 0;
        }
        field::<i32>(pid, offset!(pid_nr)) as u32
    }
}

/// Inode number of the socket file of `sk` (`sk->sk_socket->file->f_inode`),
/// the `N` of `socket:[N]`; 0 when the socket has no file any more.
///
/// # Safety
/// `sk` must be a BTF-typed `struct sock` pointer.
#[inline(always)]
unsafe fn socket_ino(sk: *const u8) -> u64 {
    // SAFETY: plain loads on BTF-typed pointers, see `field`.
    unsafe {
        let socket: *const u8 = field(sk, offset!(sock_socket));
        if socket.is_null() {
            return 0;
        }
        let file: *const u8 = field(socket, offset!(socket_file));
        if file.is_null() {
            return 0;
        }
        let inode: *const u8 = field(file, offset!(file_inode));
        if inode.is_null() {
            return 0;
        }
        field(inode, offset!(inode_ino))
    }
}

fn capture(sk_ptr: *const u8, end: &WatchedEnd, sent: u32) -> Option<()> {
    let sk = sk_ptr as u64;
    // SAFETY: helper without preconditions.
    let task = unsafe { bpf_get_current_task() };
    let conn_id = connection(sk_ptr, end, task)?;
    count(Counter::Sends);

    // SAFETY: helper without preconditions.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    let scratch = SCRATCH.get_ptr_mut(cpu)?;
    // SAFETY: this CPU's slot; nothing else on this CPU runs this program
    // until it returns.
    let scratch: &mut Scratch = unsafe { &mut *scratch };

    let record = &mut scratch.record;
    record.header.kind = kind::SEND;
    record.header.version = RECORD_VERSION;
    // SAFETY: helper without preconditions.
    record.header.ts_ns = unsafe { bpf_ktime_get_ns() };
    record.conn_id = conn_id;
    record.direction = end.direction;
    record.len = sent;
    record.flags = 0;
    record.syscall = u32::MAX;
    task::fill(&mut record.task, task);

    let captured = copy_payload(scratch, task, sk, sent);
    let record = &mut scratch.record;
    record.captured = captured;
    if captured < sent && record.flags & send_flags::NO_PAYLOAD == 0 {
        record.flags |= send_flags::TRUNCATED;
        count(Counter::Truncated);
    }
    if record.flags & send_flags::NO_PAYLOAD != 0 {
        count(Counter::NoPayload);
    }

    let len = (core::mem::size_of::<SendRecord>() as u32 + captured) as usize;
    record.header.len = len as u32;
    if len > core::mem::size_of::<SendRecord>() + MAX_PAYLOAD {
        return None;
    }
    // SAFETY: `len` is at most the record plus MAX_PAYLOAD bytes, all inside
    // this CPU's scratch slot.
    let bytes = unsafe { core::slice::from_raw_parts(scratch as *const Scratch as *const u8, len) };
    if RECORDS.output::<[u8]>(bytes, wakeup_flags()).is_err() {
        count(Counter::Lost);
    }
    Some(())
}

/// The id of the connection `sk` belongs to, or `None` for the daemon's
/// own connections. The first send seen on a connection registers both
/// ends and writes its connect record.
fn connection(sk_ptr: *const u8, end: &WatchedEnd, task: u64) -> Option<u64> {
    let sk = sk_ptr as u64;
    if let Some(known) = CONNS.get_ptr_mut(&sk) {
        // SAFETY: a live map value; fields are copied out or set in place.
        let known = unsafe { &mut *known };
        // Same client socket: same connection. Otherwise `sk`'s address was
        // reused by a new connection since the entry was made (freed
        // sockets' memory is handed out again at once).
        if known.conn_id == end.client_ino && known.peer == end.peer {
            if known.muted != 0 {
                return None;
            }
            if known.announced == 0 && end.direction == direction::REQUEST {
                known.announced = 1;
                announce(known.conn_id, end, task);
            }
            return Some(known.conn_id);
        }
        count(Counter::Stale);
    }

    // The daemon's own connection, seen from its side or from dockerd's
    // (the server end's peer credentials name the connecting process).
    let client = if end.direction == direction::REQUEST {
        (aya_ebpf::helpers::bpf_get_current_pid_tgid() >> 32) as u32
    } else {
        // SAFETY: `sk_ptr` is the tracepoint's BTF-typed sock.
        unsafe { peer_cred_pid(sk_ptr) }
    };
    let muted = u8::from(client == kernel::self_tgid());
    // A connection first seen from dockerd's side (opened before docksock
    // started) is announced when its client sends, so that the connect
    // record names the client rather than dockerd.
    let announced = u8::from(end.direction == direction::REQUEST);

    let conn_id = end.client_ino;
    let this = ConnEntry {
        conn_id,
        peer: end.peer,
        direction: end.direction,
        muted,
        announced,
        _pad: [0; 5],
    };
    let other_direction =
        if end.direction == direction::REQUEST { direction::RESPONSE } else { direction::REQUEST };
    let other = ConnEntry { peer: sk, direction: other_direction, ..this };
    CONNS.insert(&sk, &this, 0).ok()?;
    CONNS.insert(&end.peer, &other, 0).ok()?;
    if muted != 0 {
        return None;
    }
    count(Counter::Connects);
    if announced != 0 {
        announce(conn_id, end, task);
    }
    Some(conn_id)
}

/// Writes the connect record of `conn_id`, naming the current task.
fn announce(conn_id: u64, end: &WatchedEnd, task: u64) {
    let Some(mut entry) = RECORDS.reserve::<ConnectRecord>(0) else {
        count(Counter::Lost);
        return;
    };
    let fd = syscall_args().map_or(u32::MAX, |(_, fd, _, _)| fd as u32);
    let record = entry.as_mut_ptr();
    // SAFETY: `record` points at a reserved, writable ConnectRecord; every
    // field is written before submit.
    unsafe {
        (*record).header.kind = kind::CONNECT;
        (*record).header.version = RECORD_VERSION;
        (*record).header.len = core::mem::size_of::<ConnectRecord>() as u32;
        (*record).header.ts_ns = bpf_ktime_get_ns();
        (*record).conn_id = conn_id;
        (*record).sock_ino = end.key.ino;
        (*record).sock_dev = end.key.dev;
        (*record).fd = fd;
        task::fill(&mut (*record).task, task);
    }
    // Wake the daemon at once for a new connection, so that it reads the
    // client's /proc entries while a short-lived client still runs.
    entry.submit(BPF_RB_FORCE_WAKEUP);
}

/// Copies up to `MAX_PAYLOAD` bytes of the send into `scratch.data` and
/// returns how many; sets flags on the record when it cannot.
fn copy_payload(scratch: &mut Scratch, task: u64, sk: u64, sent: u32) -> u32 {
    let Some((nr, fd, arg, arg3)) = syscall_args() else {
        scratch.record.flags |= send_flags::NO_PAYLOAD;
        return 0;
    };
    scratch.record.syscall = nr as u32;

    if sock_of_fd(task, fd) != Some(sk) {
        scratch.record.flags |= send_flags::NO_PAYLOAD;
        return 0;
    }
    let want = if sent as usize > MAX_PAYLOAD { MAX_PAYLOAD as u64 } else { u64::from(sent) };

    let copied = match nr {
        SYS_WRITE | SYS_SENDTO => copy_user(scratch, 0, arg, want),
        SYS_WRITEV | SYS_PWRITEV | SYS_PWRITEV2 => copy_iovecs(scratch, arg, arg3, want),
        SYS_SENDMSG => {
            // SAFETY: user reads are checked by the helper.
            let iov: Option<u64> = unsafe { bpf_probe_read_user((arg + MSGHDR_IOV) as *const u64) }.ok();
            let count: Option<u64> =
                unsafe { bpf_probe_read_user((arg + MSGHDR_IOVLEN) as *const u64) }.ok();
            match (iov, count) {
                (Some(iov), Some(count)) => copy_iovecs(scratch, iov, count, want),
                _ => None,
            }
        }
        _ => {
            scratch.record.flags |= send_flags::NO_PAYLOAD;
            return 0;
        }
    };
    match copied {
        Some(n) => n as u32,
        None => {
            scratch.record.flags |= send_flags::READ_FAILED;
            count(Counter::ReadErrors);
            0
        }
    }
}

/// Syscall number and first three arguments (the fd first) of the current
/// task's syscall, from its saved user registers.
fn syscall_args() -> Option<(u64, u64, u64, u64)> {
    // SAFETY: helpers without preconditions; the result is a kernel address
    // read with bpf_probe_read_kernel only.
    let regs = unsafe { bpf_task_pt_regs(bpf_get_current_task_btf()) } as *const pt_regs;
    if regs.is_null() {
        return None;
    }
    // SAFETY: kernel reads are checked by the helper.
    unsafe {
        let nr = bpf_probe_read_kernel(core::ptr::addr_of!((*regs).orig_rax)).ok()?;
        let fd = bpf_probe_read_kernel(core::ptr::addr_of!((*regs).rdi)).ok()?;
        let arg = bpf_probe_read_kernel(core::ptr::addr_of!((*regs).rsi)).ok()?;
        let arg3 = bpf_probe_read_kernel(core::ptr::addr_of!((*regs).rdx)).ok()?;
        Some((nr, fd, arg, arg3))
    }
}

/// Follows up to `MAX_IOVECS` of the `count` iovecs at `iov`.
fn copy_iovecs(scratch: &mut Scratch, iov: u64, count: u64, want: u64) -> Option<u64> {
    let mut done = 0u64;
    for i in 0..MAX_IOVECS {
        if i >= count || done >= want {
            break;
        }
        let entry = iov + i * 16;
        // SAFETY: user reads are checked by the helper.
        let base: u64 = unsafe { bpf_probe_read_user(entry as *const u64) }.ok()?;
        let len: u64 = unsafe { bpf_probe_read_user((entry + 8) as *const u64) }.ok()?;
        let take = if len < want - done { len } else { want - done };
        done += copy_user(scratch, done, base, take)?;
    }
    Some(done)
}

/// Copies `len` user bytes at `src` to `scratch.data[at..]`; `at` and `len`
/// are each below the cap, which the masks make visible to the verifier.
#[inline(always)]
fn copy_user(scratch: &mut Scratch, at: u64, src: u64, len: u64) -> Option<u64> {
    if at >= MAX_PAYLOAD as u64 || len == 0 {
        return Some(0);
    }
    let at = at & (MAX_PAYLOAD as u64 - 1);
    let len = if len > MAX_PAYLOAD as u64 { MAX_PAYLOAD as u64 } else { len };
    let dst = scratch.data.as_mut_ptr().wrapping_add(at as usize);
    // SAFETY: dst..dst+len lies within `data` (at < cap, len <= cap,
    // data is twice the cap); the helper checks the user address.
    let ret = unsafe { read_user_raw(dst.cast(), len as u32, src as *const _) };
    (ret == 0).then_some(len)
}
