//! tapedeck: a synchronous, low-footprint music server for a Raspberry Pi.
//!
//! The binary (`src/main.rs`) only wires these modules together; they live
//! in a library so integration tests can reach them. Dependencies point one
//! way: [`http`] translates requests into calls on the [`app::App`] and
//! results into replies; the services below it ([`workers`], [`warm`],
//! [`prefetch`], [`catalog`], [`cache`], [`library`]) know nothing of HTTP,
//! and [`transcode`] knows nothing of the cache. [`demo`] makes the library
//! served when there is no music directory at all (with [`transcode`]).

pub mod app;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod demo;
pub mod http;
pub mod library;
pub mod mp3;
pub mod playlist;
pub mod policy;
pub mod prefetch;
pub mod quality;
pub mod reports;
pub mod state;
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
