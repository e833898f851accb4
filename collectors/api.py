"""POST /api/v1/ingest: the machine-facing endpoint agents push batches to.

The contract: docs/architecture.md, 4.2, and docs/ingest.md.

Thin: authenticate, rate-limit, read the body within its limits, hand the parsed JSON to
collectors.services.batch_ingest, turn the outcome into the documented answer, count it.
"""

import logging
import time
import zlib
from functools import wraps

from django.conf import settings
from django.db import DatabaseError, OperationalError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from collectors import metrics
from collectors.ratelimit import first_in_window, rate_limit_hit
from collectors.schemas import IngestAnswer, IngestPayload
from collectors.selectors import collector_for_token
from collectors.services import IngestError, batch_ingest, ingest_rejection_record
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


def _counted(view):
    """Every answer counted on /metrics and timed, 405 and 500 included; an unexpected error
    becomes a JSON 500 without internals (the batch's transaction is rolled back, the log has
    the traceback)."""

    @wraps(view)
    def wrapper(request):
        started = time.perf_counter()
        try:
            response = view(request)
        except Exception:
            logger.exception("Ingest failed unexpectedly.")
            response = JsonResponse(
                {"error": "Internal server error; nothing was stored. Retry later.", "details": []},
                status=500,
            )
        metrics.INGEST_REQUESTS.labels(status=str(response.status_code)).inc()
        metrics.INGEST_LATENCY.observe(time.perf_counter() - started)
        return response

    return wrapper


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
        400: "Invalid batch: {error, details: [{field, message}]}; nothing stored. Also a "
        "sample timestamp outside the window the server accepts, which OpenAPI cannot state: "
        f"older than the raw-sample retention ({settings.RAW_SAMPLE_RETENTION_DAYS} days) or more "
        "than 10 minutes ahead of the server clock (collectors with the back-fill permission: "
        "from 2000-01-01).",
        401: "Missing, unknown or revoked collector token.",
        403: "The host or a device of the batch belongs to another active collector.",
        405: "Method not allowed (the Allow header names POST).",
        413: f"Body over {settings.INGEST_MAX_BODY_BYTES} bytes as sent or "
        f"{settings.INGEST_MAX_DECOMPRESSED_BYTES} bytes decompressed (a schema-valid batch can "
        "be that large), or more than 20,000 samples.",
        415: "Content-Encoding other than gzip or identity.",
        429: "Rate limit of the token reached; retry after Retry-After seconds.",
        500: "Unexpected server error: {error}; nothing stored; retry later.",
        503: "Database busy or unavailable; retry later.",
    },
)
@csrf_exempt
@_counted
@require_POST
def ingest_view(request):
    collector = None
    try:
        collector = _authenticated_collector(request)
        _check_rate(collector)
        body = _read_body(request)
        result = batch_ingest(collector=collector, payload=body)
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
            if result.foreign_tags:
                metrics.INGEST_FOREIGN_TAGS.labels(collector=collector.name).inc(
                    result.foreign_tags
                )
            answer = {"accepted": result.accepted, "duplicate": False}
            if result.work_count:
                answer["work_accepted"] = result.work_accepted
                answer["work_unattributed_units"] = result.work_unattributed
            response = JsonResponse(answer, status=202)
    return response


# Its require_POST answers 405 inside _counted, so that /metrics counts it too
# (greenai_site.middleware).
ingest_view.answers_405_itself = True


def _authenticated_collector(request):
    token = bearer_token(request)
    if token is None:
        raise Refusal(401, "unauthorized", "Send 'Authorization: Bearer <collector token>'.")
    collector = collector_for_token(token)
    if collector is None:
        raise Refusal(401, "unauthorized", "Unknown collector token.")
    if collector.is_revoked:
        raise Refusal(401, "revoked", f"The token of collector {collector.name!r} is revoked.")
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
    address = request.META.get("REMOTE_ADDR", "")
    # A client repeating a refused request is recorded once a minute per collector (or, without
    # one, per address), status and reason; /metrics counts the repeats left out.
    who = f"collector-{collector.pk}" if collector is not None else f"address-{address}"
    if refusal.record and not first_in_window(
        f"ingest-rejection:{who}:{refusal.status}:{refusal.reason}"
    ):
        metrics.INGEST_REJECTIONS_NOT_RECORDED.labels(reason=refusal.reason).inc()
    elif refusal.record:
        # The client address helps find a misconfigured agent behind an unknown token.
        origin = f"(from {address or 'an unknown address'})"
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
        except DatabaseError:
            logger.exception("Could not record the refused ingest request.")
    response = JsonResponse(
        {"error": refusal.error, "details": refusal.details}, status=refusal.status
    )
    for name, value in refusal.headers.items():
        response[name] = value
    return response
