"""The reports page: stored monthly reports, their download, and "generate now" for admins."""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from assessments.models import Report, Team
from assessments.permissions import admin_required, is_admin
from assessments.reports.report_summary import month_title, parse_month, shift_month
from assessments.reports.selectors import previous_month
from assessments.reports.services import (
    ReportError,
    report_filename,
    report_generate,
)

MONTHS_OFFERED = 24


@login_required
@require_GET
def reports_page(request):
    reports = Report.objects.select_related("team").order_by("-month", "team__name")
    last_month = previous_month(timezone.now().date())
    return render(
        request,
        "assessments/reports.html",
        {
            "reports": reports,
            "can_generate": is_admin(request.user),
            "teams": Team.objects.order_by("name"),
            "months": _month_choices(last_month),
            "default_month": f"{last_month:%Y-%m}",
        },
    )


@login_required
@require_GET
def report_download(request, pk: int):
    report = get_object_or_404(Report.objects.select_related("team"), pk=pk)
    if report.status != Report.Status.READY or not report.file:
        raise Http404("This report has no PDF (its generation failed).")
    try:
        handle = report.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The PDF of this report is missing from the storage.") from exc
    return FileResponse(
        handle,
        as_attachment=True,
        filename=report_filename(report.month, report.team),
        content_type="application/pdf",
    )


@login_required
@admin_required
@require_POST
def report_generate_now(request):
    try:
        month = parse_month(request.POST.get("month", ""))
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("reports")
    team = None
    if slug := request.POST.get("team"):
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            messages.error(request, f"No team with slug {slug!r}.")
            return redirect("reports")
    scope = f"team {team.name}" if team else "the organisation"
    try:
        report_generate(month=month, team=team)
    except ReportError as exc:
        messages.error(request, f"The report of {month_title(month)} for {scope} failed: {exc}")
    else:
        messages.success(request, f"The report of {month_title(month)} for {scope} is ready.")
    return redirect("reports")


def _month_choices(last: date) -> list[tuple[str, str]]:
    return [
        (f"{month:%Y-%m}", month_title(month))
        for month in (shift_month(last, -offset) for offset in range(MONTHS_OFFERED))
    ]
