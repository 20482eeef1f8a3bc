//! Clients on the host itself: `docker ps` as root is reported with no
//! container (issue 2, "done when" 2), and a client that reaches the
//! socket through a symlink is reported against the watched socket.

use std::{
    os::unix::fs::symlink,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context as _, Result};
use docksock_tests::{
    client,
    events::{self, from_pid, is_request, number, text},
    process,
    suite::{self, Env, Test},
};
use serde_json::Value;

fn main() -> ExitCode {
    suite::run(
        "host_client",
        &[
            Test {
                name: "host_docker_ps_has_no_container",
                run: host_docker_ps,
            },
            Test {
                name: "connect_through_a_symlink_is_seen",
                run: through_symlink,
            },
        ],
    )
}

fn host_docker_ps(env: &mut Env) -> Result<()> {
    let mut ps = env.dockerd.cli();
    ps.arg("ps").stdout(std::process::Stdio::null());
    let mut child = ps.spawn().context("starting docker ps")?;
    let pid = child.id();
    match process::wait_until(&mut child, Instant::now() + Duration::from_secs(60))? {
        Some(status) if status.success() => {}
        other => bail!("docker ps failed: {other:?}"),
    }

    let connect = env
        .events
        .wait_for_event("`connect` from docker ps", |ev| {
            from_pid(ev, pid) && text(ev, "/kind") == Some("connect")
        })?;
    let list = env
        .events
        .wait_for_event("GET /containers/json from docker ps", |ev| {
            from_pid(ev, pid) && is_request(ev, "GET", "/containers/json")
        })?;

    let inode = env.socket_inode()?;
    let socket = env.socket().to_string_lossy().into_owned();
    for event in [&connect, &list] {
        check_host_process(event, &socket, inode).with_context(|| format!("in event {event}"))?;
    }
    ensure!(
        events::on_conn(&list, &connect["conn"]),
        "the request's conn differs from the connect line's: {connect} / {list}"
    );
    Ok(())
}

/// Fields every event from a root process on the host must have.
fn check_host_process(event: &Value, socket: &str, inode: u64) -> Result<()> {
    ensure!(
        event.get("container") == Some(&Value::Null),
        "container is not null"
    );
    let comm = text(event, "/process/comm");
    ensure!(
        comm == Some("docker"),
        "process.comm is {comm:?}, expected \"docker\""
    );
    ensure!(
        number(event, "/process/uid") == Some(0),
        "process.uid is not 0"
    );
    ensure!(
        number(event, "/process/gid") == Some(0),
        "process.gid is not 0"
    );
    ensure!(
        number(event, "/process/tid").is_some(),
        "process.tid missing"
    );
    if let Some(exe) = event.pointer("/process/exe").filter(|exe| !exe.is_null()) {
        ensure!(
            exe == "/usr/bin/docker",
            "process.exe is {exe}, expected /usr/bin/docker"
        );
    }
    ensure!(number(event, "/cgroup/id").is_some(), "cgroup.id missing");
    ensure!(text(event, "/cgroup/name").is_some(), "cgroup.name missing");
    let path = text(event, "/socket/path");
    ensure!(
        path == Some(socket),
        "socket.path is {path:?}, expected {socket:?}"
    );
    let ino = number(event, "/socket/inode");
    ensure!(
        ino == Some(inode),
        "socket.inode is {ino:?}, expected {inode}"
    );
    let ts = text(event, "/ts").unwrap_or_default();
    ensure!(looks_like_rfc3339(ts), "ts {ts:?} is not RFC 3339");
    Ok(())
}

fn through_symlink(env: &mut Env) -> Result<()> {
    let link = env.dir().join("link-to-docker.sock");
    symlink(env.socket(), &link).context("making the symlink")?;
    let target = format!("/v1.41/_ping?docksock={}", env.unique("symlink"));
    let reply = client::request(&link, "GET", &target)?;
    ensure!(reply.status == 200, "dockerd answered {}", reply.status);

    let pid = std::process::id();
    let event = env
        .events
        .wait_for_event("for the request sent through the symlink", |ev| {
            from_pid(ev, pid) && text(ev, "/http/path") == Some(target.as_str())
        })?;
    let socket = env.socket().to_string_lossy().into_owned();
    let path = text(&event, "/socket/path");
    ensure!(
        path == Some(socket.as_str()),
        "socket.path is {path:?}, expected {socket:?}"
    );
    ensure!(
        is_request(&event, "GET", "/_ping"),
        "not a GET /_ping request: {event}"
    );
    Ok(())
}

/// `2026-12-03T16:45:29.258Z` or with an offset: a date, `T`, a time.
fn looks_like_rfc3339(ts: &str) -> bool {
    let bytes = ts.as_bytes();
    bytes.len() >= 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && (ts.ends_with('Z') || ts.get(19..).is_some_and(|zone| zone.contains(['+', '-'])))
}
