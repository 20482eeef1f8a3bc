//! Loading docksock's kernel program and keeping it fed.
//!
//! `probe` finds the struct offsets in the running kernel's BTF
//! ([`offsets`]), loads the embedded eBPF object with those offsets and the
//! daemon's own pid as constants, attaches the hooks of the chosen backend,
//! and keeps the watched-socket map in step with the socket files
//! ([`watch`]).
//!
//! Backends: this release has one, `tracepoint`: the BTF tracepoint
//! `sock:sock_send_length` (kernel 6.3+), which needs no tracefs. The
//! socket-layer fentry/kprobe backend is #5.

pub mod offsets;
pub mod ring;
pub mod watch;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};
use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray, RingBuf},
    programs::BtfTracePoint,
    Btf, Ebpf, EbpfLoader,
};
use docksock_common::{globals, maps, programs, Counter, Offsets, WatchedKey, WatchedSocket};
use log::debug;

use self::watch::Watcher;

/// The kernel object built from `docksock-ebpf`, embedded at build time.
static PROGRAM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/docksock"));

/// Name of the only backend of this release.
pub const BACKEND: &str = "tracepoint";

/// What the daemon asks of the probe.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// Socket paths to watch.
    pub sockets: Vec<PathBuf>,
    /// Ring buffer size in bytes (a power of two, multiple of the page size).
    pub ring_buffer_bytes: u32,
}

/// Kernel-side counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Records that did not fit in the ring buffer.
    pub lost: u64,
    /// Sends captured with fewer bytes than were sent.
    pub truncated: u64,
    /// New connections to a watched socket.
    pub connects: u64,
    /// Sends on a watched connection.
    pub sends: u64,
    /// Sends whose payload could not be located.
    pub no_payload: u64,
    /// Failed kernel reads on the capture path.
    pub read_errors: u64,
    /// Connection entries dropped because their socket address was reused.
    pub stale: u64,
}

/// The loaded, attached kernel program.
pub struct Probe {
    ebpf: Ebpf,
    counters: PerCpuArray<MapData, u64>,
    watcher: Watcher,
    // Owns the log map until taken; dropping it would close the map's fd.
    logger: Option<KernelLogger>,
}

/// Reader of the kernel program's own log statements.
pub type KernelLogger = aya_log::EbpfLogger<&'static dyn log::Log>;

impl Probe {
    /// Loads and attaches the program and fills the watched-socket map.
    pub fn load(config: &ProbeConfig) -> anyhow::Result<Self> {
        let offsets = offsets::from_btf_file(Path::new(offsets::VMLINUX_BTF))?;
        let btf = Btf::from_sys_fs().context("reading kernel BTF for the BTF tracepoint")?;
        let mut ebpf = load_object(&offsets, &btf, config.ring_buffer_bytes)?;

        let logger = match aya_log::EbpfLogger::init(&mut ebpf) {
            Ok(logger) => Some(logger),
            Err(err) => {
                debug!("kernel program logging unavailable: {err}");
                None
            }
        };
        attach(&mut ebpf, &btf)?;

        let counters = take(&mut ebpf, maps::COUNTERS)?;
        let watched: HashMap<MapData, WatchedKey, WatchedSocket> = take(&mut ebpf, maps::WATCHED)?;
        let servers: Array<MapData, u32> = take(&mut ebpf, maps::SERVERS)?;
        let mut watcher = Watcher::new(config.sockets.clone(), watched, servers);
        watcher.refresh()?;
        Ok(Self { ebpf, counters, watcher, logger })
    }

    /// Hands out the ring buffer; callable once.
    pub fn take_ring_buffer(&mut self) -> anyhow::Result<RingBuf<MapData>> {
        take(&mut self.ebpf, maps::RECORDS)
    }

    /// Hands out the kernel log reader (to be polled and flushed); the
    /// caller must keep it alive as long as the program runs.
    pub fn take_logger(&mut self) -> Option<KernelLogger> {
        self.logger.take()
    }

    /// The watched-socket files and the paths that are not sockets yet.
    pub fn watcher(&self) -> &Watcher {
        &self.watcher
    }

    /// Stats the socket paths again; true when the watched set changed.
    pub fn refresh_watched(&mut self) -> anyhow::Result<bool> {
        self.watcher.refresh()
    }

    /// Sums the kernel counters over CPUs.
    pub fn counters(&self) -> anyhow::Result<KernelCounters> {
        let read = |counter: Counter| -> anyhow::Result<u64> {
            let values = self
                .counters
                .get(&(counter as u32), 0)
                .with_context(|| format!("reading kernel counter {counter:?}"))?;
            Ok(values.iter().sum())
        };
        Ok(KernelCounters {
            lost: read(Counter::Lost)?,
            truncated: read(Counter::Truncated)?,
            connects: read(Counter::Connects)?,
            sends: read(Counter::Sends)?,
            no_payload: read(Counter::NoPayload)?,
            read_errors: read(Counter::ReadErrors)?,
            stale: read(Counter::Stale)?,
        })
    }
}

/// Loads the embedded object with this kernel's offsets; attaches nothing.
fn load_object(offsets: &Offsets, btf: &Btf, ring_buffer_bytes: u32) -> anyhow::Result<Ebpf> {
    let self_tgid = std::process::id();
    let cpus = aya::util::nr_cpus().map_err(|(path, err)| anyhow!("reading {path}: {err}"))?;
    let cpus = u32::try_from(cpus).context("CPU count")?;
    // The kernel program's own log statements below the daemon's level are
    // turned off at load, so they cost nothing.
    let log_level = log::max_level() as u8;
    EbpfLoader::new()
        .btf(Some(btf))
        .override_global(aya_log::LEVEL, &log_level, false)
        .override_global(globals::OFFSETS, offsets, true)
        .override_global(globals::SELF_TGID, &self_tgid, true)
        .override_global(globals::WAKEUP_BYTES, &ring::wakeup_bytes(ring_buffer_bytes), true)
        .map_max_entries(maps::RECORDS, ring_buffer_bytes)
        .map_max_entries(maps::SCRATCH, cpus)
        .load(PROGRAM)
        .context("loading docksock's kernel program (run as root, or with CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE)")
}

/// Loads and attaches every program of the tracepoint backend.
fn attach(ebpf: &mut Ebpf, btf: &Btf) -> anyhow::Result<()> {
    let send: &mut BtfTracePoint = program_mut(ebpf, programs::SEND)?
        .try_into()
        .context("program sock_send_length is not a BTF tracepoint")?;
    send.load("sock_send_length", btf).context(
        "loading the sock:sock_send_length BTF tracepoint (needs kernel 6.3 or later)",
    )?;
    send.attach().context("attaching to sock:sock_send_length")?;
    Ok(())
}

fn program_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut aya::programs::Program> {
    ebpf.program_mut(name).ok_or_else(|| anyhow!("kernel object has no program {name}"))
}

fn take<T>(ebpf: &mut Ebpf, name: &str) -> anyhow::Result<T>
where
    T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.take_map(name).ok_or_else(|| anyhow!("kernel object has no map {name}"))?;
    T::try_from(map).with_context(|| format!("map {name} has an unexpected type"))
}

/// One line of `docksock-monitor check`.
#[derive(Clone, Debug)]
pub struct CheckLine {
    /// What was checked.
    pub what: String,
    /// Whether it is available.
    pub ok: bool,
    /// Detail or the reason it is not.
    pub detail: String,
}

/// Tries, without leaving anything loaded, what `run` would need.
pub fn check() -> Vec<CheckLine> {
    let mut lines = Vec::new();
    let mut line = |what: &str, result: Result<String, String>| {
        let (ok, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        lines.push(CheckLine { what: what.to_owned(), ok, detail });
    };

    line("kernel", kernel_release().map_err(|e| e.to_string()));
    let offsets = offsets::from_btf_file(Path::new(offsets::VMLINUX_BTF));
    line(
        "BTF offsets",
        offsets.as_ref().map(|_| format!("all fields found in {}", offsets::VMLINUX_BTF)).map_err(|e| e.to_string()),
    );

    let attached = offsets.map_err(anyhow::Error::from).and_then(|offsets| {
        let btf = Btf::from_sys_fs().context("reading kernel BTF")?;
        let mut ebpf = load_object(&offsets, &btf, 4096 * 16)?;
        attach(&mut ebpf, &btf)?;
        Ok(())
    });
    line(
        "backend tracepoint",
        attached
            .map(|()| "tp_btf sock:sock_send_length loads and attaches".to_owned())
            .map_err(|e| format!("{e:#}")),
    );
    line("backend fentry", Err("not in this release (#5)".to_owned()));
    line("backend kprobe", Err("not in this release (#5)".to_owned()));
    lines
}

/// `uname -r` of the running kernel.
pub fn kernel_release() -> anyhow::Result<String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .context("reading /proc/sys/kernel/osrelease")?;
    Ok(release.trim().to_owned())
}
