"""The reports page: list, download and "generate now" (admins only, POST with CSRF)."""

from datetime import date

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.urls import reverse

from assessments.models import Report, Team, UserProfile
from tests.assessments.reports.report_factories import make_organisation

JUNE = date(2026, 6, 1)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def make_user(role: str) -> User:
    user = User.objects.create_user(username=role, password="pw-for-tests-only")
    UserProfile.objects.create(user=user, role=role)
    return user


def stored_report(month=JUNE, team=None, content=b"%PDF-1.7 test") -> Report:
    report = Report.objects.create(
        month=month,
        team=team,
        totals={"energy_kwh": 1234.5, "total_kgco2e": 56.7, "has_data": True},
        factor_versions={"digest": "abc123def456"},
    )
    report.file.save("stored.pdf", ContentFile(content))
    return report


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    response = client.get(reverse("reports"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_viewer_sees_the_stored_reports_without_generate_button(client, db):
    make_organisation()
    nlp = Team.objects.create(name="NLP", slug="nlp")
    stored_report()
    stored_report(team=nlp)
    Report.objects.create(month=date(2026, 5, 1), status=Report.Status.FAILED, error="No Chromium")
    client.force_login(make_user("viewer"))
    response = client.get(reverse("reports"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "June 2026" in body and "Team NLP" in body and "Organisation" in body
    assert "1,234.5" in body and "abc123def456" in body
    assert "No Chromium" in body
    assert "Generate now" not in body


def test_admin_sees_the_generate_form_with_csrf_token(client, db):
    make_organisation()
    client.force_login(make_user("admin"))
    body = client.get(reverse("reports")).content.decode()
    assert "Generate now" in body
    assert "csrfmiddlewaretoken" in body


def test_download_returns_the_pdf_as_an_attachment(client, db):
    make_organisation()
    report = stored_report(content=b"%PDF-1.7 the stored bytes")
    client.force_login(make_user("viewer"))
    response = client.get(reverse("report_download", args=[report.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="greenai-report-2026-06-organisation.pdf"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == b"%PDF-1.7 the stored bytes"


def test_download_of_a_failed_report_is_not_found(client, db):
    failed = Report.objects.create(month=JUNE, status=Report.Status.FAILED, error="boom")
    client.force_login(make_user("viewer"))
    assert client.get(reverse("report_download", args=[failed.pk])).status_code == 404
    assert client.get(reverse("report_download", args=[failed.pk + 100])).status_code == 404


def test_download_of_a_file_missing_from_storage_is_not_found(client, db):
    report = stored_report()
    report.file.storage.delete(report.file.name)
    client.force_login(make_user("viewer"))
    assert client.get(reverse("report_download", args=[report.pk])).status_code == 404


def test_admin_generates_a_report_now(client, db):
    make_organisation()
    Team.objects.create(name="NLP", slug="nlp")
    client.force_login(make_user("admin"))
    response = client.post(
        reverse("report_generate"), {"month": "2026-06", "team": "nlp"}, follow=True
    )
    assert response.status_code == 200
    report = Report.objects.get(month=JUNE, team__slug="nlp")
    assert report.status == Report.Status.READY
    assert report.file.read().startswith(b"%PDF")
    assert "The report of June 2026 for team NLP is ready." in response.content.decode()


def test_generate_with_a_bad_month_shows_the_reason_and_stores_nothing(client, db):
    make_organisation()
    client.force_login(make_user("admin"))
    response = client.post(reverse("report_generate"), {"month": "2026-13"}, follow=True)
    assert "13 is not a month number" in response.content.decode()
    assert not Report.objects.exists()


def test_generate_for_an_unknown_team_is_refused(client, db):
    make_organisation()
    client.force_login(make_user("admin"))
    response = client.post(
        reverse("report_generate"), {"month": "2026-06", "team": "ghosts"}, follow=True
    )
    assert "No team with slug &#x27;ghosts&#x27;." in response.content.decode()
    assert not Report.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "engineer"])
def test_only_admins_may_generate(client, db, role):
    make_organisation()
    client.force_login(make_user(role))
    response = client.post(reverse("report_generate"), {"month": "2026-06"})
    assert response.status_code == 403
    assert not Report.objects.exists()


def test_generate_needs_post(client, db):
    client.force_login(make_user("admin"))
    assert client.get(reverse("report_generate")).status_code == 405


def test_generate_without_csrf_token_is_refused(db):
    from django.test import Client

    make_organisation()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user("admin"))
    response = strict.post(reverse("report_generate"), {"month": "2026-06"})
    assert response.status_code == 403
    assert not Report.objects.exists()
