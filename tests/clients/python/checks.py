"""Assertions shared by the Python acceptance tests: what must be in Kafka after a library flushed."""

from __future__ import annotations

import json
from collections import Counter

from kafka_reader import Record, read_until


def _mentions(run_id: str, record: Record) -> bool:
    return run_id in json.dumps(record.value)


def assert_all_requests_accepted(exchanges) -> None:
    assert exchanges, "the library made no HTTP request"
    for ex in exchanges:
        assert ex.url.endswith("/v1/batch"), ex.url
        assert ex.headers.get("Authorization", "").startswith("Basic "), ex.headers
        assert ex.status == 200, f"{ex.url} answered {ex.status}: {ex.response}"
        assert ex.response is not None and ex.response.get("success") is True, ex.response
        assert ex.response.get("accepted") == len(ex.body["batch"]), ex.response
        assert not ex.response.get("rejected"), ex.response


def sent_messages(exchanges) -> dict[str, dict]:
    """messageId -> event as the library sent it; fails if the library sent one id twice."""
    ids = [mid for ex in exchanges for mid in ex.message_ids]
    dupes = [mid for mid, n in Counter(ids).items() if n > 1]
    assert not dupes, f"the library sent these messageIds more than once (retries?): {dupes}"
    return {event["messageId"]: event for ex in exchanges for event in ex.body["batch"]}


def assert_events_once(gateway, run_id: str, sent: dict[str, dict]) -> list[Record]:
    """Every sent event is in the events topic exactly once, unchanged where it must be."""
    records = read_until(
        gateway.bootstrap,
        gateway.topic_events,
        lambda r: isinstance(r.value, dict) and (r.value.get("messageId") in sent or _mentions(run_id, r)),
        expected=len(sent),
    )
    counts = Counter(r.value.get("messageId") for r in records)
    missing = sorted(set(sent) - set(counts))
    extra = sorted(set(counts) - set(sent))
    twice = sorted(mid for mid, n in counts.items() if n > 1)
    assert not missing, f"events missing from {gateway.topic_events}: {missing}"
    assert not extra, f"unexpected events for this run in {gateway.topic_events}: {extra}"
    assert not twice, f"events delivered more than once: {twice}"

    for record in records:
        event = record.value
        original = sent[event["messageId"]]
        assert event["type"] == original["type"], (event, original)
        for field in ("userId", "anonymousId", "event", "name", "properties", "traits"):
            if field in original:
                assert event.get(field) == original[field], f"{field} changed: {event} vs {original}"
        assert event.get("receivedAt"), f"no receivedAt: {event}"
        library = (original.get("context") or {}).get("library")
        if library:
            assert (event.get("context") or {}).get("library") == library, f"context.library lost: {event}"
        assert record.headers.get("source") == gateway.source, f"headers {record.headers}, expected source={gateway.source}"
        assert record.headers.get("type") == original["type"], f"headers {record.headers}, expected type={original['type']}"
        identity = original.get("anonymousId") or original.get("userId")
        assert record.key == f"{gateway.write_key}:{identity}", f"key {record.key!r} for {original}"
    return records


def assert_raw_once_per_request(gateway, run_id: str, exchanges, user_agent_prefix: str) -> list[Record]:
    """One raw envelope per accepted HTTP request, carrying exactly that request's body."""
    records = read_until(
        gateway.bootstrap,
        gateway.topic_raw,
        lambda r: isinstance(r.value, dict) and run_id in str(r.value.get("body", "")),
        expected=len(exchanges),
    )
    assert len(records) == len(exchanges), (
        f"{len(exchanges)} requests were accepted but {gateway.topic_raw} has {len(records)} raw records for them"
    )
    request_ids = Counter(r.value.get("requestId") for r in records)
    assert all(rid and n == 1 for rid, n in request_ids.items()), f"requestIds not unique: {request_ids}"

    raw_batches = []
    for record in records:
        env = record.value
        assert env.get("writeKey") == gateway.write_key, env
        assert env.get("source") == gateway.source, env
        assert env.get("path") == "/v1/batch", env
        assert "application/json" in (env.get("contentType") or ""), env
        assert (env.get("userAgent") or "").startswith(user_agent_prefix), env
        assert env.get("receivedAt"), env
        assert env.get("clientIp"), env
        assert isinstance(env.get("body"), dict), (
            f"contract: raw.body is the request body as received, embedded as JSON; got {type(env.get('body')).__name__}"
        )
        body = env["body"]
        raw_batches.append(tuple(sorted(e["messageId"] for e in body["batch"])))
    sent_batches = [tuple(sorted(ex.message_ids)) for ex in exchanges]
    assert sorted(raw_batches) == sorted(sent_batches), (
        f"raw bodies do not match the requests sent:\nraw:  {sorted(raw_batches)}\nsent: {sorted(sent_batches)}"
    )
    # "as received (decompressed)": byte for byte what the library sent, not a re-serialisation.
    # The body is embedded verbatim as the envelope's last field.
    embedded = Counter(r.text[r.text.index('"body":') + len('"body":') : -1] for r in records)
    assert embedded == Counter(ex.text.strip() for ex in exchanges), "raw bodies are not the request bodies as sent"
    return records


def assert_nothing_in_dlq(gateway, run_id: str) -> None:
    records = read_until(gateway.bootstrap, gateway.topic_dlq, lambda r: _mentions(run_id, r), expected=0)
    assert not records, f"events of this run were dead-lettered: {[r.value for r in records]}"


def assert_run_absent(gateway, run_id: str) -> None:
    """Nothing of this run reached any topic (for requests that must be refused)."""
    for topic in (gateway.topic_events, gateway.topic_raw, gateway.topic_dlq):
        records = read_until(gateway.bootstrap, topic, lambda r: _mentions(run_id, r), expected=0)
        assert not records, f"{topic} has records of a refused run: {[r.value for r in records]}"
