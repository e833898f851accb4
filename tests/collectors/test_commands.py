"""createcollector and revokecollector."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from assessments.models import Team
from collectors.models import Collector
from collectors.selectors import collector_for_token
from greenai_site.tokens import token_digest


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_createcollector_prints_the_token_once_and_stores_its_digest(db):
    out, err = run("createcollector", "cluster-a")
    token = out.strip()
    collector = Collector.objects.get(name="cluster-a")
    assert token.startswith(f"gac_{collector.token_prefix}_")
    assert collector.token_digest == token_digest(token)
    assert token not in collector.token_digest
    assert "shown only once" in err
    assert collector_for_token(token) == collector


def test_createcollector_with_a_team(db):
    team = Team.objects.create(name="NLP", slug="nlp")
    run("createcollector", "nlp-nodes", "--team", "nlp")
    assert Collector.objects.get(name="nlp-nodes").team == team


def test_createcollector_names_an_unknown_team(db):
    Team.objects.create(name="NLP", slug="nlp")
    with pytest.raises(CommandError, match="No team with slug 'vision'. Known teams: nlp."):
        run("createcollector", "x", "--team", "vision")
    assert not Collector.objects.exists()


def test_createcollector_refuses_a_taken_name(db):
    run("createcollector", "cluster-a")
    with pytest.raises(CommandError, match="already exists"):
        run("createcollector", "cluster-a")
    assert Collector.objects.count() == 1


def test_revokecollector_revokes_the_token(db):
    out, _ = run("createcollector", "cluster-a")
    out_revoke, _ = run("revokecollector", "cluster-a")
    assert "is revoked" in out_revoke
    collector = Collector.objects.get()
    assert collector.is_revoked
    assert collector_for_token(out.strip()).is_revoked
    again, _ = run("revokecollector", "cluster-a")
    assert "was already revoked" in again


def test_revokecollector_names_an_unknown_collector(db):
    with pytest.raises(CommandError, match="No collector named 'ghost'."):
        run("revokecollector", "ghost")
