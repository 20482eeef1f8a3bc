//! Incremental HTTP/1.1 request parser. Owner: http helper.
