//! The JSON-lines sink: events to a file or standard output.
//!
//! [`JsonSink::send`] never blocks: it puts the event on a bounded queue or
//! counts it as dropped. One writer task takes events in order, lets the
//! resolver fill in container names still being looked up (waiting at most
//! until `name_wait` after the event was queued), and writes one line each.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Metrics;
use crate::event::Event;
use crate::identity::DockerResolver;

/// Label of this sink in metrics.
const SINK: &str = "json";

/// Where the lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonTarget {
    /// Standard output.
    Stdout,
    /// A file, created if missing and appended to.
    File(PathBuf),
}

/// Settings of a [`JsonSink`].
#[derive(Clone, Debug)]
pub struct JsonSinkConfig {
    /// Where the lines go.
    pub target: JsonTarget,
    /// Events queued before new ones are dropped.
    pub capacity: usize,
    /// Longest an event waits for its container's name after being queued.
    pub name_wait: Duration,
}

impl JsonSinkConfig {
    /// Defaults for `target`: 8192 queued events, 2 s name wait.
    pub fn new(target: JsonTarget) -> Self {
        Self {
            target,
            capacity: 8192,
            name_wait: Duration::from_secs(2),
        }
    }
}

/// Handle to a running JSON-lines writer.
pub struct JsonSink {
    tx: mpsc::Sender<(Instant, Event)>,
    metrics: Arc<Metrics>,
    task: JoinHandle<()>,
}

impl JsonSink {
    /// Opens the target (so a bad path fails here, at start) and starts the
    /// writer on the current tokio runtime.
    pub async fn start(
        cfg: JsonSinkConfig,
        metrics: Arc<Metrics>,
        resolver: Option<DockerResolver>,
    ) -> std::io::Result<Self> {
        let out: Box<dyn AsyncWrite + Send + Unpin> = match &cfg.target {
            JsonTarget::Stdout => Box::new(tokio::io::stdout()),
            JsonTarget::File(path) => Box::new(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|e| {
                        std::io::Error::new(
                            e.kind(),
                            format!("opening {}: {e}", path.display()),
                        )
                    })?,
            ),
        };
        Ok(Self::with_writer(out, cfg, metrics, resolver))
    }

    /// Starts the writer on any async writer (tests use a pipe).
    pub fn with_writer(
        out: Box<dyn AsyncWrite + Send + Unpin>,
        cfg: JsonSinkConfig,
        metrics: Arc<Metrics>,
        resolver: Option<DockerResolver>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(cfg.capacity.max(1));
        let writer = Writer {
            out: BufWriter::new(out),
            metrics: Arc::clone(&metrics),
            resolver,
            name_wait: cfg.name_wait,
            failing: false,
        };
        let task = tokio::spawn(writer.run(rx));
        Self { tx, metrics, task }
    }

    /// Queues `ev`; if the queue is full the event is dropped and counted.
    pub fn send(&self, ev: Event) {
        if self.tx.try_send((Instant::now(), ev)).is_err() {
            self.metrics.count_dropped(SINK);
        }
    }

    /// Writes what is queued, flushes, and stops the writer.
    pub async fn close(self) {
        drop(self.tx);
        if let Err(e) = self.task.await {
            log::warn!("JSON-lines writer ended abnormally: {e}");
        }
    }
}

struct Writer {
    out: BufWriter<Box<dyn AsyncWrite + Send + Unpin>>,
    metrics: Arc<Metrics>,
    resolver: Option<DockerResolver>,
    name_wait: Duration,
    failing: bool,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<(Instant, Event)>) {
        let mut line = Vec::with_capacity(1024);
        while let Some((queued, mut ev)) = rx.recv().await {
            if let Some(r) = &self.resolver {
                r.complete(&mut ev.container, queued + self.name_wait).await;
            }

            line.clear();
            if let Err(e) = serde_json::to_writer(&mut line, &ev) {
                log::debug!("event of conn {} not serializable: {e}", ev.conn);
                self.metrics.count_sink_error(SINK);
                continue;
            }
            line.push(b'\n');
            let res = self.out.write_all(&line).await;
            self.check(res, false);

            if rx.is_empty() {
                let res = self.out.flush().await;
                self.check(res, true);
            }
        }
        let res = self.out.flush().await;
        self.check(res, true);
    }

    /// Counts a failed write; warns once per run of failures. Only a
    /// successful flush ends a run: a write into the buffer succeeds even
    /// when the output behind it is gone.
    fn check(&mut self, res: std::io::Result<()>, flushed: bool) {
        match res {
            Ok(()) => {
                if flushed {
                    self.failing = false;
                }
            }
            Err(e) => {
                self.metrics.count_sink_error(SINK);
                if !self.failing {
                    log::warn!(
                        "writing events failed: {e}; further failures are counted \
                         in docksock_sink_errors_total"
                    );
                }
                self.failing = true;
            }
        }
    }
}
