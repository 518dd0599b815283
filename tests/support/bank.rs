//! Bank statements for tests: the sample writer of `faktura-bank` (also used by the demo).

pub use faktura_bank::sample::{Entry, camt053};
