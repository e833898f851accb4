"""Schemathesis against the live test server, with the schema the server itself publishes.

Every operation of /api/v1/openapi.json (the read API, the work API, the ingest API) goes through
every phase Schemathesis has: the coverage phase (each parameter's boundaries and each way to
break the schema, deterministic), the fuzzing phase (FUZZ_EXAMPLES generated requests per
operation) and the stateful phase (sequences following the links Schemathesis infers between
operations, e.g. from the optimisations' list to one optimisation). Requests are authenticated as
a real client's would be: a personal token with the `work` scope for the read and work API, a
collector token for the ingest. Every check runs (the CLI's `--checks all`), configured by
schemathesis.toml at the repository's root: any server error, undocumented status, wrong content
type or header, answer that breaks its schema, schema-valid request refused, schema-violating
request accepted, auth not enforced, or undeclared method not answered 405 fails the test.
docs/security.md says how to run it with more examples, and the CLI against a running server.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from assessments.models import ApiToken, Project, Team, UserProfile
from assessments.organisation.services import api_token_create
from collectors.services import collector_create

# 25 fuzzed requests per operation keep the whole file within a few minutes on a loaded 2-core
# machine (about 1,000 requests with the coverage phase's); FUZZ_EXAMPLES=1000 for a longer run.
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", str(max(5, FUZZ_EXAMPLES // 5))))
INGEST = "/api/v1/ingest"


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


def _headers(path: str, tokens: dict) -> dict:
    kind = "collector" if path == INGEST else "personal"
    return {"Authorization": f"Bearer {tokens[kind]}"}


@pytest.fixture
def live_schema(live_server, api_tokens):
    # schemathesis.toml (found from the working directory, the repository's root) holds the
    # checks' settings; the CLI reads the same file.
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("live_schema")

HYPOTHESIS = {
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
    "derandomize": True,  # the same requests every run: a failure in CI is reproducible
}


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, **HYPOTHESIS)
def test_the_api_answers_every_generated_request_as_its_schema_says(case, api_tokens):
    case.call_and_validate(headers=_headers(case.operation.path, api_tokens), timeout=60)


def test_sequences_of_calls_answer_as_the_schema_says(live_schema, api_tokens):
    base = live_schema.as_state_machine()

    class APIWorkflow(base):
        def get_call_kwargs(self, case):
            return {"headers": _headers(case.operation.path, api_tokens), "timeout": 60}

    run_state_machine_as_test(
        APIWorkflow,
        settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=6, **HYPOTHESIS),
    )
