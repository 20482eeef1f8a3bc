//! The program's maps and counters. Names come from `docksock_common::maps`.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use docksock_common::{
    ConnEntry, Counter, SendRecord, WatchedKey, WatchedSocket, COUNTER_SLOTS, MAX_PAYLOAD,
    SERVER_SLOTS,
};

/// Every record for the daemon. The daemon resizes it at load.
#[map(name = "RECORDS")]
pub static RECORDS: RingBuf = RingBuf::with_byte_size(16 * 1024 * 1024, 0);

/// Watched socket files, filled by the daemon.
#[map(name = "WATCHED")]
pub static WATCHED: HashMap<WatchedKey, WatchedSocket> = HashMap::with_max_entries(64, 0);

/// Pids that created a watched listening socket (see
/// `docksock_common::maps::SERVERS`), filled by the daemon and learned from
/// dockerd's answers.
#[map(name = "SERVERS")]
pub static SERVERS: Array<u32> = Array::with_max_entries(SERVER_SLOTS, 0);

/// Both ends of every watched connection, keyed by `struct sock` address.
///
/// LRU so that entries of closed connections age out without a close hook.
#[map(name = "CONNS")]
pub static CONNS: LruHashMap<u64, ConnEntry> = LruHashMap::with_max_entries(65536, 0);

/// Kernel-side counters, summed by the daemon.
#[map(name = "COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// Where a send record is assembled: twice the payload cap, so that a copy
/// at any offset below the cap with any length up to the cap stays inside.
#[repr(C)]
pub struct Scratch {
    /// The record's fixed part.
    pub record: SendRecord,
    /// Payload; only the first `MAX_PAYLOAD` bytes are ever sent.
    pub data: [u8; 2 * MAX_PAYLOAD],
}

/// One [`Scratch`] per CPU. Too large for a per-CPU map (32 KiB limit), so
/// an array indexed by CPU number, resized by the daemon to the CPU count.
#[map(name = "SCRATCH")]
pub static SCRATCH: Array<Scratch> = Array::with_max_entries(512, 0);

/// Bytes waiting in [`RECORDS`] past which a record wakes the daemon, set
/// by the daemon at load. Below it the kernel does not wake anyone and the
/// daemon drains on a short timer: one wakeup per batch instead of two per
/// Docker API round trip.
#[unsafe(no_mangle)]
static WAKEUP_BYTES: u64 = 0;

/// Ring buffer flags for the record about to be written.
#[inline(always)]
pub fn wakeup_flags() -> u64 {
    const BPF_RB_AVAIL_DATA: u64 = 0;
    const BPF_RB_NO_WAKEUP: u64 = 1;
    const BPF_RB_FORCE_WAKEUP: u64 = 2;
    // SAFETY: a plain read of a static the loader filled.
    let threshold = unsafe { core::ptr::read_volatile(&WAKEUP_BYTES) };
    if RECORDS.query(BPF_RB_AVAIL_DATA) >= threshold {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

/// Adds one to a kernel counter.
#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: the pointer is to this CPU's slot of a live map value.
        unsafe { *slot += 1 };
    }
}
