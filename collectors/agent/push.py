"""Sending spooled batches to the ingest API, and what to do with each answer.

2xx with the ingest acknowledgement ({"accepted": N, "duplicate": bool}): stored (or already
stored): delete. Any other 2xx body (a proxy or portal answering in the server's place) proves
nothing was stored: keep and retry. 5xx, 408, 429 and network errors: keep and retry with capped
exponential backoff and jitter, at least as long as Retry-After asks (the sender sets a batch
aside after repeated 5xx or timeouts, see runner.py). Other 4xx: the batch itself is refused:
move it to rejected/ with the answer, so it never blocks the next one. Exceptions: 401 (token
refused), 404/405 (wrong --server) and 407 say nothing about the batch, only about this agent's
configuration: those batches are kept and retried, so fixing the token or URL loses nothing.
Redirects are never followed (a POST re-sent elsewhere, or turned into a GET, would carry the
token to another place and store nothing): a 3xx is a configuration error, the batch is kept.
"""

import email.utils
import http.client
import ipaddress
import json
import logging
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlparse

from collectors.agent import AGENT_VERSION

log = logging.getLogger("greenai.agent")

INGEST_PATH = "/api/v1/ingest"
CONFIGURATION_STATUSES = {401, 404, 405, 407}
RETRY_STATUSES = {408, 425, 429}
# Causes that may come from the batch itself (a body that makes the server fail or take too
# long), as opposed to the server being down or the agent misconfigured: after
# SET_ASIDE_AFTER of them in a row the batch is set aside so that newer ones go first.
BATCH_FAILURE_CAUSES = {"server_error", "timeout"}


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
        answer = parse_acknowledgement(body)
        if answer is None:
            return PushOutcome(
                "retry",
                "bad_answer",
                status,
                None,
                f"{status} without the ingest acknowledgement"
                f' {{"accepted": N, "duplicate": ...}} (is --server the GreenAI server?): '
                f"{body[:200]!r}",
            )
        accepted, duplicate = answer
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


def parse_acknowledgement(body: str) -> tuple[int, bool] | None:
    """(accepted, duplicate) from the ingest API's answer, or None if the body is not one."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    accepted, duplicate = answer.get("accepted"), answer.get("duplicate")
    if type(accepted) is not int or accepted < 0 or type(duplicate) is not bool:
        return None
    return accepted, duplicate


def redirect_outcome(status: int, location: str | None, url: str) -> PushOutcome:
    return PushOutcome(
        "retry",
        "redirect",
        status,
        None,
        f"{url} answered {status} redirecting to {location or '(no Location)'}; the agent never "
        "follows redirects: set --server to the URL the server really answers on",
    )


def plain_http_warning(server: str) -> str | None:
    """A warning when the token would cross the network unencrypted, else None."""
    parsed = urlparse(server)
    if parsed.scheme != "http":
        return None
    host = parsed.hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"--server {server} is plain http:// to another machine: the collector token and the "
        "measurements cross the network unencrypted; use https://"
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx, which classify() settles


class Poster:
    """POSTs gzip bodies to <server>/api/v1/ingest with the collector token."""

    def __init__(self, server: str, token: str, *, timeout_s: float = 30.0):
        self.url = server.rstrip("/") + INGEST_PATH
        self.token = token
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(_NoRedirect)

    def post(self, body_gzip: bytes, *, timeout_s: float | None = None) -> PushOutcome:
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
            timeout = self.timeout_s if timeout_s is None else min(timeout_s, self.timeout_s)
            with self._opener.open(request, timeout=timeout) as response:
                text = response.read().decode("utf-8", "replace")
                return classify(response.status, text, None, time.time())
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                return redirect_outcome(exc.code, exc.headers.get("Location"), self.url)
            try:
                text = exc.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                text = ""
            return classify(exc.code, text, exc.headers.get("Retry-After"), time.time())
        except (TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            cause = "timeout" if isinstance(reason, TimeoutError) else "network"
            return PushOutcome("retry", cause, None, None, f"{self.url}: {reason}")


def backoff_delay(failures: int, *, base_s: float, cap_s: float, rng=random.random) -> float:
    """Delay after `failures` earlier failures: capped doubling with "equal jitter" (half fixed,
    half random), so that agents failing together do not retry together."""
    ceiling = min(cap_s, base_s * 2 ** min(failures, 60))
    return ceiling / 2 + rng() * ceiling / 2


class Backoff:
    """Capped exponential backoff with jitter, counting the failures since the last success."""

    def __init__(self, *, base_s: float = 1.0, cap_s: float = 300.0, rng=random.random):
        self.base_s = base_s
        self.cap_s = cap_s
        self.rng = rng
        self.failures = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        delay = backoff_delay(self.failures, base_s=self.base_s, cap_s=self.cap_s, rng=self.rng)
        self.failures += 1
        if retry_after_s is not None:
            # The server knows best when it can take more; an hour at most, for a broken clock.
            delay = max(delay, min(retry_after_s, 3600.0))
        return delay

    def reset(self) -> None:
        self.failures = 0
