//! Where events and counters go: JSON lines, and Prometheus metrics served
//! over HTTP.
//!
//! Neither may hold up the ring-buffer reader: the JSON-lines sink has a
//! bounded queue and counts what it drops; metrics are atomic counters.

mod json;
mod metrics;
mod server;

pub use json::{JsonSink, JsonSinkConfig, JsonTarget};
pub use metrics::{names, Metrics};
pub use server::MetricsServer;

#[cfg(test)]
mod tests;
