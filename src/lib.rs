//! tapedeck: a synchronous, low-footprint music server for a Raspberry Pi.
//!
//! The binary (`src/main.rs`) only wires these modules together; they live
//! in a library so integration tests can reach them. Dependencies point one
//! way:
//!
//! - [`http`] is the transport (accept, parse, limits, write, Range and
//!   conditional semantics). It takes a handler and imports nothing of the
//!   application.
//! - [`router`] is that handler: it sends each request to a surface, and
//!   the surfaces translate requests into calls on the [`app::App`] and
//!   results into replies: [`play`] (`/play`, and the `stream` both others
//!   use), [`player`] (the phone player's page and JSON API), [`subsonic`]
//!   (`/rest`), [`admin`] (`/admin` and its event streams). No surface
//!   imports another; what they share is [`surface`] (the error map, path
//!   decoding) and [`play`].
//! - The services below them ([`workers`], [`warm`], [`prefetch`],
//!   [`catalog`], [`cache`], [`state`], [`library`], [`ids`]) know nothing
//!   of HTTP, and [`transcode`] knows nothing of the cache. [`demo`] makes
//!   the library served when there is no music directory at all.
//!
//! `python3 .ci/import-cycles.py` checks that no import circle exists.

pub mod admin;
pub mod app;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod demo;
pub mod http;
pub mod ids;
pub mod library;
pub mod logging;
pub mod mp3;
pub mod play;
pub mod player;
pub mod playlist;
pub mod policy;
pub mod prefetch;
pub mod quality;
pub mod reports;
pub mod router;
pub mod state;
pub mod subsonic;
pub mod surface;
pub mod transcode;
pub mod warm;
pub mod workers;

/// The message of a caught panic (`panic!` with a string or a format).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
