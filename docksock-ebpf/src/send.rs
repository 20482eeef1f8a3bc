//! Sends on a watched connection.
//!
//! Attaches to the BTF tracepoint `sock:sock_send_length(struct sock *sk,
//! int ret, int flags)` (kernel 6.3 and later), which fires after every
//! socket send with the byte count. Every send on every socket passes
//! through here, so the first thing done is the one map lookup that tells a
//! registered end of a watched connection from everything else.
//!
//! For a registered end the payload is found in the sending syscall's user
//! registers (`write`/`sendto`: buffer in `rsi`; `writev`: iovec array in
//! `rsi`; `sendmsg`: `msghdr` in `rsi`), after checking that the syscall's
//! fd really is this socket. Sends without such a syscall (io_uring,
//! `sendfile`, `splice`, `sendmmsg`) are reported with their length and no
//! payload. The fallback for kernels without this tracepoint is the socket
//! layer backend (#5).

use aya_ebpf::{
    bindings::pt_regs,
    helpers::{
        bpf_get_current_task, bpf_get_current_task_btf, bpf_get_smp_processor_id,
        bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_user,
        generated::{bpf_probe_read_user as read_user_raw, bpf_task_pt_regs},
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use docksock_common::{
    kind, send_flags, ConnEntry, Counter, SendRecord, MAX_PAYLOAD, RECORD_VERSION,
};

use crate::{
    kernel::{offset, read_ptr, sock_of_fd},
    maps::{count, wakeup_flags, Scratch, CONNS, RECORDS, SCRATCH},
    task,
};

// x86_64 syscall numbers whose user registers locate the payload.
const SYS_WRITE: u64 = 1;
const SYS_WRITEV: u64 = 20;
const SYS_SENDTO: u64 = 44;
const SYS_SENDMSG: u64 = 46;

/// iovecs followed per send; Go and the Docker CLI send one buffer.
const MAX_IOVECS: u64 = 8;

/// `struct user_msghdr`: `msg_iov` and `msg_iovlen` offsets (uapi, fixed).
const MSGHDR_IOV: u64 = 16;
const MSGHDR_IOVLEN: u64 = 24;

/// `sock_send_length(struct sock *sk, int ret, int flags)`.
#[btf_tracepoint(function = "sock_send_length")]
pub fn sock_send_length(ctx: BtfTracePointContext) -> i32 {
    let sk: u64 = ctx.arg(0);
    // SAFETY: the value is copied out at once.
    let Some(entry) = (unsafe { CONNS.get(&sk) }) else {
        return 0;
    };
    let entry = *entry;
    let sent: i32 = ctx.arg(1);
    if sent > 0 {
        let _ = capture(sk, entry, sent as u32);
    }
    0
}

fn capture(sk: u64, entry: ConnEntry, sent: u32) -> Option<()> {
    // An entry whose socket's peer changed belongs to a freed socket whose
    // address was reused: forget it.
    if read_ptr(sk, offset!(unix_peer)) != Some(entry.peer) {
        let _ = CONNS.remove(&sk);
        count(Counter::Stale);
        return None;
    }
    count(Counter::Sends);

    // SAFETY: helper without preconditions.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    let scratch = SCRATCH.get_ptr_mut(cpu)?;
    // SAFETY: this CPU's slot; nothing else on this CPU runs this program
    // until it returns.
    let scratch: &mut Scratch = unsafe { &mut *scratch };

    // SAFETY: helper without preconditions.
    let task = unsafe { bpf_get_current_task() };
    let record = &mut scratch.record;
    record.header.kind = kind::SEND;
    record.header.version = RECORD_VERSION;
    // SAFETY: helper without preconditions.
    record.header.ts_ns = unsafe { bpf_ktime_get_ns() };
    record.conn_id = entry.conn_id;
    record.direction = entry.direction;
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

/// Copies up to `MAX_PAYLOAD` bytes of the send into `scratch.data` and
/// returns how many; sets flags on the record when it cannot.
fn copy_payload(scratch: &mut Scratch, task: u64, sk: u64, sent: u32) -> u32 {
    let Some((nr, fd, arg)) = syscall_args() else {
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
        SYS_WRITEV => copy_iovecs(scratch, arg, MAX_IOVECS, want),
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

/// Syscall number, first argument (the fd) and second argument of the
/// current task's syscall, from its saved user registers.
fn syscall_args() -> Option<(u64, u64, u64)> {
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
        Some((nr, fd, arg))
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
