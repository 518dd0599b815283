//! The integration tests that need no local AWS, in one test binary (each binary links typst,
//! SQLite and the AWS SDK again, so fewer binaries keep CI's build short). The moto-backed
//! suites (`contract_aws`, `lambda_e2e`) stay in binaries of their own.

mod bank;
mod collective;
mod contract_embedded;
mod documents_api;
mod dunning;
mod einvoice;
mod hardening;
mod migration;
mod openapi;
mod payment_codes;
mod pipeline;
mod schedules;
mod template;
mod webhook_api;
mod webhook_fuzz;
