//! Traffic that is not on a watched socket produces nothing: a unix
//! socketpair, another listening unix socket (even one named
//! `docker.sock`), and TCP on loopback, all carrying Docker API requests
//! (issue 2, "done when" 3).

use std::{
    fs,
    net::{TcpListener, TcpStream},
    os::unix::net::{UnixListener, UnixStream},
    process::ExitCode,
};

use anyhow::{ensure, Context as _, Result};
use docksock_tests::{
    client::request_bytes,
    events,
    suite::{self, Env, Test},
};

fn main() -> ExitCode {
    suite::run(
        "unwatched_traffic",
        &[Test {
            name: "other_sockets_and_tcp_are_not_reported",
            run: not_reported,
        }],
    )
}

/// A reply the fake servers send back, so both directions carry bytes.
const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";

fn not_reported(env: &mut Env) -> Result<()> {
    let request = request_bytes("POST", "/v1.41/containers/create?name=unwatched", b"{}");
    let from = env.events.mark()?;

    // A connected pair, no file at all.
    let (mut a, mut b) = UnixStream::pair().context("socketpair")?;
    exchange(&mut a, &mut b, &request).context("on a socketpair")?;

    // Another listening socket, with the watched socket's file name.
    let other_dir = env.dir().join("other");
    fs::create_dir_all(&other_dir)?;
    let other = other_dir.join("docker.sock");
    let listener = UnixListener::bind(&other).context("binding another unix socket")?;
    let mut client = UnixStream::connect(&other)?;
    let (mut server, _) = listener.accept()?;
    exchange(&mut client, &mut server, &request).context("on another unix socket")?;

    // TCP on loopback.
    let tcp = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1")?;
    let mut client = TcpStream::connect(tcp.local_addr()?)?;
    let (mut server, _) = tcp.accept()?;
    exchange(&mut client, &mut server, &request).context("on TCP loopback")?;

    let barrier = env.barrier()?;
    let all = env.events.events();
    let barrier_conn = &all[barrier]["conn"];
    let stray: Vec<String> = all[from..=barrier]
        .iter()
        .filter(|ev| !events::on_conn(ev, barrier_conn))
        .map(ToString::to_string)
        .collect();
    ensure!(
        stray.is_empty(),
        "events for traffic on unwatched sockets:\n{}",
        stray.join("\n")
    );
    Ok(())
}

/// Sends `request` from `client` to `server` and a reply back; checks
/// both arrived whole.
fn exchange<C, S>(client: &mut C, server: &mut S, request: &[u8]) -> Result<()>
where
    C: std::io::Read + std::io::Write,
    S: std::io::Read + std::io::Write,
{
    client.write_all(request)?;
    let mut got = vec![0u8; request.len()];
    server.read_exact(&mut got)?;
    ensure!(got == request, "the server read other bytes than were sent");

    server.write_all(REPLY)?;
    let mut got = vec![0u8; REPLY.len()];
    client.read_exact(&mut got)?;
    ensure!(got == REPLY, "the client read other bytes than were sent");
    Ok(())
}
