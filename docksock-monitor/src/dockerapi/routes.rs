//! dockerd's route table, in the order dockerd registers it.
//!
//! Taken from the routers of moby (`daemon/server/router/*`, formerly
//! `api/server/router/*`) as of API 1.52, plus one route Docker Engine 20.10
//! (the engine Debian 12 ships) still has. Order matters: dockerd's router
//! (gorilla/mux) takes the first route whose method and path both match,
//! and several patterns overlap (a container DELETE matches any path under
//! `/containers/`, so the checkpoint router is registered first).
//!
//! Patterns use dockerd's syntax: `{name}` is one non-empty path segment,
//! `{name:.*}` any text (slashes included, possibly empty, no newline),
//! `{name:.+}` the same but non-empty. Endpoints name the placeholder by
//! what the API takes there: `{id}` for containers, exec instances,
//! networks and swarm objects (an ID or a name), `{name}` for images,
//! volumes, plugins and image references.

/// One route: a method, a path pattern, and the endpoint it is reported as.
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    /// The method, exactly (dockerd's router compares it as is).
    pub method: &'static str,
    /// The path pattern, in dockerd's syntax.
    pub pattern: &'static str,
    /// The endpoint template reported.
    pub endpoint: &'static str,
    /// Whether the first placeholder names the object acted on.
    pub object: bool,
}

/// A route without placeholders.
const fn fixed(method: &'static str, path: &'static str) -> Route {
    Route {
        method,
        pattern: path,
        endpoint: path,
        object: false,
    }
}

/// A route acting on the object its first placeholder names.
const fn on(method: &'static str, pattern: &'static str, endpoint: &'static str) -> Route {
    Route {
        method,
        pattern,
        endpoint,
        object: true,
    }
}

/// Every route, in registration order.
pub(super) const ROUTES: &[Route] = &[
    // Checkpoints (experimental; without experimental mode dockerd still
    // routes them, then refuses).
    on(
        "GET",
        "/containers/{name:.*}/checkpoints",
        "/containers/{id}/checkpoints",
    ),
    on(
        "POST",
        "/containers/{name:.*}/checkpoints",
        "/containers/{id}/checkpoints",
    ),
    on(
        "DELETE",
        "/containers/{name}/checkpoints/{checkpoint}",
        "/containers/{id}/checkpoints/{checkpoint}",
    ),
    // Containers and exec.
    on(
        "HEAD",
        "/containers/{name:.*}/archive",
        "/containers/{id}/archive",
    ),
    fixed("GET", "/containers/json"),
    on(
        "GET",
        "/containers/{name:.*}/export",
        "/containers/{id}/export",
    ),
    on(
        "GET",
        "/containers/{name:.*}/changes",
        "/containers/{id}/changes",
    ),
    on("GET", "/containers/{name:.*}/json", "/containers/{id}/json"),
    on("GET", "/containers/{name:.*}/top", "/containers/{id}/top"),
    on("GET", "/containers/{name:.*}/logs", "/containers/{id}/logs"),
    on(
        "GET",
        "/containers/{name:.*}/stats",
        "/containers/{id}/stats",
    ),
    on(
        "GET",
        "/containers/{name:.*}/attach/ws",
        "/containers/{id}/attach/ws",
    ),
    on("GET", "/exec/{id:.*}/json", "/exec/{id}/json"),
    on(
        "GET",
        "/containers/{name:.*}/archive",
        "/containers/{id}/archive",
    ),
    fixed("POST", "/containers/create"),
    on(
        "POST",
        "/containers/{name:.*}/kill",
        "/containers/{id}/kill",
    ),
    on(
        "POST",
        "/containers/{name:.*}/pause",
        "/containers/{id}/pause",
    ),
    on(
        "POST",
        "/containers/{name:.*}/unpause",
        "/containers/{id}/unpause",
    ),
    on(
        "POST",
        "/containers/{name:.*}/restart",
        "/containers/{id}/restart",
    ),
    on(
        "POST",
        "/containers/{name:.*}/start",
        "/containers/{id}/start",
    ),
    on(
        "POST",
        "/containers/{name:.*}/stop",
        "/containers/{id}/stop",
    ),
    on(
        "POST",
        "/containers/{name:.*}/wait",
        "/containers/{id}/wait",
    ),
    on(
        "POST",
        "/containers/{name:.*}/resize",
        "/containers/{id}/resize",
    ),
    on(
        "POST",
        "/containers/{name:.*}/attach",
        "/containers/{id}/attach",
    ),
    // Engine 20.10 only; it answers with an error since API 1.12.
    on(
        "POST",
        "/containers/{name:.*}/copy",
        "/containers/{id}/copy",
    ),
    on(
        "POST",
        "/containers/{name:.*}/exec",
        "/containers/{id}/exec",
    ),
    on("POST", "/exec/{name:.*}/start", "/exec/{id}/start"),
    on("POST", "/exec/{name:.*}/resize", "/exec/{id}/resize"),
    on(
        "POST",
        "/containers/{name:.*}/rename",
        "/containers/{id}/rename",
    ),
    on(
        "POST",
        "/containers/{name:.*}/update",
        "/containers/{id}/update",
    ),
    fixed("POST", "/containers/prune"),
    fixed("POST", "/commit"),
    on(
        "PUT",
        "/containers/{name:.*}/archive",
        "/containers/{id}/archive",
    ),
    on("DELETE", "/containers/{name:.*}", "/containers/{id}"),
    // Images.
    fixed("GET", "/images/json"),
    fixed("GET", "/images/search"),
    fixed("GET", "/images/get"),
    on("GET", "/images/{name:.*}/get", "/images/{name}/get"),
    on("GET", "/images/{name:.*}/history", "/images/{name}/history"),
    on("GET", "/images/{name:.*}/json", "/images/{name}/json"),
    on(
        "GET",
        "/images/{name:.*}/attestations",
        "/images/{name}/attestations",
    ),
    fixed("POST", "/images/load"),
    fixed("POST", "/images/create"),
    on("POST", "/images/{name:.*}/push", "/images/{name}/push"),
    on("POST", "/images/{name:.*}/tag", "/images/{name}/tag"),
    fixed("POST", "/images/prune"),
    on("DELETE", "/images/{name:.*}", "/images/{name}"),
    // System. OPTIONS on any path is dockerd's CORS preflight answer.
    Route {
        method: "OPTIONS",
        pattern: "/{anyroute:.*}",
        endpoint: "/{path}",
        object: false,
    },
    fixed("GET", "/_ping"),
    fixed("HEAD", "/_ping"),
    fixed("GET", "/events"),
    fixed("GET", "/info"),
    fixed("GET", "/version"),
    fixed("GET", "/system/df"),
    fixed("POST", "/auth"),
    // Volumes.
    fixed("GET", "/volumes"),
    on("GET", "/volumes/{name:.*}", "/volumes/{name}"),
    fixed("POST", "/volumes/create"),
    fixed("POST", "/volumes/prune"),
    on("PUT", "/volumes/{name:.*}", "/volumes/{name}"),
    on("DELETE", "/volumes/{name:.*}", "/volumes/{name}"),
    // Build and the session it may open.
    fixed("POST", "/build"),
    fixed("POST", "/build/prune"),
    fixed("POST", "/build/cancel"),
    fixed("POST", "/session"),
    // Swarm.
    fixed("POST", "/swarm/init"),
    fixed("POST", "/swarm/join"),
    fixed("POST", "/swarm/leave"),
    fixed("GET", "/swarm"),
    fixed("GET", "/swarm/unlockkey"),
    fixed("POST", "/swarm/update"),
    fixed("POST", "/swarm/unlock"),
    fixed("GET", "/services"),
    on("GET", "/services/{id}", "/services/{id}"),
    fixed("POST", "/services/create"),
    on("POST", "/services/{id}/update", "/services/{id}/update"),
    on("DELETE", "/services/{id}", "/services/{id}"),
    on("GET", "/services/{id}/logs", "/services/{id}/logs"),
    fixed("GET", "/nodes"),
    on("GET", "/nodes/{id}", "/nodes/{id}"),
    on("DELETE", "/nodes/{id}", "/nodes/{id}"),
    on("POST", "/nodes/{id}/update", "/nodes/{id}/update"),
    fixed("GET", "/tasks"),
    on("GET", "/tasks/{id}", "/tasks/{id}"),
    on("GET", "/tasks/{id}/logs", "/tasks/{id}/logs"),
    fixed("GET", "/secrets"),
    fixed("POST", "/secrets/create"),
    on("DELETE", "/secrets/{id}", "/secrets/{id}"),
    on("GET", "/secrets/{id}", "/secrets/{id}"),
    on("POST", "/secrets/{id}/update", "/secrets/{id}/update"),
    fixed("GET", "/configs"),
    fixed("POST", "/configs/create"),
    on("DELETE", "/configs/{id}", "/configs/{id}"),
    on("GET", "/configs/{id}", "/configs/{id}"),
    on("POST", "/configs/{id}/update", "/configs/{id}/update"),
    // Plugins.
    fixed("GET", "/plugins"),
    on("GET", "/plugins/{name:.*}/json", "/plugins/{name}/json"),
    fixed("GET", "/plugins/privileges"),
    on("DELETE", "/plugins/{name:.*}", "/plugins/{name}"),
    on(
        "POST",
        "/plugins/{name:.*}/enable",
        "/plugins/{name}/enable",
    ),
    on(
        "POST",
        "/plugins/{name:.*}/disable",
        "/plugins/{name}/disable",
    ),
    fixed("POST", "/plugins/pull"),
    on("POST", "/plugins/{name:.*}/push", "/plugins/{name}/push"),
    on(
        "POST",
        "/plugins/{name:.*}/upgrade",
        "/plugins/{name}/upgrade",
    ),
    on("POST", "/plugins/{name:.*}/set", "/plugins/{name}/set"),
    fixed("POST", "/plugins/create"),
    // Distribution (registry lookups of an image reference).
    on(
        "GET",
        "/distribution/{name:.*}/json",
        "/distribution/{name}/json",
    ),
    // Networks; the list answers with and without a trailing slash.
    fixed("GET", "/networks"),
    Route {
        method: "GET",
        pattern: "/networks/",
        endpoint: "/networks",
        object: false,
    },
    on("GET", "/networks/{id:.+}", "/networks/{id}"),
    fixed("POST", "/networks/create"),
    on(
        "POST",
        "/networks/{id:.*}/connect",
        "/networks/{id}/connect",
    ),
    on(
        "POST",
        "/networks/{id:.*}/disconnect",
        "/networks/{id}/disconnect",
    ),
    fixed("POST", "/networks/prune"),
    on("DELETE", "/networks/{id:.*}", "/networks/{id}"),
    // Debugging (expvar and pprof).
    fixed("GET", "/debug/vars"),
    fixed("GET", "/debug/pprof/"),
    fixed("GET", "/debug/pprof/cmdline"),
    fixed("GET", "/debug/pprof/profile"),
    fixed("GET", "/debug/pprof/symbol"),
    fixed("GET", "/debug/pprof/trace"),
    on("GET", "/debug/pprof/{name}", "/debug/pprof/{name}"),
    // BuildKit's gRPC over a hijacked connection.
    fixed("POST", "/grpc"),
];
