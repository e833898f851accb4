"""Notifications: e-mail (Django's locmem backend) and webhooks to a real HTTP receiver on
127.0.0.1 that checks the signature; retries with the same id; the private-address rule; the
channel secret encrypted, shown once, never dumped, kept on loads without it."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.test import Client

from assessments.models import (
    AlertEpisode,
    AlertNotification,
    AlertRule,
    NotificationChannel,
    UserProfile,
)
from assessments.organisation.inventory import InventoryError, inventory_dump, inventory_load
from assessments.tasks import evaluate_alerts
from assessments.watch.notify import WebhookUrlRefused, webhook_url_check
from assessments.watch.secrets import secret_decrypt, secret_encrypt
from greenai_site.celery import app
from tests.assessments.dashboards.page_factories import make_user
from tests.assessments.watch.alert_factories import NOW, make_org, rule

pytestmark = pytest.mark.django_db
SECRET = "s3cret-for-tests"


class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next status of `answers` (then
    200), keeping what it got and whether the signature matched."""

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                receiver.received.append(
                    {
                        "body": json.loads(body),
                        "signed": hmac.compare_digest(
                            self.headers.get("X-GreenAI-Signature", ""), expected
                        ),
                    }
                )
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(answers=()):
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def eager(settings):
    """Celery tasks run in the test's process, retries included (countdowns are not waited)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def _silent_host_rule(org, channels):
    r = rule(AlertRule.Kind.HOST_SILENT, threshold=30)
    r.channels.set(channels)
    org.host.last_seen_at = NOW - timedelta(hours=1)
    org.host.save()
    return r


def _run(django_capture_on_commit_callbacks, now):
    from assessments.watch.notify import notifications_queue
    from assessments.watch.services import alerts_evaluate

    with django_capture_on_commit_callbacks(execute=True):
        notifications_queue(alerts_evaluate(now=now))


def test_email_and_webhook_once_per_firing_and_once_per_resolution(
    eager, receiver, django_capture_on_commit_callbacks
):
    org = make_org()
    hook = receiver()
    webhook = NotificationChannel.objects.create(
        name="ops", kind="webhook", url=hook.url, secret_encrypted=secret_encrypt(SECRET)
    )
    email = NotificationChannel.objects.create(
        name="leads", kind="email", recipients=["lead@example.org"]
    )
    _silent_host_rule(org, [webhook, email])
    _run(django_capture_on_commit_callbacks, NOW)
    _run(django_capture_on_commit_callbacks, NOW + timedelta(minutes=1))  # still firing
    org.host.last_seen_at = NOW + timedelta(minutes=2)
    org.host.save()
    _run(django_capture_on_commit_callbacks, NOW + timedelta(minutes=3))
    _run(django_capture_on_commit_callbacks, NOW + timedelta(minutes=4))  # still resolved

    assert [r["body"]["status"] for r in hook.received] == ["firing", "resolved"]
    assert all(r["signed"] for r in hook.received)
    firing = hook.received[0]["body"]
    assert set(firing) == {
        "id", "status", "kind", "scope", "summary", "value", "threshold", "started_at"
    }  # fmt: skip
    assert (firing["kind"], firing["scope"], firing["threshold"]) == (
        "host_silent",
        "organisation",
        30,
    )
    assert firing["value"] == pytest.approx(60)
    assert firing["started_at"].startswith("2026-11-20T12:00:00")
    assert hook.received[0]["body"]["id"] != hook.received[1]["body"]["id"]
    assert [m.subject for m in mail.outbox] == [
        "[GreenAI FIRING] host_silent on organisation",
        "[GreenAI RESOLVED] host_silent on organisation",
    ]
    assert mail.outbox[0].to == ["lead@example.org"]
    assert "gpu-node-01" in mail.outbox[0].body
    assert AlertNotification.objects.filter(delivered_at__isnull=False).count() == 4


def test_a_503_is_retried_with_the_same_id_and_makes_no_second_episode(
    eager, receiver, django_capture_on_commit_callbacks
):
    org = make_org()
    hook = receiver(answers=[503])
    channel = NotificationChannel.objects.create(
        name="ops", kind="webhook", url=hook.url, secret_encrypted=secret_encrypt(SECRET)
    )
    _silent_host_rule(org, [channel])
    _run(django_capture_on_commit_callbacks, NOW)
    assert len(hook.received) == 2
    assert hook.received[0]["body"] == hook.received[1]["body"]  # same id, same body
    assert AlertEpisode.objects.count() == 1
    notice = AlertNotification.objects.get()
    assert notice.attempts == 2 and notice.delivered_at is not None
    assert str(notice.delivery_id) == hook.received[0]["body"]["id"]


def test_a_4xx_is_not_retried_and_a_redirect_is_not_followed(
    eager, receiver, django_capture_on_commit_callbacks
):
    org = make_org()
    refused = receiver(answers=[410])
    moved = receiver(answers=[302])
    channels = [
        NotificationChannel.objects.create(name=name, kind="webhook", url=r.url)
        for name, r in (("gone", refused), ("moved", moved))
    ]
    _silent_host_rule(org, channels)
    _run(django_capture_on_commit_callbacks, NOW)
    assert len(refused.received) == 1 and len(moved.received) == 1
    notices = {n.channel.name: n for n in AlertNotification.objects.select_related("channel")}
    assert notices["gone"].last_error == "HTTP 410 error"
    assert notices["moved"].last_error == "HTTP 302 redirect (not followed)"
    assert all(n.failed_at is not None and n.delivered_at is None for n in notices.values())


def test_retries_are_bounded(eager, receiver, settings, django_capture_on_commit_callbacks):
    settings.ALERT_NOTIFY_MAX_RETRIES = 2
    org = make_org()
    hook = receiver(answers=[503] * 10)
    channel = NotificationChannel.objects.create(name="ops", kind="webhook", url=hook.url)
    _silent_host_rule(org, [channel])
    _run(django_capture_on_commit_callbacks, NOW)
    assert len(hook.received) == 3  # the first try and 2 retries
    notice = AlertNotification.objects.get()
    assert notice.failed_at is not None and notice.last_error == "HTTP 503 error"


def test_the_slack_form_is_text(eager, receiver, django_capture_on_commit_callbacks):
    org = make_org()
    hook = receiver()
    channel = NotificationChannel.objects.create(
        name="chat", kind="webhook", url=hook.url, form="slack"
    )
    _silent_host_rule(org, [channel])
    _run(django_capture_on_commit_callbacks, NOW)
    (got,) = hook.received
    assert list(got["body"]) == ["text"]
    assert got["body"]["text"].startswith("[GreenAI FIRING] host_silent on organisation:")


def test_the_task_evaluates_and_notifies(eager, receiver, django_capture_on_commit_callbacks):
    org = make_org()
    hook = receiver()
    channel = NotificationChannel.objects.create(name="ops", kind="webhook", url=hook.url)
    _silent_host_rule(org, [channel])
    org.host.last_seen_at = None
    org.host.save()
    from collectors.models import Host

    Host.objects.update(last_seen_at=NOW - timedelta(days=400))  # silent whatever today is
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_alerts.apply()
    assert [r["body"]["status"] for r in hook.received] == ["firing"]


# --- The private-address rule -------------------------------------------------------------------


def test_a_loopback_webhook_is_refused_without_the_setting_and_accepted_with_it(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
    ):
        with pytest.raises(WebhookUrlRefused, match="ALERT_WEBHOOK_ALLOW_PRIVATE"):
            webhook_url_check(url)
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    assert webhook_url_check("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://user:pw@example.org/", "credentials"),
        ("http:///nohost", "no host"),
        ("", "needs a URL"),
    ],
)
def test_other_bad_webhook_urls_are_refused(settings, url, message):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(WebhookUrlRefused, match=message):
        webhook_url_check(url)


def test_admins_create_channels_and_the_secret_is_shown_once(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    admin = make_user("ada", UserProfile.Role.ADMIN)
    client = Client()
    client.force_login(admin)
    refused = client.post(
        "/alerts/channels/new/", {"name": "ops", "kind": "webhook", "url": "http://127.0.0.1/h"}
    )
    assert refused.status_code == 400
    assert "ALERT_WEBHOOK_ALLOW_PRIVATE" in refused.content.decode()
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    made = client.post(
        "/alerts/channels/new/",
        {"name": "ops", "kind": "webhook", "url": "http://127.0.0.1/h", "form": "json"},
    )
    assert made.status_code == 200
    channel = NotificationChannel.objects.get(name="ops")
    secret = secret_decrypt(channel.secret_encrypted)
    assert secret in made.content.decode()
    assert secret not in channel.secret_encrypted
    page = client.get("/alerts/rules/").content.decode()
    assert "ops" in page and secret not in page
    engineer = make_user("eng", UserProfile.Role.ENGINEER)
    client.force_login(engineer)
    assert client.post("/alerts/channels/new/", {"name": "x", "kind": "email"}).status_code == 403


# --- Inventory ----------------------------------------------------------------------------------

INVENTORY = """
teams:
  - {name: NLP, slug: nlp}
notification_channels:
  - {name: ops, kind: webhook, url: "http://127.0.0.1:9/greenai", secret: "first-secret"}
  - {name: nlp-leads, kind: email, to: [lead@example.org]}
alert_rules:
  - {kind: budget_forecast, scope: "team:nlp", channels: [ops]}
  - {kind: host_silent, scope: organisation, minutes: 30, channels: [ops, nlp-leads]}
"""


def test_inventory_channels_keep_their_secret_and_never_dump_it(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    result = inventory_load(text=INVENTORY)
    assert result.counts["notification_channels"]["created"] == 2
    assert result.counts["alert_rules"]["created"] == 2
    ops = NotificationChannel.objects.get(name="ops")
    assert secret_decrypt(ops.secret_encrypted) == "first-secret"
    assert AlertRule.objects.get(kind="budget_forecast").threshold == 100  # the default
    silent = AlertRule.objects.get(kind="host_silent")
    assert silent.threshold == 30
    assert sorted(c.name for c in silent.channels.all()) == ["nlp-leads", "ops"]
    dumped = inventory_dump()
    assert "first-secret" not in dumped and "secret" not in dumped
    assert ops.secret_encrypted not in dumped
    again = inventory_load(text=dumped)
    assert again.counts["notification_channels"]["unchanged"] == 2
    assert again.counts["alert_rules"]["unchanged"] == 2
    ops.refresh_from_db()
    assert secret_decrypt(ops.secret_encrypted) == "first-secret"
    inventory_load(text=INVENTORY.replace("first-secret", "second-secret"))
    ops.refresh_from_db()
    assert secret_decrypt(ops.secret_encrypted) == "second-secret"


def test_an_inventory_webhook_on_loopback_is_refused_without_the_setting(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(InventoryError, match="notification_channels\\[0\\].url.*private"):
        inventory_load(text=INVENTORY)
    assert not NotificationChannel.objects.exists()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{kind: host_silent, scope: organisation, threshold_pct: 5}", "takes its threshold as"),
        ("{kind: host_silent, scope: organisation, minutes: -1}", "minutes"),
        ("{kind: nonsense, scope: organisation}", "alert_rules[0].kind"),
        ("{kind: rollup_lag, scope: 'team:nlp'}", "organisation-wide"),
        ("{kind: host_silent, scope: organisation, channels: [nowhere]}", "no notification"),
        ("{kind: host_silent, scope: organisation, min_units: 3}", "only for sci_regression"),
    ],
)
def test_bad_alert_rules_in_the_inventory_name_the_field(settings, entry, message):
    text = f"teams:\n  - {{name: NLP, slug: nlp}}\nalert_rules:\n  - {entry}\n"
    with pytest.raises(InventoryError) as error:
        inventory_load(text=text)
    assert message in str(error.value)
    assert not AlertRule.objects.exists()


def test_secrets_decrypt_after_a_key_rotation(settings):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ALERT_SECRET_KEYS = [old]
    token = secret_encrypt("hush")
    settings.ALERT_SECRET_KEYS = [new, old]
    assert secret_decrypt(token) == "hush"
    settings.ALERT_SECRET_KEYS = [new]
    from assessments.watch.secrets import SecretUnreadable

    with pytest.raises(SecretUnreadable):
        secret_decrypt(token)


def test_a_secret_no_key_decrypts_fails_the_delivery_without_retrying(
    eager, receiver, settings, django_capture_on_commit_callbacks
):
    from cryptography.fernet import Fernet

    org = make_org()
    hook = receiver()
    settings.ALERT_SECRET_KEYS = [Fernet.generate_key().decode()]
    channel = NotificationChannel.objects.create(
        name="ops", kind="webhook", url=hook.url, secret_encrypted=secret_encrypt(SECRET)
    )
    settings.ALERT_SECRET_KEYS = [Fernet.generate_key().decode()]  # the old key removed
    _silent_host_rule(org, [channel])
    _run(django_capture_on_commit_callbacks, NOW)
    assert hook.received == []
    notice = AlertNotification.objects.get()
    assert notice.failed_at is not None and "set it again" in notice.last_error
    assert SECRET not in notice.last_error


def test_a_bad_secret_key_setting_stops_the_app_naming_it():
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "ALERT_SECRET_KEYS": "not-a-key",
        "DJANGO_SETTINGS_MODULE": "greenai_site.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ALERT_SECRET_KEYS" in result.stderr
