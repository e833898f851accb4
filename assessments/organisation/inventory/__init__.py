"""The inventory file (DESIGN 3.5): what the organisation knows, loaded and dumped as YAML.

Three steps: `parse_inventory` (parse.py) reads the YAML and checks every field (pure: text in,
validated entries or an error naming the line and field out); `inventory_load` (load.py) checks
references against the database and writes everything in one transaction (all or nothing);
`inventory_dump` (dump.py) writes the same format back, so that loading a dump changes nothing.
"""

from assessments.organisation.inventory.dump import inventory_dump
from assessments.organisation.inventory.load import LoadResult, inventory_load
from assessments.organisation.inventory.parse import (
    INVENTORY_SOURCE,
    SECTION_ORDER,
    Inventory,
    InventoryError,
    Problem,
    parse_inventory,
)

__all__ = [
    "INVENTORY_SOURCE",
    "SECTION_ORDER",
    "Inventory",
    "InventoryError",
    "LoadResult",
    "Problem",
    "inventory_dump",
    "inventory_load",
    "parse_inventory",
]
