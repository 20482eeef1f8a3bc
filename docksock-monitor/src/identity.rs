//! identity: owner pipeline helper.
