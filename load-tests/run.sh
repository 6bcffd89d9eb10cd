#!/usr/bin/env bash
# load-tests/run.sh SCENARIO [k6 args...] — run one k6 scenario (browser, server, spike, soak, smoke)
# against a freshly started clickgate with fresh topics, then the no-loss check on that run.
#
#   bash load-tests/run.sh browser                 # 200 batches/s of 20 events for 30 s
#   RATE=300 DURATION=1m bash load-tests/run.sh spike
#
# Environment:
#   CLICKGATE_BIN   the binary (default: target/release/clickgate, else target/debug/clickgate)
#   BROKERS         Kafka bootstrap (default: $CLICKGATE_TEST_KAFKA or 127.0.0.1:9092; must be running)
#   RATE DURATION BATCH_SIZE SPIKE   passed to the scenario (see the scenario's header)
#   OUT             directory for the summary, ack log and no-loss report (default: load-tests/results/<run>)
# To drive an already running clickgate instead, call k6 directly (see load-tests/README.md).
set -euo pipefail
LT_NAME=run
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LT_REPO"

SCENARIO="${1:?usage: run.sh browser|server|spike|soak|smoke [k6 args...]}"
shift
SCRIPT="$LT_DIR/k6/$SCENARIO.js"
[[ -f "$SCRIPT" ]] || lt_die "no scenario $SCRIPT"
BIN="${CLICKGATE_BIN:-}"
if [[ -z "$BIN" ]]; then
    BIN="$LT_REPO/target/release/clickgate"
    [[ -x "$BIN" ]] || BIN="$LT_REPO/target/debug/clickgate"
fi
[[ -x "$BIN" ]] || lt_die "clickgate binary not found (cargo build --release, or set CLICKGATE_BIN)"
BROKERS="${BROKERS:-${CLICKGATE_TEST_KAFKA:-127.0.0.1:9092}}"
lt_tools

RUN="$SCENARIO$(date +%s)"
OUT="${OUT:-$LT_DIR/results/$RUN}"
mkdir -p "$OUT"
CG_PID=""
trap '[[ -n "$CG_PID" ]] && lt_stop "$CG_PID"' EXIT

lt_write_config "$OUT/clickgate.toml" "$RUN" "$BROKERS"
lt_start clickgate "$OUT/clickgate.log" "$BIN" --config "$OUT/clickgate.toml"
CG_PID="$LT_PID"
URL="http://$LT_ADDR"
lt_wait_ready "$URL"
lt_log "clickgate $URL (pid $CG_PID, $BIN), topics lt.$RUN.*, results in $OUT"

rc=0
CLICKGATE_URL="$URL" WRITE_KEY="$LT_BROWSER_KEY" SERVER_KEY="$LT_SERVER_KEY" RUN_ID="$RUN" \
    SUMMARY_FILE="$OUT/summary.json" \
    "$K6" run --no-color --log-output="file=$OUT/acked.log" --log-format=raw "$@" "$SCRIPT" || rc=$?
lt_log "clickgate peak RSS: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$CG_PID/status")"
lt_stop "$CG_PID"
CG_PID=""
"$PY" "$LT_DIR/noloss.py" --brokers "$BROKERS" --topic "lt.$RUN.events" --run-id "$RUN-" \
    --acked "$OUT/acked.log" --k6-summary "$OUT/summary.json" --json "$OUT/noloss.json" || rc=1
((rc == 0)) && lt_log "ok: thresholds met and no acknowledged event lost" || lt_log "FAILED (exit $rc)"
exit "$rc"
