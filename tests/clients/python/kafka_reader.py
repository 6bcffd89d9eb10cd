"""Read clickgate's topics back from the real broker (confluent-kafka), for the acceptance tests."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: Any  # parsed JSON
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None  # the record value as bytes on the wire, decoded


def _decode(msg) -> Record:
    raw = msg.value()
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        value = raw.decode("utf-8", "replace")
    headers = {k: (v.decode("utf-8", "replace") if v is not None else None) for k, v in (msg.headers() or [])}
    key = msg.key().decode("utf-8", "replace") if msg.key() is not None else None
    text = raw.decode("utf-8", "replace") if raw is not None else None
    return Record(msg.topic(), msg.partition(), msg.offset(), key, value, headers, text)


def read_until(
    bootstrap: str,
    topic: str,
    match: Callable[[Record], bool],
    expected: int,
    timeout: float = 30.0,
) -> list[Record]:
    """Read `topic` from the beginning and return every record that `match`es.

    Keeps reading until at least `expected` matching records were seen AND every partition has been
    read up to its current high watermark (so duplicates already in the log are returned too), or until
    `timeout` seconds pass. With `expected=0` it reads exactly what is in the log now.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"clickgate-clients-test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        topic_md = metadata.topics.get(topic)
        if topic_md is None or topic_md.error is not None:
            raise AssertionError(f"topic {topic!r} does not exist on {bootstrap}: {topic_md and topic_md.error}")
        partitions = sorted(topic_md.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        next_offset = {p: 0 for p in partitions}
        matches: list[Record] = []
        deadline = time.monotonic() + timeout
        while True:
            highs = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
            caught_up = all(next_offset[p] >= highs[p] for p in partitions)
            if caught_up and len(matches) >= expected:
                return matches
            if time.monotonic() > deadline:
                return matches
            for msg in consumer.consume(num_messages=500, timeout=0.2):
                if msg.error():
                    raise KafkaException(msg.error())
                next_offset[msg.partition()] = msg.offset() + 1
                record = _decode(msg)
                if match(record):
                    matches.append(record)
    finally:
        consumer.close()
