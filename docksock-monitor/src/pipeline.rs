//! pipeline: owner pipeline helper.
