//! Reading kernel structs at offsets the daemon found in BTF.
//!
//! rustc emits no CO-RE relocations, so no offset is compiled in. The daemon
//! sets [`OFFSETS`] at load; the verifier sees a frozen read-only global and
//! treats each field as a constant, which lets the hot path use plain loads
//! on BTF-typed pointers ([`field`]) that the verifier checks against the
//! kernel's types.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use docksock_common::{Offsets, WatchedKey};

/// Struct offsets of the running kernel, set by the daemon at load.
#[unsafe(no_mangle)]
pub(crate) static OFFSETS: Offsets = Offsets {
    task_files: 0,
    task_cgroups: 0,
    files_fdt: 0,
    fdt_max_fds: 0,
    fdt_fd: 0,
    file_private_data: 0,
    inode_ino: 0,
    inode_sb: 0,
    sb_dev: 0,
    socket_sk: 0,
    sock_family: 0,
    sock_type: 0,
    sock_peer_pid: 0,
    sock_socket: 0,
    socket_file: 0,
    file_inode: 0,
    pid_nr: 0,
    unix_peer: 0,
    unix_path_dentry: 0,
    dentry_inode: 0,
    css_set_dfl_cgrp: 0,
    cgroup_kn: 0,
    kernfs_name: 0,
    ready: 0,
};

/// Thread group id of the daemon, whose own connections are never recorded.
#[unsafe(no_mangle)]
static SELF_TGID: u32 = 0;

/// One field of [`OFFSETS`], read so that the compiler cannot fold it.
macro_rules! offset {
    ($field:ident) => {
        $crate::kernel::read_offset(&$crate::kernel::OFFSETS.$field)
    };
}
pub(crate) use offset;

/// Reads one offset so that the compiler cannot fold it to its initial zero.
#[inline(always)]
pub fn read_offset(field: &u32) -> u64 {
    // SAFETY: a plain read of a static the loader filled.
    u64::from(unsafe { core::ptr::read_volatile(field) })
}

/// Whether the daemon filled the offsets.
#[inline(always)]
pub fn ready() -> bool {
    offset!(ready) != 0
}

/// The daemon's thread group id.
#[inline(always)]
pub fn self_tgid() -> u32 {
    // SAFETY: a plain read of a static the loader filled.
    unsafe { core::ptr::read_volatile(&SELF_TGID) }
}

/// Reads the field at `off` of a BTF-typed kernel pointer with a plain load.
///
/// Only for pointers the verifier knows the type of (tracing program
/// arguments, helper results, and pointers loaded from those): it checks
/// the offset against the type and makes the load fault-tolerant, so no
/// helper call is needed. A fault reads as zero.
///
/// # Safety
/// `base` must be such a pointer and `off` a field offset of its type.
#[inline(always)]
pub unsafe fn field<T: Copy>(base: *const u8, off: u64) -> T {
    // SAFETY: see above; the verifier rejects the program otherwise.
    unsafe { core::ptr::read_volatile(base.wrapping_add(off as usize).cast::<T>()) }
}

/// Reads a pointer-sized field at `base + off`; `None` on a fault or null.
#[inline(always)]
pub fn read_ptr(base: u64, off: u64) -> Option<u64> {
    // SAFETY: bpf_probe_read_kernel checks the address; a bad one is an Err.
    let value = unsafe { bpf_probe_read_kernel((base + off) as *const u64) }.ok()?;
    (value != 0).then_some(value)
}

/// Reads a `u32` field at `base + off`.
#[inline(always)]
pub fn read_u32(base: u64, off: u64) -> Option<u32> {
    // SAFETY: as in `read_ptr`.
    unsafe { bpf_probe_read_kernel((base + off) as *const u32) }.ok()
}

/// [`unix_bound_file`] for a `struct unix_sock` known only by address (a
/// peer pointer the verifier will not cast), read with copies.
#[inline(always)]
pub fn peer_bound_file(usk: u64) -> Option<WatchedKey> {
    let dentry = read_ptr(usk, offset!(unix_path_dentry))?;
    let inode = read_ptr(dentry, offset!(dentry_inode))?;
    let sb = read_ptr(inode, offset!(inode_sb))?;
    // SAFETY: bpf_probe_read_kernel checks the address; a bad one is an Err.
    let ino = unsafe { bpf_probe_read_kernel((inode + offset!(inode_ino)) as *const u64) }.ok()?;
    let dev = read_u32(sb, offset!(sb_dev))?;
    Some(WatchedKey { ino, dev, _pad: 0 })
}

/// The `struct sock` behind fd `fd` of `task`, if that fd is a socket.
///
/// `task->files->fdt->fd[fd]->private_data->sk`. A non-socket file yields
/// some other pointer, which callers compare against a known sock.
#[inline(always)]
pub fn sock_of_fd(task: u64, fd: u64) -> Option<u64> {
    let files = read_ptr(task, offset!(task_files))?;
    let fdt = read_ptr(files, offset!(files_fdt))?;
    let max_fds = read_u32(fdt, offset!(fdt_max_fds))?;
    if fd >= u64::from(max_fds) {
        return None;
    }
    let fd_array = read_ptr(fdt, offset!(fdt_fd))?;
    let file = read_ptr(fd_array, fd * 8)?;
    let socket = read_ptr(file, offset!(file_private_data))?;
    read_ptr(socket, offset!(socket_sk))
}

/// Device (kernel encoding) and inode of the file the unix socket `usk`
/// (a BTF `struct unix_sock` pointer) is bound to, through
/// `unix_sock.path.dentry->d_inode`; `None` for an unbound socket.
///
/// # Safety
/// `usk` must be a BTF-typed `struct unix_sock` pointer.
#[inline(always)]
pub unsafe fn unix_bound_file(usk: *const u8) -> Option<WatchedKey> {
    // SAFETY: each pointer below was loaded from a BTF-typed one, at an
    // offset of its type, so each is BTF-typed too.
    unsafe {
        let dentry: *const u8 = field(usk, offset!(unix_path_dentry));
        if dentry.is_null() {
            return None;
        }
        let inode: *const u8 = field(dentry, offset!(dentry_inode));
        if inode.is_null() {
            return None;
        }
        let sb: *const u8 = field(inode, offset!(inode_sb));
        if sb.is_null() {
            return None;
        }
        Some(WatchedKey { ino: field(inode, offset!(inode_ino)), dev: field(sb, offset!(sb_dev)), _pad: 0 })
    }
}
