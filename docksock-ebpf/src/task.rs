//! Who is doing something: the current task and its cgroup.

use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_uid_gid, bpf_probe_read_kernel_str_bytes,
};
use docksock_common::TaskInfo;

use crate::kernel::{offset, read_ptr};

/// Fills `info` for the current task, whose `task_struct` is at `task`.
///
/// The cgroup leaf name is read from the default hierarchy
/// (`task->cgroups->dfl_cgrp->kn->name`) so that a process that has exited
/// by the time the daemon looks can still be attributed.
#[inline(always)]
pub fn fill(info: &mut TaskInfo, task: u64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();

    info.pid = (pid_tgid >> 32) as u32;
    info.tid = pid_tgid as u32;
    info.uid = uid_gid as u32;
    info.gid = (uid_gid >> 32) as u32;
    // SAFETY: helper without preconditions.
    info.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    info.comm = bpf_get_current_comm().unwrap_or([0; 16]);

    info.cgroup_name[0] = 0;
    if let Some(name) = cgroup_name_ptr(task) {
        // SAFETY: the helper bounds the read by the destination's length.
        let _ = unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, &mut info.cgroup_name) };
    }
}

#[inline(always)]
fn cgroup_name_ptr(task: u64) -> Option<u64> {
    let css_set = read_ptr(task, offset!(task_cgroups))?;
    let cgroup = read_ptr(css_set, offset!(css_set_dfl_cgrp))?;
    let kn = read_ptr(cgroup, offset!(cgroup_kn))?;
    read_ptr(kn, offset!(kernfs_name))
}
