//! The local runner as a library, so tests and benchmarks start the same app in-process.

pub mod app;
pub mod client;
pub mod clock;
pub mod demo;
pub mod tenants;
