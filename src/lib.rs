//! tapedeck: a synchronous, low-footprint music server for a Raspberry Pi.
//!
//! The binary (`src/main.rs`) only wires these modules together; they live in
//! a library so integration tests can reach them. Dependencies point one way:
//! [`http`] uses [`library`] and [`config`]; nothing below `http` knows HTTP.

pub mod cache;
pub mod catalog;
pub mod config;
pub mod http;
pub mod keys;
pub mod library;
pub mod mp3;
pub mod playlist;
pub mod quality;
pub mod transcode;
pub mod warm;
pub mod workers;
