//! Names the Docker Engine API endpoint of a request as dockerd's router
//! would.
//!
//! dockerd routes with gorilla/mux over a table of `(method, pattern)`
//! routes (module `routes`), each registered twice: behind a version prefix
//! `/v<digits and dots>` and without one. What that means, step by step,
//! and what [`route`] therefore does:
//!
//! 1. Go parses the target (see [`crate::http`]'s target rules); a target it
//!    refuses never reaches the router.
//! 2. The router matches the *percent-decoded* path, so `%63ontainers` is
//!    `containers` and `a%2Fb` is two segments. The query never counts.
//! 3. A path that is not clean (`//`, `.` or `..` segments, also when
//!    encoded) is not routed: dockerd answers `301` with the cleaned path,
//!    and the client, if it follows, sends a new request.
//! 4. The first route whose method (exactly, case included) and pattern
//!    match wins. Nothing else falls back: `HEAD` reaches only the routes
//!    registered for it (`/_ping`, archive), `get` is not `GET`, and a
//!    known path with another method is a 404.
//! 5. `{name:.*}` patterns take any text, slashes included, which is how
//!    image names such as `docker.io/library/alpine:3` fit in one
//!    placeholder; but Go's `.` does not match a newline, so an encoded
//!    `%0A` in such a name makes the path unknown.
//!
//! The version is reported as written (`/v99.0` is `99.0`, `/v.` is `.`):
//! dockerd refuses versions outside its range, and routes that need a
//! newer API than the one requested, only after routing, so such requests
//! still name their endpoint. Likewise experimental routes.

mod routes;

use crate::http::target;
use routes::{Route, ROUTES};

/// What a request asks of the Docker Engine API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiView {
    /// The API version of the path prefix, as written (`1.41` for
    /// `/v1.41/...`), if there is one.
    pub version: Option<String>,
    /// The endpoint template (`/containers/{id}/exec`) when known; else the
    /// decoded path without version prefix and query (or the raw path when
    /// it cannot be decoded).
    pub endpoint: String,
    /// The container, image, volume... named in the path (decoded).
    pub object: Option<String>,
    /// Whether dockerd's router serves this method and path.
    pub known: bool,
}

/// Names the endpoint of a request with `method` and `target` (as sent).
pub fn route(method: &str, target: &str) -> ApiView {
    let Ok(parsed) = target::parse(method, target.as_bytes()) else {
        return unknown(None, target::raw_path(target).as_bytes());
    };
    let path = parsed.path;
    let versioned = split_version(&path);
    let (version, rest) = match versioned {
        Some((version, rest)) => (Some(version), rest),
        None => (None, &path[..]),
    };
    if clean_path(&path) != path {
        return unknown(version, rest);
    }

    for route in ROUTES.iter().filter(|r| r.method == method) {
        if let Some((version, rest)) = versioned {
            if let Some(captures) = match_pattern(route.pattern, rest) {
                return known(route, Some(version), rest, &captures);
            }
        }
        if let Some(captures) = match_pattern(route.pattern, &path) {
            return known(route, None, &path, &captures);
        }
    }
    unknown(version, rest)
}

fn known(route: &Route, version: Option<&[u8]>, path: &[u8], captures: &[Span]) -> ApiView {
    let object = match (route.object, captures.first()) {
        (true, Some(span)) => Some(lossy(&path[span.start..span.end])),
        _ => None,
    };
    ApiView {
        version: version.map(lossy),
        endpoint: route.endpoint.to_string(),
        object,
        known: true,
    }
}

fn unknown(version: Option<&[u8]>, path: &[u8]) -> ApiView {
    ApiView {
        version: version.map(lossy),
        endpoint: lossy(path),
        object: None,
        known: false,
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Splits `/v<digits and dots>/rest` into the version and `/rest`.
fn split_version(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let after = path.strip_prefix(b"/v")?;
    let len = after
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .count();
    match (len, after.get(len)) {
        (1.., Some(b'/')) => Some((&after[..len], &after[len..])),
        _ => None,
    }
}

/// gorilla/mux's `cleanPath`: Go's `path.Clean` of the rooted path, keeping
/// a trailing slash.
fn clean_path(path: &[u8]) -> Vec<u8> {
    let mut kept: Vec<&[u8]> = Vec::new();
    for segment in path.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    let mut clean = Vec::with_capacity(path.len() + 1);
    for segment in &kept {
        clean.push(b'/');
        clean.extend_from_slice(segment);
    }
    if clean.is_empty() || path.ends_with(b"/") {
        clean.push(b'/');
    }
    clean
}

/// The bytes a placeholder captured.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// One piece of a route pattern.
#[derive(Debug, Clone, Copy)]
enum Piece<'a> {
    Literal(&'a [u8]),
    /// `{name}`: one or more bytes, no `/`.
    Segment,
    /// `{name:.*}` (`non_empty` false) or `{name:.+}`: no newline.
    Text {
        non_empty: bool,
    },
}

impl Piece<'_> {
    /// Whether the placeholder cannot take byte `b`.
    fn stops_at(self, b: u8) -> bool {
        match self {
            Piece::Segment => b == b'/',
            _ => b == b'\n',
        }
    }

    fn min_len(self) -> usize {
        match self {
            Piece::Text { non_empty: false } => 0,
            _ => 1,
        }
    }
}

fn pieces(pattern: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Literal(&rest.as_bytes()[..open]));
        }
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let piece = match rest[open..close].split_once(':') {
            Some((_, ".*")) => Piece::Text { non_empty: false },
            Some((_, ".+")) => Piece::Text { non_empty: true },
            _ => Piece::Segment,
        };
        pieces.push(piece);
        rest = rest.get(close + 1..).unwrap_or("");
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest.as_bytes()));
    }
    pieces
}

/// Matches the whole of `path` against `pattern`; returns what each
/// placeholder took. Placeholders take as much as they can, as in Go.
fn match_pattern(pattern: &str, path: &[u8]) -> Option<Vec<Span>> {
    let mut captures = Vec::new();
    match_from(&pieces(pattern), path, 0, &mut captures).then_some(captures)
}

fn match_from(pieces: &[Piece], path: &[u8], at: usize, captures: &mut Vec<Span>) -> bool {
    let Some((&piece, rest)) = pieces.split_first() else {
        return at == path.len();
    };
    let tail = &path[at..];
    if let Piece::Literal(literal) = piece {
        return tail.starts_with(literal) && match_from(rest, path, at + literal.len(), captures);
    }

    let longest = tail
        .iter()
        .position(|&b| piece.stops_at(b))
        .unwrap_or(tail.len());
    let (shortest, longest) = match fixed_suffix(rest) {
        // Only literals follow: the placeholder ends where they must start.
        Some(suffix) => match tail.len().checked_sub(suffix) {
            Some(len) if len <= longest => (len, len),
            _ => return false,
        },
        None => (0, longest),
    };
    for len in (shortest.max(piece.min_len())..=longest).rev() {
        captures.push(Span {
            start: at,
            end: at + len,
        });
        if match_from(rest, path, at + len, captures) {
            return true;
        }
        captures.pop();
    }
    false
}

/// The total length of `pieces` when they are all literals.
fn fixed_suffix(pieces: &[Piece]) -> Option<usize> {
    pieces.iter().try_fold(0, |len, piece| match piece {
        Piece::Literal(literal) => Some(len + literal.len()),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
