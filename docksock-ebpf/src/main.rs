//! docksock's kernel program.
//!
//! It answers one question cheaply for every unix socket send: "is this a
//! connection to a watched Docker API socket?", and when it is, copies the
//! bytes and who sent them into the ring buffer. It parses nothing.
//!
//! Hooks (the tracepoint backend, kernel 6.3 and later):
//! - [`connect`]: `syscalls:sys_enter_connect` / `sys_exit_connect` find new
//!   connections whose server socket file is watched, and register both ends.
//! - [`send`]: the BTF tracepoint `sock:sock_send_length` sees every send;
//!   a send on a registered end is captured, anything else leaves after one
//!   map lookup.
//!
//! Struct offsets are not compiled in: the daemon reads them from the
//! running kernel's BTF and sets them as read-only globals at load
//! ([`kernel`]).
#![no_std]
#![no_main]

mod connect;
mod kernel;
mod maps;
mod send;
mod task;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any reachable loop; this is never reached because
    // the program has no panicking paths, which the verifier also checks.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
