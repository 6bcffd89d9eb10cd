//! Thin entry point: telemetry, settings, the application, run until a signal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clickgate::config::{CliOverrides, Settings};
use clickgate::{dev, telemetry, Application};

/// clickgate: Segment-compatible clickstream ingestion into Kafka.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// TOML settings file.
    #[arg(long, env = "CLICKGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to serve on, host:port (overrides `listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Kafka bootstrap servers (overrides `kafka.brokers`).
    #[arg(long)]
    kafka_brokers: Option<String>,
    /// Run against an in-process mock Kafka that keeps nothing, with demo keys.
    #[arg(long)]
    dev: bool,
    /// Validate the settings and exit.
    #[arg(long)]
    check_config: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init_logging();
    let cli = Cli::parse();
    let overrides = CliOverrides {
        listen: cli.listen,
        kafka_brokers: cli.kafka_brokers,
        dev_sources: cli.dev.then(dev::dev_sources),
    };
    let mut settings = match Settings::load(cli.config.as_deref(), &overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("clickgate: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    let _dev = if cli.dev {
        match dev::prepare(&mut settings) {
            Ok(cluster) => Some(cluster),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "dev mode failed to start");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let app = if cli.dev {
        Application::build_dev(settings).await
    } else {
        Application::build(settings).await
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "clickgate failed to start");
            eprintln!("clickgate: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "clickgate stopped with an error");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
