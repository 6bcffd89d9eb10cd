"""segment-analytics-python (the official Segment Python library) sending to clickgate.

Each test sends through the real library over HTTP, then reads the real broker back.
"""

from __future__ import annotations

from collections import Counter

import pytest
import segment.analytics as analytics
from segment.analytics import Client
from segment.analytics.request import APIError

from checks import (
    assert_all_requests_accepted,
    assert_events_once,
    assert_nothing_in_dlq,
    assert_raw_once_per_request,
    assert_run_absent,
    sent_messages,
)


def _send_mixed_calls(client, run_id: str) -> None:
    for i in range(3):
        client.track(user_id=f"user-{run_id}-{i}", event="Order Completed", properties={"runId": run_id, "i": i, "total": 9.5})
    for i in range(2):
        client.page(anonymous_id=f"anon-{run_id}-{i}", category="Docs", name="Pricing", properties={"runId": run_id, "path": f"/p/{i}"})
    for i in range(2):
        client.identify(user_id=f"user-{run_id}-{i}", traits={"runId": run_id, "plan": "pro", "email": f"u{i}@example.com"})


def test_module_api_delivers_track_page_identify_exactly_once(gateway, run_id, http_log):
    errors = []
    analytics.write_key = gateway.write_key
    analytics.host = gateway.url
    analytics.max_retries = 2
    analytics.on_error = lambda error, batch: errors.append(error)

    try:
        _send_mixed_calls(analytics, run_id)
        analytics.flush()
    finally:
        analytics.shutdown()

    assert not errors, f"the library reported errors: {errors}"
    assert_all_requests_accepted(http_log.exchanges)
    sent = sent_messages(http_log.exchanges)
    assert len(sent) == 7
    assert Counter(e["type"] for e in sent.values()) == {"track": 3, "page": 2, "identify": 2}
    assert_events_once(gateway, run_id, sent)
    assert_raw_once_per_request(gateway, run_id, http_log.exchanges, "analytics-python/")
    assert_nothing_in_dlq(gateway, run_id)


def test_gzip_small_batches_and_own_message_ids_are_kept(gateway, run_id, http_log):
    errors = []
    client = Client(
        gateway.write_key,
        host=gateway.url,
        gzip=True,
        upload_size=2,
        max_retries=2,
        on_error=lambda error, batch: errors.append(error),
    )
    ids = [f"{run_id}-msg-{i}" for i in range(5)]
    for i, message_id in enumerate(ids):
        client.track(anonymous_id=f"anon-{run_id}", event="Clicked", properties={"runId": run_id, "i": i}, message_id=message_id)
    client.shutdown()

    assert not errors, f"the library reported errors: {errors}"
    assert_all_requests_accepted(http_log.exchanges)
    assert all(ex.headers.get("Content-Encoding") == "gzip" for ex in http_log.exchanges)
    assert len(http_log.exchanges) >= 3, "upload_size=2 must split 5 events over at least 3 requests"
    sent = sent_messages(http_log.exchanges)
    assert sorted(sent) == sorted(ids), "the library must send the messageIds we gave it"
    assert_events_once(gateway, run_id, sent)
    assert_raw_once_per_request(gateway, run_id, http_log.exchanges, "analytics-python/")


def test_unknown_write_key_is_refused_and_nothing_reaches_kafka(gateway, run_id, http_log):
    client = Client("sk_not_a_real_key", host=gateway.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as refused:
        client.track(user_id=f"user-{run_id}", event="Should Not Arrive", properties={"runId": run_id})
    assert refused.value.status == 401
    assert [ex.status for ex in http_log.exchanges] == [401]
    assert_run_absent(gateway, run_id)
