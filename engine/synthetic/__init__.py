"""Synthetic estates: deterministic, seeded, realistic, fast enough for a million lines.

``stream_estate(lines, sink, seed)`` hands every estate entity, as an Arrow table with
exactly the model's schema, to ``sink`` as soon as it is built (the demo writes each as a CSV
file then), and returns the violations planted on purpose; ``generate_estate(lines, seed)``
gathers the same tables into an in-memory ``Estate``. What the estate looks like, and what
"clean" means, is told in builder.py.

- ``builder.py``: ``stream_estate``, ``generate_estate``, ``Estate``, and the builder that
  runs the entity groups in dependency order, each from its own seeded random stream
- ``common.py``: the as-of date and sizes, ``EstateTooSmall``, the vectorised helpers
- ``catalogue.py``: the small hand-written tables (names, places, products, plans, prices)
- one module per entity group, each a part of the builder:
  ``locations.py`` (e911_locations), ``people.py``, ``contracts.py`` (contracts, accounts,
  rates), ``lines.py``, ``traffic.py`` (usage, calls), ``records.py`` (retention_policies,
  channels, legal_holds, recordings), ``devices.py`` (devices, device_apps),
  ``licenses.py`` (subscriptions, licenses), ``billing.py`` (invoices, charges, disputes,
  and the contracts table)
"""

from .builder import DRAWS, Estate, EstateSink, Streamed, generate_estate, stream_estate
from .common import AS_OF, INVOICE_MONTHS, MIN_LINES, EstateTooSmall

__all__ = ["AS_OF", "DRAWS", "INVOICE_MONTHS", "MIN_LINES", "Estate", "EstateSink", "EstateTooSmall",
           "Streamed", "generate_estate", "stream_estate"]
