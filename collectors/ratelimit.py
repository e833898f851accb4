"""A fixed-window request counter per key in the Django cache (Redis in production).

With the local-memory cache (the embedded default) each web worker process counts on its own,
so the effective limit is the setting times the number of workers; Redis makes it exact.
"""

import logging
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

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
        cache.add(cache_key, 0, timeout=window_s + 5)
        count = cache.incr(cache_key)
    except ValueError:  # the key expired between add and incr
        cache.set(cache_key, 1, timeout=window_s + 5)
        count = 1
    except Exception:  # a cache outage must not stop ingest: fail open, loudly
        logger.exception("Rate limit cache unavailable; request let through.")
        return RateDecision(True, 0, 0)
    if count <= limit:
        return RateDecision(True, count, 0)
    retry_after = max(1, math.ceil((window + 1) * window_s - now))
    return RateDecision(False, count, retry_after)


def first_in_window(key: str, *, window_s: int = 60, now: float | None = None) -> bool:
    """True once per window for key (to log a repeated event once, not per request)."""
    now = time.time() if now is None else now
    try:
        return cache.add(f"once:{key}:{int(now // window_s)}", 1, timeout=window_s + 5)
    except Exception:
        return True
