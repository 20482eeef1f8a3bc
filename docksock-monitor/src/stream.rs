//! stream: owner pipeline helper.
