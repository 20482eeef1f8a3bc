//! The live [`Resolver`]: procfs for executables, the Docker Engine API for
//! container names, both cached.
//!
//! [`Resolver::container`] never waits: it answers from the cache and, on a
//! miss, starts a lookup on the tokio runtime and answers with the id alone.
//! The lookup tries each configured socket in turn (a 404 on one does not
//! mean another daemon does not know the id) under one overall timeout.
//! [`DockerResolver::complete`] is the only place that waits for a lookup,
//! with a deadline; the JSON-lines sink calls it just before writing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::watch;

use super::docker::{inspect, ContainerInfo, LookupError};
use super::procfs::ExeCache;
use super::{container_from_cgroup, Container, Resolver};
use crate::capture::Task;
use crate::event::ContainerRef;

/// Settings of a [`DockerResolver`].
#[derive(Clone, Debug)]
pub struct ResolverConfig {
    /// Docker Engine API sockets to ask, in order (usually the watched ones).
    pub docker_sockets: Vec<PathBuf>,
    /// Where procfs is mounted.
    pub proc_root: PathBuf,
    /// Time allowed for one lookup over all sockets.
    pub lookup_timeout: Duration,
    /// How long a found container's name and image are kept.
    pub found_ttl: Duration,
    /// How long a failed lookup or unknown id is remembered.
    pub negative_ttl: Duration,
    /// Most containers cached.
    pub max_containers: usize,
    /// Most processes whose executable is cached.
    pub max_processes: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            docker_sockets: vec![PathBuf::from("/var/run/docker.sock")],
            proc_root: PathBuf::from("/proc"),
            lookup_timeout: Duration::from_millis(1500),
            found_ttl: Duration::from_secs(600),
            negative_ttl: Duration::from_secs(30),
            max_containers: 4096,
            max_processes: 16_384,
        }
    }
}

/// Counts of container lookups, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResolverStats {
    /// Lookups started.
    pub started: u64,
    /// Lookups that found the container.
    pub found: u64,
    /// Lookups no daemon knew the id for.
    pub not_found: u64,
    /// Lookups that failed (connect, HTTP, reply) or timed out.
    pub failed: u64,
    /// Events written without a name because their lookup was still
    /// running at the event's deadline.
    pub wait_expired: u64,
}

/// The live resolver; cheap to clone (clones share the caches).
#[derive(Clone)]
pub struct DockerResolver {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ResolverConfig,
    runtime: Handle,
    exes: ExeCache,
    slots: Mutex<HashMap<String, Slot>>,
    counters: Counters,
    last_warn: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Counters {
    started: AtomicU64,
    found: AtomicU64,
    not_found: AtomicU64,
    failed: AtomicU64,
    wait_expired: AtomicU64,
}

enum Slot {
    /// A lookup is running; the channel turns `true` when it ends.
    Pending(watch::Receiver<bool>),
    /// The answer, valid until the instant.
    Known(Option<ContainerInfo>, Instant),
}

/// Failed lookups are logged at warn at most this often.
const WARN_EVERY: Duration = Duration::from_secs(600);

impl DockerResolver {
    /// A resolver whose lookups run on `runtime` (from inside a tokio
    /// context, `Handle::current()`).
    pub fn new(cfg: ResolverConfig, runtime: Handle) -> Self {
        let exes = ExeCache::new(cfg.proc_root.clone(), cfg.max_processes);
        Self {
            inner: Arc::new(Inner {
                cfg,
                runtime,
                exes,
                slots: Mutex::new(HashMap::new()),
                counters: Counters::default(),
                last_warn: Mutex::new(None),
            }),
        }
    }

    /// Snapshot of the lookup counters.
    pub fn stats(&self) -> ResolverStats {
        let c = &self.inner.counters;
        ResolverStats {
            started: c.started.load(Ordering::Relaxed),
            found: c.found.load(Ordering::Relaxed),
            not_found: c.not_found.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            wait_expired: c.wait_expired.load(Ordering::Relaxed),
        }
    }

    /// Fills in the name and image of `container` if they are missing,
    /// waiting for a running lookup until `deadline` at most.
    pub async fn complete(
        &self,
        container: &mut Option<ContainerRef>,
        deadline: Instant,
    ) {
        let Some(c) = container.as_mut() else {
            return;
        };
        if c.name.is_some() {
            return;
        }
        if let Some(info) = self.wait(&c.id, deadline).await {
            c.name = Some(info.name);
            c.image = Some(info.image);
        }
    }

    /// The cached answer for `id`, after waiting for a running lookup until
    /// `deadline`.
    async fn wait(&self, id: &str, deadline: Instant) -> Option<ContainerInfo> {
        let pending = match self.inner.slots().get(id) {
            Some(Slot::Known(info, _)) => return info.clone(),
            Some(Slot::Pending(rx)) => rx.clone(),
            None => return None,
        };

        let mut rx = pending;
        let done = tokio::time::timeout_at(deadline.into(), rx.wait_for(|d| *d)).await;
        if done.is_err() {
            self.inner
                .counters
                .wait_expired
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        match self.inner.slots().get(id) {
            Some(Slot::Known(info, _)) => info.clone(),
            _ => None,
        }
    }

    /// Returns the cached name and image for `id`, starting a lookup when
    /// there is none.
    fn cached_or_lookup(&self, id: &str) -> Option<ContainerInfo> {
        if self.inner.cfg.docker_sockets.is_empty() {
            return None;
        }
        let now = Instant::now();
        let mut slots = self.inner.slots();
        match slots.get(id) {
            Some(Slot::Known(info, until)) if *until > now => return info.clone(),
            Some(Slot::Pending(_)) => return None,
            _ => {}
        }

        if slots.len() >= self.inner.cfg.max_containers {
            slots.retain(|_, s| match s {
                Slot::Known(_, until) => *until > now,
                Slot::Pending(_) => true,
            });
        }
        if slots.len() >= self.inner.cfg.max_containers {
            slots.retain(|_, s| matches!(s, Slot::Pending(_)));
        }
        let (tx, rx) = watch::channel(false);
        slots.insert(id.to_owned(), Slot::Pending(rx));
        drop(slots);

        self.inner.counters.started.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        let id = id.to_owned();
        self.inner.runtime.spawn(async move {
            let answer = inner.lookup(&id).await;
            inner.settle(id, answer);
            // Nobody may be waiting; that is fine.
            let _ = tx.send(true);
        });
        None
    }
}

impl Inner {
    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding the lock leaves a plain map behind: usable.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks each socket in turn, all within the lookup timeout.
    async fn lookup(&self, id: &str) -> Result<Option<ContainerInfo>, LookupError> {
        let timeout = self.cfg.lookup_timeout;
        let all = async {
            let mut last_err = None;
            for socket in &self.cfg.docker_sockets {
                match inspect(socket, id).await {
                    Ok(Some(info)) => return Ok(Some(info)),
                    Ok(None) => {}
                    Err(e) => last_err = Some(e),
                }
            }
            last_err.map_or(Ok(None), Err)
        };
        tokio::time::timeout(timeout, all)
            .await
            .unwrap_or(Err(LookupError::Timeout(timeout)))
    }

    fn settle(&self, id: String, answer: Result<Option<ContainerInfo>, LookupError>) {
        let now = Instant::now();
        let slot = match answer {
            Ok(Some(info)) => {
                self.counters.found.fetch_add(1, Ordering::Relaxed);
                Slot::Known(Some(info), now + self.cfg.found_ttl)
            }
            Ok(None) => {
                self.counters.not_found.fetch_add(1, Ordering::Relaxed);
                log::debug!("no Docker daemon knows container {id}");
                Slot::Known(None, now + self.cfg.negative_ttl)
            }
            Err(e) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                self.warn_failure(&id, &e);
                Slot::Known(None, now + self.cfg.negative_ttl)
            }
        };
        self.slots().insert(id, slot);
    }

    fn warn_failure(&self, id: &str, e: &LookupError) {
        let mut last = self.last_warn.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            *last = Some(Instant::now());
            log::warn!(
                "cannot name container {id}: {e}; events carry the id only \
                 (check the Docker socket paths; further failures are counted \
                 in docksock_container_lookups_total{{result=\"failed\"}})"
            );
        } else {
            log::debug!("cannot name container {id}: {e}");
        }
    }
}

impl Resolver for DockerResolver {
    fn exe(&self, pid: u32) -> Option<String> {
        self.inner.exes.exe(pid)
    }

    fn container(&self, task: &Task) -> Option<Container> {
        let (runtime, id) = container_from_cgroup(&task.cgroup_name)?;
        let info = self.cached_or_lookup(&id);
        Some(Container {
            name: info.as_ref().map(|i| i.name.clone()),
            image: info.map(|i| i.image),
            id,
            runtime: runtime.to_owned(),
        })
    }
}
