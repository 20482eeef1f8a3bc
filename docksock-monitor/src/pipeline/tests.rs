use docksock_common::send_flags;

use super::*;
use crate::capture::testing;
use crate::event::ContainerRef;
use crate::identity::StaticResolver;

const ID: &str = "4f1c0a9d1be2c3f45a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f";
const DEV: u32 = (8 << 20) | 1;
const INO: u64 = 1234;
const OFFSET: i64 = 1_714_564_800_000_000_000;

fn client() -> Task {
    Task {
        pid: 3120,
        tid: 3121,
        uid: 0,
        gid: 0,
        cgroup_id: 5521,
        comm: "docker".into(),
        cgroup_name: format!("docker-{ID}.scope"),
    }
}

fn host_task() -> Task {
    Task {
        pid: 880,
        tid: 880,
        uid: 1000,
        gid: 1000,
        cgroup_id: 412,
        comm: "python3".into(),
        cgroup_name: "session-3.scope".into(),
    }
}

fn resolver() -> StaticResolver {
    StaticResolver::new()
        .with_exe(3120, "/usr/bin/docker")
        .with_container(ID, "ci-runner", "registry.local/ci:3")
}

fn pipeline() -> Pipeline {
    let mut p = Pipeline::new(PipelineConfig {
        clock_offset_ns: OFFSET,
        ..PipelineConfig::default()
    });
    p.set_watched(vec![WatchedFile {
        path: "/var/run/docker.sock".into(),
        dev: DEV,
        ino: INO,
    }]);
    p
}

fn container() -> Option<ContainerRef> {
    Some(ContainerRef {
        id: ID.into(),
        name: Some("ci-runner".into()),
        image: Some("registry.local/ci:3".into()),
        runtime: "docker".into(),
    })
}

fn socket() -> Option<SocketRef> {
    Some(SocketRef {
        path: Some("/var/run/docker.sock".into()),
        inode: INO,
    })
}

fn process(task: &Task, exe: Option<&str>) -> Process {
    Process {
        pid: task.pid,
        tid: task.tid,
        uid: task.uid,
        gid: task.gid,
        comm: task.comm.clone(),
        exe: exe.map(str::to_owned),
    }
}

fn request(
    method: &str,
    path: &str,
    endpoint: &str,
    version: Option<&str>,
    object: Option<&str>,
) -> Detail {
    Detail::Request {
        http: Http {
            method: method.into(),
            path: path.into(),
            version: "HTTP/1.1".into(),
        },
        api: Api {
            version: version.map(str::to_owned),
            endpoint: endpoint.into(),
            object: object.map(str::to_owned),
            known: true,
        },
    }
}

fn client_event(ts: u64, detail: Detail) -> Event {
    Event {
        ts: Timestamp::from_monotonic(ts, OFFSET),
        detail,
        socket: socket(),
        conn: 7,
        process: process(&client(), Some("/usr/bin/docker")),
        cgroup: Cgroup {
            id: 5521,
            name: format!("docker-{ID}.scope"),
        },
        container: container(),
    }
}

fn send(ts: u64, conn: u64, task: &Task, bytes: &[u8]) -> Vec<u8> {
    testing::send(ts, conn, task, Direction::Request, bytes)
}

#[test]
fn records_become_the_exact_events() {
    let mut p = pipeline();
    let r = resolver();
    let c = client();
    let mut events = Vec::new();

    let records = [
        testing::connect(1_000, 7, &c, DEV, INO),
        send(
            2_000,
            7,
            &c,
            b"POST /v1.41/containers/web/start HTTP/1.1\r\nHost: docker\r\n",
        ),
        send(2_100, 7, &c, b"Content-Length: 0\r\n"),
        send(2_200, 7, &c, b"\r\n"),
        send(
            3_000,
            7,
            &c,
            concat!(
                "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n",
                "GET /v1.43/containers/json?all=1 HTTP/1.1\r\nHost: d\r\n\r\n",
            )
            .as_bytes(),
        ),
        testing::send(
            3_500,
            7,
            &c,
            Direction::Response,
            b"HTTP/1.1 200 OK\r\n\r\n",
        ),
        send(
            4_000,
            9,
            &host_task(),
            b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n",
        ),
    ];
    for raw in &records {
        events.extend(p.push_raw(raw, &r));
    }

    let mut lazy = client_event(4_000, request("GET", "/_ping", "/_ping", None, None));
    lazy.socket = None;
    lazy.conn = 9;
    lazy.process = process(&host_task(), None);
    lazy.cgroup = Cgroup {
        id: 412,
        name: "session-3.scope".into(),
    };
    lazy.container = None;
    let expected = vec![
        client_event(1_000, Detail::Connect),
        client_event(
            2_000,
            request(
                "POST",
                "/v1.41/containers/web/start",
                "/containers/{id}/start",
                Some("1.41"),
                Some("web"),
            ),
        ),
        client_event(3_000, request("GET", "/_ping", "/_ping", None, None)),
        client_event(
            3_000,
            request(
                "GET",
                "/v1.43/containers/json?all=1",
                "/containers/json",
                Some("1.43"),
                None,
            ),
        ),
        lazy,
    ];
    assert_eq!(events, expected);

    let s = p.stats();
    assert_eq!((s.records, s.connects, s.requests), (7, 1, 4));
    assert_eq!((s.lazy_connections, s.response_bytes), (1, 19));
    assert_eq!(s.parse_errors, 0);
    assert_eq!(p.connections(), 2);
    assert_eq!(p.last_ts_ns(), 4_000);
}

#[test]
fn uncaptured_body_bytes_are_skipped_so_the_next_request_is_found() {
    let mut p = pipeline();
    let r = resolver();
    let c = client();
    let head = concat!(
        "POST /v1.41/containers/create HTTP/1.1\r\n",
        "Host: d\r\nContent-Length: 100000\r\n\r\n{\"Image\":"
    )
    .as_bytes();
    let next = concat!(
        "POST /v1.41/containers/abc/start HTTP/1.1\r\n",
        "Host: d\r\nContent-Length: 0\r\n\r\n"
    )
    .as_bytes();
    let sent = (head.len() - 9 + 100_000) as u32;
    p.push_raw(&testing::connect(1, 7, &c, DEV, INO), &r);

    let first = p.push_raw(
        &testing::send_partial(
            2,
            7,
            &c,
            Direction::Request,
            head,
            sent,
            send_flags::TRUNCATED,
        ),
        &r,
    );
    let second = p.push_raw(&send(3, 7, &c, next), &r);

    let endpoints: Vec<_> = first
        .iter()
        .chain(&second)
        .map(|e| match &e.detail {
            Detail::Request { api, .. } => api.endpoint.clone(),
            Detail::Connect => "connect".into(),
        })
        .collect();
    assert_eq!(endpoints, ["/containers/create", "/containers/{id}/start"]);
    assert_eq!(p.stats().truncated_sends, 1);
    assert_eq!(p.stats().skipped_bytes, u64::from(sent) - head.len() as u64);
    assert_eq!(p.stats().parse_errors, 0);
}

#[test]
fn send_without_payload_keeps_framing() {
    let mut p = pipeline();
    let r = resolver();
    let c = client();
    let head =
        b"POST /v1.41/images/load HTTP/1.1\r\nHost: d\r\nContent-Length: 5000\r\n\r\n";
    p.push_raw(&send(1, 7, &c, head), &r);

    let none = p.push_raw(
        &testing::send_partial(
            2,
            7,
            &c,
            Direction::Request,
            b"",
            5000,
            send_flags::NO_PAYLOAD,
        ),
        &r,
    );
    let after = p.push_raw(
        &send(3, 7, &c, b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"),
        &r,
    );

    assert!(none.is_empty());
    assert_eq!(after.len(), 1);
    assert_eq!(p.stats().no_payload_sends, 1);
}

#[test]
fn garbage_is_one_parse_error_per_connection() {
    let mut p = pipeline();
    let r = resolver();
    let c = client();

    let mut events =
        p.push_raw(&send(1, 7, &c, b"\x16\x03\x01 not http at all\r\n\r\n"), &r);
    events.extend(p.push_raw(&send(2, 7, &c, b"more noise\r\n\r\n"), &r));
    events.extend(p.push_raw(&send(3, 8, &c, b"\x00\x01\x02\r\n\r\n"), &r));

    assert!(events.is_empty(), "{events:?}");
    assert_eq!(p.stats().parse_errors, 2, "one for conn 7, one for conn 8");
}

#[test]
fn bad_records_are_counted_by_reason_and_yield_nothing() {
    let mut p = pipeline();
    let r = resolver();
    let mut unknown = testing::connect(1, 7, &client(), DEV, INO);
    testing::set_kind(&mut unknown, 42);

    let events: Vec<Event> = [&b"\x01\x00"[..], &unknown]
        .iter()
        .flat_map(|raw| p.push_raw(raw, &r))
        .collect();

    assert!(events.is_empty());
    let bad: Vec<_> = p.stats().bad_by_reason().filter(|(_, n)| *n > 0).collect();
    assert_eq!(bad, [("short_header", 1), ("unknown_kind", 1)]);
    assert_eq!(p.stats().records, 0);
}

#[test]
fn connect_to_an_unwatched_inode_keeps_the_inode() {
    let mut p = pipeline();
    let r = resolver();

    let events = p.push_raw(&testing::connect(1, 7, &client(), DEV, 999), &r);

    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].socket,
        Some(SocketRef {
            path: None,
            inode: 999
        })
    );
    assert_eq!(p.stats().unknown_socket, 1);
}

#[test]
fn request_keeps_the_time_of_its_first_byte_across_sends() {
    let mut p = pipeline();
    let r = resolver();
    let c = client();
    p.push_raw(
        &send(
            10,
            7,
            &c,
            b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /info",
        ),
        &r,
    );

    let events = p.push_raw(&send(20, 7, &c, b" HTTP/1.1\r\nHost: d\r\n\r\n"), &r);

    assert_eq!(events.len(), 1);
    assert_eq!(events[0].ts, Timestamp::from_monotonic(10, OFFSET));
}

#[test]
fn table_is_bounded_and_idle_connections_expire() {
    let mut p = Pipeline::new(PipelineConfig {
        max_connections: 2,
        idle_timeout_ns: 100,
        clock_offset_ns: 0,
    });
    let r = resolver();
    let c = client();

    for (ts, conn) in [(1, 1), (2, 2), (3, 3)] {
        p.push_raw(&testing::connect(ts, conn, &c, DEV, INO), &r);
    }
    assert_eq!(p.connections(), 2);
    assert_eq!(p.stats().evicted_connections, 1);

    p.push_raw(
        &send(150, 3, &c, b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"),
        &r,
    );
    let closed = p.expire(200);

    assert!(closed.is_empty(), "schema v1 has no close event");
    assert_eq!(p.connections(), 1, "conn 3 was active at 150");
    assert_eq!(p.stats().expired_connections, 1);
}

#[test]
fn thread_of_another_process_on_the_connection_is_named_separately() {
    let mut p = pipeline();
    let r = resolver().with_exe(4000, "/usr/bin/curl");
    let c = client();
    let mut other = client();
    other.pid = 4000;
    other.tid = 4000;
    p.push_raw(&testing::connect(1, 7, &c, DEV, INO), &r);

    let events = p.push_raw(
        &send(2, 7, &other, b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"),
        &r,
    );

    assert_eq!(events.len(), 1);
    assert_eq!(events[0].process.pid, 4000);
    assert_eq!(events[0].process.exe.as_deref(), Some("/usr/bin/curl"));
}

#[test]
fn replay_through_a_record_file_gives_the_same_events() {
    use crate::capture::{RecordReader, RecordWriter};

    let c = client();
    let records = [
        testing::connect(1, 7, &c, DEV, INO),
        send(2, 7, &c, b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"),
        b"junk".to_vec(),
        send(3, 7, &c, b"GET /version HTTP/1.1\r\nHost: d\r\n\r\n"),
    ];
    let mut live = pipeline();
    let direct: Vec<Event> = records
        .iter()
        .flat_map(|raw| live.push_raw(raw, &resolver()))
        .collect();
    let mut w = RecordWriter::new(Vec::new(), "mem").expect("vec");
    for raw in &records {
        w.write_record(raw).expect("vec");
    }
    let file = w.into_inner().expect("vec");

    let mut replay = pipeline();
    let mut replayed = Vec::new();
    for raw in RecordReader::new(file.as_slice(), "mem").expect("magic") {
        replayed.extend(replay.push_raw(&raw.expect("whole file"), &resolver()));
    }

    assert_eq!(direct.len(), 3);
    assert_eq!(replayed, direct);
    assert_eq!(replay.stats(), live.stats());
}
