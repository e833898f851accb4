"""A fixed-window request counter per key in the Django cache (Redis in production).

With the local-memory cache (the embedded default) each web worker process counts on its own,
so the effective limit is the setting times the number of workers; Redis makes it exact.
"""

import logging
import math
import time
from dataclasses import dataclass

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int
    retry_after_s: int  # seconds until the window resets (0 when allowed)


def rate_limit_hit(
    key: str, *, limit: int, window_s: int = 60, now: float | None = None
) -> RateDecision:
    """Count one request for key; refuse it when the window already holds `limit` requests."""
    now = time.time() if now is None else now
    window = int(now // window_s)
    cache_key = f"ratelimit:{key}:{window}"
    try:
        count = _count(cache_key, timeout=window_s + 5)
    except Exception:  # a cache outage must not stop ingest: fail open, loudly
        logger.exception("Rate limit cache unavailable; request let through.")
        return RateDecision(True, 0, 0)
    if count <= limit:
        return RateDecision(True, count, 0)
    retry_after = max(1, math.ceil((window + 1) * window_s - now))
    return RateDecision(False, count, retry_after)


def _count(key: str, *, timeout: int) -> int:
    """Add one to the key's counter (made on the window's first request); its new value."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _count_redis(backend, key, timeout=timeout)
    # Other caches: one round trip once the window's counter exists.
    try:
        return backend.incr(key)
    except ValueError:  # the window's first request
        pass
    if backend.add(key, 1, timeout=timeout):
        return 1
    try:
        return backend.incr(key)  # another request made the counter meanwhile
    except ValueError:  # ... and it expired already
        backend.set(key, 1, timeout=timeout)
        return 1


def _count_redis(backend: RedisCache, key: str, *, timeout: int) -> int:
    """INCR (which starts a missing counter at 1) and EXPIRE in one round trip. Django's own
    incr() asks EXISTS first, a second round trip. The expiry moves with every request; the
    key names its window, so it still goes soon after the window ends. (backend._cache is
    Django's Redis client wrapper, not public API: tests/collectors/test_ingest_costs.py runs
    this against Redis.)"""
    key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(key, write=True)
    with client.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, timeout)
        count, _ = pipe.execute()
    return count


def first_in_window(key: str, *, window_s: int = 60, now: float | None = None) -> bool:
    """True once per window for key (to log a repeated event once, not per request)."""
    now = time.time() if now is None else now
    try:
        return cache.add(f"once:{key}:{int(now // window_s)}", 1, timeout=window_s + 5)
    except Exception:
        return True
