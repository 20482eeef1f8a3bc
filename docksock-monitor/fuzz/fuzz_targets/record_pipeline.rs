//! Feeds arbitrary bytes to the pipeline as kernel records: the decoder
//! must refuse or accept each without panicking, every refusal must be
//! counted, and the pipeline must survive any mix of good-looking and bad
//! records.
//!
//! The input is cut into records by a leading length byte each, so that
//! the fuzzer can grow whole records.

#![no_main]

use docksock_monitor::{identity::StaticResolver, pipeline::{Pipeline, PipelineConfig}};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let resolver = StaticResolver::new();
    let mut pipeline = Pipeline::new(PipelineConfig { max_connections: 8, ..PipelineConfig::default() });
    let mut rest = data;
    let mut pushed = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        // Lengths up to 1020 bytes: past the fixed part of a send record.
        let len = usize::from(len) * 4;
        let (record, tail) = tail.split_at(len.min(tail.len()));
        let _ = pipeline.push_raw(record, &resolver);
        pushed += 1;
        rest = tail;
    }
    let _ = pipeline.expire(u64::MAX);
    let stats = pipeline.stats();
    let bad: u64 = stats.bad_records.iter().sum();
    // `records` counts the records that decoded; the rest by reason.
    assert_eq!(stats.records + bad, pushed, "every record is counted once");
});
