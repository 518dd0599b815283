//! Faktura's domain core: the invoice model (after EN 16931), money and VAT arithmetic,
//! numbering, the booking webhook payload, ports (traits the adapters implement) and the use
//! cases that tie them together. No AWS SDK and no typst in here.

pub mod booking;
pub mod calc;
pub mod error;
pub mod events;
pub mod i18n;
pub mod invoicing;
pub mod mail;
pub mod model;
pub mod money;
pub mod numbering;
pub mod ports;
pub mod service;
pub mod values;
pub mod view;

pub use error::{AppError, ErrorKind, StoreError};
