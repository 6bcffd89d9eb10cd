//! Shared parts of the benchmark harness: realistic Segment payloads,
//! command-line options, process accounting from `/proc`, and latency
//! summaries. The binaries in `src/bin/` are the load generator (`loadgen`),
//! the Kafka ceiling (`ceiling`) and the HTTP ceiling (`bare`).

pub mod payload;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

/// `--key value` options; every binary documents its own keys.
pub struct Args(HashMap<String, String>);

impl Args {
    pub fn parse() -> Self {
        let mut map = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            let Some(key) = k.strip_prefix("--") else {
                eprintln!("unexpected argument {k:?} (options are --key value)");
                std::process::exit(2);
            };
            let value = it.next().unwrap_or_else(|| {
                eprintln!("option --{key} needs a value");
                std::process::exit(2);
            });
            map.insert(key.to_owned(), value);
        }
        Self(map)
    }

    pub fn str(&self, key: &str, default: &str) -> String {
        self.0.get(key).cloned().unwrap_or_else(|| default.to_owned())
    }

    pub fn opt(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    pub fn num(&self, key: &str, default: f64) -> f64 {
        match self.0.get(key) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("--{key} must be a number, got {v:?}");
                std::process::exit(2);
            }),
        }
    }

    pub fn secs(&self, key: &str, default: f64) -> Duration {
        Duration::from_secs_f64(self.num(key, default))
    }
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // The command name may contain spaces; fields restart after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11, 12.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux we run on; `getconf` confirms.
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Peak resident set size in MiB (`VmHWM` in `/proc/<pid>/status`).
pub fn peak_rss_mib(pid: &str) -> f64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return f64::NAN;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A latency histogram in microseconds, 1 µs to 120 s.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// `{"p50":..,"p90":..,"p99":..,"p999":..,"max":..,"mean":..}` in milliseconds.
pub fn latency_json(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
    serde_json::json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": (h.mean() / 10.0).round() / 100.0,
    })
}

/// Now as RFC 3339 with milliseconds, e.g. `2026-11-25T12:00:00.123Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Writes `value` pretty-printed to `path`, or to stdout when `path` is `-`.
pub fn write_json(path: &str, value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    if path == "-" {
        println!("{text}");
    } else if let Err(e) = std::fs::write(path, text + "\n") {
        eprintln!("cannot write {path}: {e}");
        std::process::exit(1);
    }
}
