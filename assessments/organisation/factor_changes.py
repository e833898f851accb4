"""Writes of the factors that move every team's figures (sites, hardware models), each recorded.

A page edit (and the Django admin) saves through `factor_object_save`; an inventory load records
through `factor_change_record` after its own write: the methodology page's list of changes is
complete whichever way a factor changed.
"""

from django.db import transaction

from assessments.models import FactorChange, HardwareModel, Site

OBJECT_KINDS = {
    Site: FactorChange.ObjectKind.SITE,
    HardwareModel: FactorChange.ObjectKind.HARDWARE_MODEL,
}
INVENTORY_LABEL = "inventory file"


def factor_snapshot(obj) -> dict:
    """Every stored field of a site or hardware model except its id, as JSON-ready values."""
    return {
        field.name: getattr(obj, field.attname)
        for field in obj._meta.concrete_fields
        if not field.primary_key
    }


def changed_values(before: dict, after: dict) -> tuple[dict, dict]:
    """The fields whose value differs, as (before, after); both empty when nothing changed."""
    names = [name for name in after if before.get(name) != after[name]]
    return {name: before.get(name) for name in names}, {name: after[name] for name in names}


def factor_change_record(*, obj, before: dict | None, changed_by=None, label: str):
    """Record what `obj` (already saved) changed from `before` (None: it was created).

    Returns the FactorChange, or None when no field changed.
    """
    after = factor_snapshot(obj)
    if before is None:
        action, old, new = FactorChange.Action.CREATED, {}, after
    else:
        action = FactorChange.Action.UPDATED
        old, new = changed_values(before, after)
        if not new:
            return None
    return FactorChange.objects.create(
        changed_by=changed_by,
        changed_by_label=label[:300],
        object_kind=OBJECT_KINDS[type(obj)],
        object_id=obj.pk,
        object_name=str(obj)[:200],
        action=action,
        before=old,
        after=new,
    )


def stored_snapshot(obj) -> dict | None:
    """The values stored for `obj` now (None when it is not stored yet)."""
    if obj.pk is None:
        return None
    stored = type(obj).objects.filter(pk=obj.pk).first()
    return factor_snapshot(stored) if stored is not None else None


@transaction.atomic
def factor_object_save(*, obj, changed_by):
    """Save a site or hardware model edited on a page and record the change, or neither."""
    before = stored_snapshot(obj)
    obj.save()
    return factor_change_record(
        obj=obj, before=before, changed_by=changed_by, label=changed_by.get_username()
    )


def inventory_label(file_name: str) -> str:
    return f"{INVENTORY_LABEL} {file_name}"
