//! However the client cuts its byte stream, each request is reported once
//! with its own request line: one line split across three `write()`
//! calls, two requests in one `write()`, and a body that looks like a
//! request (issue 2, "done when" 4). Raw bytes on a unix socket to the
//! real dockerd, which must answer every request.

use std::process::ExitCode;

use anyhow::{bail, ensure, Context as _, Result};
use docksock_tests::{
    client::{request_bytes, Conn},
    events::{self, from_pid, text},
    suite::{self, Env, Test},
};
use serde_json::Value;

fn main() -> ExitCode {
    suite::run(
        "request_framing",
        &[
            Test {
                name: "request_line_split_across_three_writes",
                run: split_line,
            },
            Test {
                name: "two_requests_pipelined_in_one_write",
                run: pipelined,
            },
            Test {
                name: "body_that_looks_like_a_request_is_not_one",
                run: body_not_request,
            },
        ],
    )
}

fn split_line(env: &mut Env) -> Result<()> {
    let from = env.events.mark()?;
    let target = format!("/v1.41/_ping?docksock={}", env.unique("split"));
    let bytes = request_bytes("GET", &target, b"");
    let line_end = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .context("no CRLF")?;

    let mut conn = Conn::connect(env.socket())?;
    // "GE" | "T /v1.41/_pi" ... middle of the line | rest, CRLF, headers.
    let cuts = [0, 2, line_end / 2, bytes.len()];
    for part in cuts.windows(2) {
        conn.write_once(&bytes[part[0]..part[1]])?;
    }
    let reply = conn.read_reply()?;
    ensure!(reply.status == 200, "dockerd answered {}", reply.status);

    let event = wait_request(env, from, &target)?;
    check_request(&event, "GET", &target, "/_ping")?;
    let requests = requests_on_conn(env, from, &event["conn"])?;
    ensure!(
        requests == [format!("GET {target}")],
        "requests on the connection: {requests:?}"
    );
    Ok(())
}

fn pipelined(env: &mut Env) -> Result<()> {
    let from = env.events.mark()?;
    let nonce = env.unique("pipe");
    let first = format!("/v1.41/_ping?docksock={nonce}-1");
    let second = format!("/v1.41/version?docksock={nonce}-2");
    let mut bytes = request_bytes("GET", &first, b"");
    bytes.extend(request_bytes("GET", &second, b""));

    let mut conn = Conn::connect(env.socket())?;
    conn.write_once(&bytes)?;
    for _ in 0..2 {
        let reply = conn.read_reply()?;
        ensure!(reply.status == 200, "dockerd answered {}", reply.status);
    }

    let one = wait_request(env, from, &first)?;
    let two = wait_request(env, from, &second)?;
    check_request(&one, "GET", &first, "/_ping")?;
    check_request(&two, "GET", &second, "/version")?;
    let requests = requests_on_conn(env, from, &one["conn"])?;
    ensure!(
        requests == [format!("GET {first}"), format!("GET {second}")],
        "requests on the connection, in order: {requests:?}"
    );
    Ok(())
}

fn body_not_request(env: &mut Env) -> Result<()> {
    let from = env.events.mark()?;
    let nonce = env.unique("body");
    let post = format!("/v1.41/docksock-nothing?docksock={nonce}");
    let after = format!("/v1.41/_ping?docksock={nonce}-after");
    let smuggled = request_bytes("GET", &format!("/v1.41/smuggled-{nonce}"), b"");
    let mut bytes = request_bytes("POST", &post, &smuggled);
    bytes.extend(request_bytes("GET", &after, b""));

    let mut conn = Conn::connect(env.socket())?;
    conn.write_once(&bytes)?;
    let statuses = [conn.read_reply()?.status, conn.read_reply()?.status];
    ensure!(
        statuses == [404, 200],
        "dockerd answered {statuses:?}, expected [404, 200]"
    );

    let event = wait_request(env, from, &after)?;
    let requests = requests_on_conn(env, from, &event["conn"])?;
    ensure!(
        requests == [format!("POST {post}"), format!("GET {after}")],
        "requests on the connection, in order: {requests:?}"
    );
    Ok(())
}

/// Waits for this process's request, reported at index `from` or later,
/// whose path as sent is `target`.
fn wait_request(env: &mut Env, from: usize, target: &str) -> Result<Value> {
    let pid = std::process::id();
    let at = env.events.wait_from(from, &format!("for {target}"), |ev| {
        from_pid(ev, pid)
            && text(ev, "/kind") == Some("request")
            && text(ev, "/http/path") == Some(target)
    })?;
    Ok(env.events.events()[at].clone())
}

/// The request line fields and the endpoint of one request event.
fn check_request(event: &Value, method: &str, target: &str, endpoint: &str) -> Result<()> {
    let got = (
        text(event, "/http/method"),
        text(event, "/http/path"),
        text(event, "/http/version"),
        text(event, "/api/endpoint"),
        text(event, "/api/version"),
    );
    let want = (
        Some(method),
        Some(target),
        Some("HTTP/1.1"),
        Some(endpoint),
        Some("1.41"),
    );
    ensure!(
        got == want,
        "got (method, path, version, endpoint, api version) {got:?}, expected {want:?}"
    );
    Ok(())
}

/// `METHOD path` of every request reported on `conn` since index `from`,
/// once a barrier shows the daemon has caught up. The connection was
/// opened after `from`, so it must have its own `connect` line there and
/// an id no earlier connection had.
fn requests_on_conn(env: &mut Env, from: usize, conn: &Value) -> Result<Vec<String>> {
    let barrier = env.barrier()?;
    let all = env.events.events();
    let is_connect = |ev: &Value| text(ev, "/kind") == Some("connect");

    let reused = all[..from].iter().find(|ev| events::on_conn(ev, conn));
    if let Some(earlier) = reused {
        bail!("conn {conn} of a new connection was already used by {earlier}");
    }
    let connected = all[from..barrier]
        .iter()
        .any(|ev| events::on_conn(ev, conn) && is_connect(ev));
    ensure!(connected, "no `connect` line for conn {conn}");

    let requests = all[from..barrier]
        .iter()
        .filter(|ev| events::on_conn(ev, conn) && text(ev, "/kind") == Some("request"))
        .map(|ev| {
            format!(
                "{} {}",
                text(ev, "/http/method").unwrap_or("?"),
                text(ev, "/http/path").unwrap_or("?")
            )
        })
        .collect();
    Ok(requests)
}
