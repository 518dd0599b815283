//! Shared test support: the port contract suite (run against every adapter set), an in-process
//! local app with a platform-like client, and PDF read-back through poppler.

pub mod contract;
pub mod local;
pub mod pdf;
