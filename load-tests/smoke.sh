#!/usr/bin/env bash
# load-tests/smoke.sh — a few seconds of k6 traffic against a freshly started clickgate, then the
# no-loss check on that run. Part of the test command (scripts/test.sh); exits non-zero on failure.
#
# Environment:
#   CLICKGATE_BIN          the binary (default: target/debug/clickgate)
#   CLICKGATE_TEST_KAFKA   the broker (default: 127.0.0.1:9092; it must be running)
#   RATE, DURATION         per scenario (default 20 requests/s each, 4s); BATCH_SIZE (20)
#   LT_KEEP=1              keep the work directory (config, logs, summaries) even on success
set -euo pipefail
LT_NAME=smoke
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LT_REPO"

BIN="${CLICKGATE_BIN:-$LT_REPO/target/debug/clickgate}"
BROKERS="${CLICKGATE_TEST_KAFKA:-127.0.0.1:9092}"
[[ -x "$BIN" ]] || lt_die "clickgate binary not found at $BIN (cargo build, or set CLICKGATE_BIN)"
lt_tools

RUN="smoke$(date +%s)$$"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/clickgate-smoke.XXXXXX")"
CG_PID=""
cleanup() {
    local rc=$?
    [[ -n "$CG_PID" ]] && lt_stop "$CG_PID"
    if ((rc != 0)); then
        lt_log "FAILED; clickgate log tail:"
        tail -n 15 "$WORK/clickgate.log" >&2 2>/dev/null || true
        lt_log "artefacts kept in $WORK"
    elif [[ "${LT_KEEP:-}" != 1 ]]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

lt_write_config "$WORK/clickgate.toml" "$RUN" "$BROKERS"
lt_start clickgate "$WORK/clickgate.log" "$BIN" --config "$WORK/clickgate.toml"
CG_PID="$LT_PID"
URL="http://$LT_ADDR"
lt_wait_ready "$URL"
lt_log "clickgate $URL (pid $CG_PID), topics lt.$RUN.*, broker $BROKERS"

CLICKGATE_URL="$URL" WRITE_KEY="$LT_BROWSER_KEY" SERVER_KEY="$LT_SERVER_KEY" RUN_ID="$RUN" \
    SUMMARY_FILE="$WORK/summary.json" RATE="${RATE:-20}" DURATION="${DURATION:-4s}" \
    timeout 60 "$K6" run --quiet --no-color --log-output="file=$WORK/acked.log" --log-format=raw \
    "$LT_DIR/k6/smoke.js"

"$PY" "$LT_DIR/noloss.py" --brokers "$BROKERS" --topic "lt.$RUN.events" --run-id "$RUN-" \
    --acked "$WORK/acked.log" --k6-summary "$WORK/summary.json" --max-duplicates 0 --timeout 30
lt_log "ok"
