#!/usr/bin/env bash
# load-tests/bench.sh — THE benchmark: one command, one machine, one broker.
#
#   bash load-tests/bench.sh
#
# Builds clickgate (release, in the repository's target/) and the harness (load-tests/harness,
# its own target/), starts Kafka with scripts/kafka.sh unless a broker already answers, then measures
#   (a) ceiling   a plain librdkafka producer writing the same records with the same settings,
#   (b) bare      an axum handler answering 204 to the same requests,
#   (c) clickgate end to end, acknowledge-after-Kafka (the default), fresh topics per instance,
# each at 1, 20 and 100 events per request: the maximum (closed loop, LT_CONNECTIONS connections),
# then the latency at half of that maximum (open model). Then clickgate at batch 20 is driven at
# twice its maximum for OVERLOAD_SECONDS with 2000 connections, and the no-loss check reads the run
# back. A short k6-vs-loadgen comparison justifies the load generator. The table goes to stdout and
# into docs/benchmarks.md (between the bench markers); raw JSON stays in load-tests/results/bench-*.
#
# Environment (defaults):
#   DURATION (10) WARMUP (2)      seconds measured / discarded per run
#   OVERLOAD_SECONDS (60)         the 2x overload run
#   LT_CONNECTIONS (256)          connections for the closed-loop maximum
#   BATCHES ("1 20 100")          events per request
#   CLICKGATE_BIN                 use this binary instead of building target/release/clickgate
#   BENCH_KAFKA (127.0.0.1:9092)  broker; started with scripts/kafka.sh if nothing answers there
#   BENCH_NO_DOC=1                do not touch docs/benchmarks.md
set -euo pipefail
LT_NAME=bench
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LT_REPO"

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
OVERLOAD_SECONDS="${OVERLOAD_SECONDS:-60}"
CONNS="${LT_CONNECTIONS:-256}"
BATCHES="${BATCHES:-1 20 100}"
BROKERS="${BENCH_KAFKA:-127.0.0.1:9092}"
KPORT="${BROKERS##*:}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RUNBASE="bench$(date +%s)"
OUT="$LT_DIR/results/bench-$STAMP"
mkdir -p "$OUT"
lt_tools

# --- build ------------------------------------------------------------------------------------------
if [[ -n "${CLICKGATE_BIN:-}" ]]; then
    BIN="$CLICKGATE_BIN"
else
    lt_log "building clickgate (release)"
    cargo build --release --locked --quiet
    BIN="$LT_REPO/target/release/clickgate"
fi
lt_log "building the harness (release)"
cargo build --release --locked --quiet --manifest-path "$LT_DIR/harness/Cargo.toml"
H="$LT_DIR/harness/target/release"

# --- broker -----------------------------------------------------------------------------------------
STARTED_KAFKA=""
SERVER_PID=""
cleanup() {
    [[ -n "$SERVER_PID" ]] && lt_stop "$SERVER_PID"
    if [[ -n "$STARTED_KAFKA" ]]; then
        lt_log "stopping the broker this script started"
        "$LT_REPO/scripts/kafka.sh" stop --port "$KPORT" || true
    fi
}
trap cleanup EXIT
if ! "$LT_REPO/scripts/kafka.sh" probe --port "$KPORT" >/dev/null 2>&1; then
    lt_log "no broker on $BROKERS: starting one with scripts/kafka.sh"
    "$LT_REPO/scripts/kafka.sh" start --port "$KPORT"
    STARTED_KAFKA=1
fi
BROKER_PID="$(ss -ltnpH "sport = :$KPORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true)"

# --- the machine ------------------------------------------------------------------------------------
"$PY" - "$OUT/machine.json" "$BIN" <<'PYEOF'
import json, os, platform, subprocess, sys
def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:
        return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
json.dump({
    "cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem / 1024 / 1024, 1),
    "kernel": platform.release(),
    "kafka": sh("bash", "scripts/kafka.sh", "version"),
    "clickgate": sh(sys.argv[2], "--version"), "commit": sh("git", "-C", os.path.dirname(os.path.abspath(sys.argv[2])), "rev-parse", "--short", "HEAD"),
    "rustc": sh("rustc", "--version"),
    "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
}, open(sys.argv[1], "w"), indent=2)
PYEOF
lt_log "machine: $(tr -d '\n' <"$OUT/machine.json")"
lt_log "broker $BROKERS (pid ${BROKER_PID:-unknown}); results in $OUT"

# loadgen NAME ARGS...: one generator run, report in $OUT/NAME.json
loadgen() {
    local name="$1"
    shift
    "$H/loadgen" --duration "$DURATION" --warmup "$WARMUP" --out "$OUT/$name.json" "$@"
}
# field FILE EXPR: a value from a JSON report (Python expression over `r`)
field() { "$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }
# half_rate FILE BATCH: half of the measured maximum, in requests/s
half_rate() { field "$1" "max(1.0, r['acked_events_per_s'] / $2 / 2)"; }

# --- (a) the Kafka ceiling ----------------------------------------------------------------------------
for b in $BATCHES; do
    lt_log "(a) ceiling, batch $b: maximum"
    "$H/ceiling" --brokers "$BROKERS" --batch "$b" --duration "$DURATION" --warmup "$WARMUP" \
        --topic-events "$RUNBASE.ceiling$b.events" --topic-raw "$RUNBASE.ceiling$b.raw" \
        --out "$OUT/a-$b-max.json"
    rate="$(field "$OUT/a-$b-max.json" "max(1.0, r['events_per_s'] / $b / 2)")"
    lt_log "(a) ceiling, batch $b: half rate ($rate requests/s)"
    "$H/ceiling" --brokers "$BROKERS" --batch "$b" --duration "$DURATION" --warmup "$WARMUP" --rate "$rate" \
        --topic-events "$RUNBASE.ceiling$b.events" --topic-raw "$RUNBASE.ceiling$b.raw" \
        --out "$OUT/a-$b-half.json"
done

# --- (b) the HTTP ceiling ------------------------------------------------------------------------------
for b in $BATCHES; do
    lt_start bare "$OUT/bare-$b.log" "$H/bare"
    SERVER_PID="$LT_PID"
    lt_log "(b) bare axum 204, batch $b: maximum"
    loadgen "b-$b-max" --url "http://$LT_ADDR" --batch "$b" --connections "$CONNS" --watch "$SERVER_PID"
    rate="$(half_rate "$OUT/b-$b-max.json" "$b")"
    lt_log "(b) bare axum 204, batch $b: half rate ($rate requests/s)"
    loadgen "b-$b-half" --url "http://$LT_ADDR" --batch "$b" --connections "$CONNS" --rate "$rate" --watch "$SERVER_PID"
    lt_stop "$SERVER_PID"
    SERVER_PID=""
done

# --- (c) clickgate end to end ---------------------------------------------------------------------------
start_clickgate() {
    local run="$1"
    lt_write_config "$OUT/$run.toml" "$run" "$BROKERS"
    lt_start clickgate "$OUT/$run.log" "$BIN" --config "$OUT/$run.toml"
    SERVER_PID="$LT_PID"
    lt_wait_ready "http://$LT_ADDR"
}
for b in $BATCHES; do
    start_clickgate "${RUNBASE}c$b"
    lt_log "(c) clickgate, batch $b: maximum"
    loadgen "c-$b-max" --url "http://$LT_ADDR" --batch "$b" --connections "$CONNS" --key "$LT_BROWSER_KEY" \
        --run-id "${RUNBASE}c${b}max" --watch "$SERVER_PID${BROKER_PID:+,$BROKER_PID}"
    rate="$(half_rate "$OUT/c-$b-max.json" "$b")"
    lt_log "(c) clickgate, batch $b: half rate ($rate requests/s)"
    loadgen "c-$b-half" --url "http://$LT_ADDR" --batch "$b" --connections "$CONNS" --rate "$rate" \
        --key "$LT_BROWSER_KEY" --run-id "${RUNBASE}c${b}half" --watch "$SERVER_PID${BROKER_PID:+,$BROKER_PID}"
    lt_stop "$SERVER_PID"
    SERVER_PID=""
done

# --- 2x overload at batch 20, then the no-loss check -------------------------------------------------------
if [[ " $BATCHES " == *" 20 "* ]]; then
    run="${RUNBASE}ov"
    start_clickgate "$run"
    rate="$(field "$OUT/c-20-max.json" "max(2.0, 2 * r['acked_events_per_s'] / 20)")"
    lt_log "(c) overload: batch 20 at $rate requests/s (2x the maximum) for ${OVERLOAD_SECONDS}s, 2000 connections"
    "$H/loadgen" --url "http://$LT_ADDR" --batch 20 --connections 2000 --rate "$rate" --duration "$OVERLOAD_SECONDS" \
        --warmup 0 --key "$LT_BROWSER_KEY" --run-id "$run" --acked "$OUT/overload-acked.log" \
        --watch "$SERVER_PID${BROKER_PID:+,$BROKER_PID}" --out "$OUT/overload.json"
    lt_stop "$SERVER_PID"
    SERVER_PID=""
    "$PY" "$LT_DIR/noloss.py" --brokers "$BROKERS" --topic "lt.$run.events" --run-id "$run-" \
        --acked "$OUT/overload-acked.log" --expect-acked "$(field "$OUT/overload.json" "r['events_acked']")" \
        --json "$OUT/overload-noloss.json" || true
fi

# --- is the generator the bottleneck? k6 vs loadgen against the bare server -----------------------------------
lt_start bare "$OUT/bare-gen.log" "$H/bare"
SERVER_PID="$LT_PID"
GEN_RATE=1000
lt_log "generator check: k6 and loadgen, 20-event batches at $GEN_RATE requests/s for 10 s against bare"
# k6's CPU time: run it as a child of Python and read the children's rusage.
env CLICKGATE_URL="http://$LT_ADDR" RATE="$GEN_RATE" DURATION=10s BATCH_SIZE=20 RUN_ID="${RUNBASE}gen" \
    SUMMARY_FILE="$OUT/gen-k6-summary.json" "$PY" -c '
import json, resource, subprocess, sys
rc = subprocess.call(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"cpu_s": u.ru_utime + u.ru_stime, "exit": rc}, open(sys.argv[1], "w"))
' "$OUT/gen-k6.json" "$K6" run --quiet --no-color --log-output=none "$LT_DIR/k6/browser.js" || true
"$H/loadgen" --url "http://$LT_ADDR" --batch 20 --connections 64 --rate "$GEN_RATE" --duration 10 --warmup 0 \
    --out "$OUT/gen-loadgen.json"
lt_stop "$SERVER_PID"
SERVER_PID=""

cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-end.txt"

# --- the table ------------------------------------------------------------------------------------------
DOC_ARGS=()
[[ "${BENCH_NO_DOC:-}" == 1 ]] || DOC_ARGS=(--doc "$LT_REPO/docs/benchmarks.md")
"$PY" "$LT_DIR/bench_report.py" "$OUT" --batches $BATCHES "${DOC_ARGS[@]}"
if [[ -f "$OUT/overload-noloss.json" ]] && ! grep -q '"ok": true' "$OUT/overload-noloss.json"; then
    lt_die "the no-loss check after the overload run FAILED ($OUT/overload-noloss.json)"
fi
