//! Kernel struct offsets from the running kernel's BTF.
//!
//! The kernel program walks a handful of kernel structs. rustc cannot emit
//! CO-RE relocations for it, so the daemon looks each field up here, by
//! name, and hands the numbers to the program at load.

use std::path::Path;

use btf_rs::{Btf, Type};
use docksock_common::Offsets;

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// A field the program needs could not be found.
#[derive(Debug, thiserror::Error)]
pub enum OffsetError {
    /// The BTF file could not be read or parsed.
    #[error("reading kernel BTF from {path}: {source}; docksock needs a kernel built with CONFIG_DEBUG_INFO_BTF")]
    Btf {
        /// The file read.
        path: String,
        /// What went wrong.
        source: anyhow::Error,
    },
    /// A struct or one of its fields is not in this kernel's BTF.
    #[error("kernel BTF has no field {field} in struct {strukt}; this kernel is not supported yet")]
    Missing {
        /// Struct name.
        strukt: &'static str,
        /// Dotted field path.
        field: &'static str,
    },
}

/// Reads every offset the program needs from the BTF at `path`.
pub fn from_btf_file(path: &Path) -> Result<Offsets, OffsetError> {
    let btf = Btf::from_file(path).map_err(|source| OffsetError::Btf {
        path: path.display().to_string(),
        source,
    })?;
    from_btf(&btf)
}

/// Reads every offset the program needs from parsed BTF.
pub fn from_btf(btf: &Btf) -> Result<Offsets, OffsetError> {
    let at = |strukt: &'static str, field: &'static str| -> Result<u32, OffsetError> {
        field_offset(btf, strukt, field).ok_or(OffsetError::Missing { strukt, field })
    };
    Ok(Offsets {
        task_files: at("task_struct", "files")?,
        task_cgroups: at("task_struct", "cgroups")?,
        files_fdt: at("files_struct", "fdt")?,
        fdt_max_fds: at("fdtable", "max_fds")?,
        fdt_fd: at("fdtable", "fd")?,
        file_private_data: at("file", "private_data")?,
        inode_ino: at("inode", "i_ino")?,
        inode_sb: at("inode", "i_sb")?,
        sb_dev: at("super_block", "s_dev")?,
        socket_sk: at("socket", "sk")?,
        sock_family: at("sock", "__sk_common.skc_family")?,
        sock_type: at("sock", "sk_type")?,
        sock_peer_pid: at("sock", "sk_peer_pid")?,
        sock_socket: at("sock", "sk_socket")?,
        socket_file: at("socket", "file")?,
        file_inode: at("file", "f_inode")?,
        pid_nr: at("pid", "numbers")? + at("upid", "nr")?,
        unix_peer: at("unix_sock", "peer")?,
        unix_path_dentry: at("unix_sock", "path.dentry")?,
        dentry_inode: at("dentry", "d_inode")?,
        css_set_dfl_cgrp: at("css_set", "dfl_cgrp")?,
        cgroup_kn: at("cgroup", "kn")?,
        kernfs_name: at("kernfs_node", "name")?,
        ready: 1,
    })
}

/// Byte offset of `path` (dotted, e.g. `path.dentry`) inside `struct strukt`,
/// looking through anonymous struct and union members as C does.
pub fn field_offset(btf: &Btf, strukt: &str, path: &str) -> Option<u32> {
    let mut ty = btf
        .resolve_types_by_name(strukt)
        .ok()?
        .into_iter()
        .find(|t| matches!(t, Type::Struct(s) if !s.members.is_empty()))?;
    let mut total_bits = 0u32;
    for part in path.split('.') {
        let (bits, member_ty) = find_member(btf, &ty, part)?;
        total_bits += bits;
        ty = strip_modifiers(btf, member_ty)?;
    }
    total_bits.is_multiple_of(8).then_some(total_bits / 8)
}

/// Finds `name` among the members of a struct or union, descending into
/// anonymous members; returns its bit offset and type.
fn find_member(btf: &Btf, ty: &Type, name: &str) -> Option<(u32, Type)> {
    let members = match ty {
        Type::Struct(s) | Type::Union(s) => &s.members,
        _ => return None,
    };
    for member in members {
        let member_name = btf.resolve_name(member).unwrap_or_default();
        let member_ty = btf.resolve_chained_type(member).ok()?;
        if member_name == name {
            return Some((member.bit_offset(), member_ty));
        }
        if member_name.is_empty() {
            let inner = strip_modifiers(btf, member_ty)?;
            if let Some((bits, found)) = find_member(btf, &inner, name) {
                return Some((member.bit_offset() + bits, found));
            }
        }
    }
    None
}

/// Follows typedefs and qualifiers to the underlying type.
fn strip_modifiers(btf: &Btf, mut ty: Type) -> Option<Type> {
    for _ in 0..16 {
        ty = match &ty {
            Type::Typedef(t) => btf.resolve_chained_type(t).ok()?,
            Type::Const(t) => btf.resolve_chained_type(t).ok()?,
            Type::Volatile(t) => btf.resolve_chained_type(t).ok()?,
            Type::Restrict(t) => btf.resolve_chained_type(t).ok()?,
            Type::TypeTag(t) => btf.resolve_chained_type(t).ok()?,
            _ => return Some(ty),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The running kernel's BTF, when this machine has one.
    fn host_btf() -> Option<Btf> {
        let path = Path::new(VMLINUX_BTF);
        if !path.exists() {
            eprintln!("skipped: {VMLINUX_BTF} missing, kernel built without BTF");
            return None;
        }
        Some(Btf::from_file(path).expect("host BTF parses"))
    }

    #[test]
    fn finds_every_offset_on_this_kernel() {
        let Some(btf) = host_btf() else { return };
        let offsets = from_btf(&btf).expect("all fields present");
        assert_eq!(offsets.ready, 1);
        // `struct sock` is the first member of `struct unix_sock`, so the
        // unix fields lie past the common part.
        assert!(offsets.unix_peer > 0);
        assert!(offsets.unix_path_dentry > 0);
        // `struct path` is { mnt, dentry }: dentry is 8 bytes in.
        assert_eq!(
            offsets.unix_path_dentry,
            field_offset(&btf, "unix_sock", "path").expect("path") + 8
        );
    }

    #[test]
    fn looks_through_anonymous_members() {
        let Some(btf) = host_btf() else { return };
        // `skc_family` lives in an anonymous union inside `sock_common`.
        let family = field_offset(&btf, "sock_common", "skc_family");
        assert!(family.is_some());
        assert_eq!(field_offset(&btf, "sock", "__sk_common.skc_family"), family);
    }

    #[test]
    fn missing_fields_are_named() {
        let Some(btf) = host_btf() else { return };
        assert_eq!(field_offset(&btf, "unix_sock", "no_such_field"), None);
        assert_eq!(field_offset(&btf, "no_such_struct_docksock", "x"), None);
    }
}
