//! Black-box tests: one binary, a shared helper module, one file per area.

mod helpers;
#[path = "../support/mmdb.rs"]
mod mmdb;

mod enrichment;
mod hostile;
mod ingest;
mod kafka_mock;
mod kafka_real;
mod operations;
