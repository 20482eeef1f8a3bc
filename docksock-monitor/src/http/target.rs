//! The request target as dockerd's Go server reads it.
//!
//! dockerd hands the request-line target to Go's `url.ParseRequestURI`
//! (through `net/http`'s request reader) and answers `400 Bad Request`, then
//! closes the connection, when that parser refuses it. Its router then
//! matches on the *decoded* path (`URL.Path`), never on the raw text. This
//! module reproduces both steps for the parser ([`super::RequestParser`]
//! rejects what Go rejects) and for [`crate::dockerapi::route`] (which
//! matches on what Go matches on).
//!
//! Accepted forms, as Go accepts them: origin form (`/path?query`), the
//! asterisk (`*`), absolute form (`scheme://authority/path`, or
//! `scheme:opaque`, whose path is empty), and for `CONNECT` an authority
//! alone. A `#` is not special in a request target: it stays in the path.

/// Why Go's request-target parser refuses a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetError {
    /// The target is empty.
    Empty,
    /// The target holds a control byte (below 0x20, or 0x7f).
    ControlByte,
    /// The target starts with `:` (a scheme with no name).
    MissingScheme,
    /// The target is neither `*`, nor a path, nor absolute.
    NotAbsolute,
    /// The authority of an absolute target is malformed.
    BadAuthority,
    /// A `%` is not followed by two hexadecimal digits.
    BadEscape,
}

/// A target Go accepts, reduced to what routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The percent-decoded path, Go's `URL.Path` (may be empty, may hold
    /// bytes that are not UTF-8).
    pub path: Vec<u8>,
}

/// Parses `target` the way Go's server does for a request with `method`.
pub(crate) fn parse(method: &str, target: &[u8]) -> Result<Target, TargetError> {
    if method == "CONNECT" && !target.starts_with(b"/") {
        let mut absolute = b"http://".to_vec();
        absolute.extend_from_slice(target);
        return parse_uri(&absolute);
    }
    parse_uri(target)
}

/// The part of `target` before its query, as sent (no decoding).
pub(crate) fn raw_path(target: &str) -> &str {
    match target.split_once('?') {
        Some((path, _)) => path,
        None => target,
    }
}

fn parse_uri(raw: &[u8]) -> Result<Target, TargetError> {
    if raw.is_empty() {
        return Err(TargetError::Empty);
    }
    if raw.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(TargetError::ControlByte);
    }
    if raw == b"*" {
        return Ok(Target {
            path: b"*".to_vec(),
        });
    }

    let (has_scheme, rest) = split_scheme(raw)?;
    let rest = strip_query(rest);

    if !rest.starts_with(b"/") {
        // `scheme:opaque` has no path; anything else is refused.
        return match has_scheme {
            true => Ok(Target { path: Vec::new() }),
            false => Err(TargetError::NotAbsolute),
        };
    }

    let mut path = rest;
    if has_scheme && rest.starts_with(b"//") {
        let after = &rest[2..];
        let end = after.iter().position(|&b| b == b'/').unwrap_or(after.len());
        check_authority(&after[..end])?;
        path = &after[end..];
    }

    let path = percent_decode(path).ok_or(TargetError::BadEscape)?;
    Ok(Target { path })
}

/// Go's `getScheme`: letters, then letters, digits, `+`, `-` or `.`, then `:`.
fn split_scheme(raw: &[u8]) -> Result<(bool, &[u8]), TargetError> {
    for (i, &b) in raw.iter().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err(TargetError::MissingScheme),
            b':' => return Ok((true, &raw[i + 1..])),
            _ => return Ok((false, raw)),
        }
    }
    Ok((false, raw))
}

/// Drops the query: everything from the first `?` on.
fn strip_query(rest: &[u8]) -> &[u8] {
    match rest.iter().position(|&b| b == b'?') {
        Some(i) => &rest[..i],
        None => rest,
    }
}

/// Go's `parseAuthority` and `parseHost`, as far as they can fail.
fn check_authority(authority: &[u8]) -> Result<(), TargetError> {
    let host = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => {
            let user = &authority[..at];
            if !user.iter().all(|&b| is_userinfo_byte(b)) || !escapes_valid(user) {
                return Err(TargetError::BadAuthority);
            }
            &authority[at + 1..]
        }
        None => authority,
    };

    let (name, port) = if host.starts_with(b"[") {
        let close = host.iter().position(|&b| b == b']');
        let close = close.ok_or(TargetError::BadAuthority)?;
        (&host[1..close], &host[close + 1..])
    } else {
        match host.iter().rposition(|&b| b == b':') {
            Some(colon) => (&host[..colon], &host[colon..]),
            None => (host, &b""[..]),
        }
    };

    let port_ok = port.is_empty() || (port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit));
    if !port_ok || !host_bytes_valid(name) {
        return Err(TargetError::BadAuthority);
    }
    Ok(())
}

fn is_userinfo_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b)
}

/// Go's host unescaping: `%XX` must be valid and, below 0x80, only `%25`;
/// unescaped ASCII must be a byte hosts may hold.
fn host_bytes_valid(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if b == b'%' {
            let (Some(&h), Some(&l)) = (name.get(i + 1), name.get(i + 2)) else {
                return false;
            };
            let (Some(h), Some(_)) = (hex_value(h), hex_value(l)) else {
                return false;
            };
            if h < 8 && &name[i..i + 3] != b"%25" {
                return false;
            }
            i += 3;
            continue;
        }
        let allowed =
            b >= 0x80 || b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&b);
        if !allowed {
            return false;
        }
        i += 1;
    }
    true
}

fn escapes_valid(bytes: &[u8]) -> bool {
    percent_decode(bytes).is_some()
}

/// Decodes `%XX` escapes; `None` when a `%` lacks two hex digits after it.
/// `+` stays `+`: in a path it is not a space.
pub(crate) fn percent_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let high = hex_value(*bytes.get(i + 1)?)?;
        let low = hex_value(*bytes.get(i + 2)?)?;
        out.push(high << 4 | low);
        i += 3;
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(target: &str) -> Result<Vec<u8>, TargetError> {
        parse("GET", target.as_bytes()).map(|t| t.path)
    }

    #[test]
    fn origin_form_is_decoded_and_loses_its_query() {
        let path = path_of("/v1.41/%63ontainers/a%2Fb/json?all=1%zz");
        assert_eq!(path, Ok(b"/v1.41/containers/a/b/json".to_vec()));
        assert_eq!(path_of("/a+b#frag"), Ok(b"/a+b#frag".to_vec()));
        assert_eq!(path_of("/%ff"), Ok(vec![b'/', 0xff]));
    }

    #[test]
    fn what_go_refuses_is_refused() {
        assert_eq!(path_of(""), Err(TargetError::Empty));
        assert_eq!(path_of("/a\x01b"), Err(TargetError::ControlByte));
        assert_eq!(path_of("/a\x7f"), Err(TargetError::ControlByte));
        assert_eq!(path_of(":/x"), Err(TargetError::MissingScheme));
        assert_eq!(path_of("containers/json"), Err(TargetError::NotAbsolute));
        assert_eq!(path_of("1http://x/"), Err(TargetError::NotAbsolute));
        assert_eq!(path_of("/a%2"), Err(TargetError::BadEscape));
        assert_eq!(path_of("/a%zz"), Err(TargetError::BadEscape));
        assert_eq!(path_of("http://h:8x/a"), Err(TargetError::BadAuthority));
        assert_eq!(path_of("http://[::1/a"), Err(TargetError::BadAuthority));
        assert_eq!(path_of("http://h%41/a"), Err(TargetError::BadAuthority));
        assert_eq!(path_of("http://h{/a"), Err(TargetError::BadAuthority));
    }

    #[test]
    fn other_forms_go_accepts() {
        assert_eq!(path_of("*"), Ok(b"*".to_vec()));
        assert_eq!(
            path_of("http://docker/v1.41/info?x"),
            Ok(b"/v1.41/info".to_vec())
        );
        assert_eq!(path_of("http://u:p@[::1]:2375"), Ok(Vec::new()));
        assert_eq!(path_of("http:/info"), Ok(b"/info".to_vec()));
        assert_eq!(path_of("mailto:someone"), Ok(Vec::new()));
        assert_eq!(path_of("//docker/info"), Ok(b"//docker/info".to_vec()));
        let connect = parse("CONNECT", b"docker:2375").map(|t| t.path);
        assert_eq!(connect, Ok(Vec::new()));
    }

    #[test]
    fn raw_path_keeps_escapes() {
        assert_eq!(
            raw_path("/v1.41/%63ontainers/json?x=1?y"),
            "/v1.41/%63ontainers/json"
        );
        assert_eq!(raw_path("/info"), "/info");
    }
}
