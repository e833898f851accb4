"""The Django admin lists every assessments model; facts are read-only; one organisation."""

from datetime import UTC, date, datetime

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from assessments.models import (
    Allocation,
    ApiToken,
    HourlyDeviceFact,
    HourlyProjectFact,
    Optimisation,
    Organisation,
    Project,
    Recommendation,
    Report,
    Team,
    UserProfile,
    WorkRecord,
)
from collectors.models import Device, Host

HOUR = datetime(2026, 11, 2, 10, tzinfo=UTC)


def test_every_assessments_model_is_in_the_admin():
    missing = [
        model.__name__
        for model in apps.get_app_config("assessments").get_models()
        if not admin.site.is_registered(model)
    ]
    assert missing == []


@pytest.fixture
def some_of_everything(django_user_model):
    user = django_user_model.objects.create_user("eng", password="x")
    team = Team.objects.create(name="NLP", slug="nlp")
    UserProfile.objects.create(user=user, role="engineer").teams.add(team)
    project = Project.objects.create(slug="llm", name="LLM", team=team)
    host = Host.objects.create(hostname="gpu-node-01")
    device = Device.objects.create(uuid="GPU-1", host=host, name="NVIDIA L4")
    Allocation.objects.create(project=project, host=host, start=HOUR, device_indexes=[0, 1])
    WorkRecord.objects.create(project=project, period_start=HOUR, period_end=HOUR, units=5)
    ApiToken.objects.create(user=user, name="cli", token_prefix="gat_abc", token_digest="x" * 64)
    HourlyDeviceFact.objects.create(
        device=device,
        hour=HOUR,
        pue=1.56,
        grid_gco2e_per_kwh=56,
        grid_source="Ember",
        price_per_kwh=0,
        embodied_kgco2e_per_hour=0.01,
    )
    HourlyProjectFact.objects.create(device=device, hour=HOUR, project=project, attribution="tag")
    optimisation = Optimisation.objects.create(project=project, technique="pruning", title="Prune")
    Recommendation.objects.create(
        kind="idle_gpu",
        fingerprint="idle:GPU-1",
        target="GPU-1",
        title="Idle GPU",
        action="Release it",
        period_start=HOUR,
        period_end=HOUR,
        confidence="high",
        optimisation=optimisation,
    )
    Report.objects.create(month=date(2026, 10, 1), team=team)


@pytest.mark.django_db
def test_every_changelist_and_change_page_renders(admin_client, some_of_everything):
    for model in apps.get_app_config("assessments").get_models():
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = admin_client.get(url)
        assert response.status_code == 200, url
        obj = model.objects.first()
        if obj is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert admin_client.get(change).status_code == 200, change


@pytest.mark.django_db
def test_the_organisation_is_a_single_row_that_cannot_be_deleted(admin_client):
    admin_client.get(reverse("admin:assessments_organisation_changelist"))
    assert Organisation.objects.count() == 1
    add = admin_client.get(reverse("admin:assessments_organisation_add"))
    assert add.status_code == 403
    delete = admin_client.get(reverse("admin:assessments_organisation_delete", args=[1]))
    assert delete.status_code == 403
    response = admin_client.post(
        reverse("admin:assessments_organisation_change", args=[1]),
        {
            "name": "Example Corp",
            "currency": "EUR",
            "internal_carbon_price_per_t": "100",
            "engineer_hourly_rate": "90",
            "report_recipients": "",
        },
    )
    assert response.status_code == 302
    assert Organisation.get().name == "Example Corp"


@pytest.mark.django_db
def test_facts_cannot_be_edited_by_hand(admin_client, some_of_everything):
    fact = HourlyDeviceFact.objects.get()
    url = reverse("admin:assessments_hourlydevicefact_change", args=[fact.pk])
    response = admin_client.post(url, {"energy_it_kwh": "999"})
    assert response.status_code == 403
    fact.refresh_from_db()
    assert fact.energy_it_kwh == 0
    assert admin_client.get(reverse("admin:assessments_hourlydevicefact_add")).status_code == 403


@pytest.mark.django_db
def test_api_tokens_can_be_revoked_in_bulk(admin_client, some_of_everything):
    token = ApiToken.objects.get()
    response = admin_client.post(
        reverse("admin:assessments_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
