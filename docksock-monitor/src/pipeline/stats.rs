//! Counters kept by the pipeline, read by the metrics sink.

use docksock_common::send_flags;

use crate::capture::DecodeError;

/// Running totals of what the pipeline saw. Plain numbers: the pipeline
/// stays pure, and the metrics sink copies them into Prometheus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Records pushed (decoded ones).
    pub records: u64,
    /// Records refused by the decoder, by [`DecodeError::REASONS`] index.
    pub bad_records: [u64; DecodeError::REASONS.len()],
    /// Connect records.
    pub connects: u64,
    /// Connect records whose socket file is not in the watched list.
    pub unknown_socket: u64,
    /// Request-direction send records.
    pub request_sends: u64,
    /// Response-direction send records.
    pub response_sends: u64,
    /// Bytes sent client to server, captured or not.
    pub request_bytes: u64,
    /// Bytes sent server to client.
    pub response_bytes: u64,
    /// Request bytes sent but not captured, skipped in the parser.
    pub skipped_bytes: u64,
    /// Request sends flagged `TRUNCATED`.
    pub truncated_sends: u64,
    /// Request sends flagged `NO_PAYLOAD`.
    pub no_payload_sends: u64,
    /// Request sends flagged `READ_FAILED`.
    pub read_failed_sends: u64,
    /// Send records carrying more payload than their `len`.
    pub payload_beyond_len: u64,
    /// Connections created by a send because their connect was not seen.
    pub lazy_connections: u64,
    /// Connections forgotten because the table was full.
    pub evicted_connections: u64,
    /// Connections forgotten after the idle timeout.
    pub expired_connections: u64,
    /// Request streams given up on (not HTTP, or framing lost).
    pub parse_errors: u64,
    /// Requests recognised.
    pub requests: u64,
}

impl PipelineStats {
    /// Pairs of decode-failure reason and count.
    pub fn bad_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DecodeError::REASONS
            .iter()
            .zip(self.bad_records.iter())
            .map(|(&r, &n)| (r, n))
    }

    pub(super) fn count_bad(&mut self, reason: &str) {
        if let Some(i) = DecodeError::REASONS.iter().position(|&r| r == reason) {
            self.bad_records[i] += 1;
        }
    }

    pub(super) fn note_flags(&mut self, flags: u32) {
        if flags & send_flags::TRUNCATED != 0 {
            self.truncated_sends += 1;
        }
        if flags & send_flags::NO_PAYLOAD != 0 {
            self.no_payload_sends += 1;
        }
        if flags & send_flags::READ_FAILED != 0 {
            self.read_failed_sends += 1;
        }
    }
}
