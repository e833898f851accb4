"""Django admin for collectors, hosts, devices, batches and refusals.

Tokens are never shown or edited here except once, on creation. Batches, refusals and raw
samples are records of what agents sent: read-only.
"""

from django.contrib import admin, messages
from django.utils import timezone

from collectors.models import Collector, Device, Host, IngestBatch, IngestRejection
from collectors.selectors import COLLECTOR_TOKEN_KIND
from collectors.services import collector_revoke, host_hand_over
from greenai_site.tokens import new_token


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Collector)
class CollectorAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "team",
        "allow_backfill",
        "token_prefix",
        "created_at",
        "last_seen_at",
        "revoked_at",
        "foreign_tags",
    )
    list_filter = ("team", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "token_prefix")
    actions = ["revoke_selected"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "team", "allow_backfill")
        return (
            "name",
            "team",
            "allow_backfill",
            "foreign_tags",
            "foreign_tag_last_at",
            "token_prefix",
            "created_at",
            "created_by",
            "last_seen_at",
            "revoked_at",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (
            "token_prefix",
            "created_at",
            "created_by",
            "last_seen_at",
            "revoked_at",
            "foreign_tags",
            "foreign_tag_last_at",
        )

    def save_model(self, request, obj, form, change):
        if not change:
            # Same token format and storage as collector_create(); shown once, here.
            token = new_token(COLLECTOR_TOKEN_KIND)
            obj.token_prefix = token.prefix
            obj.token_digest = token.digest
            obj.created_by = request.user
            obj.created_at = timezone.now()
            super().save_model(request, obj, form, change)
            messages.warning(
                request,
                f"Token of {obj.name!r} (copy it now, it is not shown again): {token.token}",
            )
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected collectors' tokens")
    def revoke_selected(self, request, queryset):
        for collector in queryset:
            collector_revoke(collector=collector)
        self.message_user(request, f"{queryset.count()} collector(s) revoked.")


class DeviceInline(admin.TabularInline):
    model = Device
    fields = ("kind", "index", "name", "uuid", "power_limit_w", "is_mig", "last_seen_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    """The collector field hands a host over: its devices follow it (host_hand_over)."""

    list_display = ("hostname", "collector", "site", "agent_version", "last_seen_at")
    list_filter = ("site", "collector")
    search_fields = ("hostname",)
    readonly_fields = ("agent_version", "first_seen_at", "last_seen_at")
    inlines = [DeviceInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "collector" in form.changed_data:
            host_hand_over(host=obj, collector=obj.collector)
            messages.info(
                request,
                f"Host {obj.hostname!r} and its devices now belong to "
                f"{obj.collector.name if obj.collector else 'nobody'}.",
            )


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("uuid", "host", "kind", "index", "name", "power_limit_w", "last_seen_at")
    list_filter = ("kind", "source", "is_mig", "collector")
    search_fields = ("uuid", "name", "host__hostname")
    list_select_related = ("host",)
    # What the agent reports is read-only; the embodied-carbon override is the user's to set.
    readonly_fields = (
        "uuid",
        "host",
        "collector",
        "kind",
        "index",
        "name",
        "power_limit_w",
        "is_mig",
        "parent_uuid",
        "source",
        "first_seen_at",
        "last_seen_at",
    )


@admin.register(IngestBatch)
class IngestBatchAdmin(ReadOnlyAdmin):
    list_display = ("batch_id", "collector", "host", "received_at", "sample_count", "stored_count")
    list_filter = ("collector",)
    search_fields = ("batch_id",)
    date_hierarchy = "received_at"
    list_select_related = ("collector", "host")


@admin.register(IngestRejection)
class IngestRejectionAdmin(ReadOnlyAdmin):
    list_display = ("at", "collector", "status", "reason", "short_message")
    list_filter = ("status", "reason", "collector")
    date_hierarchy = "at"
    list_select_related = ("collector",)

    @admin.display(description="message")
    def short_message(self, obj):
        return obj.message.splitlines()[0][:120] if obj.message else ""
