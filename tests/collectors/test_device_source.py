"""A device's declared source (measured or simulated) picks its measurement bounds."""

import pytest

from collectors.agent.sources.sim import SimSource
from collectors.models import Device
from tests.collectors.factories import device, make_collector, payload, post_batch


@pytest.fixture
def token(db):
    return make_collector()[1]


def test_a_device_without_a_source_is_measured_as_old_agents_send_it(client, token):
    assert post_batch(client, token, payload()).status_code == 202
    assert Device.objects.get(uuid="GPU-0001").source == "measured"


def test_a_simulated_device_is_stored_as_such_and_a_later_omission_keeps_it(client, token):
    body = payload(devices=[device(source="simulated")])
    assert post_batch(client, token, body).status_code == 202
    assert Device.objects.get(uuid="GPU-0001").source == "simulated"
    assert post_batch(client, token, payload()).status_code == 202
    assert Device.objects.get(uuid="GPU-0001").source == "simulated"


def test_an_unknown_source_is_a_400_naming_the_field(client, token):
    response = post_batch(client, token, payload(devices=[device(source="guessed")]))
    assert response.status_code == 400
    assert "devices[0].source" in response.content.decode() or "source" in str(response.json())
    assert not Device.objects.exists()


def test_the_agents_sim_source_declares_its_devices_simulated():
    source = SimSource(count=2, hostname="h", interval_s=1.0, clock=lambda: 1_000_000.0)
    source.open()
    assert all(d.to_payload()["source"] == "simulated" for d in source.devices())
