//! sinks: owner pipeline helper.
