"""energy_kwh names IT energy everywhere; a recommendation's saving and the power-cap and
optimisation-candidate evidence are facility energy (IT x PUE), so they take facility names.

Stored evidence is renamed too, so that dismissed and accepted recommendations (which a refresh
leaves alone) answer with the same keys as fresh ones.
"""

import hashlib
import json

from django.db import migrations

EVIDENCE_KEYS = {
    "energy_near_limit_kwh": "facility_energy_near_limit_kwh",
    "energy_wh_per_unit": "facility_energy_wh_per_unit",
}


def _digest(evidence: dict) -> str:
    # recommendation_rules.evidence_digest as of this migration, over the rule's own evidence
    # (a reopened recommendation's earlier dismissal reason was added after the digest).
    evidence = {k: v for k, v in evidence.items() if k != "previously_dismissed_because"}
    return hashlib.sha256(json.dumps(evidence, sort_keys=True, default=str).encode()).hexdigest()


def _rename_keys(apps, mapping: dict) -> None:
    Recommendation = apps.get_model("assessments", "Recommendation")
    for recommendation in Recommendation.objects.all().only("pk", "evidence"):
        evidence = recommendation.evidence
        if not isinstance(evidence, dict) or not set(mapping) & set(evidence):
            continue
        renamed = {mapping.get(key, key): value for key, value in evidence.items()}
        Recommendation.objects.filter(pk=recommendation.pk).update(
            evidence=renamed, evidence_digest=_digest(renamed)
        )


def forwards(apps, schema_editor):
    _rename_keys(apps, EVIDENCE_KEYS)


def backwards(apps, schema_editor):
    _rename_keys(apps, {new: old for old, new in EVIDENCE_KEYS.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0006_incremental_rollup_and_daily_reads"),
    ]

    operations = [
        migrations.RenameField(
            model_name="recommendation",
            old_name="monthly_energy_kwh",
            new_name="monthly_facility_energy_kwh",
        ),
        migrations.RunPython(forwards, backwards),
    ]
