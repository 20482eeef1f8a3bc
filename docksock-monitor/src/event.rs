//! event: owner pipeline helper.
