"""The NAS-Bench-201 table fixtures (see tests/nb201_tables.py)."""

from nb201_tables import accuracy_table, cells, device_table, full_tables, nb201  # noqa: F401
