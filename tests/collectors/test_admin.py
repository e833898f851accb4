"""The admin pages of the collectors app."""

import pytest
from django.contrib.auth.models import User

from collectors.models import Collector, Device, Host, IngestBatch, IngestRejection
from collectors.selectors import collector_for_token
from tests.collectors.factories import make_collector, payload, post_batch, sample


@pytest.fixture
def admin_client(db, client):
    user = User.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_every_collectors_admin_list_and_page_opens(admin_client):
    collector, token = make_collector()
    post_batch(admin_client, token, payload())
    post_batch(admin_client, token, payload([sample(power_w="x")]))
    for model in (Collector, Host, Device, IngestBatch, IngestRejection):
        name = model._meta.model_name
        response = admin_client.get(f"/admin/collectors/{name}/")
        assert response.status_code == 200, name
        pk = model.objects.order_by("pk").values_list("pk", flat=True).first()
        response = admin_client.get(f"/admin/collectors/{name}/{pk}/change/")
        assert response.status_code == 200, name


def test_adding_a_collector_in_the_admin_shows_its_token_once(admin_client):
    response = admin_client.post(
        "/admin/collectors/collector/add/", {"name": "from-admin"}, follow=True
    )
    assert response.status_code == 200
    message = next(str(m) for m in response.context["messages"])
    token = message.rsplit(" ", 1)[1]
    collector = Collector.objects.get(name="from-admin")
    assert collector_for_token(token) == collector
    assert collector.created_by.username == "root"
    page = admin_client.get(f"/admin/collectors/collector/{collector.pk}/change/")
    assert token not in page.content.decode()


def test_admin_action_revokes_collectors(admin_client):
    collector, _ = make_collector()
    admin_client.post(
        "/admin/collectors/collector/",
        {"action": "revoke_selected", "_selected_action": [collector.pk]},
    )
    collector.refresh_from_db()
    assert collector.is_revoked


def test_admin_creates_a_collector_with_the_backfill_permission(admin_client):
    admin_client.post(
        "/admin/collectors/collector/add/", {"name": "replay", "allow_backfill": "on"}
    )
    assert Collector.objects.get(name="replay").allow_backfill
