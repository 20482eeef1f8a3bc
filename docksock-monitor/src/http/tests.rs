//! Tests of the whole parser: splitting, pipelining, bodies, gaps, errors,
//! and requests recorded from the docker CLI (`testdata/`, one connection's
//! client-to-daemon bytes each, from Docker CLI 20.10 and 28.2 talking to a
//! stand-in daemon).

use super::*;

/// Real connections, in an order that keeps the attach (which hijacks)
/// last, with the start of each request line they hold (`docker run` sends
/// create, wait and, from CLI 20.10, start on one connection).
const CLI_REQUESTS: [(&[&str], &[u8]); 12] = [
    (&["HEAD /_ping"], include_bytes!("testdata/cli20-ping.bin")),
    (
        &["GET /v1.41/version"],
        include_bytes!("testdata/cli20-version.bin"),
    ),
    (
        &[CREATE, WAIT, START],
        include_bytes!("testdata/cli20-create.bin"),
    ),
    (
        &["DELETE /v1.41/containers/abc?force=1"],
        include_bytes!("testdata/cli20-delete.bin"),
    ),
    (&[INSPECT], include_bytes!("testdata/cli20-inspect.bin")),
    (
        &["POST /v1.41/build?"],
        include_bytes!("testdata/cli20-build.bin"),
    ),
    (&["HEAD /_ping"], include_bytes!("testdata/cli28-ping.bin")),
    (&[CREATE, WAIT], include_bytes!("testdata/cli28-create.bin")),
    (&[START], include_bytes!("testdata/cli28-start.bin")),
    (
        &["POST /v1.41/build?"],
        include_bytes!("testdata/cli28-build.bin"),
    ),
    (&[INSPECT], include_bytes!("testdata/cli28-inspect.bin")),
    (
        &["POST /v1.41/containers/0123456789ab"],
        include_bytes!("testdata/cli20-attach.bin"),
    ),
];

const CREATE: &str = "POST /v1.41/containers/create";
const WAIT: &str = "POST /v1.41/containers/0123456789ab";
const START: &str = "POST /v1.41/containers/0123456789ab";
const INSPECT: &str = "GET /v1.41/images/docker.io/library/alpine:3/json";

/// A small deterministic generator (xorshift64*), enough for split points
/// and noise.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn feed_in(pieces: &[&[u8]]) -> Vec<ParseEvent> {
    let mut parser = RequestParser::new();
    pieces.iter().flat_map(|p| parser.feed(p)).collect()
}

fn lines(events: &[ParseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            ParseEvent::Request(h) => format!("{} {} @{}", h.method, h.target, h.stream_offset),
            ParseEvent::Error(e) => format!("error {}", e.reason()),
        })
        .collect()
}

fn cli_stream() -> Vec<u8> {
    CLI_REQUESTS
        .iter()
        .flat_map(|(_, bytes)| bytes.iter().copied())
        .collect()
}

#[test]
fn request_line_split_in_three_feeds() {
    let events = feed_in(&[
        b"GET /v1.4",
        b"1/info HTTP/1.1\r\nHo",
        b"st: docker\r\n\r\n",
    ]);
    let head = RequestHead {
        method: "GET".into(),
        target: "/v1.41/info".into(),
        version: "HTTP/1.1".into(),
        headers: vec![("Host".into(), "docker".into())],
        stream_offset: 0,
    };
    assert_eq!(events, vec![ParseEvent::Request(head)]);
}

#[test]
fn pipelined_requests_in_one_feed() {
    let requests: [&[u8]; 3] = [
        b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\n\r\n{}",
        b"GET /info HTTP/1.1\r\nHost: d\r\n\r\n",
    ];
    let (a, b) = (requests[0].len(), requests[0].len() + requests[1].len());
    let expected = [
        "GET /_ping @0".to_string(),
        "POST /containers/create @".to_string() + &a.to_string(),
        "GET /info @".to_string() + &b.to_string(),
    ];
    assert_eq!(lines(&feed_in(&[&requests.concat()])), expected);
}

#[test]
fn chunked_body_with_three_byte_chunks() {
    let stream = b"POST /build HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n\
        3\r\nGET\r\n3\r\n / \r\n3\r\nHTT\r\n3\r\nP/1\r\n3\r\n.1\r\r\n3\r\n\n\r\n\r\n0\r\n\r\n\
        GET /info HTTP/1.1\r\nHost: d\r\n\r\n";
    let next = stream.len() - b"GET /info HTTP/1.1\r\nHost: d\r\n\r\n".len();
    let expected = ["POST /build @0".to_string(), format!("GET /info @{next}")];
    for step in 1..=stream.len() {
        let pieces: Vec<&[u8]> = stream.chunks(step).collect();
        assert_eq!(lines(&feed_in(&pieces)), expected, "{step}");
    }
}

#[test]
fn content_length_body_that_looks_like_a_request() {
    let body = b"GET /containers/json HTTP/1.1\r\nHost: d\r\n\r\n";
    let mut stream = format!(
        "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    stream.extend_from_slice(body);
    let next = stream.len();
    stream.extend_from_slice(b"DELETE /containers/x HTTP/1.1\r\nHost: d\r\n\r\n");
    let events = lines(&feed_in(&[&stream]));
    let expected = [
        "POST /containers/create @0".to_string(),
        format!("DELETE /containers/x @{next}"),
    ];
    assert_eq!(events, expected);
}

#[test]
fn both_length_and_chunked_means_chunked() {
    let first = b"POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\n\
        Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let stream = [&first[..], b"GET /y HTTP/1.1\r\nHost: d\r\n\r\n"].concat();
    let expected = ["POST /x @0".to_string(), format!("GET /y @{}", first.len())];
    assert_eq!(lines(&feed_in(&[&stream])), expected);
}

#[test]
fn a_gap_inside_a_body_is_harmless() {
    let mut parser = RequestParser::new();
    let head = b"POST /images/load HTTP/1.1\r\nHost: d\r\nContent-Length: 100000\r\n\r\n";
    assert_eq!(parser.feed(head).len(), 1);
    assert_eq!(parser.feed(&[0; 16384]), []);
    assert_eq!(parser.skip(100_000 - 16384 - 10), []);
    assert_eq!(parser.state(), ParserState::Body);
    assert_eq!(parser.feed(&[0; 10]), []);
    let events = parser.feed(b"GET /info HTTP/1.1\r\nHost: d\r\n\r\n");
    assert_eq!(
        lines(&events),
        [format!("GET /info @{}", head.len() + 100_000)]
    );

    // Inside chunk data too.
    let mut parser = RequestParser::new();
    parser.feed(b"POST /build HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n");
    parser.feed(b"8000\r\nabc");
    assert_eq!(parser.skip(0x8000 - 3), []);
    assert_eq!(parser.feed(b"\r\n0\r\n\r\n").len(), 0);
    assert_eq!(parser.state(), ParserState::Head);
}

#[test]
fn a_gap_inside_a_head_is_fatal() {
    let mut parser = RequestParser::new();
    parser.feed(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nX-Regist");
    assert_eq!(
        parser.skip(5000),
        [ParseEvent::Error(ParseError::CaptureGap)]
    );
    assert!(parser.is_opaque());
    assert_eq!(
        parser.feed(b"ry-Auth: x\r\n\r\nGET / HTTP/1.1\r\nHost: d\r\n\r\n"),
        []
    );
    assert_eq!(parser.skip(1), []);

    // Between requests a gap starts a head: also fatal.
    let mut parser = RequestParser::new();
    assert_eq!(parser.skip(1), [ParseEvent::Error(ParseError::CaptureGap)]);

    // A gap running past the end of a body swallows a head.
    let mut parser = RequestParser::new();
    parser.feed(b"POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 10\r\n\r\n");
    assert_eq!(parser.skip(11), [ParseEvent::Error(ParseError::CaptureGap)]);
}

#[test]
fn garbage_gives_one_error_then_silence() {
    let mut parser = RequestParser::new();
    let first = parser.feed(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03");
    assert_eq!(first, [ParseEvent::Error(ParseError::NotHttp)]);
    assert!(parser.is_opaque());
    assert_eq!(parser.state(), ParserState::Failed);
    assert_eq!(parser.feed(b"GET /info HTTP/1.1\r\nHost: d\r\n\r\n"), []);
    assert_eq!(parser.feed(b"more garbage \x00\xff\r\n\r\n"), []);
    assert_eq!(parser.skip(1 << 40), []);
}

#[test]
fn header_section_is_capped() {
    let request = |pad: usize| {
        let mut head = b"GET /info HTTP/1.1\r\nHost: d\r\nX-Pad: ".to_vec();
        head.resize(head.len() + pad, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        head
    };
    let fixed = request(0).len();
    let at_cap = request(MAX_HEAD_BYTES - fixed);
    assert_eq!(lines(&feed_in(&[&at_cap])), ["GET /info @0"]);

    let over = request(MAX_HEAD_BYTES - fixed + 1);
    let events = feed_in(&over.chunks(1000).collect::<Vec<_>>());
    assert_eq!(events, [ParseEvent::Error(ParseError::HeadTooLarge)]);

    // Without any line end, the cap still applies.
    let endless = vec![b'a'; MAX_HEAD_BYTES + 1];
    let mut parser = RequestParser::new();
    let mut events = parser.feed(b"GET /");
    events.extend(endless.chunks(4096).flat_map(|c| parser.feed(c)));
    assert_eq!(events, [ParseEvent::Error(ParseError::HeadTooLarge)]);
}

#[test]
fn upgrade_request_ends_http() {
    let mut parser = RequestParser::new();
    let attach = b"POST /containers/x/attach?stream=1 HTTP/1.1\r\nHost: d\r\n\
        Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nGET /stdin-not-a-request HTTP/1.1\r\n\r\n";
    let events = parser.feed(attach);
    assert_eq!(lines(&events), ["POST /containers/x/attach?stream=1 @0"]);
    assert_eq!(parser.state(), ParserState::Hijacked);
    assert!(parser.is_opaque());
    assert_eq!(parser.feed(b"\x01\x00\x00\x00\x00\x00\x00\x05hello"), []);

    // Upgrade without `Connection: upgrade` is not one.
    let mut parser = RequestParser::new();
    parser.feed(b"GET /_ping HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\n\r\n");
    assert_eq!(parser.state(), ParserState::Head);

    // A rule that never hijacks keeps reading.
    let mut parser = RequestParser::with_hijack_rule(|_| false);
    let events = parser.feed(&attach[..attach.len() - 2]);
    assert_eq!(lines(&events).len(), 1);
    assert_eq!(
        parser.feed(b"\r\n"),
        [ParseEvent::Error(ParseError::BadHost)]
    );
}

#[test]
fn data_after_close_is_reported_once() {
    let mut parser = RequestParser::new();
    let request = b"POST /x HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\
        Content-Length: 1\r\n\r\nx\r\n";
    assert_eq!(lines(&parser.feed(request)), ["POST /x @0"]);
    assert_eq!(parser.state(), ParserState::Closed);
    assert!(parser.is_opaque());
    let events = parser.feed(b"GET /secret HTTP/1.1\r\n\r\n");
    assert_eq!(events, [ParseEvent::Error(ParseError::DataAfterClose)]);
    assert_eq!(parser.feed(b"more"), []);

    let mut parser = RequestParser::new();
    parser.feed(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(
        parser.skip(1),
        [ParseEvent::Error(ParseError::DataAfterClose)]
    );
}

#[test]
fn line_ends_after_a_post_are_tolerated() {
    let post = b"POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 1\r\n\r\nx";
    let rest = b"\r\nGET /y HTTP/1.1\r\nHost: d\r\n\r\n\r\nGET /z HTTP/1.1\r\nHost: d\r\n\r\n";
    let events = lines(&feed_in(&[&[&post[..], rest].concat()]));
    let get = format!("GET /y @{}", post.len() + 2);
    assert_eq!(
        events,
        ["POST /x @0".to_string(), get, "error not_http".to_string()]
    );
}

#[test]
fn cli_requests_are_all_found() {
    let events = feed_in(&[&cli_stream()]);
    let expected: Vec<&str> = CLI_REQUESTS
        .iter()
        .flat_map(|(starts, _)| starts.iter().copied())
        .collect();
    assert_eq!(events.len(), expected.len(), "{:#?}", lines(&events));
    for (event, start) in events.iter().zip(expected) {
        let ParseEvent::Request(head) = event else {
            panic!("expected a request starting {start:?}, got {event:?}");
        };
        let line = format!("{} {}", head.method, head.target);
        assert!(
            line.starts_with(start),
            "{line:?} does not start with {start:?}"
        );
    }

    // Each connection's first request starts where its bytes start.
    let mut offset = 0;
    let mut heads = events.iter().filter_map(|e| match e {
        ParseEvent::Request(head) => Some(head),
        ParseEvent::Error(_) => None,
    });
    for (starts, bytes) in CLI_REQUESTS {
        let first = heads.next().map(|h| h.stream_offset);
        assert_eq!(first, Some(offset));
        heads.by_ref().take(starts.len() - 1).for_each(drop);
        offset += bytes.len() as u64;
    }

    let chunked = |e: &&ParseEvent| match e {
        ParseEvent::Request(head) => head.header("transfer-encoding") == Some("chunked"),
        ParseEvent::Error(_) => false,
    };
    assert_eq!(events.iter().filter(chunked).count(), 2);
}

#[test]
fn any_split_of_cli_requests_gives_the_same_events() {
    let stream = cli_stream();
    let whole = feed_in(&[&stream]);

    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(feed_in(&bytewise), whole);

    let mut rng = Rng(0x5eed_d0c5_50c4_0001);
    for _ in 0..200 {
        let mut pieces = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(700));
            pieces.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert_eq!(feed_in(&pieces), whole);
    }
}

#[test]
fn random_bytes_never_panic_and_error_at_most_once() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let stream = cli_stream();
    let alphabet = b"GET POST /v1.41 HTTP/1.1\r\n: Host Content-Length 0123456789abc; \t";
    for round in 0..2000 {
        let mut bytes = match round % 3 {
            // Pure noise.
            0 => (0..rng.below(600)).map(|_| rng.next() as u8).collect(),
            // Noise made of HTTP-looking pieces.
            1 => (0..rng.below(600))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect(),
            // Real requests with a few bytes changed.
            _ => stream.clone(),
        };
        if round % 3 == 2 {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(bytes.len());
                bytes[i] = alphabet[rng.below(alphabet.len())];
            }
        }

        let mut parser = RequestParser::new();
        let mut errors = 0;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(300));
            let mut events = parser.feed(&rest[..n]);
            if rng.below(10) == 0 {
                events.extend(parser.skip(rng.below(5000) as u64));
            }
            errors += events
                .iter()
                .filter(|e| matches!(e, ParseEvent::Error(_)))
                .count();
            rest = &rest[n..];
        }
        assert!(errors <= 1, "round {round}: {errors} errors");
        assert!(
            errors == 0 || parser.state() == ParserState::Failed,
            "round {round}"
        );
    }
}
