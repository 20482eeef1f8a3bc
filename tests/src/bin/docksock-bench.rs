//! docksock's overhead, measured side by side: the same workloads with the
//! daemon loaded and not loaded, interleaved in one run, reported as ratios.
//!
//! Workloads (the budget in the README):
//! - `devnull_write`: 1-byte `write()` to `/dev/null`;
//! - `socketpair_send`: 1-byte `send()` on an unrelated unix socketpair;
//! - `ping_round_trip`: `GET /_ping` to a real dockerd over one keep-alive
//!   connection;
//! - `hammer`: 8 clients sending `GET /_ping` at once while loaded; every
//!   request must come out as an event and the kernel must count no loss.
//!
//! Each sample is the fastest of several repetitions, which keeps what the
//! workload costs and drops what other processes took from it; the first
//! pass after the daemon starts is a discarded warm-up. Rounds alternate
//! the order (off-on, on-off, ...) so drift on this noisy machine falls on
//! both sides; each side's figure is the median of rounds.
//!
//! Usage: `docksock-bench [ROUNDS]` as root (default 5 rounds). Prints a
//! table and a final `bench: ...` JSON line.

use std::{
    fs::OpenOptions,
    io::Write as _,
    os::{fd::AsRawFd as _, unix::net::UnixStream},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context as _, Result};
use docksock_tests::{
    client::{request_bytes, Conn},
    dockerd::Dockerd,
    events::EventLog,
    monitor::Monitor,
    rundir::RunDir,
};

const REPS: usize = 5;
const WRITE_OPS: u32 = 500_000;
const SEND_OPS: u32 = 200_000;
const PING_OPS: u32 = 600;
const HAMMER_CLIENTS: u32 = 8;
const HAMMER_PER_CLIENT: u32 = 500;

fn main() -> Result<()> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .with_context(|| format!("rounds: {text:?} is not a number"))?,
        None => 5,
    };
    ensure!(rounds > 0, "at least one round");
    let dir = RunDir::create("bench")?;
    let dockerd = Dockerd::start(dir.path())?;
    let result = bench(&dockerd, dir.path(), rounds);
    dockerd.stop()?;
    dir.finish(result.is_err())?;
    result
}

/// Nanoseconds per operation of each workload, one side of one round.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    write_ns: f64,
    send_ns: f64,
    ping_ns: f64,
}

fn bench(dockerd: &Dockerd, dir: &Path, rounds: usize) -> Result<()> {
    let mut off = Vec::new();
    let mut on = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for loaded in order {
            let sample = if loaded {
                let events = dir.join(format!("events-{round}.jsonl"));
                let monitor = Monitor::start(dockerd.socket(), &events, &dir.join("monitor.log"))?;
                measure(dockerd.socket())?;
                let sample = measure(dockerd.socket())?;
                monitor.stop()?;
                sample
            } else {
                measure(dockerd.socket())?
            };
            eprintln!(
                "round {round} {}: {sample:?}",
                if loaded { "on " } else { "off" }
            );
            if loaded {
                on.push(sample)
            } else {
                off.push(sample)
            }
        }
    }

    let rows = [
        (
            "devnull_write",
            median(&off, |s| s.write_ns),
            median(&on, |s| s.write_ns),
            1.01,
        ),
        (
            "socketpair_send",
            median(&off, |s| s.send_ns),
            median(&on, |s| s.send_ns),
            1.05,
        ),
        (
            "ping_round_trip",
            median(&off, |s| s.ping_ns),
            median(&on, |s| s.ping_ns),
            1.02,
        ),
    ];
    println!(
        "{:<18} {:>12} {:>12} {:>8} {:>8}",
        "workload", "off ns/op", "on ns/op", "ratio", "budget"
    );
    let mut json = Vec::new();
    for (name, off_ns, on_ns, budget) in rows {
        let ratio = on_ns / off_ns;
        println!("{name:<18} {off_ns:>12.1} {on_ns:>12.1} {ratio:>8.3} {budget:>8.2}");
        json.push(format!(
            "\"{name}\":{{\"off_ns\":{off_ns:.1},\"on_ns\":{on_ns:.1},\"ratio\":{ratio:.4}}}"
        ));
    }

    let (sent, seen) = hammer(dockerd, dir)?;
    println!("hammer: {HAMMER_CLIENTS} clients sent {sent} requests, docksock reported {seen}");
    json.push(format!(
        "\"hammer\":{{\"sent\":{sent},\"reported\":{seen}}}"
    ));
    println!("bench: {{{}}}", json.join(","));
    ensure!(
        seen == sent,
        "docksock reported {seen} of {sent} hammer requests"
    );
    Ok(())
}

/// `docksock_events_lost_total`, read from the metrics address the daemon
/// logged at start, once its kernel counters show at least `sends` sends.
fn kernel_lost(monitor_log: &Path, sends: u64) -> Result<u64> {
    let log = std::fs::read_to_string(monitor_log).context("reading the daemon's log")?;
    let addr = log
        .split("metrics http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .context("the daemon's startup line names no metrics address")?
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = metrics_text(&addr)?;
        let exported = metric(&text, "docksock_kernel_counter_total{counter=\"sends\"}")?;
        if exported >= sends {
            return metric(&text, "docksock_events_lost_total");
        }
        ensure!(
            Instant::now() < deadline,
            "kernel counters stuck at {exported} sends of {sends}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metrics_text(addr: &str) -> Result<String> {
    use std::io::Read as _;
    let mut stream =
        std::net::TcpStream::connect(addr).with_context(|| format!("metrics on {addr}"))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}

fn metric(text: &str, name: &str) -> Result<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .with_context(|| format!("no {name} in /metrics"))?;
    let value = line.rsplit(' ').next().unwrap_or_default();
    value
        .parse::<f64>()
        .map(|v| v as u64)
        .with_context(|| format!("parsing {line:?}"))
}

fn median(samples: &[Sample], field: impl Fn(&Sample) -> f64) -> f64 {
    let mut values: Vec<f64> = samples.iter().map(field).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn measure(socket: &Path) -> Result<Sample> {
    Ok(Sample {
        write_ns: fastest(devnull_write)?,
        send_ns: fastest(socketpair_send)?,
        ping_ns: fastest(|| ping(socket))?,
    })
}

fn fastest(mut run: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..REPS {
        best = best.min(run()?);
    }
    Ok(best)
}

fn per_op(start: Instant, ops: u32) -> f64 {
    start.elapsed().as_nanos() as f64 / f64::from(ops)
}

fn devnull_write() -> Result<f64> {
    let null = OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .context("opening /dev/null")?;
    let fd = null.as_raw_fd();
    let byte = [0u8; 1];
    let start = Instant::now();
    for _ in 0..WRITE_OPS {
        // SAFETY: a valid fd and a one-byte buffer.
        let n = unsafe { libc::write(fd, byte.as_ptr().cast(), 1) };
        if n != 1 {
            bail!("write to /dev/null returned {n}");
        }
    }
    Ok(per_op(start, WRITE_OPS))
}

fn socketpair_send() -> Result<f64> {
    let (a, b) = UnixStream::pair().context("socketpair")?;
    let (a, b) = (a.as_raw_fd(), b.as_raw_fd());
    let byte = [0u8; 1];
    let mut sink = vec![0u8; 64 * 1024];
    let start = Instant::now();
    for i in 0..SEND_OPS {
        // SAFETY: valid fds and buffers.
        let n = unsafe { libc::send(a, byte.as_ptr().cast(), 1, 0) };
        if n != 1 {
            bail!("send on a socketpair returned {n}");
        }
        if i % 64 == 63 {
            // SAFETY: as above; drains what was sent so the sender never blocks.
            unsafe { libc::recv(b, sink.as_mut_ptr().cast(), sink.len(), libc::MSG_DONTWAIT) };
        }
    }
    Ok(per_op(start, SEND_OPS))
}

fn ping(socket: &Path) -> Result<f64> {
    let mut conn = Conn::connect(socket)?;
    let request = request_bytes("GET", "/_ping", b"");
    let start = Instant::now();
    for _ in 0..PING_OPS {
        conn.write_once(&request)?;
        let reply = conn.read_reply()?;
        ensure!(reply.status == 200, "/_ping answered {}", reply.status);
    }
    Ok(per_op(start, PING_OPS))
}

/// 8 clients at once, each on its own connection; returns requests sent and
/// `/_ping` requests docksock reported.
fn hammer(dockerd: &Dockerd, dir: &Path) -> Result<(u64, u64)> {
    let events_path = dir.join("hammer.jsonl");
    let monitor_log = dir.join("hammer.log");
    let monitor = Monitor::start(dockerd.socket(), &events_path, &monitor_log)?;
    let target = "/_ping?docksock=hammer";
    let clients: Vec<_> = (0..HAMMER_CLIENTS)
        .map(|_| {
            let socket = dockerd.socket().to_path_buf();
            std::thread::spawn(move || -> Result<u64> {
                let mut conn = Conn::connect(&socket)?;
                let request = request_bytes("GET", target, b"");
                for _ in 0..HAMMER_PER_CLIENT {
                    conn.write_once(&request)?;
                    conn.read_reply()?;
                }
                Ok(u64::from(HAMMER_PER_CLIENT))
            })
        })
        .collect();
    let mut sent = 0;
    for client in clients {
        sent += client
            .join()
            .map_err(|_| anyhow::anyhow!("a hammer client panicked"))??;
    }

    let mut log = EventLog::new(&events_path);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    while Instant::now() < deadline {
        log.mark()?;
        seen = log
            .events()
            .iter()
            .filter(|e| e.pointer("/http/path").and_then(|p| p.as_str()) == Some(target))
            .count() as u64;
        if seen >= sent {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let lost = kernel_lost(&monitor_log, 2 * sent)?;
    monitor.stop()?;
    ensure!(lost == 0, "the kernel counted {lost} lost records");
    Ok((sent, seen))
}
