//! Per-connection state, keyed by the kernel's connection id.
//!
//! A connection is created by its connect record, or lazily by its first
//! request send when the connect was not seen (lost in the ring buffer, or
//! made before docksock started). The table is bounded: past
//! `max_connections` the least recently active connections are evicted in
//! a batch, and [`ConnTable::expire`] drops connections idle for longer than
//! the idle timeout. The kernel sends no close record, so idleness is the
//! only end a connection has here.
//!
//! Not done yet: the response direction is only counted, not parsed, so
//! status codes are not reported and a hijack is inferred from the request
//! alone (see the `http` module).

use std::collections::{HashMap, VecDeque};

use crate::capture::Task;
use crate::event::SocketRef;
use crate::http::RequestParser;

/// Sends remembered per connection to date a request by its first byte.
const SEND_HISTORY: usize = 64;

/// What docksock keeps about one connection.
pub struct Conn {
    /// The watched socket, when the connect record was seen.
    pub socket: Option<SocketRef>,
    /// The task that connected (or first sent, for a lazy connection).
    pub first_task: Task,
    /// Executable of `first_task`, read as early as possible so a process
    /// that exits at once is still named.
    pub first_exe: Option<String>,
    /// Cuts requests out of the client-to-server bytes.
    pub request: RequestParser,
    /// Bytes sent client to server, captured or not.
    pub request_bytes: u64,
    /// Bytes sent server to client.
    pub response_bytes: u64,
    /// Kernel time of the last record on this connection.
    pub last_ns: u64,
    /// Stream offset and time of recent request sends.
    send_starts: VecDeque<(u64, u64)>,
}

impl Conn {
    /// A fresh connection, seen first at `ts_ns`.
    pub fn new(
        socket: Option<SocketRef>,
        first_task: Task,
        first_exe: Option<String>,
        ts_ns: u64,
    ) -> Self {
        Self {
            socket,
            first_task,
            first_exe,
            request: RequestParser::new(),
            request_bytes: 0,
            response_bytes: 0,
            last_ns: ts_ns,
            send_starts: VecDeque::new(),
        }
    }

    /// Notes a request send of `len` bytes (captured or not) at `ts_ns`.
    pub fn note_request_send(&mut self, ts_ns: u64, len: u64) {
        if self.send_starts.len() == SEND_HISTORY {
            self.send_starts.pop_front();
        }
        self.send_starts.push_back((self.request_bytes, ts_ns));
        self.request_bytes += len;
        self.last_ns = self.last_ns.max(ts_ns);
    }

    /// Time of the send that carried the byte at `stream_offset` of the
    /// request stream, if it is still remembered. Forgets older sends.
    pub fn send_time(&mut self, stream_offset: u64) -> Option<u64> {
        let idx = self
            .send_starts
            .iter()
            .rposition(|&(start, _)| start <= stream_offset)?;
        self.send_starts.drain(..idx);
        self.send_starts.front().map(|&(_, ts)| ts)
    }
}

/// The connections docksock is following.
pub struct ConnTable {
    conns: HashMap<u64, Conn>,
    max: usize,
    idle_ns: u64,
}

impl ConnTable {
    /// An empty table holding at most `max` connections (at least 1), each
    /// dropped after `idle_ns` without a record.
    pub fn new(max: usize, idle_ns: u64) -> Self {
        Self {
            conns: HashMap::new(),
            max: max.max(1),
            idle_ns,
        }
    }

    /// Number of connections held.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when no connection is held.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// The connection `id`, if held.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Conn> {
        self.conns.get_mut(&id)
    }

    /// Adds (or replaces) connection `id`; returns how many connections
    /// were evicted to make room.
    pub fn insert(&mut self, id: u64, conn: Conn) -> usize {
        let evicted = if self.conns.contains_key(&id) {
            0
        } else {
            self.make_room()
        };
        self.conns.insert(id, conn);
        evicted
    }

    /// Drops connections whose last record is more than the idle timeout
    /// before `now_ns`; returns how many were dropped.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        let before = self.conns.len();
        let idle = self.idle_ns;
        self.conns
            .retain(|_, c| now_ns.saturating_sub(c.last_ns) <= idle);
        before - self.conns.len()
    }

    /// Evicts the least recently active sixteenth of the table when it is
    /// full, so a flood of new connections costs one scan per batch.
    fn make_room(&mut self) -> usize {
        if self.conns.len() < self.max {
            return 0;
        }
        let batch = (self.max / 16).max(1);
        let mut ages: Vec<(u64, u64)> =
            self.conns.iter().map(|(&id, c)| (c.last_ns, id)).collect();
        if batch < ages.len() {
            ages.select_nth_unstable(batch - 1);
            ages.truncate(batch);
        }
        for (_, id) in &ages {
            self.conns.remove(id);
        }
        ages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(ts: u64) -> Conn {
        Conn::new(None, Task::default(), None, ts)
    }

    #[test]
    fn full_table_evicts_the_least_recently_active() {
        let mut t = ConnTable::new(3, u64::MAX);
        t.insert(1, conn(30));
        t.insert(2, conn(10));
        t.insert(3, conn(20));

        let evicted = t.insert(4, conn(40));

        assert_eq!(evicted, 1);
        assert_eq!(t.len(), 3);
        assert!(t.get_mut(2).is_none(), "oldest (ts 10) goes first");
        assert!(t.get_mut(1).is_some() && t.get_mut(4).is_some());
    }

    #[test]
    fn replacing_an_id_evicts_nothing() {
        let mut t = ConnTable::new(1, u64::MAX);
        t.insert(1, conn(1));

        assert_eq!(t.insert(1, conn(2)), 0);
        assert_eq!(t.get_mut(1).map(|c| c.last_ns), Some(2));
    }

    #[test]
    fn idle_connections_expire() {
        let mut t = ConnTable::new(10, 100);
        t.insert(1, conn(0));
        t.insert(2, conn(150));

        assert_eq!(t.expire(200), 1);
        assert!(t.get_mut(1).is_none());
        assert!(t.get_mut(2).is_some());
    }

    #[test]
    fn send_time_finds_the_send_holding_the_offset() {
        let mut c = conn(0);
        c.note_request_send(100, 10);
        c.note_request_send(200, 10);
        c.note_request_send(300, 10);

        assert_eq!(c.send_time(15), Some(200));
        assert_eq!(c.send_time(25), Some(300));
        assert_eq!(c.send_time(5), None, "older sends were forgotten");
        assert_eq!(c.request_bytes, 30);
    }
}
