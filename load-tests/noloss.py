#!/usr/bin/env python3
"""No-loss check: every event clickgate acknowledged is in the events topic.

Reads the acknowledged message ids written by the k6 scenarios (k6 log with
`--log-format=raw`) or by the harness's loadgen (`--acked`):

    ACK <prefix> <n>     ids <prefix>-0 .. <prefix>-(n-1)
    ACK <id>             one id

(other lines are ignored), then reads the topic from the beginning up to the
end offsets taken at start, and reports:

    acked       ids the server acknowledged
    missing     acked ids not in the topic (loss: exit status 1)
    duplicates  ids of this run present more than once (reported, not fatal
                unless --max-duplicates is exceeded)
    extra       ids of this run present but never acknowledged (e.g. answered
                503 after a delivery timeout yet written): allowed

Ids of other runs in the same topic are skipped: only ids that start with
one of the prefixes seen in the ack files (or --run-id) count.

    noloss.py --brokers 127.0.0.1:9092 --topic clickstream.events \\
              --acked acked.log [--acked more.log] [--run-id ID] \\
              [--expect-acked N | --k6-summary summary.json] [--json report.json]

--k6-summary cross-checks the number of ids in the log with k6's own
`events_acked` counter, so a truncated log cannot hide a loss.
"""

import argparse
import json
import sys
import time
import uuid
from collections import Counter

from confluent_kafka import Consumer, KafkaException, TopicPartition

MARK = b'{"messageId":"'


def read_acked(paths):
    """Returns (set of acked ids, set of run ids seen as prefixes)."""
    acked = set()
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == "ACK":
                    parts = parts[1:]
                if len(parts) == 2 and parts[1].isdigit():
                    prefix, n = parts[0], int(parts[1])
                    acked.update(f"{prefix}-{i}" for i in range(n))
                elif len(parts) == 1 and "-" in parts[0] and line.startswith("ACK"):
                    acked.add(parts[0])
    return acked


def message_id(value):
    """clickgate writes messageId first; fall back to a full parse otherwise."""
    if value.startswith(MARK):
        end = value.find(b'"', len(MARK))
        if end > 0:
            return value[len(MARK):end].decode("utf-8", "replace")
    try:
        return str(json.loads(value).get("messageId"))
    except (ValueError, AttributeError):
        return None


def read_topic(brokers, topic, keep, timeout):
    """Counts message ids in the topic that `keep` accepts, up to the end
    offsets at the time of the call."""
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"clickgate-noloss-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "fetch.max.bytes": 52428800,
    })
    try:
        md = consumer.list_topics(topic, timeout=10)
        if topic not in md.topics or md.topics[topic].error is not None:
            raise SystemExit(f"noloss: topic {topic} not found on {brokers}")
        parts = sorted(md.topics[topic].partitions)
        ends = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        seen = Counter()
        total = 0
        deadline = time.monotonic() + timeout
        done = {p: False for p in ends}
        while not all(done.values()):
            if time.monotonic() > deadline:
                raise SystemExit(f"noloss: reading {topic} timed out after {timeout}s")
            for msg in consumer.consume(num_messages=20000, timeout=1.0):
                if msg.error():
                    raise KafkaException(msg.error())
                p, off = msg.partition(), msg.offset()
                if p in ends and off >= ends[p] - 1:
                    done[p] = True
                if p in ends and off >= ends[p]:
                    continue
                total += 1
                mid = message_id(msg.value() or b"")
                if mid is not None and keep(mid):
                    seen[mid] += 1
        return seen, total
    finally:
        consumer.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brokers", default="127.0.0.1:9092")
    ap.add_argument("--topic", default="clickstream.events")
    ap.add_argument("--acked", action="append", required=True, help="ack file (repeatable)")
    ap.add_argument("--run-id", action="append", default=[], help="count only ids starting with this (repeatable)")
    ap.add_argument("--k6-summary", help="k6 JSON summary: its events_acked must match the log")
    ap.add_argument("--expect-acked", type=int, help="the number of acked ids the generator reported")
    ap.add_argument("--max-duplicates", type=int, default=-1, help="fail above this many duplicates (-1: report only)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to read the topic")
    ap.add_argument("--json", help="write the report here as JSON")
    args = ap.parse_args()

    t0 = time.monotonic()
    acked = read_acked(args.acked)
    expected = args.expect_acked
    if args.k6_summary:
        with open(args.k6_summary, encoding="utf-8") as f:
            metrics = json.load(f).get("metrics", {})
        expected = int(metrics.get("events_acked", {}).get("values", {}).get("count", 0))
    problems = []
    if expected is not None and expected != len(acked):
        problems.append(f"the ack log holds {len(acked)} ids but the generator counted {expected} acknowledged events")

    run_ids = tuple(args.run_id) or tuple({a.split("-", 1)[0] + "-" for a in acked})
    seen, total = read_topic(args.brokers, args.topic, lambda m: m.startswith(run_ids), args.timeout)

    missing = [a for a in acked if a not in seen]
    dups = {m: c for m, c in seen.items() if c > 1}
    duplicate_records = sum(c - 1 for c in dups.values())
    extra = sum(1 for m in seen if m not in acked)
    report = {
        "topic": args.topic,
        "run_ids": sorted(r.rstrip("-") for r in run_ids),
        "records_read": total,
        "acked": len(acked),
        "present": len(acked) - len(missing),
        "missing": len(missing),
        "missing_sample": sorted(missing)[:10],
        "duplicate_ids": len(dups),
        "duplicate_records": duplicate_records,
        "extra_unacked_present": extra,
        "seconds": round(time.monotonic() - t0, 1),
    }
    if not acked:
        problems.append("no acknowledged ids in the ack file(s): nothing was checked")
    if missing:
        problems.append(f"{len(missing)} acknowledged events are missing from {args.topic}")
    if args.max_duplicates >= 0 and duplicate_records > args.max_duplicates:
        problems.append(f"{duplicate_records} duplicate records (limit {args.max_duplicates})")
    report["ok"] = not problems
    report["problems"] = problems
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    print(
        f"noloss: {args.topic}: acked {report['acked']}, present {report['present']}, "
        f"missing {report['missing']}, duplicates {duplicate_records} ({len(dups)} ids), "
        f"extra (unacked but written) {extra}, read {total} records in {report['seconds']}s"
    )
    for p in problems:
        print(f"noloss: FAIL: {p}", file=sys.stderr)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
