use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::*;
use crate::event::{Api, Cgroup, Detail, Event, Http, Process, Timestamp};
use crate::pipeline::PipelineStats;
use crate::probe::KernelCounters;

fn event(conn: u64, method: &str, endpoint: &str, known: bool) -> Event {
    Event {
        ts: Timestamp(0),
        detail: Detail::Request {
            http: Http {
                method: method.into(),
                path: endpoint.into(),
                version: "HTTP/1.1".into(),
            },
            api: Api {
                version: None,
                endpoint: endpoint.into(),
                object: None,
                known,
            },
        },
        socket: None,
        conn,
        process: Process {
            pid: 1,
            tid: 1,
            uid: 0,
            gid: 0,
            comm: "c".into(),
            exe: None,
        },
        cgroup: Cgroup {
            id: 1,
            name: "init.scope".into(),
        },
        container: None,
    }
}

fn metrics() -> Arc<Metrics> {
    Arc::new(Metrics::new().expect("metrics register"))
}

/// The value of the series whose line starts with `series ` in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn every_named_metric_is_registered() {
    let m = metrics();
    // A labelled family shows only once it has a series; requests have
    // none before the first request.
    m.observe(&event(1, "GET", "/_ping", true));
    let text = m.render().expect("renders");
    let all = [
        names::EVENTS_LOST,
        names::RECORDS_TRUNCATED,
        names::RECORDS_BAD,
        names::REQUESTS,
        names::CONNECTIONS,
        names::KERNEL,
        names::EVENTS_DROPPED,
        names::SINK_ERRORS,
        names::PARSE_ERRORS,
        names::CONNECTIONS_TRACKED,
        names::CONNECTIONS_DROPPED,
        names::CONNECTIONS_LAZY,
        names::LOOKUPS,
        names::LOOKUP_WAIT_EXPIRED,
    ];
    let registered: Vec<String> = m
        .registry()
        .gather()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();

    for name in all {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{text}"
        );
    }
    assert_eq!(registered.len(), all.len(), "{registered:?}");
}

#[test]
fn requests_are_counted_with_bounded_labels() {
    let m = metrics();

    m.observe(&event(1, "POST", "/containers/{id}/start", true));
    m.observe(&event(1, "POST", "/containers/{id}/start", true));
    m.observe(&event(2, "BREW", "/coffee/123", false));
    let text = m.render().expect("renders");

    let start =
        r#"docksock_requests_total{endpoint="/containers/{id}/start",method="POST"}"#;
    assert_eq!(value(&text, start), Some(2.0), "{text}");
    let other = r#"docksock_requests_total{endpoint="other",method="OTHER"}"#;
    assert_eq!(value(&text, other), Some(1.0), "{text}");
    assert!(!text.contains("coffee"));
}

#[test]
fn kernel_counters_advance_by_differences_and_survive_a_reset() {
    let m = metrics();
    let k = |lost, sends| KernelCounters {
        lost,
        sends,
        ..KernelCounters::default()
    };

    m.set_kernel_counters(k(3, 10));
    m.set_kernel_counters(k(5, 12));
    m.set_kernel_counters(k(1, 1));
    let text = m.render().expect("renders");

    assert_eq!(
        value(&text, "docksock_events_lost_total"),
        Some(6.0),
        "{text}"
    );
    let sends = r#"docksock_kernel_counter_total{counter="sends"}"#;
    assert_eq!(value(&text, sends), Some(13.0), "{text}");
}

#[test]
fn pipeline_stats_show_bad_records_by_reason() {
    let m = metrics();
    let mut s = PipelineStats::default();
    s.bad_records[0] = 2;
    s.parse_errors = 4;

    m.update_pipeline(&s, 7);
    m.update_pipeline(&s, 3);
    let text = m.render().expect("renders");

    let short = r#"docksock_records_bad_total{reason="short_header"}"#;
    assert_eq!(value(&text, short), Some(2.0), "{text}");
    let kind = r#"docksock_records_bad_total{reason="unknown_kind"}"#;
    assert_eq!(value(&text, kind), Some(0.0), "zero series exist: {text}");
    assert_eq!(value(&text, "docksock_parse_errors_total"), Some(4.0));
    assert_eq!(value(&text, "docksock_connections_tracked"), Some(3.0));
}

#[tokio::test]
async fn json_sink_writes_one_line_per_event_in_order() {
    let (reader, writer) = tokio::io::duplex(1 << 16);
    let m = metrics();
    let cfg = JsonSinkConfig::new(JsonTarget::Stdout);
    let sink = JsonSink::with_writer(Box::new(writer), cfg, Arc::clone(&m), None);

    for conn in 0..5 {
        sink.send(event(conn, "GET", "/_ping", true));
    }
    sink.close().await;
    let mut lines = BufReader::new(reader).lines();
    let mut conns = Vec::new();
    while let Some(line) = lines.next_line().await.expect("read") {
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
        conns.push(v["conn"].as_u64().expect("conn is a number"));
    }

    assert_eq!(conns, vec![0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn full_json_queue_drops_and_counts_instead_of_blocking() {
    // A pipe nobody reads: the writer blocks on it, the queue fills.
    let (_reader, writer) = tokio::io::duplex(64);
    let m = metrics();
    let mut cfg = JsonSinkConfig::new(JsonTarget::Stdout);
    cfg.capacity = 2;
    let sink = JsonSink::with_writer(Box::new(writer), cfg, Arc::clone(&m), None);

    for conn in 0..100 {
        sink.send(event(conn, "GET", "/_ping", true));
    }
    let text = m.render().expect("renders");

    let dropped =
        value(&text, r#"docksock_events_dropped_total{sink="json"}"#).expect("series");
    assert!(dropped >= 90.0, "{text}");
}

#[tokio::test]
async fn json_sink_appends_to_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, "earlier\n").expect("seed file");
    let cfg = JsonSinkConfig::new(JsonTarget::File(path.clone()));
    let sink = JsonSink::start(cfg, metrics(), None).await.expect("opens");

    sink.send(event(9, "GET", "/_ping", true));
    sink.close().await;
    let text = std::fs::read_to_string(&path).expect("read back");

    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], "earlier");
    assert!(lines[1].contains("\"conn\":9"), "{text}");
}

#[tokio::test]
async fn json_sink_on_a_bad_path_fails_at_start_naming_it() {
    let cfg = JsonSinkConfig::new(JsonTarget::File("/nonexistent-dir/x/events".into()));

    let err = JsonSink::start(cfg, metrics(), None)
        .await
        .err()
        .expect("must fail");

    assert!(
        err.to_string().contains("/nonexistent-dir/x/events"),
        "{err}"
    );
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test]
async fn metrics_server_serves_metrics_and_health() {
    let m = metrics();
    m.set_kernel_counters(KernelCounters {
        lost: 4,
        ..KernelCounters::default()
    });
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = MetricsServer::bind(loopback, Arc::clone(&m))
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let task = tokio::spawn(server.run());

    let metrics =
        tokio::time::timeout(Duration::from_secs(10), http_get(addr, "/metrics"))
            .await
            .expect("answers in time");
    let health = http_get(addr, "/healthz").await;
    let missing = http_get(addr, "/nope").await;
    task.abort();

    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("text/plain; version=0.0.4"), "{metrics}");
    assert!(
        metrics.contains("docksock_events_lost_total 4"),
        "{metrics}"
    );
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

#[tokio::test]
async fn json_sink_waits_for_a_running_lookup_and_keeps_order() {
    use crate::identity::tests::{fake_api, inspect_reply, ID};
    use crate::identity::{DockerResolver, Resolver, ResolverConfig};

    let dir = tempfile::tempdir().expect("temp dir");
    let sock = fake_api(dir.path(), Duration::from_millis(300), inspect_reply);
    let cfg = ResolverConfig {
        docker_sockets: vec![sock],
        ..ResolverConfig::default()
    };
    let resolver = DockerResolver::new(cfg, tokio::runtime::Handle::current());
    let task = crate::capture::Task {
        cgroup_name: format!("docker-{ID}.scope"),
        ..crate::capture::Task::default()
    };
    let mut in_container = event(1, "GET", "/_ping", true);
    in_container.container = resolver.container(&task).map(Into::into);
    assert_eq!(
        in_container.container.as_ref().and_then(|c| c.name.clone()),
        None
    );

    let (reader, writer) = tokio::io::duplex(1 << 16);
    let cfg = JsonSinkConfig::new(JsonTarget::Stdout);
    let sink = JsonSink::with_writer(Box::new(writer), cfg, metrics(), Some(resolver));
    sink.send(in_container);
    sink.send(event(2, "GET", "/_ping", true));
    sink.close().await;
    let mut lines = BufReader::new(reader).lines();
    let mut got = Vec::new();
    while let Some(line) = lines.next_line().await.expect("read") {
        got.push(serde_json::from_str::<serde_json::Value>(&line).expect("JSON"));
    }

    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["container"]["name"], "web-1");
    assert_eq!(got[0]["container"]["image"], "nginx:1.25");
    assert_eq!(got[1]["conn"], 2, "the later event waited its turn");
}
