//! tapedeck's integration tests, one binary (one link instead of thirteen,
//! which counts under qemu in CI). Most call the router in-process
//! ([`common::TestServer`]); the transport's own tests (limits, attacks,
//! keep-alive, shutdown) and the command-line ones go over TCP or run the
//! binary.
//!
//! Two groups are `#[ignore]`d in a plain `cargo test` because they need
//! what `tests/run.sh` installs: `browser::` (chromium) and
//! `subsonic_clients::` (Python schema validators and client libraries).

mod common;

mod api;
mod browser;
mod cache;
mod cli;
mod demo;
mod headers;
mod listening;
mod seek;
mod serve;
mod server;
mod subsonic;
mod subsonic_clients;
mod transcode;
mod traversal;
mod warm;
