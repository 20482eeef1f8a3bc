use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use super::procfs::parse_start_time;
use super::*;
use crate::event::ContainerRef;

pub(crate) const ID: &str =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn recognises_each_runtime_shape() {
    let cases = [
        (ID.to_owned(), "docker"),
        (format!("docker-{ID}.scope"), "docker"),
        (format!("cri-containerd-{ID}.scope"), "containerd"),
        (format!("crio-{ID}.scope"), "cri-o"),
        (format!("libpod-{ID}.scope"), "podman"),
    ];
    for (name, runtime) in cases {
        assert_eq!(
            container_from_cgroup(&name),
            Some((runtime, ID.to_owned())),
            "{name}"
        );
    }
}

#[test]
fn host_cgroups_are_not_containers() {
    let host = [
        "",
        "/",
        "init.scope",
        "session-3.scope",
        "user@1000.service",
        "docker.service",
        "system.slice",
        &format!("crio-conmon-{ID}.scope"),
        &format!("libpod-conmon-{ID}.scope"),
        &format!("docker-{ID}.service"),
        &format!("docker-{}.scope", &ID[..63]),
        &format!("{ID}0"),
        &ID.to_uppercase(),
        &format!("cri-containerd-{ID}"),
    ];
    for name in host {
        assert_eq!(container_from_cgroup(name), None, "{name:?}");
    }
}

#[test]
fn static_resolver_names_known_containers_only() {
    let r = StaticResolver::new()
        .with_exe(7, "/usr/bin/docker")
        .with_container(ID, "web", "nginx:1");
    let task = |cg: &str| Task {
        cgroup_name: cg.into(),
        ..Task::default()
    };
    let other = "f".repeat(64);

    assert_eq!(r.exe(7).as_deref(), Some("/usr/bin/docker"));
    assert_eq!(r.exe(8), None);
    assert_eq!(
        r.container(&task(&format!("docker-{ID}.scope"))),
        Some(Container {
            id: ID.into(),
            name: Some("web".into()),
            image: Some("nginx:1".into()),
            runtime: "docker".into(),
        })
    );
    let unnamed = r
        .container(&task(&other))
        .expect("a container, just unnamed");
    assert_eq!((unnamed.name, unnamed.image), (None, None));
    assert_eq!(r.container(&task("init.scope")), None);
}

#[test]
fn start_time_is_field_22_even_with_parens_in_comm() {
    let stat =
        "123 (a) b (c) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 \
                1000 50 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    assert_eq!(parse_start_time(stat), Some(987_654));
    assert_eq!(parse_start_time("123 (x) S 1"), None);
    assert_eq!(parse_start_time("no parens at all"), None);
}

#[test]
fn exe_of_this_process_is_read_and_cached() {
    let cache = ExeCache::new("/proc", 16);
    let me = std::process::id();
    let want = std::env::current_exe()
        .expect("current_exe")
        .to_string_lossy()
        .into_owned();

    assert_eq!(cache.exe(me).as_deref(), Some(want.as_str()));
    assert_eq!(
        cache.exe(me).as_deref(),
        Some(want.as_str()),
        "cached answer"
    );
}

#[test]
fn exe_of_a_missing_process_is_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = ExeCache::new(dir.path(), 16);

    assert_eq!(cache.exe(1), None);
}

#[test]
fn exe_cache_notices_pid_reuse() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_dir = dir.path().join("42");
    std::fs::create_dir(&pid_dir).expect("mkdir");
    let stat = |start: u64| {
        format!("42 (sh) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0")
    };
    std::fs::write(pid_dir.join("stat"), stat(100)).expect("write stat");
    std::os::unix::fs::symlink("/bin/old", pid_dir.join("exe")).expect("symlink");
    let cache = ExeCache::new(dir.path(), 16);
    assert_eq!(cache.exe(42).as_deref(), Some("/bin/old"));

    std::fs::remove_file(pid_dir.join("exe")).expect("rm");
    std::os::unix::fs::symlink("/bin/new", pid_dir.join("exe")).expect("symlink");
    assert_eq!(
        cache.exe(42).as_deref(),
        Some("/bin/old"),
        "same process: cached"
    );
    std::fs::write(pid_dir.join("stat"), stat(200)).expect("write stat");

    assert_eq!(
        cache.exe(42).as_deref(),
        Some("/bin/new"),
        "new start time: read again"
    );

    std::fs::remove_dir_all(&pid_dir).expect("rm pid dir");
    assert_eq!(
        cache.exe(42).as_deref(),
        Some("/bin/new"),
        "exited: the last process seen with the pid"
    );
}

/// A fake Docker Engine API on a unix socket: answers each connection's
/// request with `reply(path)`, after `delay`.
pub(crate) fn fake_api(
    dir: &Path,
    delay: Duration,
    reply: fn(&str) -> (u16, String),
) -> PathBuf {
    let path = dir.join("docker.sock");
    let listener = UnixListener::bind(&path).expect("bind fake API");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = req.split(' ').nth(1).unwrap_or("").to_owned();
                tokio::time::sleep(delay).await;
                let (status, body) = reply(&path);
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    path
}

pub(crate) fn inspect_reply(path: &str) -> (u16, String) {
    if path == format!("/containers/{ID}/json") {
        let body =
            r#"{"Id":"x","Name":"/web-1","Config":{"Image":"nginx:1.25","Env":[]}}"#;
        (200, body.to_owned())
    } else {
        (404, r#"{"message":"No such container"}"#.to_owned())
    }
}

fn resolver_for(socket: PathBuf, timeout: Duration) -> DockerResolver {
    let cfg = ResolverConfig {
        docker_sockets: vec![socket],
        lookup_timeout: timeout,
        ..ResolverConfig::default()
    };
    DockerResolver::new(cfg, tokio::runtime::Handle::current())
}

fn container_task(id: &str) -> Task {
    Task {
        cgroup_name: format!("docker-{id}.scope"),
        ..Task::default()
    }
}

#[tokio::test]
async fn lookup_started_by_first_sight_fills_name_and_image() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = fake_api(dir.path(), Duration::ZERO, inspect_reply);
    let r = resolver_for(sock, Duration::from_secs(5));

    let first = r.container(&container_task(ID)).expect("a container");
    assert_eq!(
        (first.name.as_deref(), first.runtime.as_str()),
        (None, "docker")
    );
    let mut c = Some(ContainerRef::from(first));
    r.complete(&mut c, Instant::now() + Duration::from_secs(5))
        .await;

    let c = c.expect("still a container");
    assert_eq!(c.name.as_deref(), Some("web-1"));
    assert_eq!(c.image.as_deref(), Some("nginx:1.25"));
    let again = r.container(&container_task(ID)).expect("a container");
    assert_eq!(again.name.as_deref(), Some("web-1"), "answer is cached");
    assert_eq!(r.stats().started, 1);
    assert_eq!(r.stats().found, 1);
}

#[tokio::test]
async fn unknown_container_is_remembered_as_unknown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = fake_api(dir.path(), Duration::ZERO, inspect_reply);
    let r = resolver_for(sock, Duration::from_secs(5));
    let other = "e".repeat(64);

    let mut c = r.container(&container_task(&other)).map(ContainerRef::from);
    r.complete(&mut c, Instant::now() + Duration::from_secs(5))
        .await;

    assert_eq!(c.and_then(|c| c.name), None);
    assert_eq!(r.stats().not_found, 1);
    r.container(&container_task(&other));
    assert_eq!(r.stats().started, 1, "negative answer is cached");
}

#[tokio::test]
async fn slow_api_does_not_hold_an_event_past_its_deadline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = fake_api(dir.path(), Duration::from_secs(30), inspect_reply);
    let r = resolver_for(sock, Duration::from_secs(60));

    let mut c = r.container(&container_task(ID)).map(ContainerRef::from);
    let started = Instant::now();
    r.complete(&mut c, started + Duration::from_millis(200))
        .await;

    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(c.and_then(|c| c.name), None);
    assert_eq!(r.stats().wait_expired, 1);
}

#[tokio::test]
async fn lookup_timeout_counts_as_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = fake_api(dir.path(), Duration::from_secs(30), inspect_reply);
    let r = resolver_for(sock, Duration::from_millis(100));

    let mut c = r.container(&container_task(ID)).map(ContainerRef::from);
    r.complete(&mut c, Instant::now() + Duration::from_secs(20))
        .await;

    assert_eq!(c.and_then(|c| c.name), None);
    assert_eq!(r.stats().failed, 1);
}

#[tokio::test]
async fn missing_socket_fails_fast_and_is_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let r = resolver_for(dir.path().join("absent.sock"), Duration::from_secs(5));

    let mut c = r.container(&container_task(ID)).map(ContainerRef::from);
    r.complete(&mut c, Instant::now() + Duration::from_secs(5))
        .await;

    assert_eq!(c.and_then(|c| c.name), None);
    assert_eq!(r.stats().failed, 1);
}

#[tokio::test]
async fn garbage_reply_is_a_failure_not_a_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = fake_api(dir.path(), Duration::ZERO, |_| {
        (200, "{\"Name\": 5}".to_owned())
    });
    let r = resolver_for(sock, Duration::from_secs(5));

    let mut c = r.container(&container_task(ID)).map(ContainerRef::from);
    r.complete(&mut c, Instant::now() + Duration::from_secs(5))
        .await;

    assert_eq!(c.and_then(|c| c.name), None);
    assert_eq!(r.stats().failed, 1);
}

#[tokio::test]
async fn host_process_starts_no_lookup() {
    let dir = tempfile::tempdir().expect("temp dir");
    let r = resolver_for(dir.path().join("absent.sock"), Duration::from_secs(5));
    let task = Task {
        cgroup_name: "session-1.scope".into(),
        ..Task::default()
    };

    assert_eq!(r.container(&task), None);
    assert_eq!(r.stats().started, 0);
}
