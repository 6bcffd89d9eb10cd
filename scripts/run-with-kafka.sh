#!/usr/bin/env bash
# Runs clickgate against a real local Apache Kafka (KRaft, from Maven Central jars):
# starts the broker with scripts/kafka.sh if needed, then clickgate with
# config/clickgate.example.toml, creating the topics on first start.
#   scripts/run-with-kafka.sh [extra clickgate flags...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/kafka.sh install
bash scripts/kafka.sh probe --port 9092 >/dev/null 2>&1 || bash scripts/kafka.sh start --port 9092
export CLICKGATE_CONFIG="${CLICKGATE_CONFIG:-config/clickgate.example.toml}"
export CLICKGATE_KAFKA_BROKERS="${CLICKGATE_KAFKA_BROKERS:-127.0.0.1:9092}"
export CLICKGATE_KAFKA_CREATE_TOPICS="${CLICKGATE_KAFKA_CREATE_TOPICS:-true}"
exec cargo run --release --locked -- "$@"
