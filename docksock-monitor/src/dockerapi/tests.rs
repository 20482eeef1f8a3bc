//! Route table tests: every route reachable, each family named, and the
//! router's corner cases.

use super::*;

fn view(method: &str, target: &str) -> (Option<String>, String, Option<String>, bool) {
    let v = route(method, target);
    (v.version, v.endpoint, v.object, v.known)
}

/// Asserts that `method target` is the known `endpoint` on `object`.
#[track_caller]
fn assert_known(method: &str, target: &str, endpoint: &str, object: Option<&str>) {
    let v = route(method, target);
    assert!(v.known, "{method} {target}: {v:?}");
    assert_eq!(v.endpoint, endpoint, "{method} {target}");
    assert_eq!(v.object.as_deref(), object, "{method} {target}");
}

#[track_caller]
fn assert_unknown(method: &str, target: &str) {
    let v = route(method, target);
    assert!(!v.known, "{method} {target}: {v:?}");
    assert_eq!(v.object, None);
}

#[test]
fn every_route_is_reachable() {
    for r in ROUTES {
        let path = r.pattern.replace("{name:.*}", "x").replace("{id:.*}", "x");
        let path = path.replace("{id:.+}", "x").replace("{anyroute:.*}", "x");
        let path = path
            .replace("{name}", "x")
            .replace("{checkpoint}", "x")
            .replace("{id}", "x");
        assert!(!path.contains('{'), "{path}");
        assert_known(r.method, &path, r.endpoint, r.object.then_some("x"));
        let versioned = route(r.method, &format!("/v1.41{path}"));
        assert_eq!(versioned.version.as_deref(), Some("1.41"), "{}", r.pattern);
        assert_eq!(versioned.endpoint, r.endpoint);
    }
}

#[test]
fn the_agreed_examples() {
    let exec = view("POST", "/v1.41/containers/abc/exec?x=1");
    let expected = (
        Some("1.41".into()),
        "/containers/{id}/exec".into(),
        Some("abc".into()),
        true,
    );
    assert_eq!(exec, expected);
    assert_eq!(
        view("POST", "/containers/create?name=x"),
        (None, "/containers/create".into(), None, true)
    );
    assert_eq!(view("GET", "/v1/_ping").0.as_deref(), Some("1"));
    assert_known("HEAD", "/v1/_ping", "/_ping", None);
    assert_eq!(
        view("GET", "/v99.0/info"),
        (Some("99.0".into()), "/info".into(), None, true)
    );
    let alpine = "docker.io/library/alpine:latest";
    assert_known(
        "GET",
        &format!("/images/{alpine}/json"),
        "/images/{name}/json",
        Some(alpine),
    );
    let encoded = view("POST", "/v1.41/%63ontainers/create");
    assert_eq!(
        encoded,
        (Some("1.41".into()), "/containers/create".into(), None, true)
    );
}

#[test]
fn containers() {
    let id = Some("web");
    assert_known(
        "GET",
        "/v1.43/containers/json?all=1",
        "/containers/json",
        None,
    );
    assert_known("GET", "/containers/web/json", "/containers/{id}/json", id);
    assert_known(
        "GET",
        "/containers/web/top?ps_args=aux",
        "/containers/{id}/top",
        id,
    );
    assert_known("GET", "/containers/web/logs", "/containers/{id}/logs", id);
    assert_known(
        "GET",
        "/containers/web/changes",
        "/containers/{id}/changes",
        id,
    );
    assert_known(
        "GET",
        "/containers/web/export",
        "/containers/{id}/export",
        id,
    );
    assert_known("GET", "/containers/web/stats", "/containers/{id}/stats", id);
    assert_known(
        "POST",
        "/containers/web/resize?h=1",
        "/containers/{id}/resize",
        id,
    );
    for action in [
        "start", "stop", "restart", "kill", "update", "rename", "pause", "unpause",
    ] {
        let endpoint = format!("/containers/{{id}}/{action}");
        assert_known("POST", &format!("/containers/web/{action}"), &endpoint, id);
    }
    assert_known(
        "POST",
        "/containers/web/attach?stream=1",
        "/containers/{id}/attach",
        id,
    );
    assert_known(
        "GET",
        "/containers/web/attach/ws",
        "/containers/{id}/attach/ws",
        id,
    );
    assert_known("POST", "/containers/web/wait", "/containers/{id}/wait", id);
    assert_known("DELETE", "/containers/web?force=1", "/containers/{id}", id);
    for method in ["HEAD", "GET", "PUT"] {
        assert_known(
            method,
            "/containers/web/archive?path=/",
            "/containers/{id}/archive",
            id,
        );
    }
    assert_known("POST", "/containers/web/exec", "/containers/{id}/exec", id);
    assert_known("POST", "/containers/prune", "/containers/prune", None);
    assert_known("POST", "/commit?container=web", "/commit", None);
    assert_known(
        "GET",
        "/containers/a%2Fb/json",
        "/containers/{id}/json",
        Some("a/b"),
    );
    let checkpoint = "/containers/{id}/checkpoints/{checkpoint}";
    assert_known("DELETE", "/containers/web/checkpoints/cp1", checkpoint, id);
    assert_known(
        "DELETE",
        "/containers/web/checkpoints/cp1/x",
        "/containers/{id}",
        Some("web/checkpoints/cp1/x"),
    );
}

#[test]
fn exec_and_images() {
    assert_known(
        "POST",
        "/v1.41/exec/e1/start",
        "/exec/{id}/start",
        Some("e1"),
    );
    assert_known(
        "POST",
        "/exec/e1/resize?h=2",
        "/exec/{id}/resize",
        Some("e1"),
    );
    assert_known("GET", "/exec/e1/json", "/exec/{id}/json", Some("e1"));

    let image = Some("registry:5000/team/app:1.0");
    assert_known("GET", "/images/json", "/images/json", None);
    assert_known(
        "POST",
        "/images/create?fromImage=alpine",
        "/images/create",
        None,
    );
    assert_known("POST", "/build?t=x", "/build", None);
    assert_known(
        "GET",
        "/images/registry:5000/team/app:1.0/json",
        "/images/{name}/json",
        image,
    );
    assert_known(
        "GET",
        "/images/registry:5000/team/app:1.0/history",
        "/images/{name}/history",
        image,
    );
    assert_known(
        "POST",
        "/images/registry:5000/team/app:1.0/push",
        "/images/{name}/push",
        image,
    );
    assert_known(
        "POST",
        "/images/registry:5000/team/app:1.0/tag",
        "/images/{name}/tag",
        image,
    );
    assert_known(
        "DELETE",
        "/images/registry:5000/team/app:1.0",
        "/images/{name}",
        image,
    );
    assert_known("GET", "/images/search?term=x", "/images/search", None);
    assert_known("GET", "/images/get?names=a", "/images/get", None);
    assert_known(
        "GET",
        "/images/alpine/get",
        "/images/{name}/get",
        Some("alpine"),
    );
    assert_known("POST", "/images/load", "/images/load", None);
    assert_known("POST", "/images/prune", "/images/prune", None);
    // The longest name that still ends in a known action wins, as in Go.
    assert_known(
        "GET",
        "/images/a/json/json",
        "/images/{name}/json",
        Some("a/json"),
    );
}

#[test]
fn networks_volumes_and_the_rest() {
    assert_known("GET", "/networks", "/networks", None);
    assert_known("GET", "/networks/", "/networks", None);
    assert_known("GET", "/networks/n1", "/networks/{id}", Some("n1"));
    assert_known(
        "POST",
        "/networks/n1/connect",
        "/networks/{id}/connect",
        Some("n1"),
    );
    assert_known("DELETE", "/networks/n1", "/networks/{id}", Some("n1"));
    assert_known("GET", "/volumes/v1", "/volumes/{name}", Some("v1"));
    assert_known("PUT", "/volumes/v1", "/volumes/{name}", Some("v1"));
    assert_known("POST", "/volumes/create", "/volumes/create", None);
    assert_known("GET", "/swarm", "/swarm", None);
    assert_known("POST", "/swarm/init", "/swarm/init", None);
    assert_known("GET", "/nodes/n1", "/nodes/{id}", Some("n1"));
    assert_known("POST", "/services/create", "/services/create", None);
    assert_known(
        "GET",
        "/services/s1/logs",
        "/services/{id}/logs",
        Some("s1"),
    );
    assert_known("GET", "/tasks/t1", "/tasks/{id}", Some("t1"));
    assert_known(
        "POST",
        "/secrets/s1/update",
        "/secrets/{id}/update",
        Some("s1"),
    );
    assert_known("DELETE", "/configs/c1", "/configs/{id}", Some("c1"));
    assert_known(
        "GET",
        "/plugins/vieux/sshfs:latest/json",
        "/plugins/{name}/json",
        Some("vieux/sshfs:latest"),
    );
    assert_known(
        "GET",
        "/plugins/privileges?remote=x",
        "/plugins/privileges",
        None,
    );
    assert_known("GET", "/_ping", "/_ping", None);
    assert_known("GET", "/events?since=1", "/events", None);
    assert_known("GET", "/version", "/version", None);
    assert_known("GET", "/system/df", "/system/df", None);
    assert_known("POST", "/auth", "/auth", None);
    assert_known("POST", "/session", "/session", None);
    assert_known("POST", "/grpc", "/grpc", None);
    assert_known(
        "GET",
        "/distribution/alpine:3/json",
        "/distribution/{name}/json",
        Some("alpine:3"),
    );
    assert_known("POST", "/build/prune", "/build/prune", None);
    assert_known("POST", "/build/cancel?id=1", "/build/cancel", None);
    assert_known("OPTIONS", "/v1.41/anything/at/all", "/{path}", None);
}

#[test]
fn what_the_router_does_not_serve() {
    assert_unknown("POST", "/containers/json");
    assert_unknown("HEAD", "/containers/json");
    assert_unknown("get", "/containers/json");
    assert_unknown("GET", "/containers/json/");
    assert_unknown("GET", "/containers/a%0Ab/json");
    assert_unknown("GET", "/v1.41x/info");
    assert_unknown("GET", "/v1.41");
    assert_unknown("GET", "/services/a/b");
    assert_unknown("DELETE", "/containers/web/checkpoints//x");

    let foo = view("GET", "/v1.41/foo?x=1");
    assert_eq!(foo, (Some("1.41".into()), "/foo".into(), None, false));
    // Unclean paths are redirected, not served, even when encoded.
    let dots = view("POST", "/v1.41/containers/x/../create");
    assert_eq!(
        dots,
        (
            Some("1.41".into()),
            "/containers/x/../create".into(),
            None,
            false
        )
    );
    assert_unknown("POST", "/containers/%2e%2e/containers/create");
    assert_unknown("GET", "//info");
    assert_unknown("GET", "/./info");
    // Targets Go refuses never reach the router.
    assert_eq!(
        view("GET", "/v1.41/info%zz?a"),
        (None, "/v1.41/info%zz".into(), None, false)
    );
    assert_unknown("GET", "info");
    assert_unknown("OPTIONS", "*");
}

#[test]
fn absolute_targets_are_routed_by_their_path() {
    assert_known("GET", "http://docker/v1.41/info", "/info", None);
    assert_unknown("GET", "http://docker");
    assert_unknown("GET", "mailto:info");
}

#[test]
fn clean_path_keeps_a_trailing_slash() {
    let clean = |p: &str| String::from_utf8(clean_path(p.as_bytes())).ok();
    assert_eq!(clean("/a/b/"), Some("/a/b/".into()));
    assert_eq!(clean("/a//b/../c/."), Some("/a/c".into()));
    assert_eq!(clean("/.."), Some("/".into()));
    assert_eq!(clean(""), Some("/".into()));
}

#[test]
fn random_input_never_panics() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"/v1.4%2e0aFz{}:*?#\n\xff-containers/images/json";
    for _ in 0..20_000 {
        let len = (next() % 48) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let target = String::from_utf8_lossy(&bytes);
        let method =
            ["GET", "POST", "DELETE", "HEAD", "OPTIONS", "CONNECT", "PUT"][(next() % 7) as usize];
        let v = route(method, &target);
        assert!(v.known || v.object.is_none());
    }
}
