"""Migration 0007 renames the facility-energy evidence keys of stored recommendations."""

import importlib
from datetime import date

import pytest
from django.apps import apps

from assessments.decisions.recommendation_rules import evidence_digest
from assessments.models import Recommendation
from tests.assessments.decisions.decisions_factories import at

pytestmark = pytest.mark.django_db

migration = importlib.import_module(
    "assessments.migrations.0007_recommendation_monthly_facility_energy_kwh"
)


def stored(kind, evidence, **fields):
    return Recommendation.objects.create(
        kind=kind,
        fingerprint=f"{kind}:1",
        target="node-1",
        title=kind,
        action="Do it.",
        evidence=evidence,
        evidence_digest="old",
        period_start=at(date(2026, 10, 1)),
        period_end=at(date(2026, 10, 31)),
        confidence="medium",
        **fields,
    )


def test_old_evidence_keys_take_facility_names_and_back():
    cap = stored(
        "power_cap",
        {"energy_near_limit_kwh": 12.0, "hours_near_limit": 30},
        status="dismissed",
        dismissed_reason="Not now.",
    )
    candidate = stored(
        "optimisation_candidate",
        {"energy_wh_per_unit": 0.3, "previously_dismissed_because": "Later."},
    )
    other = stored("idle_gpu", {"idle_facility_energy_kwh": 5.0})

    migration.forwards(apps, None)
    cap.refresh_from_db()
    candidate.refresh_from_db()
    other.refresh_from_db()

    assert cap.evidence == {"facility_energy_near_limit_kwh": 12.0, "hours_near_limit": 30}
    assert cap.evidence_digest == evidence_digest(cap.evidence)
    assert candidate.evidence == {
        "facility_energy_wh_per_unit": 0.3,
        "previously_dismissed_because": "Later.",
    }
    assert candidate.evidence_digest == evidence_digest({"facility_energy_wh_per_unit": 0.3})
    assert other.evidence_digest == "old"  # nothing to rename, left alone

    migration.backwards(apps, None)
    cap.refresh_from_db()

    assert cap.evidence == {"energy_near_limit_kwh": 12.0, "hours_near_limit": 30}
