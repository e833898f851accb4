import logging

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


def _load_reference_data(sender, using="default", **kwargs):
    """Ship the reference factors with the database: after every migrate (and test flush)."""
    from django.db import DatabaseError, connections

    from assessments.models import GridZone, HardwareModel
    from assessments.organisation.reference_data import load_reference_data

    tables = set(connections[using].introspection.table_names())
    if not {GridZone._meta.db_table, HardwareModel._meta.db_table} <= tables:
        return  # migrated back before the tables exist
    try:
        load_reference_data(using=using)
    except DatabaseError as exc:
        # A partial migration (tables older than the models): not fatal for migrate itself.
        logging.getLogger(__name__).warning(
            "Reference data not loaded (%s); run manage.py load_reference_data after migrating.",
            exc,
        )


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = "Assessments"

    def ready(self):
        post_migrate.connect(
            _load_reference_data, sender=self, dispatch_uid="assessments_reference_data"
        )
        from assessments.footprint.in_service import inventory_changed
        from assessments.footprint.selectors import embodied_rates_forget
        from assessments.models import HardwareModel
        from collectors.models import Device, Host

        for model in (Host, Device, HardwareModel):
            for signal in (post_save, post_delete):
                signal.connect(
                    embodied_rates_forget,
                    sender=model,
                    dispatch_uid=f"embodied_rates_forget_{model.__name__}_{signal is post_save}",
                )
                signal.connect(
                    inventory_changed,
                    sender=model,
                    dispatch_uid=f"in_service_stale_{model.__name__}_{signal is post_save}",
                )
