#!/usr/bin/env bash
# scripts/kafka.sh — a single-node Apache Kafka (KRaft, broker+controller) on loopback for
# development and tests, run from jars that Maven resolves from Maven Central (no tarball).
#
#   scripts/kafka.sh install                      resolve the jars into $KAFKA_CACHE/libs (idempotent)
#   scripts/kafka.sh start  [--port P] [--dir D]  format storage if new, start, wait until it serves requests
#   scripts/kafka.sh stop   [--port P] [--dir D]  SIGTERM, then SIGKILL after $KAFKA_STOP_TIMEOUT s
#   scripts/kafka.sh status [--port P] [--dir D]  exit 0 running and answering, 3 stopped, 1 running but not answering
#   scripts/kafka.sh topics [--port P]            list topic names (one per line)
#   scripts/kafka.sh probe  [--port P]            exit 0 if any Kafka broker answers on 127.0.0.1:P within 5 s
#   scripts/kafka.sh version                      print the Kafka version of the installed jars
#   scripts/kafka.sh log    [--port P] [--dir D]  print the path of the broker's log file
#   scripts/kafka.sh tool NAME [args...]          run a Kafka CLI: topics, console-producer, console-consumer,
#                                                 get-offsets, api-versions, storage, consumer-groups
#   scripts/kafka.sh run-class CLASS [args...]    run any main class with the Kafka classpath
#
# A broker is identified by its directory (default: $KAFKA_CACHE/broker-<port>), which holds
# server.properties, data/, kafka.log, kafka.pid and broker.env (the ports it was started with).
# Restarting with the same --dir keeps the data and, unless --port is given, the same ports, so a
# test can stop a broker to simulate an outage and bring it back. The controller listens on
# --controller-port (default: port + 1).
#
# Environment: KAFKA_CACHE (default <repo>/.cache/kafka), KAFKA_HEAP_OPTS (default -Xms128m -Xmx512m),
# KAFKA_START_TIMEOUT (60), KAFKA_STOP_TIMEOUT (30), KAFKA_VERSION (overrides the pom's version).
set -euo pipefail

SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPTS_DIR/.." && pwd)"
KAFKA_HOME_SRC="$SCRIPTS_DIR/kafka"
KAFKA_CACHE="${KAFKA_CACHE:-$REPO_ROOT/.cache/kafka}"
LIBS="$KAFKA_CACHE/libs"
CLASSES="$KAFKA_CACHE/classes"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
HOST=127.0.0.1

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

classpath() { printf '%s' "$LIBS/*:$CLASSES"; }

# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------

# The stamp records what the libs were resolved from, so install is a no-op when nothing changed.
install_stamp() {
    {
        sha256sum "$KAFKA_HOME_SRC/pom.xml" "$KAFKA_HOME_SRC/KafkaProbe.java"
        printf 'KAFKA_VERSION=%s\n' "${KAFKA_VERSION:-}"
    } | sha256sum | cut -d' ' -f1
}

# Debian's Maven 3.8 prints colour-reset codes even in batch mode; drop them (pipefail keeps mvn's status).
run_mvn() { mvn "$@" 2>&1 | sed -u $'s/\x1b\\[[0-9;]*m//g'; }

cmd_install() {
    command -v java >/dev/null || die "java not found (Kafka needs Java 17+)"
    command -v mvn >/dev/null || die "mvn not found (needed to resolve the Kafka jars)"
    local stamp
    stamp="$(install_stamp)"
    if [[ -f "$KAFKA_CACHE/installed" && "$(cat "$KAFKA_CACHE/installed")" == "$stamp" ]] \
        && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null && [[ -f "$CLASSES/KafkaProbe.class" ]]; then
        log "installed already (Kafka $(cmd_version)) in $LIBS"
        return 0
    fi
    log "resolving Kafka jars with Maven into $LIBS"
    mkdir -p "$KAFKA_CACHE"
    local tmp="$KAFKA_CACHE/libs.tmp"
    rm -rf "$tmp"
    local mvn_args=(-B -q -Dstyle.color=never -f "$KAFKA_HOME_SRC/pom.xml" dependency:copy-dependencies
        -DincludeScope=runtime -DoutputDirectory="$tmp")
    if [[ -n "${KAFKA_VERSION:-}" ]]; then mvn_args+=(-Dkafka.version="$KAFKA_VERSION"); fi
    # Retry once: a fresh machine occasionally sees a transient registry error.
    if ! run_mvn "${mvn_args[@]}" && ! { log "mvn failed, retrying once"; sleep 3; run_mvn "${mvn_args[@]}"; }; then
        die "could not resolve the Kafka jars (see the Maven output above)"
    fi
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "Maven did not produce kafka_2.13-*.jar"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    log "compiling the readiness probe"
    rm -rf "$CLASSES"
    mkdir -p "$CLASSES"
    javac -nowarn -d "$CLASSES" -cp "$LIBS/*" "$KAFKA_HOME_SRC/KafkaProbe.java"
    printf '%s\n' "$stamp" >"$KAFKA_CACHE/installed"
    local jars=("$LIBS"/*.jar)
    log "installed Kafka $(cmd_version) (${#jars[@]} jars, $(du -sh "$LIBS" | cut -f1))"
}

ensure_installed() {
    if [[ ! -f "$KAFKA_CACHE/installed" || ! -f "$CLASSES/KafkaProbe.class" ]]; then
        cmd_install
    fi
}

run_java_tool() {
    ensure_installed
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_HOME_SRC/log4j2-tools.properties" \
        -cp "$(classpath)" "$@"
}

cmd_version() {
    local jars=("$LIBS"/kafka-clients-*.jar) jar
    [[ -f "${jars[0]}" ]] || die "Kafka is not installed (run: scripts/kafka.sh install)"
    jar="$(basename "${jars[0]}" .jar)"
    printf '%s\n' "${jar#kafka-clients-}"
}

# ---------------------------------------------------------------------------------------------
# broker identity: --port / --controller-port / --dir
# ---------------------------------------------------------------------------------------------
PORT=""
CONTROLLER_PORT=""
DIR=""

parse_broker_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) PORT="${2:?--port needs a value}"; shift 2 ;;
            --port=*) PORT="${1#*=}"; shift ;;
            --controller-port) CONTROLLER_PORT="${2:?--controller-port needs a value}"; shift 2 ;;
            --controller-port=*) CONTROLLER_PORT="${1#*=}"; shift ;;
            --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
            --dir=*) DIR="${1#*=}"; shift ;;
            *) die "unknown argument: $1" ;;
        esac
    done
    local saved_port="" saved_cport=""
    if [[ -n "$DIR" ]]; then
        mkdir -p "$DIR"
        DIR="$(cd "$DIR" && pwd)"
        if [[ -f "$DIR/broker.env" ]]; then
            saved_port="$(sed -n 's/^PORT=//p' "$DIR/broker.env")"
            saved_cport="$(sed -n 's/^CONTROLLER_PORT=//p' "$DIR/broker.env")"
        fi
    fi
    # An explicit --port wins; otherwise a known --dir keeps its ports; otherwise 9092.
    if [[ -z "$PORT" ]]; then PORT="${saved_port:-9092}"; fi
    if [[ -z "$CONTROLLER_PORT" ]]; then
        if [[ -n "$saved_cport" && "$PORT" == "$saved_port" ]]; then CONTROLLER_PORT="$saved_cport"
        else CONTROLLER_PORT=$((PORT + 1)); fi
    fi
    [[ "$PORT" =~ ^[0-9]+$ && "$CONTROLLER_PORT" =~ ^[0-9]+$ ]] || die "ports must be numbers"
    [[ "$PORT" != "$CONTROLLER_PORT" ]] || die "--port and --controller-port must differ"
    if [[ -z "$DIR" ]]; then DIR="$KAFKA_CACHE/broker-$PORT"; fi
    BOOTSTRAP="$HOST:$PORT"
}

# The pid in $DIR/kafka.pid, if that process is alive and is our broker for this directory.
broker_pid() {
    local pid
    [[ -f "$DIR/kafka.pid" ]] || return 1
    pid="$(cat "$DIR/kafka.pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $DIR/server.properties" || return 1
    printf '%s\n' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

write_server_properties() {
    cat >"$DIR/server.properties" <<EOF
# Written by scripts/kafka.sh on every start; edits here are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$DIR/data
metadata.log.dir=$DIR/data

# Topics are created explicitly (clickgate's create_topics, or the tests).
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1

# Single node: every internal topic has one replica, and few partitions so it starts fast.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# After a crash (kill -9) the restarted node must wait for its old registration to expire before it
# serves requests: a short session makes that ~5 s instead of ~10 s. Heartbeats are local (combined mode).
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=4000

# Small footprint for a 2-core test machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=60000
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
message.max.bytes=4194304
EOF
}

format_storage_if_new() {
    if [[ -f "$DIR/data/meta.properties" ]]; then
        return 0
    fi
    local cluster_id
    # A Kafka cluster id is 16 random bytes in URL-safe base64 without padding.
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    log "formatting storage in $DIR/data (cluster id $cluster_id)"
    mkdir -p "$DIR/data"
    run_java_tool kafka.tools.StorageTool format --cluster-id "$cluster_id" \
        --config "$DIR/server.properties" >>"$DIR/kafka.log" 2>&1 \
        || { tail -n 30 "$DIR/kafka.log" >&2; die "kafka.tools.StorageTool format failed"; }
}

cmd_start() {
    ensure_installed
    local pid t0=$SECONDS
    if pid="$(broker_pid)"; then
        log "already running (pid $pid) on $BOOTSTRAP"
        wait_ready "$pid" || die "broker pid $pid is running but not answering on $BOOTSTRAP (log: $DIR/kafka.log)"
        return 0
    fi
    for p in "$PORT" "$CONTROLLER_PORT"; do
        if port_open "$p"; then
            die "port $p on $HOST is in use by another process (not a broker started with --dir $DIR)"
        fi
    done
    mkdir -p "$DIR"
    printf 'PORT=%s\nCONTROLLER_PORT=%s\n' "$PORT" "$CONTROLLER_PORT" >"$DIR/broker.env"
    write_server_properties
    # Keep one previous log when it grows past 20 MB (the log is appended to on every start).
    if [[ -f "$DIR/kafka.log" ]] && (($(stat -c %s "$DIR/kafka.log") > 20 * 1024 * 1024)); then
        mv -f "$DIR/kafka.log" "$DIR/kafka.log.1"
    fi
    printf '\n===== kafka.sh start %s port=%s controller=%s =====\n' "$(date -Is)" "$PORT" "$CONTROLLER_PORT" >>"$DIR/kafka.log"
    format_storage_if_new
    log "starting Kafka $(cmd_version) on $BOOTSTRAP (controller $HOST:$CONTROLLER_PORT, dir $DIR)"
    # setsid: the broker gets its own session so a Ctrl-C in the calling terminal does not reach it;
    # the inner shell writes its own pid and then becomes the JVM, so the pid file names the JVM.
    # shellcheck disable=SC2086,SC2016 # HEAP_OPTS is a list of JVM flags; $$ is the inner shell's
    setsid bash -c 'echo $$ >"$0/kafka.pid"; exec "$@"' "$DIR" \
        java $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_HOME_SRC/log4j2-server.properties" \
        -cp "$(classpath)" kafka.Kafka "$DIR/server.properties" \
        >>"$DIR/kafka.log" 2>&1 </dev/null &
    # Wait (up to 5 s) for the pid file to name the running JVM.
    for _ in $(seq 1 50); do
        if pid="$(broker_pid)"; then break; fi
        sleep 0.1
    done
    if ! pid="$(broker_pid)"; then
        tail -n 40 "$DIR/kafka.log" >&2
        die "the broker process did not start or exited at once (log: $DIR/kafka.log)"
    fi
    if ! wait_ready "$pid"; then
        log "---- last 60 lines of $DIR/kafka.log ----"
        tail -n 60 "$DIR/kafka.log" >&2
        log "----"
        stop_pid "$pid" 5 || true
        die "Kafka did not become ready on $BOOTSTRAP within ${START_TIMEOUT}s"
    fi
    log "ready on $BOOTSTRAP (pid $pid, took $((SECONDS - t0))s, log $DIR/kafka.log)"
}

wait_ready() {
    run_java_tool KafkaProbe wait "$BOOTSTRAP" "$START_TIMEOUT" "$1" >&2
}

# SIGTERM, wait up to $2 seconds, then SIGKILL; returns when the process is gone.
stop_pid() {
    local pid="$1" timeout="$2" waited=0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= timeout * 10)); then
            log "pid $pid still running after ${timeout}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

cmd_stop() {
    local pid t0=$SECONDS
    if ! pid="$(broker_pid)"; then
        rm -f "$DIR/kafka.pid"
        log "not running ($DIR)"
        return 0
    fi
    log "stopping broker pid $pid on $BOOTSTRAP"
    stop_pid "$pid" "$STOP_TIMEOUT"
    if kill -0 "$pid" 2>/dev/null; then die "pid $pid did not exit"; fi
    rm -f "$DIR/kafka.pid"
    for _ in $(seq 1 50); do port_open "$PORT" || break; sleep 0.1; done
    log "stopped (took $((SECONDS - t0))s)"
}

cmd_status() {
    local pid
    if ! pid="$(broker_pid)"; then
        echo "stopped port=$PORT dir=$DIR"
        return 3
    fi
    if START_TIMEOUT=5 wait_ready "$pid" 2>/dev/null; then
        echo "running pid=$pid bootstrap=$BOOTSTRAP controller=$HOST:$CONTROLLER_PORT version=$(cmd_version) dir=$DIR"
        return 0
    fi
    echo "unresponsive pid=$pid bootstrap=$BOOTSTRAP dir=$DIR"
    return 1
}

cmd_tool() {
    local name="${1:?tool needs a name}" class
    shift
    case "$name" in
        topics) class=org.apache.kafka.tools.TopicCommand ;;
        console-producer) class=org.apache.kafka.tools.ConsoleProducer ;;
        console-consumer) class=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
        consumer-groups) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
        get-offsets) class=org.apache.kafka.tools.GetOffsetShell ;;
        api-versions) class=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
        storage) class=kafka.tools.StorageTool ;;
        *) die "unknown tool: $name" ;;
    esac
    run_java_tool "$class" "$@"
}

main() {
    local cmd="${1:-}"
    [[ -n "$cmd" ]] || { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 64; }
    shift
    case "$cmd" in
        install) cmd_install ;;
        version) ensure_installed; cmd_version ;;
        start) parse_broker_args "$@"; cmd_start ;;
        stop) parse_broker_args "$@"; cmd_stop ;;
        status) parse_broker_args "$@"; cmd_status ;;
        log) parse_broker_args "$@"; printf '%s\n' "$DIR/kafka.log" ;;
        topics) parse_broker_args "$@"; run_java_tool KafkaProbe topics "$BOOTSTRAP" ;;
        probe) parse_broker_args "$@"; port_open "$PORT" && run_java_tool KafkaProbe wait "$BOOTSTRAP" 5 ;;
        tool) cmd_tool "$@" ;;
        run-class) run_java_tool "$@" ;;
        -h | --help | help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' ;;
        *) die "unknown command: $cmd (try --help)" ;;
    esac
}

main "$@"
