use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

const DOCS: &str = include_str!("../../../docs/events.md");

fn process() -> Process {
    Process {
        pid: 10,
        tid: 11,
        uid: 0,
        gid: 0,
        comm: "docker".into(),
        exe: Some("/usr/bin/docker".into()),
    }
}

fn request_event() -> Event {
    Event {
        ts: Timestamp(1_714_564_800_000_000_042),
        detail: Detail::Request {
            http: Http {
                method: "POST".into(),
                path: "/v1.41/containers/abc/start".into(),
                version: "HTTP/1.1".into(),
            },
            api: Api {
                version: Some("1.41".into()),
                endpoint: "/containers/{id}/start".into(),
                object: Some("abc".into()),
                known: true,
            },
        },
        socket: Some(SocketRef {
            path: Some("/run/docker.sock".into()),
            inode: 99,
        }),
        conn: 7,
        process: process(),
        cgroup: Cgroup {
            id: 5,
            name: "docker-x.scope".into(),
        },
        container: Some(ContainerRef {
            id: "f".repeat(64),
            name: Some("web".into()),
            image: Some("nginx:1".into()),
            runtime: "docker".into(),
        }),
    }
}

#[test]
fn timestamps_are_rfc3339_utc_with_nanoseconds() {
    assert_eq!(
        Timestamp(1_714_564_800_000_000_042).to_rfc3339().as_deref(),
        Some("2024-05-01T12:00:00.000000042Z")
    );
    assert_eq!(
        Timestamp(0).to_rfc3339().as_deref(),
        Some("1970-01-01T00:00:00.000000000Z")
    );
}

#[test]
fn monotonic_time_is_shifted_by_the_offset() {
    let ts = Timestamp::from_monotonic(5_000_000_123, 1_714_564_795_000_000_000);

    assert_eq!(
        ts.to_rfc3339().as_deref(),
        Some("2024-05-01T12:00:00.000000123Z")
    );
}

#[test]
fn out_of_range_timestamp_fails_serialization_instead_of_lying() {
    let ts = Timestamp(i128::MAX);

    assert_eq!(ts.to_rfc3339(), None);
    assert!(serde_json::to_string(&ts).is_err());
}

#[test]
fn clock_offset_is_plausible() {
    let offset = measure_clock_offset().expect("clock_gettime works");

    // Real time is after 2020 and the machine booted less than 50 years ago.
    assert!(offset > 1_577_836_800_000_000_000 - 50 * 365 * 86_400_000_000_000);
}

#[test]
fn request_event_serializes_to_the_documented_shape() {
    let line = serde_json::to_string(&request_event()).expect("serializes");

    let expected = concat!(
        r#"{"ts":"2024-05-01T12:00:00.000000042Z","kind":"request","#,
        r#""http":{"method":"POST","path":"/v1.41/containers/abc/start","#,
        r#""version":"HTTP/1.1"},"#,
        r#""api":{"version":"1.41","endpoint":"/containers/{id}/start","object":"abc"},"#,
        r#""socket":{"path":"/run/docker.sock","inode":99},"conn":7,"#,
        r#""process":{"pid":10,"tid":11,"uid":0,"gid":0,"comm":"docker","#,
        r#""exe":"/usr/bin/docker"},"#,
        r#""cgroup":{"id":5,"name":"docker-x.scope"},"#,
        r#""container":{"id":"ffffffffffffffffffffffffffffffff"#,
        r#"ffffffffffffffffffffffffffffffff","#,
        r#""name":"web","image":"nginx:1","runtime":"docker"}}"#
    );
    assert_eq!(line, expected);
}

#[test]
fn connect_event_has_kind_and_no_request_fields() {
    let mut ev = request_event();
    ev.detail = Detail::Connect;
    ev.container = None;
    ev.socket = None;

    let v: Value = serde_json::to_value(&ev).expect("serializes");

    assert_eq!(v["kind"], "connect");
    assert!(v.get("http").is_none() && v.get("api").is_none());
    assert_eq!(v["container"], Value::Null);
    assert_eq!(v["socket"], Value::Null);
}

/// Every dotted field path of a JSON object: `process`, `process.pid`, ...
fn field_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Value::Object(map) = v {
        for (k, child) in map {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            field_paths(child, &path, out);
            out.insert(path);
        }
    }
}

/// Field names in the first column of the docs' field tables.
fn documented_fields() -> BTreeSet<String> {
    DOCS.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn docs_and_serializer_name_the_same_fields() {
    let mut emitted = BTreeSet::new();
    let mut connect = request_event();
    connect.detail = Detail::Connect;
    for ev in [request_event(), connect] {
        let v = serde_json::to_value(&ev).expect("serializes");
        field_paths(&v, "", &mut emitted);
    }

    let documented = documented_fields();

    let undocumented: Vec<_> = emitted.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&emitted).collect();
    assert!(
        undocumented.is_empty(),
        "emitted but not in docs/events.md: {undocumented:?}"
    );
    assert!(
        stale.is_empty(),
        "in docs/events.md but never emitted: {stale:?}"
    );
}

#[test]
fn docs_example_lines_parse_and_match_the_schema() {
    let examples: Vec<&str> = DOCS.lines().filter(|l| l.starts_with("{\"ts\"")).collect();
    assert!(
        examples.len() >= 2,
        "docs/events.md should show a connect and a request line"
    );

    let documented = documented_fields();
    for line in examples {
        let v: Value = serde_json::from_str(line).expect("example is JSON");
        let mut paths = BTreeSet::new();
        field_paths(&v, "", &mut paths);
        let unknown: Vec<_> = paths.difference(&documented).collect();
        assert!(
            unknown.is_empty(),
            "example uses undocumented {unknown:?}: {line}"
        );
    }
}
