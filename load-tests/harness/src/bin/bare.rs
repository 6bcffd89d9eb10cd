//! bare: the HTTP ceiling. An axum server that reads each request body and
//! answers 204, on the same runtime shape as clickgate (multi-threaded
//! tokio, one worker per core). Everything clickgate costs above this is its
//! own logic and the Kafka produce.
//!
//!   bare [--listen 127.0.0.1:0]
//!
//! Logs `{"message":"listening","addr":"<ip:port>"}` on stdout when ready.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::Router;
use clickgate_harness::Args;

async fn accept(_body: Bytes) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let listen = args.str("listen", "127.0.0.1:0");
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot bind {listen}: {e}");
            std::process::exit(1)
        });
    let addr = listener.local_addr().expect("bound address");
    println!("{}", serde_json::json!({"message": "listening", "addr": addr.to_string()}));
    let app = Router::new().fallback(accept);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            tokio::select! { () = stop => {}, () = term => {} }
        })
        .await
        .expect("server");
}
