"""Fixtures for the Python client-library acceptance tests.

tests/clients/run.sh starts clickgate with fresh topics and passes everything through the environment.
"""

from __future__ import annotations

import gzip
import json
import os
import uuid
from dataclasses import dataclass, field

import pytest
import segment.analytics.request as segment_request


@dataclass(frozen=True)
class Gateway:
    url: str
    bootstrap: str
    topic_events: str
    topic_raw: str
    topic_dlq: str
    write_key: str
    source: str


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run these tests through tests/clients/run.sh")
    return value


@pytest.fixture(scope="session")
def gateway() -> Gateway:
    return Gateway(
        url=_env("CLICKGATE_URL"),
        bootstrap=_env("CLICKGATE_TEST_KAFKA"),
        topic_events=_env("CLICKGATE_TOPIC_EVENTS"),
        topic_raw=_env("CLICKGATE_TOPIC_RAW"),
        topic_dlq=_env("CLICKGATE_TOPIC_DLQ"),
        write_key=_env("CLICKGATE_SERVER_WRITE_KEY"),
        source=_env("CLICKGATE_SERVER_SOURCE"),
    )


@pytest.fixture
def run_id() -> str:
    return f"py-{uuid.uuid4().hex[:12]}"


@dataclass
class Exchange:
    """One HTTP request the library made and the response it got."""

    url: str
    headers: dict[str, str]
    text: str  # the request body as the library sent it (gunzipped if needed)
    body: dict  # the same, parsed
    status: int
    response: dict | None

    @property
    def message_ids(self) -> list[str]:
        return [event["messageId"] for event in self.body["batch"]]


@dataclass
class HttpRecorder:
    exchanges: list[Exchange] = field(default_factory=list)

    def __call__(self, response, *args, **kwargs):
        request = response.request
        raw = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        if request.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        text = raw.decode("utf-8")
        self.exchanges.append(Exchange(request.url, dict(request.headers), text, json.loads(text), response.status_code, parsed))
        return response


@pytest.fixture
def http_log():
    """Every request the Segment library sends, seen through a `requests` response hook on its session.

    This only observes: the requests still go to clickgate over real HTTP.
    """
    recorder = HttpRecorder()
    hooks = segment_request._session.hooks["response"]
    hooks.append(recorder)
    yield recorder
    hooks.remove(recorder)
