//! Faktura's domain core: documents on the EN 16931 model with their life (lifecycle,
//! delivery, payment), the customer ledger and the audit trail, durable jobs, money and VAT
//! arithmetic, numbering, bookings and their events, ports (traits the adapters implement) and
//! the use cases that tie them together. No AWS SDK, no typst and no wire formats in here.

pub mod audit;
pub mod bank;
pub mod booking;
pub mod calc;
pub mod collective;
pub mod document;
pub mod dunning;
pub mod error;
pub mod events;
pub mod i18n;
pub mod invoicing;
pub mod jobs;
pub mod ledger;
pub mod mail;
pub mod mail_html;
pub mod model;
pub mod money;
pub mod numbering;
pub mod payment_codes;
pub mod ports;
pub mod schedule;
pub mod sending;
pub mod service;
pub mod values;
pub mod view;

pub use error::{AppError, ErrorKind, StoreError};
