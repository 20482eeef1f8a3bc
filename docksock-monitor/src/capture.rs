//! capture: owner pipeline helper.
