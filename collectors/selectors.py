"""Reads of the collectors app."""

from django.db.models import Count, QuerySet

from collectors.models import Collector, Device, IngestRejection
from greenai_site.tokens import digest_matches, token_prefix

COLLECTOR_TOKEN_KIND = "gac"


def collector_for_token(token: str | None) -> Collector | None:
    """The collector whose token this is (revoked ones included; callers check is_revoked).

    Looked up by the clear prefix, then the keyed digest compared in constant time.
    """
    if not token:
        return None
    prefix = token_prefix(token, COLLECTOR_TOKEN_KIND)
    if prefix is None:
        return None
    collector = Collector.objects.filter(token_prefix=prefix).first()
    if collector is None or not digest_matches(token, collector.token_digest):
        return None
    return collector


def collector_by_name(name: str) -> Collector | None:
    return Collector.objects.filter(name=name).first()


def collectors_with_counts() -> QuerySet[Collector]:
    """Collectors with their number of devices and hosts, newest first."""
    return (
        Collector.objects.select_related("team")
        .annotate(
            device_count=Count("devices", distinct=True), host_count=Count("hosts", distinct=True)
        )
        .order_by("-created_at")
    )


def devices_of_collector(collector: Collector) -> QuerySet[Device]:
    return (
        Device.objects.filter(collector=collector)
        .select_related("host")
        .order_by("host__hostname", "kind", "index")
    )


def recent_rejections(*, collector: Collector | None = None, limit: int = 50):
    """The latest refused ingest requests, newest first (for the collectors page)."""
    rejections = IngestRejection.objects.select_related("collector").order_by("-at")
    if collector is not None:
        rejections = rejections.filter(collector=collector)
    return rejections[:limit]
