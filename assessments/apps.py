from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_reference_data(sender, using="default", **kwargs):
    """Ship the reference factors with the database: after every migrate (and test flush)."""
    from django.db import connections

    from assessments.models import GridZone, HardwareModel
    from assessments.reference_data import load_reference_data

    tables = set(connections[using].introspection.table_names())
    if {GridZone._meta.db_table, HardwareModel._meta.db_table} <= tables:
        load_reference_data(using=using)


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = "Assessments"

    def ready(self):
        post_migrate.connect(
            _load_reference_data, sender=self, dispatch_uid="assessments_reference_data"
        )
