"""The schema says the rules the server keeps, and the server answers as the schema says:
405 with Allow for a method an API path does not declare (before the CSRF check and
authentication), the control-character rule of query parameters, the documented 400s and 413
of the rules OpenAPI cannot state."""

import re
import sys
import unicodedata

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from assessments.models import Optimisation, Project, Team, UserProfile
from greenai_site.openapi import NO_CONTROL_CHARACTERS, build_schema

pytestmark = pytest.mark.django_db
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "QUERY")


def _operations():
    return list(build_schema()["paths"].items())


def _url(path: str) -> str:
    return path.replace("{slug}", "nlp").replace("{pk}", "1")


@pytest.fixture
def admin():
    account = get_user_model().objects.create_user("admin-405", is_staff=True, is_superuser=True)
    UserProfile.objects.create(user=account, role=UserProfile.Role.ADMIN)
    team = Team.objects.create(name="NLP", slug="nlp")
    Project.objects.create(slug="nlp", name="NLP project", team=team)
    return account


@pytest.mark.parametrize(("path", "operations"), _operations())
def test_an_undeclared_method_is_a_405_naming_the_declared_ones(admin, path, operations):
    declared = sorted(method.upper() for method in operations)
    anonymous = Client()
    # A logged-in session without a CSRF token: the CSRF check must not answer first (403).
    session = Client(enforce_csrf_checks=True)
    session.force_login(admin)
    undeclared = [method for method in METHODS if method not in declared]
    assert "QUERY" in undeclared
    for method in undeclared:
        for client in (anonymous, session):
            response = client.generic(method, _url(path))
            assert response.status_code == 405, (method, path, response.content[:200])
            assert response["Allow"] == ", ".join(declared), (method, path)


def test_a_declared_method_still_reaches_authentication(admin):
    assert Client().get("/api/v1/footprint").status_code == 401
    assert Client().post("/api/v1/ingest").status_code == 401


def test_every_operation_documents_the_405_and_its_allow_header():
    for path, operations in _operations():
        for method, operation in operations.items():
            answer = operation["responses"]["405"]
            assert answer["headers"]["Allow"]["required"] is True, (method, path)


def test_the_pattern_excludes_exactly_the_control_characters_the_server_refuses():
    pattern = re.compile(NO_CONTROL_CHARACTERS)
    refused = {
        code for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Cc"
    }
    assert refused == set(range(0x00, 0x20)) | set(range(0x7F, 0xA0))
    for code in (*sorted(refused), 0x20, 0x7E, 0xA0, 0xE9, 0x2028, 0x1F600):
        assert (pattern.match(f"ab{chr(code)}c") is None) == (code in refused), hex(code)


def test_every_free_text_query_parameter_states_the_control_character_rule():
    free_text = 0
    for path, operations in _operations():
        for operation in operations.values():
            for parameter in operation["parameters"]:
                schema = parameter["schema"]
                if parameter["in"] != "query" or "enum" in schema or "format" in schema:
                    continue
                if schema["pattern"] != NO_CONTROL_CHARACTERS:
                    # A stricter rule of its own (a scope): it admits no control character.
                    rule = re.compile(schema["pattern"])
                    for code in [*range(0x20), *range(0x7F, 0xA0)]:
                        for value in (f"team:x{chr(code)}", f"{chr(code)}organisation"):
                            assert not rule.fullmatch(value), (path, parameter["name"], code)
                free_text += 1
                free_text += 1
    assert free_text >= 4  # site, project (jobs, optimisations), user


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/api/v1/footprint?start=2026-11-01&end=2026-11-02&site=lab%C2%99", "site"),
        ("/api/v1/jobs?start=2026-11-01&end=2026-11-02&user=%C2%9Dx", "user"),
        ("/api/v1/optimisations?project=a%00b", "project"),
    ],
)
def test_a_control_character_in_a_query_parameter_is_a_400_naming_it(admin, url, name):
    client = Client()
    client.force_login(admin)
    response = client.get(url)
    assert response.status_code == 400
    assert response.json()["details"] == [{"field": name, "message": "control character"}]


def test_a_printable_non_ascii_query_value_is_not_refused(admin):
    client = Client()
    client.force_login(admin)
    response = client.get("/api/v1/optimisations", {"project": "Zürich\u00a0😀"})
    assert response.status_code == 404  # no such project: the value reached the view
    assert Optimisation.objects.count() == 0


def test_the_ingest_schema_documents_the_rules_openapi_cannot_state(settings):
    responses = build_schema()["paths"]["/api/v1/ingest"]["post"]["responses"]
    assert "retention" in responses["400"]["description"]
    assert "10 minutes ahead" in responses["400"]["description"]
    assert str(settings.INGEST_MAX_BODY_BYTES) in responses["413"]["description"]
    assert str(settings.INGEST_MAX_DECOMPRESSED_BYTES) in responses["413"]["description"]


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (
            "/api/v1/projects/nlp/work",
            {"units": 1, "ts": "2026-11-02T10:00:00Z", "note": "a\0"},
            "note",
        ),
        (
            "/api/v1/projects/nlp/work",
            {"units": 1, "ts": "2026-11-02T10:00:00Z", "note": "\x85"},
            "note",
        ),
        (
            "/api/v1/projects/nlp/codecarbon-experiments",
            {"id": "e3e70682-c209-1cac-a29f-6fbed82c07cd", "site": "lab\0"},
            "site",
        ),
        (
            "/api/v1/projects/nlp/codecarbon-experiments",
            {"id": "e3e70682-c209-1cac-a29f-6fbed82c07cd", "phase": "tra\x1bining"},
            "phase",
        ),
    ],
)
def test_a_control_character_in_a_json_string_is_a_400_naming_the_field(admin, url, body, field):
    """A NUL reached PostgreSQL (a 500) before the schemas said, and pydantic kept, the rule."""
    client = Client()
    client.force_login(admin)
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["details"]] == [field]
    pattern = build_schema()["components"]["schemas"]
    schema = pattern["WorkRequest" if "work" in url else "ExperimentMappingIn"]
    assert schema["properties"][field]["pattern"] == NO_CONTROL_CHARACTERS
