//! Feeds arbitrary bytes to the HTTP request parser, cut into pieces and
//! with gaps, and checks what must hold for any input: no panic, at most
//! one error and nothing after it, the same events however the stream is
//! cut, and request offsets inside the stream and increasing.

#![no_main]

use docksock_monitor::http::{ParseEvent, RequestParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|stream: &[u8]| {
    // How to cut the stream follows from its content, so that any stream
    // (a recorded one too) is a useful input as it is.
    let seed = stream
        .iter()
        .fold(0u8, |h, &b| h.wrapping_mul(31).wrapping_add(b));

    let whole = RequestParser::new().feed(stream);
    check(&whole, stream.len() as u64);

    let mut parser = RequestParser::new();
    let mut pieces = Vec::new();
    let mut rest = stream;
    let mut step = usize::from(seed % 17) + 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        pieces.extend(parser.feed(&rest[..n]));
        rest = &rest[n..];
        step = step * 7 % 23 + 1;
    }
    assert_eq!(pieces, whole, "events depend on how the stream is cut");

    // Gaps: never a panic, still at most one error.
    let mut parser = RequestParser::new();
    let mut events = Vec::new();
    for (i, piece) in stream.chunks(usize::from(seed % 31) + 1).enumerate() {
        events.extend(parser.feed(piece));
        if i % 3 == 1 {
            events.extend(parser.skip(u64::from(seed) * i as u64));
        }
    }
    let errors = events
        .iter()
        .filter(|e| matches!(e, ParseEvent::Error(_)))
        .count();
    assert!(errors <= 1, "{errors} errors");
});

fn check(events: &[ParseEvent], len: u64) {
    let mut last = None;
    for (i, event) in events.iter().enumerate() {
        match event {
            ParseEvent::Request(head) => {
                assert!(head.stream_offset < len);
                assert!(last.is_none_or(|prev| head.stream_offset > prev));
                last = Some(head.stream_offset);
            }
            ParseEvent::Error(_) => assert_eq!(i, events.len() - 1, "events after an error"),
        }
    }
}
