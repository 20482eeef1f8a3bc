//! Prometheus metrics, in docksock's own registry.
//!
//! Counters kept elsewhere as plain numbers (the kernel's per-CPU counters,
//! the pipeline's stats, the resolver's lookups) are copied in by the
//! `update_*` and [`Metrics::set_kernel_counters`] calls, which advance each
//! Prometheus counter by the difference since the last call (a total that
//! went down, as after a reload of the kernel program, counts as a restart
//! from zero).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::event::{Detail, Event};
use crate::identity::ResolverStats;
use crate::pipeline::PipelineStats;
use crate::probe::KernelCounters;

/// Names of every metric, defined once.
pub mod names {
    /// Records the kernel could not put in the ring buffer.
    pub const EVENTS_LOST: &str = "docksock_events_lost_total";
    /// Sends captured with fewer bytes than were sent.
    pub const RECORDS_TRUNCATED: &str = "docksock_records_truncated_total";
    /// Records the decoder refused, by `reason`.
    pub const RECORDS_BAD: &str = "docksock_records_bad_total";
    /// Requests seen, by `endpoint` and `method`.
    pub const REQUESTS: &str = "docksock_requests_total";
    /// Connections to a watched socket seen (connect records).
    pub const CONNECTIONS: &str = "docksock_connections_total";
    /// Other kernel counters, by `counter`.
    pub const KERNEL: &str = "docksock_kernel_counter_total";
    /// Events not written because a sink's queue was full, by `sink`.
    pub const EVENTS_DROPPED: &str = "docksock_events_dropped_total";
    /// Events a sink failed to write (I/O or serialization), by `sink`.
    pub const SINK_ERRORS: &str = "docksock_sink_errors_total";
    /// Request streams given up on: not HTTP, or framing lost.
    pub const PARSE_ERRORS: &str = "docksock_parse_errors_total";
    /// Connections followed right now.
    pub const CONNECTIONS_TRACKED: &str = "docksock_connections_tracked";
    /// Connections dropped from the table, by `why` (`evicted`, `idle`).
    pub const CONNECTIONS_DROPPED: &str = "docksock_connections_dropped_total";
    /// Connections first seen by a send (their connect was not seen).
    pub const CONNECTIONS_LAZY: &str = "docksock_connections_unseen_connect_total";
    /// Container lookups by `result` (`found`, `not_found`, `failed`).
    pub const LOOKUPS: &str = "docksock_container_lookups_total";
    /// Events written before their container lookup answered.
    pub const LOOKUP_WAIT_EXPIRED: &str = "docksock_container_lookup_wait_expired_total";
}

/// Methods kept as label values; others are counted as `OTHER`.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];

/// Losses are logged at warn at most this often.
const LOSS_WARN_EVERY: Duration = Duration::from_secs(60);

/// docksock's metrics and the registry that serves them.
pub struct Metrics {
    registry: Registry,
    events_lost: IntCounter,
    records_truncated: IntCounter,
    records_bad: IntCounterVec,
    requests: IntCounterVec,
    connections: IntCounter,
    kernel: IntCounterVec,
    events_dropped: IntCounterVec,
    sink_errors: IntCounterVec,
    parse_errors: IntCounter,
    tracked: IntGauge,
    conns_dropped: IntCounterVec,
    conns_lazy: IntCounter,
    lookups: IntCounterVec,
    lookup_wait_expired: IntCounter,
    last: Mutex<Last>,
}

/// Totals seen at the previous update, to advance counters by differences.
#[derive(Default)]
struct Last {
    kernel: KernelCounters,
    pipeline: PipelineStats,
    resolver: ResolverStats,
    pending_lost: u64,
    lost_warned: Option<Instant>,
}

impl Metrics {
    /// Creates every metric in a fresh registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        use names::*;
        let registry = Registry::new();
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };

        let tracked =
            IntGauge::new(CONNECTIONS_TRACKED, "Connections followed right now.")?;
        registry.register(Box::new(tracked.clone()))?;
        let m = Self {
            events_lost: counter(
                EVENTS_LOST,
                "Records the kernel could not put in the ring buffer.",
            )?,
            records_truncated: counter(
                RECORDS_TRUNCATED,
                "Sends captured with fewer bytes than sent.",
            )?,
            records_bad: vec(
                RECORDS_BAD,
                "Ring-buffer records refused by the decoder.",
                &["reason"],
            )?,
            requests: vec(
                REQUESTS,
                "Docker API requests seen.",
                &["endpoint", "method"],
            )?,
            connections: counter(CONNECTIONS, "Connections to a watched socket.")?,
            kernel: vec(
                KERNEL,
                "Other counters of the kernel program.",
                &["counter"],
            )?,
            events_dropped: vec(
                EVENTS_DROPPED,
                "Events dropped on a full sink queue.",
                &["sink"],
            )?,
            sink_errors: vec(SINK_ERRORS, "Events a sink failed to write.", &["sink"])?,
            parse_errors: counter(PARSE_ERRORS, "Request streams given up on.")?,
            tracked,
            conns_dropped: vec(CONNECTIONS_DROPPED, "Connections forgotten.", &["why"])?,
            conns_lazy: counter(CONNECTIONS_LAZY, "Connections first seen by a send.")?,
            lookups: vec(LOOKUPS, "Container name lookups.", &["result"])?,
            lookup_wait_expired: counter(
                LOOKUP_WAIT_EXPIRED,
                "Events written before their lookup answered.",
            )?,
            registry,
            last: Mutex::new(Last::default()),
        };

        // Show every labelled series at zero from the start.
        for reason in crate::capture::DecodeError::REASONS {
            m.records_bad.with_label_values(&[reason]);
        }
        for c in ["connects", "sends", "no_payload", "read_errors", "stale"] {
            m.kernel.with_label_values(&[c]);
        }
        for r in ["found", "not_found", "failed"] {
            m.lookups.with_label_values(&[r]);
        }
        m.events_dropped.with_label_values(&["json"]);
        m.sink_errors.with_label_values(&["json"]);
        for w in ["evicted", "idle"] {
            m.conns_dropped.with_label_values(&[w]);
        }
        Ok(m)
    }

    /// The registry, to serve or to add to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }

    /// Counts one event produced by the pipeline.
    pub fn observe(&self, ev: &Event) {
        match &ev.detail {
            Detail::Connect => self.connections.inc(),
            Detail::Request { http, api } => {
                let endpoint = if api.known {
                    api.endpoint.as_str()
                } else {
                    "other"
                };
                let method = METHODS
                    .iter()
                    .find(|m| **m == http.method)
                    .copied()
                    .unwrap_or("OTHER");
                self.requests.with_label_values(&[endpoint, method]).inc();
            }
        }
    }

    /// Counts an event a sink dropped because its queue was full.
    pub fn count_dropped(&self, sink: &str) {
        self.events_dropped.with_label_values(&[sink]).inc();
    }

    /// Counts an event a sink failed to write.
    pub fn count_sink_error(&self, sink: &str) {
        self.sink_errors.with_label_values(&[sink]).inc();
    }

    /// Copies in the kernel program's counters (totals over all CPUs), and
    /// warns, at most once a minute, when records were lost.
    pub fn set_kernel_counters(&self, now: KernelCounters) {
        let mut last = self.lock();
        let lost = advance(&self.events_lost, last.kernel.lost, now.lost);
        advance(
            &self.records_truncated,
            last.kernel.truncated,
            now.truncated,
        );
        let k = |name: &str| self.kernel.with_label_values(&[name]);
        advance(&k("connects"), last.kernel.connects, now.connects);
        advance(&k("sends"), last.kernel.sends, now.sends);
        advance(&k("no_payload"), last.kernel.no_payload, now.no_payload);
        advance(&k("read_errors"), last.kernel.read_errors, now.read_errors);
        advance(&k("stale"), last.kernel.stale, now.stale);
        last.kernel = now;

        last.pending_lost += lost;
        let due = last
            .lost_warned
            .is_none_or(|t| t.elapsed() >= LOSS_WARN_EVERY);
        if last.pending_lost > 0 && due {
            log::warn!(
                "{} records lost in the kernel: the ring buffer was full; \
                 raise --ring-buffer-size (requests on those connections may be missing)",
                last.pending_lost
            );
            last.pending_lost = 0;
            last.lost_warned = Some(Instant::now());
        }
    }

    /// Copies in the pipeline's counters and its connection count.
    pub fn update_pipeline(&self, now: &PipelineStats, connections: usize) {
        let mut last = self.lock();
        for ((reason, n), (_, before)) in
            now.bad_by_reason().zip(last.pipeline.bad_by_reason())
        {
            advance(&self.records_bad.with_label_values(&[reason]), before, n);
        }
        advance(
            &self.parse_errors,
            last.pipeline.parse_errors,
            now.parse_errors,
        );
        advance(
            &self.conns_lazy,
            last.pipeline.lazy_connections,
            now.lazy_connections,
        );
        let dropped = |why: &str| self.conns_dropped.with_label_values(&[why]);
        advance(
            &dropped("evicted"),
            last.pipeline.evicted_connections,
            now.evicted_connections,
        );
        advance(
            &dropped("idle"),
            last.pipeline.expired_connections,
            now.expired_connections,
        );
        self.tracked
            .set(i64::try_from(connections).unwrap_or(i64::MAX));
        last.pipeline = now.clone();
    }

    /// Copies in the resolver's lookup counters.
    pub fn update_resolver(&self, now: ResolverStats) {
        let mut last = self.lock();
        let l = |r: &str| self.lookups.with_label_values(&[r]);
        advance(&l("found"), last.resolver.found, now.found);
        advance(&l("not_found"), last.resolver.not_found, now.not_found);
        advance(&l("failed"), last.resolver.failed, now.failed);
        advance(
            &self.lookup_wait_expired,
            last.resolver.wait_expired,
            now.wait_expired,
        );
        last.resolver = now;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Last> {
        // A panic while holding the lock leaves plain numbers behind: usable.
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Advances `c` from total `before` to total `now`; returns the step.
fn advance(c: &IntCounter, before: u64, now: u64) -> u64 {
    let step = if now >= before { now - before } else { now };
    c.inc_by(step);
    step
}
