"""Alert pages: active and past alerts (filtered by team, CSV), acknowledging, the rules with
their thresholds, the notification channels (admins)."""

import csv
import secrets

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from assessments import permissions
from assessments.models import AlertEpisode, AlertRule, NotificationChannel, Team
from assessments.models.watch import ALERT_THRESHOLDS
from assessments.watch import selectors
from assessments.watch.notify import WebhookUrlRefused, webhook_url_check
from assessments.watch.secrets import secret_encrypt
from assessments.watch.services import alert_acknowledge

CSV_COLUMNS = [
    "id",
    "kind",
    "scope",
    "status",
    "started_at",
    "resolved_at",
    "value",
    "threshold",
    "summary",
    "began_on",
    "acknowledged_at",
    "acknowledged_by",
    "acknowledgement_note",
]


class AlertFilter(forms.Form):
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), required=False, to_field_name="slug"
    )
    status = forms.ChoiceField(
        choices=[("", "All"), ("firing", "Firing"), ("resolved", "Resolved")], required=False
    )


def _filtered(request):
    form = AlertFilter(request.GET or None)
    if request.GET and not form.is_valid():
        return form, None
    data = form.cleaned_data if request.GET else {}
    episodes = selectors.alert_episodes(status=data.get("status") or None, team=data.get("team"))
    return form, episodes


def _may_acknowledge(user, rule: AlertRule) -> bool:
    team = rule.team or (rule.project.team if rule.project_id else None)
    if team is None:
        return permissions.role_of(user) in (permissions.Role.ENGINEER, permissions.Role.ADMIN)
    return permissions.can_edit_team(user, team)


@login_required
def alert_list(request):
    form, episodes = _filtered(request)
    if episodes is None:
        return render(request, "assessments/alerts.html", {"form": form}, status=400)
    episodes = list(episodes[:500])
    for episode in episodes:
        episode.may_acknowledge = _may_acknowledge(request.user, episode.rule)
    return render(
        request,
        "assessments/alerts.html",
        {
            "form": form,
            "firing": [e for e in episodes if e.resolved_at is None],
            "past": [e for e in episodes if e.resolved_at is not None],
            "query": request.GET.urlencode(),
            "is_admin": permissions.is_admin(request.user),
        },
    )


@login_required
def alert_csv(request):
    form, episodes = _filtered(request)
    if episodes is None:
        return HttpResponse(
            "Bad filter: " + "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items()),
            status=400,
            content_type="text/plain",
        )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="alerts.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for e in episodes.iterator():
        writer.writerow(
            _csv_safe(value)
            for value in [
                e.pk,
                e.rule.kind,
                e.rule.scope,
                "firing" if e.resolved_at is None else "resolved",
                e.started_at.isoformat(),
                e.resolved_at.isoformat() if e.resolved_at else "",
                e.value,
                e.threshold,
                e.summary,
                e.began_on or "",
                e.acknowledged_at.isoformat() if e.acknowledged_at else "",
                e.acknowledged_by.get_username() if e.acknowledged_by else "",
                e.acknowledgement_note,
            ]
        )
    return response


def _csv_safe(value):
    """Text a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class AcknowledgeForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False, widget=forms.Textarea)


@login_required
@require_POST
def alert_acknowledge_view(request, pk: int):
    episode = get_object_or_404(
        AlertEpisode.objects.select_related("rule__team", "rule__project__team"), pk=pk
    )
    if not _may_acknowledge(request.user, episode.rule):
        raise PermissionDenied("Only engineers of the rule's team and admins acknowledge it.")
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        return HttpResponse(
            "Bad note: " + "; ".join(form.errors.get("note", [])),
            status=400,
            content_type="text/plain",
        )
    alert_acknowledge(episode=episode, user=request.user, note=form.cleaned_data["note"])
    messages.success(request, "Alert acknowledged.")
    return redirect("alert_list")


# --- Rules and channels (admins) ---------------------------------------------------------------


class RuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = ["threshold", "min_units", "enabled", "channels"]
        widgets = {"channels": forms.CheckboxSelectMultiple}

    def clean_threshold(self):
        value = self.cleaned_data["threshold"]
        if value is None or value != value or not 0 <= value <= 1e15:
            raise forms.ValidationError("Must be a number from 0 to 1e15.")
        return value


@login_required
def rule_list(request):
    rules = AlertRule.objects.select_related("team", "project").prefetch_related("channels")
    rows = [
        {"rule": rule, "unit": ALERT_THRESHOLDS[rule.kind][2]}
        for rule in rules.order_by("kind", "team__slug", "project__slug")
    ]
    return render(
        request,
        "assessments/alert_rules.html",
        {
            "rows": rows,
            "channels": NotificationChannel.objects.order_by("name"),
            "is_admin": permissions.is_admin(request.user),
        },
    )


@login_required
@permissions.admin_required
def rule_edit(request, pk: int):
    rule = get_object_or_404(AlertRule.objects.select_related("team", "project"), pk=pk)
    form = RuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Rule {rule} saved.")
        return redirect("alert_rules")
    return render(
        request,
        "assessments/simple_form.html",
        {"form": form, "title": f"Alert rule {rule} ({ALERT_THRESHOLDS[rule.kind][2]})"},
        status=400 if request.method == "POST" else 200,
    )


class ChannelForm(forms.Form):
    name = forms.SlugField(max_length=100)
    kind = forms.ChoiceField(choices=NotificationChannel.Kind.choices)
    url = forms.CharField(max_length=2000, required=False, label="Webhook URL")
    form = forms.ChoiceField(choices=NotificationChannel.Form.choices, required=False)
    to = forms.CharField(
        max_length=2000, required=False, label="E-mail addresses (comma-separated)"
    )

    def clean_name(self):
        name = self.cleaned_data["name"]
        if NotificationChannel.objects.filter(name=name).exists():
            raise forms.ValidationError("A channel of this name exists.")
        return name

    def clean(self):
        data = super().clean()
        if data.get("kind") == "webhook":
            try:
                data["url"] = webhook_url_check(data.get("url") or "")
            except WebhookUrlRefused as exc:
                self.add_error("url", str(exc))
        elif data.get("kind") == "email":
            addresses = [a.strip() for a in (data.get("to") or "").split(",") if a.strip()]
            validator = forms.EmailField()
            try:
                data["to"] = [validator.clean(a) for a in addresses]
            except forms.ValidationError:
                self.add_error("to", "Give e-mail addresses separated by commas.")
            else:
                if not addresses:
                    self.add_error("to", "Give at least one e-mail address.")
        return data


@login_required
@permissions.admin_required
def channel_create(request):
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        secret = None
        channel = NotificationChannel(name=data["name"], kind=data["kind"])
        if data["kind"] == "webhook":
            secret = secrets.token_urlsafe(32)
            channel.url, channel.form = data["url"], data["form"] or "json"
            channel.secret_encrypted = secret_encrypt(secret)
        else:
            channel.recipients = data["to"]
        channel.save()
        # The secret is shown once, on this answer only; it is stored encrypted.
        return render(
            request, "assessments/channel_created.html", {"channel": channel, "secret": secret}
        )
    return render(
        request,
        "assessments/simple_form.html",
        {"form": form, "title": "New notification channel"},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@permissions.admin_required
@require_POST
def channel_remove(request, pk: int):
    channel = get_object_or_404(NotificationChannel, pk=pk)
    channel.delete()
    messages.success(request, f"Channel {channel.name} removed.")
    return redirect("alert_rules")
