"""Sending spooled batches to the ingest API, and what to do with each answer.

2xx: stored (or already stored): delete. 5xx, 408, 429 and network errors: keep and retry with
capped exponential backoff and jitter, at least as long as Retry-After asks. Other 4xx: the
batch itself is refused: move it to rejected/ with the answer, so it never blocks the next one.
Exceptions: 401 (token refused), 404/405 (wrong --server) and 407 say nothing about the batch,
only about this agent's configuration: those batches are kept and retried, so fixing the token
or URL loses nothing.
"""

import email.utils
import http.client
import json
import logging
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from collectors.agent import AGENT_VERSION

log = logging.getLogger("greenai.agent")

INGEST_PATH = "/api/v1/ingest"
CONFIGURATION_STATUSES = {401, 404, 405, 407}
RETRY_STATUSES = {408, 425, 429}


@dataclass(frozen=True)
class PushOutcome:
    action: str  # "delete", "retry" or "reject"
    cause: str  # metric label: ok, duplicate, network, server_error, rate_limited, ...
    status: int | None = None
    retry_after_s: float | None = None
    detail: str = ""
    accepted: int | None = None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def classify(status: int, body: str, retry_after: str | None, now: float) -> PushOutcome:
    """What an HTTP answer means for the batch that got it."""
    if 200 <= status < 300:
        accepted = None
        duplicate = False
        try:
            answer = json.loads(body)
            accepted = answer.get("accepted")
            duplicate = bool(answer.get("duplicate"))
        except (ValueError, AttributeError):
            pass
        return PushOutcome("delete", "duplicate" if duplicate else "ok", status, accepted=accepted)
    wait = parse_retry_after(retry_after, now)
    if status == 429:
        return PushOutcome("retry", "rate_limited", status, wait, body[:500])
    if status >= 500 or status in RETRY_STATUSES:
        return PushOutcome("retry", "server_error", status, wait, body[:500])
    if status in CONFIGURATION_STATUSES:
        cause = "auth" if status in (401, 407) else "not_found"
        return PushOutcome("retry", cause, status, wait, body[:500])
    return PushOutcome("reject", "rejected", status, None, body)


class Poster:
    """POSTs gzip bodies to <server>/api/v1/ingest with the collector token."""

    def __init__(self, server: str, token: str, *, timeout_s: float = 30.0):
        self.url = server.rstrip("/") + INGEST_PATH
        self.token = token
        self.timeout_s = timeout_s

    def post(self, body_gzip: bytes) -> PushOutcome:
        request = urllib.request.Request(
            self.url,
            data=body_gzip,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "User-Agent": f"greenai-agent/{AGENT_VERSION}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                text = response.read().decode("utf-8", "replace")
                return classify(response.status, text, None, time.time())
        except urllib.error.HTTPError as exc:
            try:
                text = exc.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                text = ""
            return classify(exc.code, text, exc.headers.get("Retry-After"), time.time())
        except (TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            return PushOutcome("retry", "network", None, None, f"{self.url}: {reason}")


class Backoff:
    """Capped exponential backoff with jitter ("equal jitter": half fixed, half random)."""

    def __init__(self, *, base_s: float = 1.0, cap_s: float = 300.0, rng=random.random):
        self.base_s = base_s
        self.cap_s = cap_s
        self.rng = rng
        self.failures = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**self.failures)
        self.failures += 1
        delay = ceiling / 2 + self.rng() * ceiling / 2
        if retry_after_s is not None:
            # The server knows best when it can take more; an hour at most, for a broken clock.
            delay = max(delay, min(retry_after_s, 3600.0))
        return delay

    def reset(self) -> None:
        self.failures = 0
