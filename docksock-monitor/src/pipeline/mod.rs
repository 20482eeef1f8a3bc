//! From decoded records to events: the pure middle of docksock.
//!
//! [`Pipeline::push`] takes one record and returns the events it completes,
//! in order. It does no I/O of its own: identity questions go to the
//! [`Resolver`] it is handed, and time comes only from the records (the
//! wall-clock offset is measured by the caller, once, at start). The same
//! code runs live, in `replay`, and in tests.

use crate::capture::{self, Direction, Record, Task};
use crate::dockerapi;
use crate::event::{
    Api, Cgroup, ContainerRef, Detail, Event, Http, Process, SocketRef, Timestamp,
};
use crate::http::{ParseEvent, RequestHead};
use crate::identity::Resolver;
use crate::stream::{Conn, ConnTable};

/// A watched socket file (path, kernel-encoded device, inode); the probe's
/// own type, so its list can be handed over as it is.
pub use crate::probe::watch::WatchedFile;
pub use stats::PipelineStats;

mod stats;

/// How the pipeline is set up.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Most connections followed at once; past it the least recently
    /// active are forgotten. Each may buffer up to `http::MAX_HEAD_BYTES`
    /// of an unfinished request head, so the worst case is this times
    /// 64 KiB; typical connections hold a few hundred bytes.
    pub max_connections: usize,
    /// A connection without a record for this long is forgotten by
    /// [`Pipeline::expire`].
    pub idle_timeout_ns: u64,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC` in ns, measured once at start
    /// (see [`crate::event::measure_clock_offset`]); 0 in replay gives
    /// monotonic times.
    pub clock_offset_ns: i64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_connections: 65_536,
            idle_timeout_ns: 5 * 60 * 1_000_000_000,
            clock_offset_ns: 0,
        }
    }
}

/// Turns records into events; see the module documentation.
pub struct Pipeline {
    cfg: PipelineConfig,
    watched: Vec<WatchedFile>,
    conns: ConnTable,
    stats: PipelineStats,
    last_ts_ns: u64,
}

impl Pipeline {
    /// A pipeline with no connection and no watched file.
    pub fn new(cfg: PipelineConfig) -> Self {
        let conns = ConnTable::new(cfg.max_connections, cfg.idle_timeout_ns);
        Self {
            cfg,
            watched: Vec::new(),
            conns,
            stats: PipelineStats::default(),
            last_ts_ns: 0,
        }
    }

    /// Replaces the list of watched socket files, used to name the socket
    /// of later connect records.
    pub fn set_watched(&mut self, watched: Vec<WatchedFile>) {
        self.watched = watched;
    }

    /// Counters of everything the pipeline saw, dropped or refused.
    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }

    /// Latest kernel time of any record pushed, in monotonic ns: the clock
    /// `replay` can pass to [`Pipeline::expire`].
    pub fn last_ts_ns(&self) -> u64 {
        self.last_ts_ns
    }

    /// Connections currently followed.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Decodes a raw ring-buffer record and pushes it; a record that does
    /// not decode is counted by reason, logged at debug, and yields nothing.
    pub fn push_raw(&mut self, raw: &[u8], resolver: &dyn Resolver) -> Vec<Event> {
        match capture::decode(raw) {
            Ok(record) => self.push(record, resolver),
            Err(e) => {
                log::debug!("bad record of {} bytes: {e}", raw.len());
                self.stats.count_bad(e.reason());
                Vec::new()
            }
        }
    }

    /// Pushes one record; returns the events it completes, in order.
    pub fn push(&mut self, record: Record, resolver: &dyn Resolver) -> Vec<Event> {
        self.stats.records += 1;
        self.last_ts_ns = self.last_ts_ns.max(record.ts_ns());
        match record {
            Record::Connect {
                ts_ns,
                conn_id,
                task,
                sock_dev,
                sock_ino,
                ..
            } => {
                vec![self.connect(ts_ns, conn_id, task, sock_dev, sock_ino, resolver)]
            }
            Record::Send {
                direction: Direction::Response,
                conn_id,
                len,
                ts_ns,
                ..
            } => {
                self.response(conn_id, len, ts_ns);
                Vec::new()
            }
            Record::Send {
                direction: Direction::Request,
                ts_ns,
                conn_id,
                task,
                len,
                flags,
                payload,
                ..
            } => {
                let send = RequestSend {
                    ts_ns,
                    conn_id,
                    task,
                    len,
                    flags,
                    payload,
                };
                self.request(send, resolver)
            }
        }
    }

    /// Forgets connections idle since before `now_ns - idle_timeout`
    /// (kernel monotonic ns). Schema v1 has no close event, so this returns
    /// no event yet; the return value is where one will come from.
    pub fn expire(&mut self, now_ns: u64) -> Vec<Event> {
        self.stats.expired_connections += self.conns.expire(now_ns) as u64;
        Vec::new()
    }

    fn connect(
        &mut self,
        ts_ns: u64,
        conn_id: u64,
        task: Task,
        sock_dev: u32,
        sock_ino: u64,
        resolver: &dyn Resolver,
    ) -> Event {
        self.stats.connects += 1;
        let path = self
            .watched
            .iter()
            .find(|w| w.dev == sock_dev && w.ino == sock_ino)
            .map(|w| w.path.display().to_string());
        if path.is_none() {
            self.stats.unknown_socket += 1;
        }
        let socket = Some(SocketRef {
            path,
            inode: sock_ino,
        });

        let who = Who::resolve(&task, resolver.exe(task.pid), resolver);
        let event = self.event(ts_ns, Detail::Connect, socket.clone(), conn_id, &who);

        let conn = Conn::new(socket, task.clone(), who.exe, ts_ns);
        self.stats.evicted_connections += self.conns.insert(conn_id, conn) as u64;
        event
    }

    fn response(&mut self, conn_id: u64, len: u32, ts_ns: u64) {
        self.stats.response_sends += 1;
        self.stats.response_bytes += u64::from(len);
        if let Some(conn) = self.conns.get_mut(conn_id) {
            conn.response_bytes += u64::from(len);
            conn.last_ns = conn.last_ns.max(ts_ns);
        }
    }

    fn request(&mut self, send: RequestSend, resolver: &dyn Resolver) -> Vec<Event> {
        let RequestSend {
            ts_ns,
            conn_id,
            task,
            len,
            flags,
            payload,
        } = send;
        self.stats.request_sends += 1;
        self.stats.note_flags(flags);
        if self.conns.get_mut(conn_id).is_none() {
            self.stats.lazy_connections += 1;
            let exe = resolver.exe(task.pid);
            let conn = Conn::new(None, task.clone(), exe, ts_ns);
            self.stats.evicted_connections += self.conns.insert(conn_id, conn) as u64;
        }
        let Some(conn) = self.conns.get_mut(conn_id) else {
            return Vec::new();
        };

        // The kernel never copies more than was sent; if a record says
        // otherwise, trust `len` for framing and count the oddity.
        let len = u64::from(len);
        let captured = payload
            .len()
            .min(usize::try_from(len).unwrap_or(usize::MAX));
        if captured < payload.len() {
            self.stats.payload_beyond_len += 1;
        }
        let missing = len - captured as u64;
        self.stats.request_bytes += len;
        self.stats.skipped_bytes += missing;

        conn.note_request_send(ts_ns, len);
        let mut parsed = conn.request.feed(&payload[..captured]);
        if missing > 0 {
            parsed.extend(conn.request.skip(missing));
        }

        let mut heads = Vec::new();
        for p in parsed {
            match p {
                ParseEvent::Request(head) => {
                    let at = conn.send_time(head.stream_offset).unwrap_or(ts_ns);
                    heads.push((at, head));
                }
                ParseEvent::Error(e) => {
                    self.stats.parse_errors += 1;
                    log::debug!(
                        "conn {conn_id}: request stream not followed further: {e}"
                    );
                }
            }
        }
        if heads.is_empty() {
            return Vec::new();
        }

        let socket = conn.socket.clone();
        let exe = if conn.first_task.pid == task.pid {
            conn.first_exe.clone()
        } else {
            resolver.exe(task.pid)
        };
        let who = Who::resolve(&task, exe, resolver);
        self.stats.requests += heads.len() as u64;
        heads
            .into_iter()
            .map(|(at, head)| {
                self.event(at, request_detail(head), socket.clone(), conn_id, &who)
            })
            .collect()
    }

    fn event(
        &self,
        ts_ns: u64,
        detail: Detail,
        socket: Option<SocketRef>,
        conn: u64,
        who: &Who<'_>,
    ) -> Event {
        let task = who.task;
        Event {
            ts: Timestamp::from_monotonic(ts_ns, self.cfg.clock_offset_ns),
            detail,
            socket,
            conn,
            process: Process {
                pid: task.pid,
                tid: task.tid,
                uid: task.uid,
                gid: task.gid,
                comm: task.comm.clone(),
                exe: who.exe.clone(),
            },
            cgroup: Cgroup {
                id: task.cgroup_id,
                name: task.cgroup_name.clone(),
            },
            container: who.container.clone(),
        }
    }
}

/// The request-direction fields of a send record.
struct RequestSend {
    ts_ns: u64,
    conn_id: u64,
    task: Task,
    len: u32,
    flags: u32,
    payload: Vec<u8>,
}

/// Who is behind a record, resolved once for all the events it yields.
struct Who<'a> {
    task: &'a Task,
    exe: Option<String>,
    container: Option<ContainerRef>,
}

impl<'a> Who<'a> {
    fn resolve(task: &'a Task, exe: Option<String>, resolver: &dyn Resolver) -> Self {
        Self {
            task,
            exe,
            container: resolver.container(task).map(Into::into),
        }
    }
}

fn request_detail(head: RequestHead) -> Detail {
    let view = dockerapi::route(&head.method, &head.target);
    Detail::Request {
        http: Http {
            method: head.method,
            path: head.target,
            version: head.version,
        },
        api: Api {
            version: view.version,
            endpoint: view.endpoint,
            object: view.object,
            known: view.known,
        },
    }
}

#[cfg(test)]
mod tests;
