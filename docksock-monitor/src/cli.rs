//! cli: owner pipeline helper.
