//! docksock's root integration tests: the real kernel program, the real
//! daemon, a real `dockerd`.
//!
//! Each file in `tests/tests/` is one suite, a test binary with its own
//! small harness ([`suite::run`]). A suite starts, once, a private
//! `dockerd` on a socket in a fresh temporary directory (a host Docker
//! daemon is left alone), then `docksock-monitor run --socket <that>
//! --events <file>`, and runs its tests one after another against them,
//! reading the daemon's JSON lines through an [`events::EventLog`].
//!
//! The suites need root. `cargo xtask test` runs them with
//! `DOCKSOCK_ROOT_TESTS=1`; without it (in a plain `cargo test`) each
//! suite prints that it did not run and exits successfully, and xtask's
//! ledger check is what catches a suite that skipped itself.
//!
//! No test sleeps a fixed time for an event: it waits for the event itself
//! with a deadline, and to show that something did *not* happen it sends a
//! marker request afterwards and waits for that ([`suite::Env::barrier`]).

pub mod client;
pub mod dockerd;
pub mod events;
pub mod images;
pub mod monitor;
pub mod process;
pub mod rundir;
pub mod suite;
