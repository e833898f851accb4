import pytest
from django.conf import settings as django_settings
from django.core.cache import cache


@pytest.fixture
def on_postgres() -> bool:
    return django_settings.DATABASE_IS_POSTGRES


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Settings every test shares.

    Pages render {% static %} without a collectstatic manifest (plain storage, served from the
    finders); test users hash their passwords fast; no cached chart JSON or rate-limit counter
    of an earlier test leaks into the next one.
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
