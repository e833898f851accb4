"""Notifications of alerts: e-mail through Django's mail settings, webhooks with a signed JSON
body or the Slack-compatible `{"text": ...}` form (docs/watch.md, "Notifications").

Delivery is at least once: each message (episode x channel x event) is stored first with its
own id, then sent by a Celery task that retries 5xx answers and time-outs with back-off a bounded
number of times and gives up on 4xx. Every retry carries the same id.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from assessments.models import AlertNotification, NotificationChannel
from assessments.watch.secrets import SecretUnreadable, secret_decrypt

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-GreenAI-Signature"


class WebhookUrlRefused(ValueError):
    pass


class DeliveryFailed(Exception):
    """Sending failed; `retry` says whether trying again may help (5xx, time-out, network)."""

    def __init__(self, message: str, *, retry: bool):
        super().__init__(message)
        self.retry = retry


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def webhook_url_check(url: str) -> str:
    """The URL if a webhook may be sent there, else WebhookUrlRefused naming why: only http and
    https; unless ALERT_WEBHOOK_ALLOW_PRIVATE, every address the host name resolves to must be
    public (no loopback, link-local, private, multicast or reserved address)."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookUrlRefused("a webhook needs a URL")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlRefused(f"only http and https URLs are allowed, got {parts.scheme!r}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise WebhookUrlRefused(f"not a valid URL: {exc}") from None
    if not host:
        raise WebhookUrlRefused("the URL names no host")
    if parts.username or parts.password:
        raise WebhookUrlRefused("credentials in the URL are not allowed: use the secret")
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return url.strip()
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookUrlRefused(f"the host {host!r} does not resolve: {exc}") from None
    refused = sorted({info[4][0] for info in infos if _refused_address(info[4][0])})
    if refused:
        raise WebhookUrlRefused(
            f"{host!r} resolves to a loopback, link-local or private address "
            f"({', '.join(refused)}); set ALERT_WEBHOOK_ALLOW_PRIVATE=1 to allow it"
        )
    return url.strip()


def notification_payload(notice: AlertNotification) -> dict:
    episode, rule = notice.episode, notice.episode.rule
    return {
        "id": str(notice.delivery_id),
        "status": notice.event,
        "kind": rule.kind,
        "scope": rule.scope,
        "summary": episode.summary,
        "value": episode.last_value if notice.event == "resolved" else episode.value,
        "threshold": episode.threshold,
        "started_at": episode.started_at.isoformat(),
    }


def _slack_text(payload: dict) -> str:
    word = "FIRING" if payload["status"] == "firing" else "RESOLVED"
    return f"[GreenAI {word}] {payload['kind']} on {payload['scope']}: {payload['summary']}"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _webhook_send(channel: NotificationChannel, payload: dict) -> None:
    try:
        url = webhook_url_check(channel.url)
    except WebhookUrlRefused as exc:
        raise DeliveryFailed(f"URL refused: {exc}", retry=False) from None
    if channel.form == NotificationChannel.Form.SLACK:
        document = {"text": _slack_text(payload)}
    else:
        document = payload
    body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "GreenAI-alerts"}
    if channel.secret_encrypted:
        try:
            secret = secret_decrypt(channel.secret_encrypted)
        except SecretUnreadable as exc:
            raise DeliveryFailed(str(exc), retry=False) from None
        headers[SIGNATURE_HEADER] = signature(secret, body)
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the address checked is the one used
    try:
        response = session.post(
            url,
            data=body,
            headers=headers,
            timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise DeliveryFailed("timed out", retry=True) from None
    except requests.RequestException as exc:
        raise DeliveryFailed(f"{type(exc).__name__}", retry=True) from None
    finally:
        session.close()
    if 200 <= response.status_code < 300:
        return
    retry = response.status_code >= 500
    what = "redirect (not followed)" if 300 <= response.status_code < 400 else "error"
    raise DeliveryFailed(f"HTTP {response.status_code} {what}", retry=retry)


def _email_send(channel: NotificationChannel, payload: dict) -> None:
    word = "FIRING" if payload["status"] == "firing" else "RESOLVED"
    subject = f"[GreenAI {word}] {payload['kind']} on {payload['scope']}"
    lines = [
        payload["summary"],
        "",
        f"Value: {payload['value']}",
        f"Threshold: {payload['threshold']}",
        f"Started: {payload['started_at']}",
        f"Alert id: {payload['id']}",
    ]
    try:
        send_mail(subject, "\n".join(lines), None, list(channel.recipients))
    except (OSError, ValueError) as exc:
        raise DeliveryFailed(f"mail: {type(exc).__name__}: {exc}", retry=True) from None


def notification_deliver(notice: AlertNotification) -> None:
    """Send one stored message now (DeliveryFailed when it did not go); records the attempt."""
    if notice.delivered_at is not None:
        return  # delivered already: a repeated task sends nothing twice
    payload = notification_payload(notice)
    AlertNotification.objects.filter(pk=notice.pk).update(attempts=notice.attempts + 1)
    notice.attempts += 1
    try:
        if notice.channel.kind == NotificationChannel.Kind.EMAIL:
            _email_send(notice.channel, payload)
        else:
            _webhook_send(notice.channel, payload)
    except DeliveryFailed as exc:
        notice.last_error = str(exc)
        notice.save(update_fields=["last_error"])
        raise
    notice.delivered_at = timezone.now()
    notice.last_error = ""
    notice.save(update_fields=["delivered_at", "last_error"])


def notification_give_up(notice: AlertNotification) -> None:
    notice.failed_at = timezone.now()
    notice.save(update_fields=["failed_at"])
    logger.error(
        "Alert notification %s to channel %s given up after %d attempts: %s",
        notice.delivery_id,
        notice.channel.name,
        notice.attempts,
        notice.last_error,
    )


def notifications_queue(changes) -> list[AlertNotification]:
    """Store one message per channel of each changed episode's rule, then hand each to the
    delivery task once the transaction commits."""
    from assessments.tasks import deliver_alert_notification

    notices = []
    for change in changes:
        for channel in change.episode.rule.channels.all():
            notice, _ = AlertNotification.objects.get_or_create(
                episode=change.episode, channel=channel, event=change.event
            )
            notices.append(notice)
    for notice in notices:
        transaction.on_commit(
            lambda pk=notice.pk: deliver_alert_notification.apply_async(args=[pk])
        )
    return notices
