//! Incremental HTTP/1.1 request parser for one connection's client-to-daemon
//! byte stream.
//!
//! The stream arrives as the kernel saw the client's sends: in order, cut
//! anywhere, several requests in one piece or one request over many. The
//! parser cuts it into requests where dockerd does. dockerd is a Go
//! program: its `net/http` server reads the request head, then the body by
//! Content-Length or chunked coding, then the next request. This parser
//! follows Go's rules (its modules `head`, `chunked` and `target`
//! list them) because any disagreement about where a body ends lets a
//! client hide requests from us, or show us requests dockerd never read.
//! Where we cannot agree exactly, we err on the side of reading *more*
//! requests than dockerd: when Go refuses a request, dockerd answers 400 and
//! closes the connection, so whatever we read after that point was never
//! served.
//!
//! Memory is bounded: a head may be [`MAX_HEAD_BYTES`] long (Go allows
//! 1 MiB, dockerd does not lower it); body bytes are never kept.
//!
//! The first refusal is reported once as [`ParseEvent::Error`]; from then
//! on the parser is *opaque*: it reads nothing more and reports nothing
//! more. It also becomes opaque, without an error, when the connection
//! leaves HTTP:
//!
//! - **Hijack.** dockerd takes over the connection as a raw stream after
//!   attach, exec start and a few others. By default the parser treats a
//!   request carrying `Connection: Upgrade` and an `Upgrade` header as the
//!   last one (state [`ParserState::Hijacked`]); see [`upgrade_requested`]
//!   for why that is only an approximation, and
//!   [`RequestParser::with_hijack_rule`] to change it.
//! - **Close.** After a request with `Connection: close`, or an HTTP/1.0
//!   request without keep-alive, dockerd answers and closes; more bytes
//!   from the client are reported once as [`ParseError::DataAfterClose`].
//!
//! Not modelled: dockerd also closes a connection when a handler leaves
//! more than 256 KiB of a body unread, and stops serving HTTP/1 when a
//! hijack request fails. In those cases we may report requests that were
//! never served, never miss one that was.

mod chunked;
mod head;
pub(crate) mod target;
#[cfg(test)]
mod tests;

use chunked::ChunkedBody;
use head::{BodyKind, HeadReader, Parsed};

/// Longest request head (request line, headers and line ends) accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// One request's head, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHead {
    /// The method, case as sent (a token; dockerd matches it exactly).
    pub method: String,
    /// The request target as sent (not decoded; bytes that are not UTF-8
    /// are replaced by U+FFFD).
    pub target: String,
    /// The version as sent, `HTTP/1.x`.
    pub version: String,
    /// Header fields in order: the name as sent, the value with folded
    /// lines joined and surrounding blanks removed as Go does.
    pub headers: Vec<(String, String)>,
    /// Offset in the client-to-daemon stream of the request line's first
    /// byte (bytes not captured count too).
    pub stream_offset: u64,
}

impl RequestHead {
    /// The first value of header `name` (ASCII case ignored).
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut matching = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        matching.next().map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (ASCII case ignored), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the parser found in the bytes it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseEvent {
    /// A complete request head that dockerd would accept and serve.
    Request(RequestHead),
    /// The stream stopped being HTTP that dockerd would serve; reported
    /// once, after which the parser is opaque.
    Error(ParseError),
}

/// Why the parser stopped reading a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The bytes where a request line should start are not one.
    #[error(
        "no HTTP/1.x request line where a request should start: the client does \
         not speak HTTP to dockerd"
    )]
    NotHttp,
    /// The request line names an HTTP version other than 1.x.
    #[error("request for an HTTP version other than 1.x; dockerd answers 505 and closes")]
    UnsupportedVersion,
    /// The request target is one Go's URL parser refuses.
    #[error("request target refused by Go's URL parser; dockerd answers 400 and closes")]
    BadTarget,
    /// A header line is malformed, or a chunked request's Trailer header
    /// announces a framing field.
    #[error("malformed header field; dockerd answers 400 and closes")]
    BadHeader,
    /// The Host header is missing (HTTP/1.1), repeated, or malformed.
    #[error("missing, repeated or malformed Host; dockerd answers 400 and closes")]
    BadHost,
    /// The request head is longer than [`MAX_HEAD_BYTES`].
    #[error(
        "request head longer than {MAX_HEAD_BYTES} bytes; later requests on this \
         connection are not seen"
    )]
    HeadTooLarge,
    /// Content-Length is empty, not decimal, too large, or repeated with
    /// different values.
    #[error("invalid Content-Length; dockerd answers 400 and closes")]
    BadContentLength,
    /// Transfer-Encoding is anything other than one `chunked`.
    #[error("Transfer-Encoding other than one \"chunked\"; dockerd answers 501 and closes")]
    UnsupportedTransferEncoding,
    /// A chunked body breaks the chunked coding.
    #[error("malformed chunked body; dockerd stops reading the connection")]
    BadChunk,
    /// Bytes the kernel did not capture fell where framing had to be read.
    #[error(
        "bytes of a request head or of body framing were not captured (a send \
         over the capture limit); later requests on this connection are not seen"
    )]
    CaptureGap,
    /// The client kept sending after a request that makes dockerd close.
    #[error(
        "client sent more after a request that makes dockerd close the \
         connection; dockerd never reads it"
    )]
    DataAfterClose,
}

impl ParseError {
    /// A short, stable name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotHttp => "not_http",
            Self::UnsupportedVersion => "unsupported_version",
            Self::BadTarget => "bad_target",
            Self::BadHeader => "bad_header",
            Self::BadHost => "bad_host",
            Self::HeadTooLarge => "head_too_large",
            Self::BadContentLength => "bad_content_length",
            Self::UnsupportedTransferEncoding => "unsupported_transfer_encoding",
            Self::BadChunk => "bad_chunk",
            Self::CaptureGap => "capture_gap",
            Self::DataAfterClose => "data_after_close",
        }
    }
}

/// Where the parser is, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParserState {
    /// Waiting for, or reading, a request head.
    Head,
    /// Skipping a request body.
    Body,
    /// The connection left HTTP after a hijacking request: opaque.
    Hijacked,
    /// dockerd closes after the last request: opaque, and more bytes are
    /// reported once as an error.
    Closed,
    /// An error was reported: opaque.
    Failed,
}

/// Decides, from a request head, whether dockerd hijacks the connection
/// after that request.
pub type HijackRule = fn(&RequestHead) -> bool;

/// The default [`HijackRule`]: the request asks for a protocol upgrade
/// (`Connection` lists `upgrade` and an `Upgrade` header is present), as
/// the docker CLI does for attach and interactive exec.
///
/// dockerd itself decides by endpoint, not by header: attach and a
/// non-detached exec start hijack with or without these headers, and any
/// other endpoint ignores them. So a client that adds them to an ordinary
/// request blinds this parser for the rest of the connection, and a raw
/// stream after a header-less attach is read as HTTP (reported as
/// [`ParseError::NotHttp`], or as requests dockerd never served). Knowing
/// for sure needs dockerd's answer (`101 UPGRADED`, or a raw-stream content
/// type) from the other direction of the connection.
// TODO(issue 3): confirm hijacks from the response direction.
pub fn upgrade_requested(head: &RequestHead) -> bool {
    let connection: Vec<&str> = head.header_values("Connection").collect();
    head::has_token(&connection, "upgrade") && head.header("Upgrade").is_some()
}

/// What follows the current request.
#[derive(Debug, Clone, Copy)]
struct Next {
    /// dockerd closes the connection after the request.
    close: bool,
    /// The request was a POST (Go then skips stray line ends).
    after_post: bool,
}

/// The parser's state, in detail.
#[derive(Debug)]
enum State {
    Head(HeadReader),
    Length { left: u64, next: Next },
    Chunked { body: ChunkedBody, next: Next },
    Closed { crlf_allowance: u8 },
    Hijacked,
    Failed,
}

/// Cuts one connection's client-to-daemon stream into requests.
#[derive(Debug)]
pub struct RequestParser {
    state: State,
    /// Stream bytes consumed so far, fed or skipped.
    offset: u64,
    hijack: HijackRule,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestParser {
    /// A parser for a new connection, using [`upgrade_requested`] to spot
    /// hijacks.
    pub fn new() -> Self {
        Self::with_hijack_rule(upgrade_requested)
    }

    /// A parser for a new connection that treats a request as the last one
    /// of HTTP when `rule` says dockerd hijacks after it.
    pub fn with_hijack_rule(rule: HijackRule) -> Self {
        Self {
            state: State::Head(HeadReader::new(0, false)),
            offset: 0,
            hijack: rule,
        }
    }

    /// Reads the next bytes of the stream; returns the requests they
    /// complete and, at most once per connection, an error.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<ParseEvent> {
        let mut events = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let used = self.step(rest, &mut events);
            self.offset = self.offset.saturating_add(used as u64);
            rest = &rest[used..];
        }
        events
    }

    /// Accounts for `n` bytes that the client sent but the kernel did not
    /// capture. Harmless inside a body; anywhere else the stream is lost.
    pub fn skip(&mut self, n: u64) -> Vec<ParseEvent> {
        let mut events = Vec::new();
        if n == 0 {
            return events;
        }
        let end = self.offset.saturating_add(n);
        let outcome = match &mut self.state {
            State::Length { left, next } if n <= *left => {
                *left -= n;
                let next = *next;
                if *left == 0 {
                    self.state = after(next, end);
                }
                Ok(())
            }
            State::Chunked { body, .. } => body.skip(n),
            State::Hijacked | State::Failed => Ok(()),
            State::Closed { .. } => Err(ParseError::DataAfterClose),
            State::Head(_) | State::Length { .. } => Err(ParseError::CaptureGap),
        };
        if let Err(error) = outcome {
            self.fail(error, &mut events);
        }
        self.offset = end;
        events
    }

    /// Whether the parser has stopped reporting requests for good.
    pub fn is_opaque(&self) -> bool {
        matches!(
            self.state,
            State::Closed { .. } | State::Hijacked | State::Failed
        )
    }

    /// Where the parser is.
    pub fn state(&self) -> ParserState {
        match self.state {
            State::Head(_) => ParserState::Head,
            State::Length { .. } | State::Chunked { .. } => ParserState::Body,
            State::Closed { .. } => ParserState::Closed,
            State::Hijacked => ParserState::Hijacked,
            State::Failed => ParserState::Failed,
        }
    }

    /// Stream bytes consumed so far, fed or skipped.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Consumes a non-empty prefix of `bytes` (all of them when opaque).
    fn step(&mut self, bytes: &[u8], events: &mut Vec<ParseEvent>) -> usize {
        let at = self.offset;
        match &mut self.state {
            State::Head(reader) => {
                let (used, outcome) = reader.feed(bytes);
                match outcome {
                    None => {}
                    Some(Ok(parsed)) => {
                        let end = at.saturating_add(used as u64);
                        self.start_body(parsed, end, events);
                    }
                    Some(Err(error)) => self.fail(error, events),
                }
                used
            }
            State::Length { left, next } => {
                let used = bytes
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= used as u64;
                if *left == 0 {
                    self.state = after(*next, at.saturating_add(used as u64));
                }
                used
            }
            State::Chunked { body, next } => match body.consume(bytes) {
                Ok((used, done)) => {
                    if done {
                        self.state = after(*next, at.saturating_add(used as u64));
                    }
                    used
                }
                Err(error) => {
                    self.fail(error, events);
                    bytes.len()
                }
            },
            State::Closed { crlf_allowance } => {
                if *crlf_allowance > 0 && matches!(bytes[0], b'\r' | b'\n') {
                    *crlf_allowance -= 1;
                    return 1;
                }
                self.fail(ParseError::DataAfterClose, events);
                bytes.len()
            }
            State::Hijacked | State::Failed => bytes.len(),
        }
    }

    /// Reports a complete request and moves to its body.
    fn start_body(&mut self, parsed: Parsed, at: u64, events: &mut Vec<ParseEvent>) {
        let Parsed { head, body, close } = parsed;
        let hijacked = (self.hijack)(&head);
        let next = Next {
            close,
            after_post: head.method == "POST",
        };
        events.push(ParseEvent::Request(head));

        self.state = match (hijacked, body) {
            (true, _) => State::Hijacked,
            (false, BodyKind::None) => after(next, at),
            (false, BodyKind::Length(left)) => State::Length { left, next },
            (false, BodyKind::Chunked) => State::Chunked {
                body: ChunkedBody::new(),
                next,
            },
        };
    }

    fn fail(&mut self, error: ParseError, events: &mut Vec<ParseEvent>) {
        if !matches!(self.state, State::Failed) {
            events.push(ParseEvent::Error(error));
            self.state = State::Failed;
        }
    }
}

/// The state after a request ends at stream offset `at`.
fn after(next: Next, at: u64) -> State {
    match next.close {
        true => State::Closed {
            crlf_allowance: if next.after_post { 4 } else { 0 },
        },
        false => State::Head(HeadReader::new(at, next.after_post)),
    }
}
