//! Black-box tests: one binary, a shared helper module, one file per area.

mod helpers;

mod hostile;
mod ingest;
mod kafka_mock;
mod kafka_real;
mod operations;
