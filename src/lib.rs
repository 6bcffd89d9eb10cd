//! clickgate: a clickstream ingestion gateway. Segment-compatible HTTP in,
//! validated and normalised events out to Kafka.

pub mod app;
pub mod client_ip;
pub mod config;
pub mod delivery;
pub mod dev;
pub mod enrich;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod limit;
pub mod pipeline;
pub mod protocol;
pub mod request;
pub mod route;
pub mod setting;
pub mod sink;
pub mod source;
pub mod table;
pub mod telemetry;

pub use app::Application;
pub use config::Settings;
