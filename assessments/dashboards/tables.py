"""The tables of the dashboard pages, each with units in its headers and a source note.

A page renders a Table as HTML and the CSV export writes the very same Table, so what is
downloaded is what was shown. Builders take the page filters (and a project where needed).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import reverse

from assessments.dashboards import selectors as dashboards
from assessments.jobs import selectors as jobs
from assessments.organisation.forms import Filters

CARBON_NOTE = (
    "Operational carbon = facility energy × grid intensity of each site's zone; embodied "
    "carbon = manufacturing carbon amortised over the device's lifetime. Factors and their "
    "sources: see 'Sources' below and the methodology page."
)
COST_NOTE = "Cost = facility energy × each site's electricity price (see 'Sources')."


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str = ""
    digits: int | None = None  # None: text

    @property
    def header(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict]
    note: str = ""
    links: dict[str, str] = field(default_factory=dict)  # column key -> row key holding a URL


def _footprint_columns(currency: str) -> list[Column]:
    return [
        Column("energy_it_kwh", "IT energy", "kWh", 1),
        Column("energy_facility_kwh", "Facility energy", "kWh", 1),
        Column("operational_kgco2e", "Operational carbon", "kgCO2e", 2),
        Column("embodied_kgco2e", "Embodied carbon", "kgCO2e", 2),
        Column("total_kgco2e", "Total carbon", "kgCO2e", 2),
        Column("cost", "Cost", currency, 2),
        Column("gpu_hours", "GPU time", "h", 1),
    ]


def kpis(
    filters: Filters, project=None, *, currency: str | None = None, comparison: dict | None = None
) -> Table:
    comparison = comparison or dashboards.kpi_comparison(end=filters.end, team=filters.team)
    periods, figures = comparison["periods"], comparison["figures"]
    currency = currency or dashboards.currency()
    sci_unit = f"kgCO2e per {figures['current'].get('work_unit') or 'unit'}"
    metrics = [
        ("energy_it_kwh", "IT energy", "kWh"),
        ("energy_facility_kwh", "Facility energy", "kWh"),
        ("operational_kgco2e", "Operational carbon", "kgCO2e"),
        ("embodied_kgco2e", "Embodied carbon", "kgCO2e"),
        ("total_kgco2e", "Total carbon", "kgCO2e"),
        ("cost", "Cost", currency),
        ("sci", "SCI", sci_unit),
    ]
    rows = []
    for key, label, unit in metrics:
        delta = comparison["deltas"][key]
        rows.append(
            {
                "key": key,
                "metric": label,
                "unit": unit,
                "current": figures["current"][key],
                "previous": figures["previous"][key],
                "year_ago": figures["year_ago"][key],
                "vs_previous_pct": delta["vs_previous_pct"],
                "vs_year_ago_pct": delta["vs_year_ago_pct"],
                # This month's range, under the column that shows this month.
                "ranges": {"current": (figures["current"].get("ranges") or {}).get(key)},
            }
        )
    return Table(
        "kpis",
        "This month against last month and a year ago",
        [
            Column("metric", "Metric"),
            Column("unit", "Unit"),
            Column("current", f"{periods['current'].label} ({_span(periods['current'])})", "", 3),
            Column(
                "previous", f"{periods['previous'].label} ({_span(periods['previous'])})", "", 3
            ),
            Column(
                "year_ago", f"{periods['year_ago'].label} ({_span(periods['year_ago'])})", "", 3
            ),
            Column("vs_previous_pct", "Change against last month", "%", 1),
            Column("vs_year_ago_pct", "Change against a year ago", "%", 1),
        ],
        rows,
        CARBON_NOTE + " " + COST_NOTE,
    )


def _span(period) -> str:
    return f"{period.start:%d %b} – {period.end:%d %b %Y}, end exclusive"


def top_projects(
    filters: Filters, project=None, *, currency: str | None = None, data: dict | None = None
) -> Table:
    rows = dashboards.top_projects(
        start=filters.start, end=filters.end, team=filters.team, rows=data
    )
    for row in rows:
        row["url"] = reverse("project_detail", args=[row["project__slug"]])
        row["sci_unit"] = f"kgCO2e per {row['project__work_unit'] or 'unit'}"
    return Table(
        "top-projects",
        "Top projects by carbon",
        [
            Column("label", "Project"),
            Column("project__team__name", "Team"),
            *_footprint_columns(currency or dashboards.currency()),
            Column("work_units", "Units of work", "count", 0),
            Column("sci", "SCI", "kgCO2e per unit", 6),
            Column("project__work_unit", "Unit of work"),
        ],
        rows,
        CARBON_NOTE,
        links={"label": "url"},
    )


def _breakdown(by: str, title: str):
    def build(
        filters: Filters, project=None, *, currency: str | None = None, data: dict | None = None
    ) -> Table:
        # data: the scope_breakdown rows, read already (dashboards.breakdown_rows).
        rows = dashboards.breakdown(
            by=by,
            start=filters.start,
            end=filters.end,
            team=filters.team,
            project=project,
            rows=data,
        )
        return Table(
            f"by-{by}" if project is None else f"project-by-{by}",
            title,
            [
                Column("label", by.capitalize()),
                *_footprint_columns(currency or dashboards.currency()),
            ],
            rows,
            CARBON_NOTE,
        )

    return build


def unallocated(
    filters: Filters, project=None, *, currency: str | None = None, data: dict | None = None
) -> Table:
    data = data or dashboards.unallocated(start=filters.start, end=filters.end)
    return Table(
        "unallocated",
        "Unallocated: device time no project used",
        [Column("label", "Site"), *_footprint_columns(currency or dashboards.currency())],
        data["by_site"],
        "Energy and embodied carbon of measured or in-service device time that no tag or "
        "allocation assigns to a project: visible waste. " + CARBON_NOTE,
    )


def coverage(filters: Filters, project=None, *, data: dict | None = None) -> Table:
    data = data or dashboards.coverage(start=filters.start, end=filters.end)
    rows = [
        {**row, "coverage_pct": None if row["coverage"] is None else row["coverage"] * 100}
        for row in data["by_host"]
    ]
    return Table(
        "coverage",
        "Data coverage by host",
        [
            Column("label", "Host"),
            Column("coverage_pct", "Coverage", "% of device time measured", 1),
            Column("device_hours", "Device-hours with data", "h", 0),
        ],
        rows,
        "Coverage = seconds with samples / seconds of the device-hours that have any sample.",
    )


def projects(filters: Filters, project=None, *, currency: str | None = None) -> Table:
    rows = dashboards.project_rows(start=filters.start, end=filters.end, team=filters.team)
    for row in rows:
        item = row.pop("project")
        row.update(
            label=item.name,
            slug=item.slug,
            team=item.team.name,
            phase=item.get_phase_display(),
            work_unit=item.work_unit,
            url=reverse("project_detail", args=[item.slug]),
        )
    return Table(
        "projects",
        "Projects",
        [
            Column("label", "Project"),
            Column("slug", "Slug"),
            Column("team", "Team"),
            Column("phase", "Phase"),
            *_footprint_columns(currency or dashboards.currency()),
            Column("work_units", "Units of work", "count", 0),
            Column("work_unit", "Unit of work"),
            Column("sci", "SCI", "kgCO2e per unit", 6),
        ],
        rows,
        CARBON_NOTE,
        links={"label": "url"},
    )


def teams(filters: Filters, project=None, *, currency: str | None = None) -> Table:
    from assessments.models import Team

    sums = {
        row["label"]: row
        for row in dashboards.breakdown(by="team", start=filters.start, end=filters.end)
    }
    rows = []
    queryset = Team.objects.order_by("name")
    if filters.team is not None:
        queryset = queryset.filter(pk=filters.team.pk)
    for team in queryset:
        row = dict(sums.get(team.name, {}))
        row = dashboards._with_total(row)
        row.update(
            label=team.name,
            projects=team.projects.count(),
            url=reverse("team_detail", args=[team.slug]),
        )
        rows.append(row)
    return Table(
        "teams",
        "Teams",
        [
            Column("label", "Team"),
            Column("projects", "Projects", "count", 0),
            *_footprint_columns(currency or dashboards.currency()),
        ],
        rows,
        CARBON_NOTE,
        links={"label": "url"},
    )


def project_by_device(filters: Filters, project=None, *, currency: str | None = None) -> Table:
    rows = dashboards.project_by_device(project=project, start=filters.start, end=filters.end)
    return Table(
        "project-by-device",
        "By device",
        [
            Column("label", "Device"),
            Column("device__name", "Model"),
            *_footprint_columns(currency or dashboards.currency()),
        ],
        rows,
        CARBON_NOTE,
    )


def project_per_unit(filters: Filters, project=None) -> Table:
    unit = project.work_unit or "unit"
    rows = dashboards.project_per_unit_series(project=project, start=filters.start, end=filters.end)
    for row in rows:
        row["wh_per_unit"] = None if row["kwh_per_unit"] is None else row["kwh_per_unit"] * 1000
        row["g_per_unit"] = (
            None if row["kgco2e_per_unit"] is None else row["kgco2e_per_unit"] * 1000
        )
    return Table(
        "project-per-unit",
        f"Energy and carbon per {unit}, by day",
        [
            Column("period", "Day (UTC)"),
            Column("energy_it_kwh", "IT energy", "kWh", 2),
            Column("total_kgco2e", "Total carbon", "kgCO2e", 3),
            Column("work_units", unit.capitalize(), "count", 0),
            Column("wh_per_unit", f"Energy per {unit}", "Wh", 4),
            Column("g_per_unit", f"Carbon per {unit}", "gCO2e", 4),
        ],
        rows,
        "Units of work recorded over a period are spread evenly over its days. " + CARBON_NOTE,
    )


def hardware_hosts(filters: Filters, project=None) -> Table:
    rows = dashboards.hardware_hosts(start=filters.start, end=filters.end)
    for row in rows:
        row["embodied_share_pct"] = (
            None if row["embodied_share"] is None else row["embodied_share"] * 100
        )
    return Table(
        "hardware-hosts",
        "Hosts",
        [
            Column("label", "Host"),
            Column("site", "Site"),
            Column("gpus", "GPUs", "count", 0),
            Column("util_mean_pct", "Mean utilisation", "%", 1),
            Column("energy_it_kwh", "IT energy", "kWh", 1),
            Column("idle_energy_it_kwh", "Idle energy", "kWh", 1),
            Column("operational_kgco2e", "Operational carbon", "kgCO2e", 2),
            Column("embodied_kgco2e", "Embodied carbon (amortised)", "kgCO2e", 2),
            Column("embodied_share_pct", "Embodied share", "%", 1),
            Column("age_years", "Age", "years", 1),
            Column("lifetime_years", "Expected lifetime", "years", 1),
        ],
        rows,
        "Idle = hours with mean utilisation under 5 %. " + CARBON_NOTE,
    )


def hardware_devices(filters: Filters, project=None) -> Table:
    rows = dashboards.hardware_devices(start=filters.start, end=filters.end)
    for row in rows:
        row.update(
            model=row["gpu_model_name"]
            or ("unknown model (data gap)" if row["device"].kind == "gpu" else ""),
            device_name=row["device"].name,
        )
    return Table(
        "hardware-devices",
        "GPUs and CPU packages",
        [
            Column("label", "Device"),
            Column("device_name", "Reported name"),
            Column("model", "Embodied-carbon model"),
            Column("hours", "Hours with data", "h", 0),
            Column("util_mean_pct", "Mean utilisation", "%", 1),
            Column("idle_hours", "Idle hours", "h", 0),
            Column("energy_it_kwh", "IT energy", "kWh", 1),
            Column("idle_energy_it_kwh", "Idle energy", "kWh", 1),
            Column("operational_kgco2e", "Operational carbon", "kgCO2e", 2),
            Column("embodied_kgco2e", "Embodied carbon (amortised)", "kgCO2e", 2),
            Column("embodied_source", "Embodied source"),
            Column("embodied_gaps", "Embodied data gaps"),
            Column("age_years", "Age", "years", 1),
            Column("lifetime_years", "Expected lifetime", "years", 1),
        ],
        rows,
        CARBON_NOTE,
    )


def collectors(filters: Filters, project=None) -> Table:
    rows = []
    for row in dashboards.collector_health(team=filters.team):
        collector = row["collector"]
        rows.append(
            {
                **row,
                "label": collector.name,
                "team": collector.team.name if collector.team else "",
                "status": "revoked" if collector.is_revoked else "active",
                "last_seen": row["last_seen_at"].strftime("%Y-%m-%d %H:%M:%S")
                if row["last_seen_at"]
                else "never",
                "lag": _human_seconds(row["lag_seconds"]),
                "token_prefix": collector.token_prefix,
                "backfill": "yes" if collector.allow_backfill else "no",
                "foreign_tags": collector.foreign_tags,
                "foreign_tag_last": collector.foreign_tag_last_at.strftime("%Y-%m-%d %H:%M:%S")
                if collector.foreign_tag_last_at
                else "never",
            }
        )
    return Table(
        "collectors",
        "Collectors",
        [
            Column("label", "Collector"),
            Column("team", "Team"),
            Column("status", "Status"),
            Column("token_prefix", "Token prefix"),
            Column("last_seen", "Last seen (UTC)"),
            Column("lag", "Lag"),
            Column("lag_seconds", "Lag", "s", 0),
            Column("samples_per_second", "Sample rate (last 15 min)", "samples/s", 2),
            Column("rejected_last_day", "Rejected batches (24 h)", "count", 0),
            Column("rejected_total", "Rejected batches (all)", "count", 0),
            Column("hosts", "Hosts", "count", 0),
            Column("devices", "Devices", "count", 0),
            Column("backfill", "Back-fill"),
            Column("foreign_tags", "Tags of other teams' projects", "count", 0),
            Column("foreign_tag_last", "Last such tag (UTC)"),
        ],
        rows,
        "Lag = time since the last accepted batch (to the minute). Sample rate = samples "
        "stored per second over the last 15 minutes. Back-fill = may send samples older than "
        "the raw-sample retention. Tags of other teams' projects were stored without the tag, "
        "not charged to that project.",
    )


def _human_seconds(seconds: float | None) -> str:
    """A lag as '45 s', '12 min', '3.2 h' or '2.1 days'."""
    if seconds is None:
        return "never seen"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


JOBS_NOTE = (
    "A job is a Slurm job or a Kubernetes pod reported with the samples; its figures are its "
    "share of its devices' hours, priced like the devices (see the methodology page)."
)


def project_jobs(filters: Filters, project=None, *, currency: str | None = None) -> Table:
    rows = jobs.jobs_list(start=filters.start, end=filters.end, project=project, limit=200)
    for row in rows:
        row["label"] = row["job_key"]
        row["first_seen"] = f"{row['first_seen']:%Y-%m-%d %H:%M}"
        row["last_seen"] = f"{row['last_seen']:%Y-%m-%d %H:%M}"
    return Table(
        "project-jobs",
        "Jobs",
        [
            Column("label", "Job"),
            Column("user", "User"),
            Column("account", "Account"),
            Column("namespace", "Namespace"),
            *_footprint_columns(currency or dashboards.currency()),
            Column("first_seen", "First seen (UTC)"),
            Column("last_seen", "Last seen (UTC)"),
        ],
        rows,
        JOBS_NOTE + " Largest IT energy first; at most 200 jobs.",
    )


JOB_PAGE_LIMIT = 500


def jobs_page(job_filters, *, currency: str | None = None) -> Table:
    """Every project's jobs (the jobs page and its CSV), filtered as the page's URL says."""
    period = job_filters.period
    rows = jobs.jobs_list(
        start=period.start,
        end=period.end,
        team=period.team,
        project=job_filters.project,
        user=job_filters.user or None,
        namespace=job_filters.namespace or None,
        versions=job_filters.versions,
        limit=JOB_PAGE_LIMIT,
    )
    for row in rows:
        row["label"] = row["job_key"]
        row["project"] = row["project_slug"] or "unallocated"
        if row["project_slug"]:
            row["project_url"] = reverse("project_detail", args=[row["project_slug"]])
        row["first_seen"] = f"{row['first_seen']:%Y-%m-%d %H:%M}"
        row["last_seen"] = f"{row['last_seen']:%Y-%m-%d %H:%M}"
    return Table(
        "jobs",
        "Jobs",
        [
            Column("label", "Job"),
            Column("project", "Project"),
            Column("user", "User"),
            Column("account", "Account"),
            Column("namespace", "Namespace"),
            Column("pod", "Pod"),
            *_footprint_columns(currency or dashboards.currency()),
            Column("devices", "Devices", "count", 0),
            Column("first_seen", "First seen (UTC)"),
            Column("last_seen", "Last seen (UTC)"),
        ],
        rows,
        JOBS_NOTE
        + f" Largest IT energy first; at most {JOB_PAGE_LIMIT} jobs. Unallocated: no tag or "
        "attribution rule gave the job's energy to a project. A model (version) keeps the "
        "hours its producing and serving projects worked for it (their windows); jobs carry no "
        "engine model name, so on a project serving several versions at once a job counts for "
        "each.",
        links={"project": "project_url"},
    )


def users(filters: Filters, project=None, *, currency: str | None = None) -> Table:
    rows = jobs.users_list(start=filters.start, end=filters.end, team=filters.team)
    return Table(
        "users",
        "By user",
        [
            Column("label", "User"),
            Column("jobs", "Jobs", "count", 0),
            *_footprint_columns(currency or dashboards.currency()),
        ],
        rows,
        JOBS_NOTE + " Only jobs that report a user (Slurm) are listed.",
    )


TABLES: dict[str, Callable[..., Table]] = {
    "kpis": kpis,
    "top-projects": top_projects,
    "by-team": _breakdown("team", "By team"),
    "by-phase": _breakdown("phase", "By lifecycle phase"),
    "by-site": _breakdown("site", "By site"),
    "unallocated": unallocated,
    "coverage": coverage,
    "projects": projects,
    "teams": teams,
    "hardware-hosts": hardware_hosts,
    "hardware-devices": hardware_devices,
    "collectors": collectors,
    "users": users,
}
PROJECT_TABLES: dict[str, Callable[..., Table]] = {
    "project-by-phase": _breakdown("phase", "By lifecycle phase"),
    "project-by-site": _breakdown("site", "By site"),
    "project-by-device": project_by_device,
    "project-per-unit": project_per_unit,
    "project-jobs": project_jobs,
}
