//! Reading one request head (request line and header section) the way Go's
//! `net/http` server, and so dockerd, reads it.
//!
//! Go's rules, kept here so that we cut the stream where dockerd does:
//! lines end in LF with an optional CR before it; the request line is
//! exactly `METHOD SP TARGET SP HTTP/d.d` (single spaces, a token for the
//! method); a header line is `name:value` with a token name (no blank
//! before the colon), and a line starting with a blank continues the
//! previous header (but may not be the first header line); the head ends
//! at the first empty line. Then the body framing is decided as Go decides
//! it (see [`framing`]) and the Host header is checked as Go's server
//! checks it.

use super::{target, ParseError, RequestHead, MAX_HEAD_BYTES};

/// How the body of a parsed request is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A complete, accepted request head.
#[derive(Debug)]
pub(super) struct Parsed {
    /// The head as reported.
    pub head: RequestHead,
    /// How its body is framed.
    pub body: BodyKind,
    /// Whether dockerd closes the connection after answering it.
    pub close: bool,
}

/// The parsed request line.
#[derive(Debug)]
struct RequestLine {
    method: String,
    target: String,
    version: String,
    /// The minor version (the major version is always 1 here).
    minor: u8,
}

/// Early checks on a request line still arriving, so that a stream that is
/// not HTTP fails at once rather than after filling the head buffer.
#[derive(Debug, Default)]
struct LineScan {
    /// Spaces seen so far (at most 2 matter).
    spaces: u8,
    /// Bytes seen of the method, then of the version.
    len: usize,
}

impl LineScan {
    fn push(&mut self, b: u8) -> Result<(), ParseError> {
        match self.spaces {
            0 if b == b' ' && self.len > 0 => self.spaces = 1,
            0 if is_tchar(b) => self.len += 1,
            0 => return Err(ParseError::NotHttp),
            1 if b == b' ' => (self.spaces, self.len) = (2, 0),
            1 => {}
            _ => {
                // "HTTP/d.d" and perhaps the CR before the LF.
                self.len += 1;
                if self.len > 9 {
                    return Err(ParseError::NotHttp);
                }
            }
        }
        Ok(())
    }
}

/// Reads one request head out of a stream fed in arbitrary pieces.
#[derive(Debug)]
pub(super) struct HeadReader {
    /// Stream offset at which this reader started.
    start: u64,
    /// Leading CR/LF bytes skipped before the request line.
    skipped: u64,
    /// How many more leading CR/LF bytes may be skipped.
    crlf_allowance: u8,
    /// Bytes of the head so far, line ends included.
    total: usize,
    /// The line being read, without its LF.
    line: Vec<u8>,
    scan: LineScan,
    request: Option<RequestLine>,
    headers: Vec<(String, String)>,
    /// The last header line, kept open for continuation lines.
    pending: Option<(String, Vec<u8>)>,
}

impl HeadReader {
    /// A reader for a head starting at stream offset `start`. After a POST,
    /// Go skips up to four CR or LF bytes before the next request line
    /// (tolerance for old clients that end a body with CRLF).
    pub(super) fn new(start: u64, after_post: bool) -> Self {
        Self {
            start,
            skipped: 0,
            crlf_allowance: if after_post { 4 } else { 0 },
            total: 0,
            line: Vec::new(),
            scan: LineScan::default(),
            request: None,
            headers: Vec::new(),
            pending: None,
        }
    }

    /// Consumes a prefix of `bytes`; returns how many bytes were used and,
    /// once the head is complete or refused, the outcome.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> (usize, Option<Result<Parsed, ParseError>>) {
        let mut used = 0;
        while used < bytes.len() {
            let rest = &bytes[used..];
            let before_request = self.request.is_none() && self.line.is_empty();
            if before_request && self.crlf_allowance > 0 && matches!(rest[0], b'\r' | b'\n') {
                self.crlf_allowance -= 1;
                self.skipped += 1;
                used += 1;
                continue;
            }

            let newline = rest.iter().position(|&b| b == b'\n');
            let piece = &rest[..newline.unwrap_or(rest.len())];
            used += piece.len();
            if let Err(error) = self.append(piece) {
                return (used, Some(Err(error)));
            }
            if newline.is_none() {
                break;
            }

            used += 1;
            self.total += 1;
            if self.total > MAX_HEAD_BYTES {
                return (used, Some(Err(ParseError::HeadTooLarge)));
            }
            match self.end_line() {
                Ok(None) => {}
                Ok(Some(parsed)) => return (used, Some(Ok(parsed))),
                Err(error) => return (used, Some(Err(error))),
            }
        }
        (used, None)
    }

    fn append(&mut self, piece: &[u8]) -> Result<(), ParseError> {
        self.total += piece.len();
        if self.total > MAX_HEAD_BYTES {
            return Err(ParseError::HeadTooLarge);
        }
        if self.request.is_none() {
            for &b in piece {
                self.scan.push(b)?;
            }
        }
        self.line.extend_from_slice(piece);
        Ok(())
    }

    /// Handles the complete line in `self.line`.
    fn end_line(&mut self) -> Result<Option<Parsed>, ParseError> {
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let outcome = self.handle_line(&line);
        line.clear();
        self.line = line;
        outcome
    }

    fn handle_line(&mut self, line: &[u8]) -> Result<Option<Parsed>, ParseError> {
        if self.request.is_none() {
            self.request = Some(parse_request_line(line)?);
            return Ok(None);
        }

        if matches!(line.first(), Some(b' ' | b'\t')) {
            // A continuation: joined to the open header with one space.
            let Some((_, value)) = self.pending.as_mut() else {
                return Err(ParseError::BadHeader);
            };
            value.push(b' ');
            value.extend_from_slice(trim(line));
            return Ok(None);
        }

        self.close_pending()?;
        if line.is_empty() {
            return self.finish().map(Some);
        }

        let line = trim(line);
        let colon = line.iter().position(|&b| b == b':');
        let colon = colon.ok_or(ParseError::BadHeader)?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(ParseError::BadHeader);
        }
        let name = String::from_utf8_lossy(name).into_owned();
        self.pending = Some((name, line[colon + 1..].to_vec()));
        Ok(None)
    }

    /// Validates and stores the open header, if any.
    fn close_pending(&mut self) -> Result<(), ParseError> {
        let Some((name, value)) = self.pending.take() else {
            return Ok(());
        };
        if !value.iter().all(|&b| is_value_byte(b)) {
            return Err(ParseError::BadHeader);
        }
        let start = value.iter().position(|&b| b != b' ' && b != b'\t');
        let value = &value[start.unwrap_or(value.len())..];
        self.headers
            .push((name, String::from_utf8_lossy(value).into_owned()));
        Ok(())
    }

    /// The head is complete: decide its framing and check its Host.
    fn finish(&mut self) -> Result<Parsed, ParseError> {
        let request = self.request.take().ok_or(ParseError::NotHttp)?;
        let head = RequestHead {
            method: request.method,
            target: request.target,
            version: request.version,
            headers: std::mem::take(&mut self.headers),
            stream_offset: self.start.saturating_add(self.skipped),
        };
        let (body, close) = framing(&head, request.minor)?;
        Ok(Parsed { head, body, close })
    }
}

/// Splits and checks `METHOD SP TARGET SP VERSION` (CR already removed).
fn parse_request_line(line: &[u8]) -> Result<RequestLine, ParseError> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::NotHttp);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::NotHttp);
    }
    let (major, minor) = parse_version(version).ok_or(ParseError::NotHttp)?;

    let method = String::from_utf8_lossy(method).into_owned();
    if target::parse(&method, target).is_err() {
        return Err(ParseError::BadTarget);
    }
    if major != 1 {
        return Err(ParseError::UnsupportedVersion);
    }

    Ok(RequestLine {
        method,
        target: String::from_utf8_lossy(target).into_owned(),
        version: String::from_utf8_lossy(version).into_owned(),
        minor,
    })
}

/// Go's `ParseHTTPVersion`: `HTTP/` then one digit, a dot, one digit.
fn parse_version(version: &[u8]) -> Option<(u8, u8)> {
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Some((major - b'0', minor - b'0'))
        }
        _ => None,
    }
}

/// Decides how the body is framed and whether dockerd closes afterwards,
/// refusing what Go's request reader and server refuse:
///
/// - more than one Host header; for HTTP/1.1 (except CONNECT) none at all;
///   a Host value with a byte no host may hold;
/// - on HTTP/1.1, a Transfer-Encoding that is not one field reading
///   `chunked` (on HTTP/1.0 Transfer-Encoding is ignored);
/// - a Content-Length that is empty, not decimal, over 2^63 - 1, or
///   repeated with different values (checked even when chunked wins);
/// - a chunked request whose Trailer header announces Content-Length,
///   Transfer-Encoding or Trailer.
fn framing(head: &RequestHead, minor: u8) -> Result<(BodyKind, bool), ParseError> {
    let hosts: Vec<&str> = head.header_values("Host").collect();
    if hosts.len() > 1 {
        return Err(ParseError::BadHost);
    }

    let encodings: Vec<&str> = head.header_values("Transfer-Encoding").collect();
    let chunked = minor >= 1 && !encodings.is_empty();
    if chunked && (encodings.len() != 1 || !encodings[0].eq_ignore_ascii_case("chunked")) {
        return Err(ParseError::UnsupportedTransferEncoding);
    }

    let length = content_length(head)?;

    if chunked {
        let bad_trailer = head
            .header_values("Trailer")
            .flat_map(|v| v.split(','))
            .map(trim_string)
            .any(|key| {
                ["Content-Length", "Transfer-Encoding", "Trailer"]
                    .iter()
                    .any(|forbidden| key.eq_ignore_ascii_case(forbidden))
            });
        if bad_trailer {
            return Err(ParseError::BadHeader);
        }
    }

    let connection: Vec<&str> = head.header_values("Connection").collect();
    let has_close = has_token(&connection, "close");
    let close = match minor {
        0 => has_close || !has_token(&connection, "keep-alive"),
        _ => has_close,
    };

    match hosts.first() {
        None if minor >= 1 && head.method != "CONNECT" => return Err(ParseError::BadHost),
        Some(host) if !host.bytes().all(is_host_byte) => return Err(ParseError::BadHost),
        _ => {}
    }

    let body = match (chunked, length) {
        (true, _) => BodyKind::Chunked,
        (false, Some(n)) if n > 0 => BodyKind::Length(n),
        _ => BodyKind::None,
    };
    Ok((body, close))
}

/// The Content-Length, if any, checked as Go checks it.
fn content_length(head: &RequestHead) -> Result<Option<u64>, ParseError> {
    let mut values = head.header_values("Content-Length").map(trim_string);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.any(|other| other != first) {
        return Err(ParseError::BadContentLength);
    }
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadContentLength);
    }
    match first.parse::<u64>() {
        Ok(n) if n <= i64::MAX as u64 => Ok(Some(n)),
        _ => Err(ParseError::BadContentLength),
    }
}

/// Whether a comma-separated header holds `token` (ASCII case ignored).
pub(super) fn has_token(values: &[&str], token: &str) -> bool {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
}

/// Go's `textproto.TrimString`: drops leading and trailing SP, HT, CR, LF.
fn trim_string(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

/// Drops leading and trailing SP and HT.
fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// A `tchar` of RFC 9110: what methods and header names are made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte a header value may hold: HT, SP, visible ASCII, or non-ASCII.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// A byte Go's server accepts in a Host header.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=[]_~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Parsed, ParseError> {
        let mut reader = HeadReader::new(0, false);
        match reader.feed(bytes) {
            (_, Some(outcome)) => outcome,
            (used, None) => panic!("head incomplete after {used} bytes"),
        }
    }

    fn read_head(text: &str) -> Result<(BodyKind, bool), ParseError> {
        read(text.as_bytes()).map(|p| (p.body, p.close))
    }

    #[test]
    fn lines_may_end_in_bare_lf_and_headers_may_fold() {
        let parsed = read(b"GET /info HTTP/1.1\nhost: d\nX-A:  one \r\n two\r\n\t three\n\n");
        let head = parsed.map(|p| p.head);
        let head = head.as_ref().map(|h| (h.header("Host"), h.header("x-a")));
        assert_eq!(head, Ok((Some("d"), Some("one two three"))));
    }

    #[test]
    fn framing_follows_go() {
        use BodyKind::*;
        let ok = |h: &str| read_head(&format!("POST / HTTP/1.1\r\nHost: d\r\n{h}\r\n"));
        assert_eq!(ok(""), Ok((None, false)));
        assert_eq!(ok("Content-Length: 007\r\n"), Ok((Length(7), false)));
        assert_eq!(
            ok("Content-Length: 5\r\nContent-Length:  5\r\n"),
            Ok((Length(5), false))
        );
        assert_eq!(
            ok("Transfer-Encoding: Chunked\r\nContent-Length: 3\r\n"),
            Ok((Chunked, false))
        );
        assert_eq!(ok("Connection: keep-alive, Close\r\n"), Ok((None, true)));

        let bad_length = Err(ParseError::BadContentLength);
        assert_eq!(ok("Content-Length: 5\r\nContent-Length: 6\r\n"), bad_length);
        assert_eq!(ok("Content-Length: +5\r\n"), bad_length);
        assert_eq!(ok("Content-Length:\r\n"), bad_length);
        assert_eq!(ok("Content-Length: 9223372036854775808\r\n"), bad_length);
        let both = "Transfer-Encoding: chunked\r\nContent-Length: x\r\n";
        assert_eq!(ok(both), bad_length);

        let bad_coding = Err(ParseError::UnsupportedTransferEncoding);
        assert_eq!(ok("Transfer-Encoding: gzip, chunked\r\n"), bad_coding);
        let twice = "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n";
        assert_eq!(ok(twice), bad_coding);
        let trailer = "Transfer-Encoding: chunked\r\nTrailer: X, content-length\r\n";
        assert_eq!(ok(trailer), Err(ParseError::BadHeader));
    }

    #[test]
    fn http_1_0_ignores_transfer_encoding_and_closes_by_default() {
        let head = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(read_head(head), Ok((BodyKind::Length(2), true)));
        let alive = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
        assert_eq!(read_head(alive), Ok((BodyKind::None, false)));
    }

    #[test]
    fn host_is_checked_like_gos_server() {
        assert_eq!(
            read_head("GET / HTTP/1.1\r\n\r\n"),
            Err(ParseError::BadHost)
        );
        assert_eq!(
            read_head("GET / HTTP/1.1\r\nHost:\r\n\r\n"),
            Ok((BodyKind::None, false))
        );
        let two = "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n";
        assert_eq!(read_head(two), Err(ParseError::BadHost));
        let slash = "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n";
        assert_eq!(read_head(slash), Err(ParseError::BadHost));
        let connect = "CONNECT docker:80 HTTP/1.1\r\n\r\n";
        assert_eq!(read_head(connect), Ok((BodyKind::None, false)));
    }

    #[test]
    fn malformed_heads_are_refused() {
        let cases = [
            ("GET / HTTP/1.1\r\n Host: d\r\n\r\n", ParseError::BadHeader),
            ("GET / HTTP/1.1\r\nHost d\r\n\r\n", ParseError::BadHeader),
            ("GET / HTTP/1.1\r\nHost : d\r\n\r\n", ParseError::BadHeader),
            ("GET / HTTP/1.1\r\n: d\r\n\r\n", ParseError::BadHeader),
            (
                "GET / HTTP/1.1\r\nHost: d\x01\r\n\r\n",
                ParseError::BadHeader,
            ),
            (
                "GET / HTTP/1.1\r\nHost: d\rx\r\n\r\n",
                ParseError::BadHeader,
            ),
            ("GET  / HTTP/1.1\r\n\r\n", ParseError::NotHttp),
            ("GET /\r\n\r\n", ParseError::NotHttp),
            ("GET / HTTP/1.10\r\n\r\n", ParseError::NotHttp),
            ("G(T / HTTP/1.1\r\n\r\n", ParseError::NotHttp),
            ("\r\nGET / HTTP/1.1\r\n\r\n", ParseError::NotHttp),
            ("GET / HTTP/2.0\r\n\r\n", ParseError::UnsupportedVersion),
            ("GET /a%zz HTTP/1.1\r\n\r\n", ParseError::BadTarget),
            ("GET a HTTP/1.1\r\n\r\n", ParseError::BadTarget),
        ];
        for (text, error) in cases {
            assert_eq!(read_head(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn garbage_fails_before_a_line_ends() {
        let mut reader = HeadReader::new(0, false);
        let (_, outcome) = reader.feed(b"\x16\x03\x01\x02\x00");
        assert_eq!(outcome.map(|o| o.err()), Some(Some(ParseError::NotHttp)));

        let mut reader = HeadReader::new(0, false);
        let (_, outcome) = reader.feed(b"GET / HTTP/1.1 and more");
        assert_eq!(outcome.map(|o| o.err()), Some(Some(ParseError::NotHttp)));
    }

    #[test]
    fn up_to_four_line_ends_are_skipped_after_a_post() {
        let mut reader = HeadReader::new(100, true);
        let (used, outcome) = reader.feed(b"\r\n\r\nGET / HTTP/1.1\r\nHost: d\r\n\r\nrest");
        let head = outcome.map(|o| o.map(|p| p.head.stream_offset));
        assert_eq!((used, head), (31, Some(Ok(104))));

        let mut reader = HeadReader::new(0, true);
        let (_, outcome) = reader.feed(b"\n\n\n\n\nGET / HTTP/1.1\r\nHost: d\r\n\r\n");
        assert_eq!(outcome.map(|o| o.err()), Some(Some(ParseError::NotHttp)));
    }
}
