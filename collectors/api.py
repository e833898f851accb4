"""POST /api/v1/ingest: the machine-facing endpoint agents push batches to (DESIGN 3.2).

Thin: authenticate, rate-limit, read the body within its limits, hand the parsed JSON to
collectors.services.ingest_batch, turn the outcome into the documented answer, count it.
"""

import logging
import time
import zlib

from django.conf import settings
from django.db import OperationalError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from collectors import metrics
from collectors.ratelimit import first_in_window, rate_limit_hit
from collectors.schemas import IngestAnswer, IngestPayload
from collectors.selectors import collector_for_token
from collectors.services import IngestError, ingest_batch, ingest_rejection_record
from greenai_site.openapi import api_operation
from greenai_site.tokens import bearer_token

logger = logging.getLogger(__name__)


class Refusal(Exception):
    """An answer other than success, with what to record about it."""

    def __init__(self, status, reason, error, details=None, headers=None, record=True):
        super().__init__(error)
        self.status = status
        self.reason = reason
        self.error = error
        self.details = details or []
        self.headers = headers or {}
        self.record = record


@api_operation(
    method="POST",
    summary="Push a batch of power samples (collector token).",
    tag="ingest",
    request=IngestPayload,
    response=IngestAnswer,
    auth="collector",
    statuses={
        200: "Batch stored before (same batch_id): {accepted: 0, duplicate: true}.",
        202: "Batch stored: {accepted: N, duplicate: false}.",
        400: "Invalid batch: {error, details: [{field, message}]}; nothing stored.",
        401: "Missing, unknown or revoked collector token.",
        403: "A device of the batch belongs to another collector.",
        413: "Body over the limit, compressed or decompressed.",
        405: "Method not allowed (the Allow header names POST).",
        415: "Content-Encoding other than gzip or identity.",
        429: "Rate limit of the token reached; retry after Retry-After seconds.",
        503: "Database busy or unavailable; retry later.",
    },
)
@csrf_exempt
@require_POST
def ingest_view(request):
    started = time.perf_counter()
    collector = None
    try:
        collector = _authenticated_collector(request)
        _check_rate(collector)
        body = _read_body(request)
        result = ingest_batch(collector=collector, payload=body)
    except IngestError as exc:
        refusal = Refusal(exc.status, exc.reason, exc.error, exc.details)
        response = _refuse(refusal, collector, request)
    except Refusal as refusal:
        response = _refuse(refusal, collector, request)
    except OperationalError:
        logger.exception("Ingest failed on the database.")
        refusal = Refusal(
            503, "database_unavailable", "The database is busy; retry later.", record=False
        )
        refusal.headers["Retry-After"] = "5"
        response = _refuse(refusal, collector, request)
    else:
        if result.duplicate:
            metrics.INGEST_DUPLICATE_BATCHES.inc()
            response = JsonResponse({"accepted": 0, "duplicate": True}, status=200)
        else:
            metrics.INGEST_SAMPLES_RECEIVED.inc(result.sample_count)
            metrics.INGEST_SAMPLES_ACCEPTED.inc(result.accepted)
            metrics.INGEST_BATCH_SAMPLES.observe(result.sample_count)
            response = JsonResponse({"accepted": result.accepted, "duplicate": False}, status=202)
    metrics.INGEST_REQUESTS.labels(status=str(response.status_code)).inc()
    metrics.INGEST_LATENCY.observe(time.perf_counter() - started)
    return response


def _authenticated_collector(request):
    # A client retrying with a bad token is recorded once a minute per address, not per request
    # (the metrics still count every one).
    address = request.META.get("REMOTE_ADDR", "")
    token = bearer_token(request)
    if token is None:
        raise Refusal(
            401,
            "unauthorized",
            "Send 'Authorization: Bearer <collector token>'.",
            record=first_in_window(f"ingest-401:{address}"),
        )
    collector = collector_for_token(token)
    if collector is None:
        raise Refusal(
            401,
            "unauthorized",
            "Unknown collector token.",
            record=first_in_window(f"ingest-401:{address}"),
        )
    if collector.is_revoked:
        raise Refusal(
            401,
            "revoked",
            f"The token of collector {collector.name!r} is revoked.",
            record=first_in_window(f"ingest-401:collector-{collector.pk}"),
        )
    return collector


def _check_rate(collector):
    limit = settings.INGEST_RATE_LIMIT_PER_MINUTE
    decision = rate_limit_hit(f"ingest:{collector.pk}", limit=limit)
    if not decision.allowed:
        raise Refusal(
            429,
            "rate_limited",
            f"More than {limit} requests per minute for this token; retry in "
            f"{decision.retry_after_s} s.",
            headers={"Retry-After": str(decision.retry_after_s)},
            # One record per collector and minute, not one per refused request.
            record=first_in_window(f"ingest-429:{collector.pk}"),
        )


def _read_body(request) -> bytes:
    """The body, decompressed, within both size limits; JSON parsing is the service's."""
    limit = settings.INGEST_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise Refusal(413, "too_large", f"The body is {declared} bytes; the limit is {limit}.")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise Refusal(413, "too_large", f"The body is over the limit of {limit} bytes.")
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding == "gzip":
        raw = _gunzip(raw, settings.INGEST_MAX_DECOMPRESSED_BYTES)
    elif encoding not in ("", "identity"):
        raise Refusal(
            415, "unsupported_encoding", f"Content-Encoding {encoding!r}: send gzip or none."
        )
    return raw


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress in bounded steps, so a small bomb never expands past the limit in memory."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, limit + 1)
    except zlib.error as exc:
        raise Refusal(400, "invalid_gzip", f"The body is not valid gzip: {exc}") from None
    if len(out) > limit or decompressor.unconsumed_tail:
        raise Refusal(
            413, "too_large", f"The body decompresses to more than the limit of {limit} bytes."
        )
    if not decompressor.eof:
        raise Refusal(400, "invalid_gzip", "The gzip body is truncated.")
    if decompressor.unused_data:
        raise Refusal(400, "invalid_gzip", "Data follows the gzip stream; send one gzip member.")
    return out


def _refuse(refusal: Refusal, collector, request) -> JsonResponse:
    metrics.INGEST_REJECTIONS.labels(reason=refusal.reason).inc()
    if refusal.record:
        # The client address helps find a misconfigured agent behind an unknown token.
        origin = f"(from {request.META.get('REMOTE_ADDR', 'an unknown address')})"
        message = "\n".join(
            [f"{refusal.error} {origin}"]
            + [f"{d['field']}: {d['message']}" for d in refusal.details[:50]]
        )
        try:
            ingest_rejection_record(
                collector=collector,
                status=refusal.status,
                reason=refusal.reason,
                message=message,
            )
        except OperationalError:
            logger.exception("Could not record the refused ingest request.")
    response = JsonResponse(
        {"error": refusal.error, "details": refusal.details}, status=refusal.status
    )
    for name, value in refusal.headers.items():
        response[name] = value
    return response
