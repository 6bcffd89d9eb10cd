//! loadgen: a small HTTP/1.1 load generator for clickgate's `/v1/batch`.
//!
//! Each of `--connections` workers owns one keep-alive connection. With
//! `--rate R` (requests/s, open model) worker `w` is scheduled to send at
//! `start + (k·C + w)/R`; a worker that falls behind sends at once and the
//! latency is measured from the *scheduled* time, so a slow server is not
//! hidden by the generator waiting for it (no coordinated omission). With
//! `--rate 0` every worker sends back to back (closed model, the maximum).
//!
//! Options (defaults in brackets):
//!   --url [http://127.0.0.1:8080]  --path [/v1/batch]  --batch [20]
//!   --rate [0]  --connections [64]  --duration [10]  --warmup [2] (seconds)
//!   --key [pk_bench]  --run-id [lg<time>]  --timeout [15]  --visitors [2000]
//!   --acked FILE   acknowledged message ids, one line per request:
//!                  `ACK <prefix> <n>` = ids <prefix>-0 .. <prefix>-(n-1),
//!                  or `ACK <id>` for a single id (the format noloss.py reads)
//!   --watch PIDS   comma-separated pids whose CPU (utime+stime) is sampled
//!                  at the start and end of the measured window, and whose
//!                  peak RSS (VmHWM) is read at the end
//!   --out [-]      the JSON report

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clickgate_harness::payload::{batch_body, Rng, Visitor};
use clickgate_harness::{cpu_seconds, histogram, latency_json, peak_rss_mib, write_json, Args};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

struct Opts {
    host: String,
    path: String,
    batch: usize,
    rate: f64,
    connections: usize,
    key: String,
    run_id: String,
    timeout: Duration,
    visitors: u64,
    start: Instant,
    warm_end: Instant,
    end: Instant,
}

#[derive(Default)]
struct Stats {
    /// Scheduled send time → response read (what a client waits).
    hist: Option<Histogram<u64>>,
    /// Actual send → response read (what the server took).
    service: Option<Histogram<u64>>,
    statuses: BTreeMap<String, u64>,
    requests: u64,
    requests_window: u64,
    events_sent: u64,
    acked_events: u64,
    acked_events_window: u64,
    acked_lines: Vec<String>,
}

impl Stats {
    fn count(&mut self, status: &str) {
        *self.statuses.entry(status.to_owned()).or_default() += 1;
    }
    fn merge(&mut self, o: Stats) {
        if let (Some(a), Some(b)) = (&mut self.hist, &o.hist) {
            a.add(b).expect("same histogram bounds");
        }
        if let (Some(a), Some(b)) = (&mut self.service, &o.service) {
            a.add(b).expect("same histogram bounds");
        }
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.requests += o.requests;
        self.requests_window += o.requests_window;
        self.events_sent += o.events_sent;
        self.acked_events += o.acked_events;
        self.acked_events_window += o.acked_events_window;
        self.acked_lines.extend(o.acked_lines);
    }
}

fn main() {
    let args = Args::parse();
    let threads = args.num("threads", 2.0) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let url = args.str("url", "http://127.0.0.1:8080");
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let warmup = args.secs("warmup", 2.0);
    let duration = args.secs("duration", 10.0);
    let start = Instant::now() + Duration::from_millis(50);
    let opts = std::sync::Arc::new(Opts {
        host,
        path: args.str("path", "/v1/batch"),
        batch: args.num("batch", 20.0) as usize,
        rate: args.num("rate", 0.0),
        connections: args.num("connections", 64.0).max(1.0) as usize,
        key: args.str("key", "pk_bench"),
        run_id: args.opt("run-id").unwrap_or_else(|| {
            format!(
                "lg{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            )
        }),
        timeout: args.secs("timeout", 15.0),
        visitors: args.num("visitors", 2000.0) as u64,
        start,
        warm_end: start + warmup,
        end: start + warmup + duration,
    });
    let watch: Vec<String> = args
        .opt("watch")
        .map(|s| s.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();

    // CPU of the generator and the watched processes over the window only.
    let sampler = {
        let opts = opts.clone();
        let watch = watch.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(opts.warm_end.into()).await;
            let before: Vec<f64> = watch.iter().map(|p| cpu_seconds(p)).collect();
            let self_before = cpu_seconds("self");
            tokio::time::sleep_until(opts.end.into()).await;
            let after: Vec<f64> = watch.iter().map(|p| cpu_seconds(p)).collect();
            let self_after = cpu_seconds("self");
            let watched: Vec<serde_json::Value> = watch
                .iter()
                .zip(before.iter().zip(after.iter()))
                .map(|(pid, (b, a))| {
                    serde_json::json!({"pid": pid, "cpu_s": a - b, "peak_rss_mib": peak_rss_mib(pid)})
                })
                .collect();
            (self_after - self_before, watched)
        })
    };

    let workers: Vec<_> = (0..opts.connections)
        .map(|w| tokio::spawn(worker(opts.clone(), w)))
        .collect();
    let mut total = Stats {
        hist: Some(histogram()),
        service: Some(histogram()),
        ..Stats::default()
    };
    for w in workers {
        total.merge(w.await.expect("worker task"));
    }
    let (gen_cpu, watched) = sampler.await.expect("sampler task");

    if let Some(path) = args.opt("acked") {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap_or_else(|e| {
            eprintln!("cannot create {path}: {e}");
            std::process::exit(1)
        }));
        for line in &total.acked_lines {
            let _ = writeln!(f, "{line}");
        }
        let _ = f.flush();
    }
    let window = (opts.end - opts.warm_end).as_secs_f64();
    let hist = total.hist.as_ref().expect("histogram");
    let report = serde_json::json!({
        "run_id": opts.run_id,
        "path": opts.path,
        "batch": opts.batch,
        "offered_rate_rps": opts.rate,
        "connections": opts.connections,
        "window_s": window,
        "requests": total.requests,
        "requests_in_window": total.requests_window,
        "statuses": total.statuses,
        "events_sent": total.events_sent,
        "events_acked": total.acked_events,
        "acked_events_per_s": total.acked_events_window as f64 / window,
        "failed_ratio": failed_ratio(&total),
        "latency_ms": latency_json(hist),
        "service_ms": latency_json(total.service.as_ref().expect("histogram")),
        "generator_cpu_s": gen_cpu,
        "watched": watched,
    });
    write_json(&args.str("out", "-"), &report);
}

/// Share of requests in the window that did not get a 2xx.
fn failed_ratio(s: &Stats) -> f64 {
    let ok: u64 = s
        .statuses
        .iter()
        .filter(|(k, _)| k.starts_with('2'))
        .map(|(_, v)| v)
        .sum();
    let all: u64 = s.statuses.values().sum();
    if all == 0 {
        0.0
    } else {
        1.0 - ok as f64 / all as f64
    }
}

async fn connect(host: &str) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(host).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn worker(opts: std::sync::Arc<Opts>, w: usize) -> Stats {
    let mut stats = Stats {
        hist: Some(histogram()),
        service: Some(histogram()),
        ..Stats::default()
    };
    let mut rng = Rng::new(w as u64 + 1);
    let visitors: Vec<Visitor> = (0..(opts.visitors / opts.connections as u64).max(1))
        .map(|i| Visitor::new(&mut rng, i * opts.connections as u64 + w as u64))
        .collect();
    // Bodies are built once per worker with a fixed-width placeholder for
    // the message-id prefix; a request copies one and writes its prefix in.
    // Generating 20 events per request would cost more CPU than the bare
    // server spends answering it.
    let placeholder = "#".repeat(format!("{}-{w:05}-{:010}", opts.run_id, 0).len());
    let templates: Vec<Template> = (0..16)
        .map(|_| {
            let v = &visitors[rng.below(visitors.len())];
            Template::new(batch_body(&mut rng, v, &placeholder, opts.batch, &opts.key), &placeholder)
        })
        .collect();
    let period = if opts.rate > 0.0 {
        Some(Duration::from_secs_f64(opts.connections as f64 / opts.rate))
    } else {
        None
    };
    let offset = period.map_or(Duration::ZERO, |p| p.mul_f64(w as f64 / opts.connections as f64));
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let mut k: u64 = 0;
    loop {
        let scheduled = match period {
            Some(p) => opts.start + offset + p * (k as u32),
            None => Instant::now().max(opts.start),
        };
        if scheduled >= opts.end {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        let prefix = format!("{}-{w:05}-{k:010}", opts.run_id);
        let body = templates[k as usize % templates.len()].fill(&prefix);
        k += 1;
        let in_window = scheduled >= opts.warm_end;
        stats.requests += 1;
        stats.events_sent += opts.batch as u64;
        if sender.is_none() {
            match connect(&opts.host).await {
                Ok(s) => sender = Some(s),
                Err(_) => {
                    if in_window {
                        stats.count("connect_error");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let req = Request::post(opts.path.as_str())
            .header("host", opts.host.as_str())
            .header("content-type", "text/plain;charset=UTF-8")
            .body(Full::new(Bytes::from(body)))
            .expect("valid request");
        let sent = Instant::now();
        let result = tokio::time::timeout(opts.timeout, async {
            s.ready().await?;
            let resp = s.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        })
        .await;
        let done = Instant::now();
        let (status, body) = match result {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => {
                sender = None;
                if in_window {
                    stats.count("io_error");
                }
                continue;
            }
            Err(_) => {
                sender = None;
                if in_window {
                    stats.count("timeout");
                }
                continue;
            }
        };
        let acked = acked_ids(status, &body, &prefix, opts.batch, &mut stats.acked_lines);
        stats.acked_events += acked;
        if in_window {
            stats.requests_window += 1;
            stats.count(status.as_str());
            if done <= opts.end {
                stats.acked_events_window += acked;
            }
            let us = done.saturating_duration_since(scheduled).as_micros() as u64;
            if let Some(h) = stats.hist.as_mut() {
                let _ = h.record(us.max(1));
            }
            if let Some(h) = stats.service.as_mut() {
                let _ = h.record((done.saturating_duration_since(sent).as_micros() as u64).max(1));
            }
        }
    }
    stats
}

/// A request body with the offsets where the message-id prefix goes.
struct Template {
    body: Vec<u8>,
    slots: Vec<usize>,
    width: usize,
}

impl Template {
    fn new(body: String, placeholder: &str) -> Self {
        let slots = body.match_indices(placeholder).map(|(i, _)| i).collect();
        Self {
            body: body.into_bytes(),
            slots,
            width: placeholder.len(),
        }
    }

    fn fill(&self, prefix: &str) -> Vec<u8> {
        assert_eq!(prefix.len(), self.width, "prefix width is fixed per worker");
        let mut body = self.body.clone();
        for &at in &self.slots {
            body[at..at + self.width].copy_from_slice(prefix.as_bytes());
        }
        body
    }
}

/// Records the ids the server acknowledged and returns how many. A 200 from
/// clickgate lists rejected indices; a 204 (the bare server) takes all.
fn acked_ids(status: StatusCode, body: &[u8], prefix: &str, n: usize, out: &mut Vec<String>) -> u64 {
    match status.as_u16() {
        204 => {
            out.push(format!("ACK {prefix} {n}"));
            n as u64
        }
        200 => {
            let rejected: Vec<usize> = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("rejected").and_then(|r| r.as_array()).cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r.get("index").and_then(serde_json::Value::as_u64))
                .map(|i| i as usize)
                .collect();
            if rejected.is_empty() {
                out.push(format!("ACK {prefix} {n}"));
                n as u64
            } else {
                let mut count = 0;
                for i in (0..n).filter(|i| !rejected.contains(i)) {
                    out.push(format!("ACK {prefix}-{i}"));
                    count += 1;
                }
                count
            }
        }
        _ => 0,
    }
}
