import pytest
from django.conf import settings


@pytest.fixture
def on_postgres() -> bool:
    return settings.DATABASE_IS_POSTGRES
