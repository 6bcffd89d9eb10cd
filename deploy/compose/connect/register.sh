#!/bin/sh
# Creates or updates every connector in /connectors/*.json with Kafka Connect's REST API.
# PUT /connectors/<name>/config is idempotent, so re-running the service is safe.
set -eu

connect_url="${CONNECT_URL:-http://connect:8083}"

attempt=0
until curl -fsS "$connect_url/connector-plugins" 2>/dev/null | grep -q AivenKafkaConnectS3SinkConnector; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "Kafka Connect at $connect_url has no Aiven S3 sink plugin after 3 minutes" >&2
    exit 1
  fi
  echo "waiting for Kafka Connect and the S3 sink plugin ($attempt/60)"
  sleep 3
done

for file in /connectors/*.json; do
  name="$(basename "$file" .json)"
  echo "registering $name"
  curl -fsS -X PUT -H 'Content-Type: application/json' --data @"$file" \
    "$connect_url/connectors/$name/config"
  echo
done

curl -fsS "$connect_url/connectors?expand=status"
echo
