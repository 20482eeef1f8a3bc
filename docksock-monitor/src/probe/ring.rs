//! Draining the ring buffer.
//!
//! One ring buffer carries every record in the order the kernel wrote them,
//! so the records of one connection arrive in send order. The reader wakes
//! when the kernel signals data and hands each record's bytes, still
//! undecoded, to the caller.

use aya::maps::{MapData, RingBuf};
use tokio::io::{unix::AsyncFd, Interest};

/// Reads records until the ring buffer's fd fails; `on_record` gets the raw
/// bytes of each record and must not block.
pub async fn drain_forever(
    ring: RingBuf<MapData>,
    mut on_record: impl FnMut(&[u8]),
) -> anyhow::Result<()> {
    // SAFETY: the AsyncFd owns the ring buffer, whose map fd stays open and
    // unchanged until the AsyncFd is dropped.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(|err| anyhow::anyhow!("polling the ring buffer: {err}"))?;
    loop {
        let mut guard = fd.readable_mut().await?;
        let ring = guard.get_inner_mut();
        while let Some(item) = ring.next() {
            on_record(&item);
        }
        guard.clear_ready();
    }
}

/// Forwards the kernel program's own log statements to the daemon's logger
/// until the log map's fd fails.
pub async fn forward_kernel_logs(logger: super::KernelLogger) -> anyhow::Result<()> {
    // SAFETY: the AsyncFd owns the logger and with it the log map's fd.
    let mut fd = unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }
        .map_err(|err| anyhow::anyhow!("polling the kernel log buffer: {err}"))?;
    loop {
        let mut guard = fd.readable_mut().await?;
        guard.get_inner_mut().flush();
        guard.clear_ready();
    }
}
