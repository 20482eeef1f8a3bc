//! Docker Engine API routes. Owner: http helper.
