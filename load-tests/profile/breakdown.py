#!/usr/bin/env python3
"""Attributes perf samples of clickgate to stages of its request path.

    perf script -i clickgate.perf | breakdown.py

Each sample goes to the first stage pattern found walking its stack from the
leaf towards the root (generic layers — hyper, axum, tokio, the allocator —
only when no stage matched), so a serde_json frame under `write_raw` counts as
"raw envelope", and a write(2) under librdkafka's broker thread as "librdkafka
broker thread". Samples whose stack matches nothing are "other".
"""

import re
import sys
from collections import Counter

# (stage, regex over a frame's symbol); order matters only within one frame.
STAGES = [
    ("lz4 compression (librdkafka)", r"LZ4"),
    ("metrics (counters, histograms)", r"metrics::|metrics_exporter|count_delivery|quanta|Histogram"),
    ("raw envelope (write_raw)", r"write_raw"),
    ("dead letters", r"Pipeline::reject"),
    ("event: serialise normalised JSON (write_event)", r"write_event|event::output"),
    ("batch: parse body, split events", r"split_batch|BatchBody|ingest::batch|from_slice|SliceRead, clickgate::event::wire"),
    ("event: parse + validate + normalise", r"Pipeline::validate|event::normalise|WireEvent|Pipeline::one|StrRead, clickgate::event::wire"),
    ("body read (http::body::read)", r"http::body::read|Limited|collect"),
    ("produce: enqueue (rd_kafka_producev, headers)", r"KafkaSink::enqueue|EventSink>::publish|rd_kafka_producev|OwnedHeaders|BaseRecord|ThreadedProducer.*send"),
    ("produce: delivery reports (poll thread)", r"GatewayContext|Pending::report|handle_delivery_report|ThreadedProducer|rd_kafka_poll|dr_msgq|rd_kafka_q_serve"),
    ("librdkafka broker thread (batching, send, acks)", r"rd_kafka_broker|rd_kafka_msgset|rd_kafka_transport|rd_kafka_"),
    ("response JSON + error mapping", r"accepted_response|ApiError|ingest::Accepted"),
    ("request id (uuid v7)", r"uuid::"),
]
# Generic layers: a sample counts here only when no stage above matched
# anywhere in its stack (perf lists inlined frames after the frame that
# contains them, so a stage's code inlined into a handler closure still wins).
WEAK = [
    ("hyper HTTP/1 (parse, write, connection)", r"hyper::|h1::|httparse"),
    ("axum/tower routing + middleware", r"axum::|tower::|tower_http::"),
    ("tokio: IO driver, socket syscalls, thread park/unpark (context switches)", r"tokio::"),
    ("allocator (malloc/free outside a stage)", r"malloc|_int_free|_int_malloc|cfree|realloc"),
]
COMPILED = [(name, re.compile(rx)) for name, rx in STAGES]
COMPILED_WEAK = [(name, re.compile(rx)) for name, rx in WEAK]


def samples(lines):
    frames = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                yield frames
            frames = []
            continue
        if line.startswith("\t") or line.startswith(" "):
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                frames.append(parts[1])
        # header lines (comm pid time event) are skipped
    if frames:
        yield frames


def classify(frames):
    for table in (COMPILED, COMPILED_WEAK):
        for frame in frames:  # leaf first
            hit = next((name for name, rx in table if rx.search(frame)), None)
            if hit:
                return hit
    return "other (kernel-only or truncated stack)"


def main():
    counts = Counter()
    total = 0
    for frames in samples(sys.stdin):
        total += 1
        counts[classify(frames)] += 1
    print(f"{total} samples")
    for stage, n in counts.most_common():
        print(f"{100 * n / total:6.1f}%  {stage}")


if __name__ == "__main__":
    main()
