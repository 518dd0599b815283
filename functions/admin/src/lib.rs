//! `faktura-admin` as a library: the commands' building blocks, shared with the tests.

pub mod dev_stack;
