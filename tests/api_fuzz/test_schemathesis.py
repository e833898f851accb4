"""Schemathesis against the live test server, with the schema the server itself publishes.

Every operation of /api/v1/openapi.json (the read API, the work API, the ingest API) gets
FUZZ_EXAMPLES generated requests, authenticated as a real client would be: a personal token with
the `work` scope for the read and work API, a collector token for the ingest. Any server error,
undocumented status, wrong content type or answer that breaks its schema fails the test.
docs/security.md says how to run it with more examples.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from assessments.models import ApiToken, Project, Team, UserProfile
from assessments.organisation.services import api_token_create
from collectors.services import collector_create

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_tokens(transactional_db):
    """An admin's work-scoped personal token and a collector's token, with a team and projects
    for the generated slugs to hit now and then."""
    from django.contrib.auth import get_user_model

    team = Team.objects.create(name="NLP", slug="nlp")
    for slug in ("llm", "a", "0"):
        Project.objects.create(slug=slug, name=slug, team=team)
    admin = get_user_model().objects.create_user("fuzz-admin", is_staff=True, is_superuser=True)
    UserProfile.objects.create(user=admin, role=UserProfile.Role.ADMIN)
    _, personal = api_token_create(user=admin, name="fuzz", scope=ApiToken.Scope.WORK)
    _, collector = collector_create(name="fuzz-collector")
    return {"personal": personal, "collector": collector}


@pytest.fixture
def live_schema(live_server, api_tokens):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("live_schema")


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same requests every run: a failure in CI is reproducible
)
def test_the_api_answers_every_generated_request_as_its_schema_says(case, api_tokens):
    kind = "collector" if case.operation.path == "/api/v1/ingest" else "personal"
    case.call_and_validate(
        headers={"Authorization": f"Bearer {api_tokens[kind]}"}, checks=CHECKS, timeout=60
    )
