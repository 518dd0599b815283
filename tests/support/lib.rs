//! Shared test support: the port contract suite (run against every adapter set), an in-process
//! local app with a platform-like client, PDF read-back through poppler, and a local AWS (moto).

pub mod bank;
pub mod bench;
pub mod contract;
pub mod fuzz;
pub mod iam;
pub mod lambda;
pub mod local;
pub mod moto;
pub mod pdf;
pub mod stack;
pub mod upgrade;
