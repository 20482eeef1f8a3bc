//! A Docker CLI running inside a container, with the host's socket mounted
//! at `/tmp/d.sock`, runs a container with the host's root mounted: the
//! connection and its requests are reported and attributed to the CLI's
//! container (issue 2, "done when" 1).

use std::process::ExitCode;

use anyhow::{ensure, Context as _, Result};
use docksock_tests::{
    events::{self, is_request, text},
    images::{BUSYBOX_IMAGE, CLI_IMAGE},
    suite::{self, Env, Test},
};
use serde_json::Value;

fn main() -> ExitCode {
    suite::run(
        "container_client",
        &[Test {
            name: "cli_in_container_run_is_attributed",
            run: cli_in_container_run,
        }],
    )
}

fn cli_in_container_run(env: &mut Env) -> Result<()> {
    env.import_images()?;
    let name = env.unique("docksock-cli");
    let mount = format!("{}:/tmp/d.sock", env.socket().display());
    let id = env.dockerd.docker([
        "create",
        "--name",
        &name,
        "--network",
        "none",
        "-v",
        &mount,
        CLI_IMAGE,
        "docker",
        "-H",
        "unix:///tmp/d.sock",
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "/:/host",
        BUSYBOX_IMAGE,
        "true",
    ])?;
    ensure!(
        is_container_id(&id),
        "docker create printed {id:?}, not a container id"
    );

    // `start -a` returns the CLI's exit code: 0 means the inner run worked.
    env.dockerd
        .docker(["start", "--attach", &id])
        .context("the CLI container failed")?;

    let inside = |ev: &Value| text(ev, "/container/id") == Some(id.as_str());
    let connect = env
        .events
        .wait_for_event("`connect` from the CLI container", |ev| {
            inside(ev) && text(ev, "/kind") == Some("connect")
        })?;
    let create = env
        .events
        .wait_for_event("POST /containers/create from the CLI container", |ev| {
            inside(ev) && is_request(ev, "POST", "/containers/create")
        })?;
    let start = env
        .events
        .wait_for_event("POST /containers/{id}/start from the CLI container", |ev| {
            inside(ev) && is_request(ev, "POST", "/containers/{id}/start")
        })?;
    let follow = env
        .events
        .wait_for_event("wait or attach from the CLI container", |ev| {
            inside(ev)
                && (is_request(ev, "POST", "/containers/{id}/wait")
                    || is_request(ev, "POST", "/containers/{id}/attach"))
        })?;

    let inode = env.socket_inode()?;
    let socket = env.socket().to_string_lossy().into_owned();
    for event in [&connect, &create, &start, &follow] {
        check_attribution(event, &name, &socket, inode)
            .with_context(|| format!("in event {event}"))?;
    }
    for request in [&create, &start, &follow] {
        check_api_version(request).with_context(|| format!("in event {request}"))?;
    }

    let connected = env.events.events().iter().any(|ev| {
        inside(ev) && text(ev, "/kind") == Some("connect") && events::on_conn(ev, &create["conn"])
    });
    ensure!(
        connected,
        "no `connect` line for the connection of {create}"
    );
    let started = text(&start, "/api/object").unwrap_or_default();
    ensure!(
        is_container_id(started),
        "start names {started:?}, not the new container's id"
    );

    // The name and image above came from docksock's own Docker API lookup
    // on the same socket: neither its requests nor dockerd's answers to it
    // may appear as someone's connection.
    let own = env.events.events().iter().find(|ev| {
        let comm = text(ev, "/process/comm").unwrap_or_default();
        comm == "dockerd" || comm.starts_with("docksock-mon")
    });
    ensure!(
        own.is_none(),
        "docksock's own lookup was reported: {}",
        own.map_or(String::new(), Value::to_string)
    );

    env.dockerd.docker(["rm", &id])?;
    Ok(())
}

/// The container, process and socket fields of an event from the CLI.
fn check_attribution(event: &Value, name: &str, socket: &str, inode: u64) -> Result<()> {
    let image = text(event, "/container/image");
    let tagged = format!("{CLI_IMAGE}:latest");
    ensure!(
        image == Some(CLI_IMAGE) || image == Some(tagged.as_str()),
        "container.image is {image:?}, expected {CLI_IMAGE:?}"
    );
    let got_name = text(event, "/container/name");
    ensure!(
        got_name == Some(name),
        "container.name is {got_name:?}, expected {name:?}"
    );
    let comm = text(event, "/process/comm");
    ensure!(
        comm == Some("docker"),
        "process.comm is {comm:?}, expected \"docker\""
    );
    let path = text(event, "/socket/path");
    ensure!(
        path == Some(socket),
        "socket.path is {path:?}, expected {socket:?}"
    );
    let ino = events::number(event, "/socket/inode");
    ensure!(
        ino == Some(inode),
        "socket.inode is {ino:?}, expected {inode}"
    );
    Ok(())
}

/// `api.version` is the version prefix of the path as sent.
fn check_api_version(request: &Value) -> Result<()> {
    let version = text(request, "/api/version").context("api.version missing")?;
    let path = text(request, "/http/path").context("http.path missing")?;
    ensure!(
        path.starts_with(&format!("/v{version}/")),
        "api.version {version:?} is not the prefix of http.path {path:?}"
    );
    Ok(())
}

fn is_container_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}
