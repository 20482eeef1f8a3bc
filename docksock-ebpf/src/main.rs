//! docksock's kernel program.
//!
//! It answers one question cheaply for every unix socket send: "is this a
//! connection to a watched Docker API socket?", and when it is, copies the
//! bytes and who sent them into the ring buffer. It parses nothing.
//!
//! One hook (the tracepoint backend, kernel 6.3 and later): [`send`], on
//! the BTF tracepoint `sock:sock_send_length`, sees every socket send,
//! finds the connections to watched socket files from their first send,
//! and captures what is sent on them. Nothing hooks `connect()` or
//! `write()`.
//!
//! Struct offsets are not compiled in: the daemon reads them from the
//! running kernel's BTF and sets them as read-only globals at load
//! ([`kernel`]).
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

#[cfg(target_arch = "bpf")]
mod kernel;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod send;
#[cfg(target_arch = "bpf")]
mod task;

/// Built for the host only so that `cargo check --workspace` passes; the
/// real object is built for `bpfel-unknown-none` by docksock-monitor.
#[cfg(not(target_arch = "bpf"))]
fn main() {}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any reachable loop; this is never reached because
    // the program has no panicking paths, which the verifier also checks.
    loop {}
}

#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
