"""The monthly sustainability report: gather the month's figures, render HTML, then PDF, store it,
e-mail it.

report_generate(*, month, team=None) is the one entry point (command, task and reports page
call it). The figures come from assessments.reports.selectors, the rendering (template, charts
as SVG, PDF) from assessments.reports.render.
"""

import logging
from datetime import date, datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from assessments.models import (
    Organisation,
    Report,
    Team,
)
from assessments.reports import report_summary as summary
from assessments.reports.render import render_pdf, report_charts
from assessments.reports.selectors import (
    Window,
    month_days,
    month_window,
    previous_month,
    report_context,
)
from assessments.reports.svg_export import ChartRenderingError

logger = logging.getLogger(__name__)


class ReportError(Exception):
    """A report could not be made; the message names the cause."""


def report_generate(
    *, month: date, team: Team | None = None, generated_at: datetime | None = None
) -> Report:
    """Build, render and store the month's report (organisation, or one team); returns it.

    One stored report per month and scope: regenerating replaces the earlier file. A failure
    is recorded on the Report (status failed, error) and raised again as ReportError.
    """
    window = month_window(month)
    generated_at = generated_at or timezone.now()
    try:
        context = report_context(window=window, team=team, generated_at=generated_at)
        if context["has_data"]:
            start, end = month_days(window)
            context["charts"] = report_charts(
                start=start,
                end=end,
                team=team,
                hosts=context["hosts"],
                currency=context["currency"],
            )
        pdf = render_pdf(context)
    except Exception as exc:
        # Our own errors already read as a sentence; others get their type for the log reader.
        own = isinstance(exc, (ReportError, ChartRenderingError))
        message = str(exc) if own else f"{type(exc).__name__}: {exc}"
        _report_record_failure(window=window, team=team, error=message, at=generated_at)
        logger.exception("Monthly report %s for %s failed", window.month, team or "organisation")
        if isinstance(exc, ReportError):
            raise
        raise ReportError(message) from exc
    return _report_store(window=window, team=team, context=context, pdf=pdf, at=generated_at)


def reports_email(*, reports: list[Report], recipients: list[str] | None = None) -> list[str]:
    """E-mail the reports' PDFs in one message; returns the addresses it went to (none: skip)."""
    recipients = report_recipients() if recipients is None else recipients
    ready = [report for report in reports if report.status == Report.Status.READY and report.file]
    if not recipients or not ready:
        return []
    organisation = Organisation.get()
    months = sorted({summary.month_title(report.month) for report in ready})
    message = EmailMessage(
        subject=f"{organisation.name}: sustainability report {', '.join(months)}",
        body=_email_body(organisation, ready),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    for report in ready:
        with report.file.open("rb") as handle:
            content = handle.read()
        message.attach(report_filename(report.month, report.team), content, "application/pdf")
    message.send(fail_silently=False)
    for report in ready:
        report.emailed_to = "\n".join(recipients)
        report.save(update_fields=["emailed_to"])
    return recipients


def report_recipients() -> list[str]:
    """The organisation's recipients (one per line) and settings.REPORT_RECIPIENTS, once each."""
    organisation_list = Organisation.get().report_recipients.splitlines()
    seen = []
    for address in [*organisation_list, *settings.REPORT_RECIPIENTS]:
        address = address.strip()
        if address and address not in seen:
            seen.append(address)
    return seen


def monthly_reports_generate(*, today: date | None = None, email: bool = True) -> list[Report]:
    """Last month's report for the organisation and one per team; used by the beat task.

    A team whose report fails does not stop the others; the failures are stored and logged and
    the first one is raised after the rest are done, so the task shows as failed.
    """
    today = today or timezone.now().date()
    month = previous_month(today)
    reports, failures = [], []
    for team in [None, *Team.objects.order_by("name")]:
        try:
            reports.append(report_generate(month=month, team=team))
        except ReportError as exc:
            failures.append(exc)
    if email:
        reports_email(reports=reports)
    if failures:
        raise failures[0]
    return reports


def report_filename(month: date, team: Team | None) -> str:
    scope = team.slug if team else "organisation"
    return f"greenai-report-{month:%Y-%m}-{scope}.pdf"


def _report_store(*, window: Window, team, context: dict, pdf: bytes, at: datetime) -> Report:
    totals = dict(context["footprint"])
    totals["has_data"] = context["has_data"]
    with transaction.atomic():
        # order_by("pk"): the default ordering joins the team, which FOR UPDATE refuses.
        stored = Report.objects.select_for_update().filter(month=window.month, team=team)
        report = stored.order_by("pk").first() or Report(month=window.month, team=team)
        old_name = report.file.name if report.file else None
        report.status = Report.Status.READY
        report.error = ""
        report.totals = totals
        report.factor_versions = context["factors_used"]
        report.generated_at = at
        report.emailed_to = ""
        report.file.save(report_filename(window.month, team), ContentFile(pdf), save=False)
        report.save()
    # The old file goes only once the new one is stored and recorded; downloads are named by
    # report_filename(), so the storage's suffix on the new file's name never shows.
    if old_name and old_name != report.file.name:
        report.file.storage.delete(old_name)
    return report


def _report_record_failure(*, window: Window, team, error: str, at: datetime) -> None:
    # A stored earlier good report of the same month stays; only a missing one is recorded failed.
    report, created = Report.objects.get_or_create(
        month=window.month,
        team=team,
        defaults={"status": Report.Status.FAILED, "error": error, "generated_at": at},
    )
    if not created and report.status == Report.Status.FAILED:
        report.error = error
        report.generated_at = at
        report.save(update_fields=["error", "generated_at"])


def _email_body(organisation: Organisation, reports: list[Report]) -> str:
    lines = [f"Attached: the sustainability report of {organisation.name}.", ""]
    for report in reports:
        scope = f"team {report.team.name}" if report.team else "the organisation"
        lines.append(f"- {summary.month_title(report.month)}, {scope}")
    lines += ["", f"All reports: {settings.SITE_ROOT}/reports/"]
    return "\n".join(lines)
