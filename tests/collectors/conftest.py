import uuid

import pytest


@pytest.fixture(autouse=True)
def isolated_cache(settings):
    """A key prefix of its own per test, so rate-limit counters never leak between tests.

    (Not cache.clear(): under ./test the cache shares its Redis database with the broker.)
    """
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }
