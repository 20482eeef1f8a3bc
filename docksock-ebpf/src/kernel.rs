//! Reading kernel structs at offsets the daemon found in BTF.
//!
//! rustc emits no CO-RE relocations, so no offset is compiled in. The daemon
//! sets [`OFFSETS`] at load; the verifier sees a frozen read-only global and
//! treats each field as a constant.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use docksock_common::Offsets;

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
    unix_peer: 0,
    unix_path_dentry: 0,
    dentry_inode: 0,
    css_set_dfl_cgrp: 0,
    cgroup_kn: 0,
    kernfs_name: 0,
    ready: 0,
    _pad: 0,
};

/// Thread group id of the daemon, whose own connections are never recorded.
#[unsafe(no_mangle)]
static SELF_TGID: u32 = 0;

/// One field of [`OFFSETS`], read so that the compiler cannot fold it.
macro_rules! offset {
    ($field:ident) => {
        // SAFETY: a plain read of a static the loader filled.
        u64::from(unsafe { core::ptr::read_volatile(&$crate::kernel::OFFSETS.$field) })
    };
}
pub(crate) use offset;

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

/// Reads a `u64` field at `base + off`, zero allowed.
#[inline(always)]
pub fn read_u64(base: u64, off: u64) -> Option<u64> {
    // SAFETY: as in `read_ptr`.
    unsafe { bpf_probe_read_kernel((base + off) as *const u64) }.ok()
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

/// Device (kernel encoding) and inode of the file a unix socket is bound
/// to, through `unix_sock.path.dentry->d_inode`.
#[inline(always)]
pub fn unix_bound_file(sk: u64) -> Option<(u32, u64)> {
    let dentry = read_ptr(sk, offset!(unix_path_dentry))?;
    let inode = read_ptr(dentry, offset!(dentry_inode))?;
    let ino = read_u64(inode, offset!(inode_ino))?;
    let sb = read_ptr(inode, offset!(inode_sb))?;
    let dev = read_u32(sb, offset!(sb_dev))?;
    Some((dev, ino))
}
