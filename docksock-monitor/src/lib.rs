//! docksock's daemon as a library: every stage of the pipeline, so that the
//! binary, the replay command and the tests drive the same code.
//!
//! The flow of one record: [`capture`] decodes it, [`stream`] appends it to
//! its connection, [`http`] cuts requests out of the byte stream,
//! [`dockerapi`] names the endpoint, [`identity`] says who sent it,
//! [`pipeline`] turns all of that into [`event`]s, and [`sinks`] write them.
//! [`probe`] loads the kernel program that produces the records.

pub mod capture;
pub mod cli;
pub mod dockerapi;
pub mod event;
pub mod http;
pub mod identity;
pub mod pipeline;
pub mod probe;
pub mod sinks;
pub mod stream;
