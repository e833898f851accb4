"""Django admin for everything the assessments app stores.

The organisation's model (settings, sites, zones, hardware, teams, projects, allocations) is
editable here. Computed facts are read-only: they are recomputed from raw samples, and a
hand-edited fact would no longer match its factors. Tokens show only their prefix.
"""

from django.contrib import admin, messages
from django.utils import timezone

from assessments.models import (
    AiSystem,
    AiSystemVersion,
    AlertEpisode,
    AlertNotification,
    AlertRule,
    Allocation,
    ApiToken,
    AttributionRule,
    Budget,
    CodeCarbonEmission,
    CodeCarbonExperiment,
    CodeCarbonRun,
    DailyDeviceFact,
    DailyHostRangeFact,
    DailyInServiceFact,
    DailyProjectFact,
    DailyRangeFact,
    DailySiteFactors,
    DeviceInService,
    FactorChange,
    GridIntensityHour,
    GridZone,
    HardwareModel,
    HourlyCodeCarbonFact,
    HourlyDeviceFact,
    HourlyJobFact,
    HourlyProjectFact,
    InServiceStale,
    NotificationChannel,
    Optimisation,
    Organisation,
    Project,
    Recommendation,
    Report,
    RollupShard,
    Site,
    Team,
    UserProfile,
    VersionProject,
    WorkRecord,
)
from assessments.organisation.factor_changes import factor_object_save
from assessments.organisation.services import attribution_rule_delete, attribution_rule_save


class ComputedAdmin(admin.ModelAdmin):
    """Facts are the rollup's output: viewable and deletable, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- The organisation ---------------------------------------------------------------------------


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "currency", "internal_carbon_price_per_t", "engineer_hourly_rate")
    fieldsets = (
        (None, {"fields": ("name", "currency")}),
        (
            "Money",
            {
                "fields": ("internal_carbon_price_per_t", "engineer_hourly_rate"),
                "description": "Internal carbon price per tonne CO2e and engineering hour "
                "rate, in the organisation's currency.",
            },
        ),
        ("Monthly report", {"fields": ("report_recipients",)}),
    )

    # One organisation per installation (pk=1): never a second, never none.
    def has_add_permission(self, request):
        return not Organisation.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        Organisation.get()
        return super().changelist_view(request, extra_context)


class FactorRecordingAdmin(admin.ModelAdmin):
    """Edits here are recorded in the factors' change log like those made on the app's pages."""

    def save_model(self, request, obj, form, change):
        factor_object_save(obj=obj, changed_by=request.user)


@admin.register(FactorChange)
class FactorChangeAdmin(admin.ModelAdmin):
    list_display = ("changed_at", "changed_by_label", "object_kind", "object_name", "action")
    list_filter = ("object_kind", "action")
    search_fields = ("object_name", "changed_by_label")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Site)
class SiteAdmin(FactorRecordingAdmin):
    list_display = (
        "name",
        "grid_zone",
        "pue",
        "pue_source",
        "energy_price_per_kwh",
        "price_source",
    )
    list_filter = ("grid_zone",)
    search_fields = ("name", "grid_zone")
    fieldsets = (
        (None, {"fields": ("name", "grid_zone")}),
        (
            "Factors (blank: the documented default, shown as a data gap)",
            {"fields": ("pue", "pue_source", "energy_price_per_kwh", "price_source")},
        ),
        (
            "Uncertainty bounds (blank: equal to the value)",
            {"fields": ("pue_min", "pue_max", "grid_uncertainty_pct", "price_min", "price_max")},
        ),
    )


@admin.register(GridZone)
class GridZoneAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "gco2e_per_kwh", "year", "source")
    list_filter = ("kind", "year")
    search_fields = ("code", "name", "source")
    ordering = ("code",)
    fieldsets = (
        (None, {"fields": ("code", "name", "kind")}),
        (
            "Annual grid carbon intensity (gCO2e/kWh, location-based)",
            {
                "fields": ("gco2e_per_kwh", "year", "source"),
                "description": "Change the source when you change a value: shipped rows "
                "still carrying the shipped source are refreshed on upgrade.",
            },
        ),
    )


@admin.register(GridIntensityHour)
class GridIntensityHourAdmin(admin.ModelAdmin):
    list_display = ("zone", "hour", "gco2e_per_kwh", "basis", "source", "imported_at")
    list_filter = ("basis", "zone__kind")
    search_fields = ("zone__code", "source")
    date_hierarchy = "hour"
    raw_id_fields = ("zone",)
    list_select_related = ("zone",)
    ordering = ("zone__code", "-hour")


@admin.register(HardwareModel)
class HardwareModelAdmin(FactorRecordingAdmin):
    list_display = (
        "name",
        "kind",
        "embodied_kgco2e",
        "min_kgco2e",
        "max_kgco2e",
        "lifetime_years",
        "source",
    )
    list_filter = ("kind", "lifetime_years")
    search_fields = ("name", "nvml_names", "source")
    ordering = ("kind", "name")
    fieldsets = (
        (None, {"fields": ("kind", "name", "nvml_names")}),
        (
            "Embodied carbon (kgCO2e, manufacturing) and lifetime (years)",
            {
                "fields": (
                    "embodied_kgco2e",
                    "min_kgco2e",
                    "max_kgco2e",
                    "lifetime_years",
                    "lifetime_years_min",
                    "lifetime_years_max",
                    "source",
                ),
                "description": "Change the source when you change a value: shipped rows "
                "still carrying the shipped source are refreshed on upgrade.",
            },
        ),
    )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "team", "phase", "work_unit", "created_at")
    list_filter = ("phase", "team")
    search_fields = ("slug", "name", "team__name")
    list_select_related = ("team",)
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    list_display = ("project", "host", "devices", "start", "end")
    list_filter = ("project__team", "project")
    search_fields = ("project__slug", "project__name", "host__hostname")
    raw_id_fields = ("host",)
    list_select_related = ("project", "host")
    date_hierarchy = "start"

    @admin.display(description="Devices")
    def devices(self, allocation):
        if allocation.device_indexes is None:
            return "all"
        return ", ".join(str(index) for index in allocation.device_indexes)


@admin.register(WorkRecord)
class WorkRecordAdmin(admin.ModelAdmin):
    list_display = (
        "project",
        "period_start",
        "period_end",
        "units",
        "kind",
        "source",
        "model_name",
        "job",
        "note",
        "created_by",
    )
    list_filter = ("project", "kind", "source")
    search_fields = ("project__slug", "note", "model_name", "job")
    date_hierarchy = "period_start"
    list_select_related = ("project", "created_by")
    raw_id_fields = ("created_by",)


# --- People and tokens ----------------------------------------------------------------------


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "team_names")
    list_filter = ("role", "teams")
    search_fields = ("user__username", "user__email")
    filter_horizontal = ("teams",)
    raw_id_fields = ("user",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").prefetch_related("teams")

    @admin.display(description="Teams")
    def team_names(self, profile):
        return ", ".join(team.name for team in profile.teams.all())


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Personal tokens are created by their owner (shown once); here they can be revoked."""

    list_display = ("name", "user", "token_prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "user__username", "token_prefix")
    readonly_fields = ("user", "token_prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("token_digest",)
    actions = ["revoke_selected"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke_selected(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


# --- Decisions and reports ------------------------------------------------------------------


@admin.register(Optimisation)
class OptimisationAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "project",
        "technique",
        "status",
        "applied_on",
        "engineering_hours",
        "other_costs",
    )
    list_filter = ("technique", "status", "project__team")
    search_fields = ("title", "description", "project__slug")
    date_hierarchy = "applied_on"
    list_select_related = ("project",)
    raw_id_fields = ("created_by",)


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "kind",
        "status",
        "confidence",
        "monthly_facility_energy_kwh",
        "monthly_kgco2e",
        "monthly_cost",
        "updated_at",
    )
    list_filter = ("kind", "status", "confidence")
    search_fields = ("title", "target", "action", "fingerprint")
    raw_id_fields = ("project", "host", "device", "optimisation", "decided_by")
    readonly_fields = ("fingerprint", "evidence", "evidence_digest", "created_at", "updated_at")


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("month", "team", "status", "generated_at", "file", "emailed_to")
    list_filter = ("status", "team")
    date_hierarchy = "month"
    readonly_fields = ("totals", "factor_versions", "generated_at", "error")


# --- Computed facts (read-only) -------------------------------------------------------------


@admin.register(HourlyDeviceFact)
class HourlyDeviceFactAdmin(ComputedAdmin):
    list_display = (
        "device",
        "hour",
        "energy_it_kwh",
        "energy_facility_kwh",
        "operational_kgco2e",
        "embodied_kgco2e",
        "cost",
        "coverage",
        "pue",
        "grid_gco2e_per_kwh",
        "grid_source",
    )
    list_filter = ("site",)
    search_fields = ("device__uuid", "device__host__hostname", "grid_source")
    date_hierarchy = "hour"
    list_select_related = ("device__host",)


@admin.register(HourlyProjectFact)
class HourlyProjectFactAdmin(ComputedAdmin):
    list_display = (
        "hour",
        "project",
        "attribution",
        "device",
        "energy_it_kwh",
        "operational_kgco2e",
        "embodied_kgco2e",
        "cost",
        "gpu_hours",
    )
    list_filter = ("attribution", "phase", "team", "site")
    search_fields = ("project__slug", "device__uuid", "device__host__hostname")
    date_hierarchy = "hour"
    list_select_related = ("project", "device__host")


@admin.register(RollupShard)
class RollupShardAdmin(ComputedAdmin):
    """Each rollup shard's last run, as /metrics and /health show it."""

    list_display = (
        "shard",
        "last_finished_at",
        "last_seconds",
        "last_marks",
        "last_hours",
        "last_rows",
        "runs",
    )


@admin.register(DailyProjectFact)
class DailyProjectFactAdmin(ComputedAdmin):
    list_display = (
        "day",
        "project",
        "team",
        "site",
        "phase",
        "energy_it_kwh",
        "operational_kgco2e",
        "embodied_kgco2e",
        "cost",
        "gpu_hours",
    )
    list_filter = ("phase", "team", "site")
    search_fields = ("project__slug",)
    date_hierarchy = "day"
    list_select_related = ("project", "team", "site")


@admin.register(DailyRangeFact)
class DailyRangeFactAdmin(ComputedAdmin):
    list_display = (
        "day",
        "project",
        "team",
        "site",
        "phase",
        "host",
        "measurement",
        "energy_it_kwh",
        "operational_kgco2e",
        "embodied_kgco2e",
        "cost",
    )
    list_filter = ("measurement", "phase", "team", "site")
    search_fields = ("project__slug", "host__hostname")
    date_hierarchy = "day"
    list_select_related = ("project", "team", "site", "host")


@admin.register(DailyHostRangeFact)
class DailyHostRangeFactAdmin(ComputedAdmin):
    list_display = (
        "day",
        "site",
        "host",
        "measurement",
        "energy_it_kwh",
        "operational_kgco2e",
        "embodied_kgco2e",
        "cost",
    )
    list_filter = ("measurement", "site")
    search_fields = ("host__hostname",)
    date_hierarchy = "day"
    list_select_related = ("site", "host")


@admin.register(DailyDeviceFact)
class DailyDeviceFactAdmin(ComputedAdmin):
    list_display = (
        "day",
        "device",
        "hours",
        "energy_it_kwh",
        "operational_kgco2e",
        "embodied_kgco2e",
        "cost",
        "idle_hours",
    )
    search_fields = ("device__uuid", "device__host__hostname")
    date_hierarchy = "day"
    list_select_related = ("device__host",)


@admin.register(DailySiteFactors)
class DailySiteFactorsAdmin(ComputedAdmin):
    list_display = ("day", "site", "pue_min", "pue_max", "grid_min", "grid_max", "price_min")
    list_filter = ("site",)
    date_hierarchy = "day"
    list_select_related = ("site",)


class InServiceAdmin(ComputedAdmin):
    """Kept by the rollup in step with the inventory and the facts: a row deleted by hand would
    go unnoticed until the host is rebuilt, so these are read-only."""

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DeviceInService)
class DeviceInServiceAdmin(InServiceAdmin):
    list_display = (
        "device",
        "host",
        "site",
        "since",
        "until",
        "kgco2e_per_hour",
        "gpu_model",
        "gpu_kgco2e_per_hour",
        "measurement",
    )
    list_filter = ("site", "measurement")
    list_select_related = ("device__host", "host", "site")


@admin.register(DailyInServiceFact)
class DailyInServiceFactAdmin(InServiceAdmin):
    list_display = (
        "day",
        "host",
        "site",
        "reported_devices",
        "in_service_hours",
        "unmeasured_hours",
        "unmeasured_kgco2e",
        "counted_until",
    )
    list_filter = ("site",)
    date_hierarchy = "day"
    list_select_related = ("host", "site")


@admin.register(InServiceStale)
class InServiceStaleAdmin(InServiceAdmin):
    list_display = ("host_id", "marked_at")


@admin.register(AttributionRule)
class AttributionRuleAdmin(admin.ModelAdmin):
    """Admins edit the rules here; every change re-attributes the hours of jobs' samples."""

    list_display = ("position", "match", "project", "phase")
    ordering = ("position",)
    autocomplete_fields = ("project",)

    def save_model(self, request, obj, form, change):
        attribution_rule_save(rule=obj)

    def delete_model(self, request, obj):
        attribution_rule_delete(rule=obj)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            attribution_rule_delete(rule=rule)


@admin.register(HourlyJobFact)
class HourlyJobFactAdmin(ComputedAdmin):
    list_display = ("hour", "job_key", "user", "project", "device", "energy_it_kwh", "gpu_hours")
    list_filter = ("project",)
    search_fields = ("job_key", "user", "namespace", "pod")
    date_hierarchy = "hour"


# --- CodeCarbon (docs/codecarbon.md) ---------------------------------------------------------


@admin.register(CodeCarbonExperiment)
class CodeCarbonExperimentAdmin(admin.ModelAdmin):
    list_display = ("experiment_id", "project", "phase", "site", "created_at")
    list_filter = ("project__team",)
    search_fields = ("experiment_id", "project__slug")
    readonly_fields = ("created_at", "created_by")


@admin.register(CodeCarbonRun)
class CodeCarbonRunAdmin(ComputedAdmin):
    list_display = (
        "run_id",
        "source",
        "project",
        "started_at",
        "tracking_mode",
        "country_iso_code",
        "cloud_provider",
        "cloud_region",
    )
    list_filter = ("source", "project")
    search_fields = ("run_id", "experiment_ref")


@admin.register(CodeCarbonEmission)
class CodeCarbonEmissionAdmin(ComputedAdmin):
    list_display = ("run", "timestamp", "duration_s", "energy_kwh", "gpu_energy_kwh")
    list_filter = ("run__project",)
    list_select_related = ("run", "run__project")


@admin.register(HourlyCodeCarbonFact)
class HourlyCodeCarbonFactAdmin(ComputedAdmin):
    list_display = (
        "hour",
        "project",
        "run",
        "energy_it_kwh",
        "operational_kgco2e",
        "pue",
        "grid_zone",
        "grid_gco2e_per_kwh",
    )
    list_filter = ("project",)
    list_select_related = ("project", "run", "run__project")


# --- Budgets and alerts (written through their pages, the inventory and evaluate_alerts) -------


class WatchAdmin(ComputedAdmin):
    """Budgets, rules, channels and alerts have their own pages (docs/watch.md), which check
    permissions, the private-address rule and secrets: here they are only looked at."""


@admin.register(Budget)
class BudgetAdmin(WatchAdmin):
    list_display = ("__str__", "team", "project", "metric", "period", "limit")


@admin.register(NotificationChannel)
class NotificationChannelAdmin(WatchAdmin):
    list_display = ("name", "kind", "form")
    # The webhook secret, even encrypted, is never shown.
    exclude = ("secret_encrypted",)


@admin.register(AlertRule)
class AlertRuleAdmin(WatchAdmin):
    list_display = ("kind", "team", "project", "threshold", "enabled")


@admin.register(AlertEpisode)
class AlertEpisodeAdmin(WatchAdmin):
    list_display = ("rule", "started_at", "resolved_at", "value", "threshold")


@admin.register(AlertNotification)
class AlertNotificationAdmin(WatchAdmin):
    list_display = ("episode", "channel", "event", "created_at", "delivered_at", "attempts")


# --- AI systems (written through their pages, the API and the inventory, which check them) ------


class AiSystemsAdmin(WatchAdmin):
    """Versions' windows are checked together (assessments.ai_systems.services): only looked at."""


@admin.register(AiSystem)
class AiSystemAdmin(AiSystemsAdmin):
    list_display = ("slug", "name", "team")


@admin.register(AiSystemVersion)
class AiSystemVersionAdmin(AiSystemsAdmin):
    list_display = ("system", "version", "parent", "relation", "model_name", "planned_requests")


@admin.register(VersionProject)
class VersionProjectAdmin(AiSystemsAdmin):
    list_display = ("version", "role", "project", "start", "end")
