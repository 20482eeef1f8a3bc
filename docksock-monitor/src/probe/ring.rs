//! Draining the ring buffer.
//!
//! One ring buffer carries every record in the order the kernel wrote them,
//! so the records of one connection arrive in send order. The reader hands
//! each record's bytes, still undecoded, to the caller.
//!
//! The kernel wakes the reader only when the buffer holds more than the
//! wakeup threshold ([`wakeup_bytes`]); otherwise the reader drains it every
//! [`DRAIN_PERIOD`]. A busy client then costs one wakeup per batch instead
//! of two per request and response, and a record waits at most one period.

use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use tokio::io::{unix::AsyncFd, Interest};

/// Longest a record waits in the ring buffer below the wakeup threshold.
pub const DRAIN_PERIOD: Duration = Duration::from_millis(20);

/// Wakeup threshold for a ring buffer of `ring_bytes`: a quarter of it, so
/// that a burst wakes the reader long before the buffer is full.
pub fn wakeup_bytes(ring_bytes: u32) -> u64 {
    u64::from(ring_bytes / 4)
}

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
        match tokio::time::timeout(DRAIN_PERIOD, fd.readable_mut()).await {
            Ok(guard) => {
                let mut guard = guard?;
                drain(guard.get_inner_mut(), &mut on_record);
                guard.clear_ready();
            }
            Err(_elapsed) => drain(fd.get_mut(), &mut on_record),
        }
    }
}

fn drain(ring: &mut RingBuf<MapData>, on_record: &mut impl FnMut(&[u8])) {
    while let Some(item) = ring.next() {
        on_record(&item);
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
