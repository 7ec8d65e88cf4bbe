"""Synthetic estates: deterministic, seeded, realistic, and fast enough for a million lines.

``stream_estate(lines, sink, seed)`` builds the estate entities as Arrow tables with exactly
the model's schema and hands each to ``sink`` as soon as it is complete: no later stage reads
or changes a table once it is built (billing's unallocated-charge check reads a few columns of
people, lines, charges and invoices, kept apart), so the builder holds one stage's work and the
numpy columns later stages read, never the whole estate (29 M rows at a million lines).
``generate_estate(lines, seed)`` is the same stream gathered into an in-memory ``Estate``.

Everything is vectorised with numpy and Arrow compute: the Python loops run over small
catalogues (kinds, departments, apps, store templates), over the few carrier accounts and
legal holds, never over lines, calls or usage rows, so a million lines with twelve million
usage rows take seconds.

The estate is clean by construction for every built-in policy, except for a known set of
resources planted as violations (``Estate.planted``: policy id → resource ids, one entry
per built-in policy), about 1-5 % of the resources a policy looks at and at least three.
Most are existing rows changed to break one rule (a line's recording switched off, a
device's OS left behind); some are rows added for the purpose (a duplicated charge, a
misconfigured retention store, a channel pointed at the wrong store, a Zoom seat for
someone on Teams), and a spend spike is lines moved between two accounts of a market in
the latest month. A planted resource breaks its own policy's rule and no other policy's
(``self.plant`` draws it from the rows nothing else has touched, ``self.record`` files it
under its policy), bar one overlap planted on purpose: a leaver's phone nobody has used
since, found by cost.leaver-lines and cost.zero-usage-lines, so that savings counted once
per line are exercised. A seed whose draw leaves a policy too few candidates takes the
seed's next draw (``DRAWS``). Planting keeps away from the policies' thresholds (90 idle days, 30
grace days, 20 % spikes, 1,096 days, 5 years...) so a colleague's ``>`` versus ``>=``
cannot change a result.

It looks like a real estate, with the data real sources leave out: lines have purposes
(a person's voice, data or hotspot line; shared, contact-centre, trunk, DID-block, machine,
card-terminal, fax and standby lines kept by a custodian, some with no holder but a cost
centre; lift, alarm and emergency lines), some of unknown purpose; the directory has
Teams Phone resource accounts (holding the call queues' numbers and a virtual-user
licence) and meeting rooms besides people; one carrier's usage has no last-activity date
and one's IoT summaries no roaming or overage columns; stores declare their record types
and whether legal holds win over their retention; legal holds name custodians, lines and
stores, from when to when; calls place both parties. Each policy that can say "cannot
decide" has a few resources it must count as undecidable and never find (a leaver with no
termination date, a line with a month missing from the carrier's usage, a store whose
period is not exported, a recording whose announcement is not reported...).

What "clean" means, in short: people hold at most one active line per kind and purpose;
leavers' lines are cancelled and their licences reclaimed (a leaver's line left active has
a phone that MDM no longer ties to anyone); every person works on one meeting platform;
telephony licences go to people with a DID that takes outside calls; every voice number
took a call lately; life-safety lines are in service, located and have a custodian;
company devices are replaced within three years and report to MDM; limited data plans are
used but not exceeded; international add-ons are used and nobody roams without one;
suspensions are short, or the holder is on leave; contracts are renewed or noticed in time
and commitments met; invoices are approved before they fall due; recordings are kept for
their holder's recording duty, deleted when their purpose ends unless a hold keeps them,
and announced on calls with a party in an all-party-consent state; regulated stores keep
records long enough on WORM storage; regulated channels are archived, fresh, and point at
stores that declare their scopes and record types.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..estate.model import load_model
from .billing import Billing
from .common import (
    _US_PER_DAY,
    _US_PER_S,
    AS_OF,
    INVOICE_MONTHS,
    MIN_LINES,
    EstateTooSmall,
    _day,
    _month_first,
)
from .contracts import Contracts
from .devices import Devices
from .licenses import Licenses
from .lines import Lines
from .locations import Locations
from .people import People
from .records import Records
from .traffic import Traffic


@dataclass
class Estate:
    """A generated estate: typed tables, the planted violations and the as-of date."""

    tables: dict[str, pa.Table]
    planted: dict[str, list[str]]
    as_of: dt.date

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.tables.values())


@dataclass
class Streamed:
    """What ``stream_estate`` handed to its sink: rows per entity, the planted violations and
    the as-of date."""

    entity_rows: dict[str, int]
    planted: dict[str, list[str]]
    as_of: dt.date

    @property
    def rows(self) -> int:
        return sum(self.entity_rows.values())


#: Receives each entity's whole table, by entity name, once it is complete.
EstateSink = Callable[[str, pa.Table], None]

#: Draws of one seed tried before an estate is called too small for its planted violations.
DRAWS = 32


def stream_estate(lines: int, sink: EstateSink, seed: int = 7, as_of: dt.date = AS_OF) -> Streamed:
    """Build the synthetic estate of about ``lines`` lines, handing each entity's table to
    ``sink`` as soon as it is complete; the same arguments give the same tables.

    In a small estate a draw can leave a rare kind of resource (an old quality recording of an
    EEA line, a CFTC trader's phone) too few candidates to plant three violations and keep two
    clean; the next draw of the same seed is tried then, so every seed gives an estate and the
    same seed always the same one. A failed draw may already have handed some entities to the
    sink: the next draw hands every entity again, and the sink must let the later table replace
    the earlier (as writing a file of the same name does)."""
    if lines < MIN_LINES:
        raise ValueError(f"a synthetic estate needs at least {MIN_LINES} lines, not {lines}")
    for draw in range(DRAWS):
        try:
            return _Builder(int(lines), int(seed), as_of, draw, sink).build()
        except EstateTooSmall as exc:
            last = exc
    raise ValueError(f"{last} (in {DRAWS} draws)")


def generate_estate(lines: int, seed: int = 7, as_of: dt.date = AS_OF) -> Estate:
    """The synthetic estate of ``stream_estate`` in memory, its tables in the model's order."""
    tables: dict[str, pa.Table] = {}
    streamed = stream_estate(lines, tables.__setitem__, seed, as_of)
    return Estate({name: tables[name] for name in load_model().entities}, streamed.planted,
                  streamed.as_of)


class _Builder(Locations, People, Contracts, Lines, Traffic, Records, Devices, Licenses, Billing):
    """Builds the entities in dependency order, handing each table to the sink when it is
    complete; keeps only the numpy columns later stages read, and drops them after the last."""

    def __init__(self, lines: int, seed: int, as_of: dt.date, draw: int = 0,
                 sink: EstateSink | None = None):
        self.n = lines
        self.seed = seed
        self.draw = draw
        self.as_of = as_of
        self.today = _day(as_of)
        self.now_us = (self.today + 1) * _US_PER_DAY - 3600 * _US_PER_S  # 23:00 on the as-of day
        self.month = (as_of.year - 1970) * 12 + as_of.month - 1
        # Invoiced months: the last INVOICE_MONTHS complete months before the as-of month.
        self.inv_months = self.month - INVOICE_MONTHS + np.arange(INVOICE_MONTHS)
        self.inv_first = _month_first(self.inv_months)
        self.inv_last = _month_first(self.inv_months + 1) - 1
        self.sink = sink
        self.entity_rows: dict[str, int] = {}
        #: Columns of emitted tables that billing's unallocated-charge check still reads.
        self.kept: dict[str, pa.Table] = {}
        self.planted: dict[str, list[str]] = {}

    def rng(self, part: str) -> np.random.Generator:
        # One stream per entity: changing how one table is drawn leaves the others alone.
        stream = zlib.crc32(part.encode())
        return np.random.default_rng([self.seed, stream] if not self.draw else [self.seed, self.draw, stream])

    def plant(self, rng: np.random.Generator, pool: np.ndarray, share: float,
              policy: str, minimum: int = 3) -> np.ndarray:
        """Row indices (sorted) drawn from ``pool`` to violate ``policy``."""
        k = max(minimum, int(round(share * len(pool))))
        if len(pool) < k + 2:
            raise EstateTooSmall(f"estate too small to plant violations of {policy}: "
                             f"{len(pool)} candidates; generate more lines")
        return np.sort(rng.choice(pool, size=k, replace=False))

    @staticmethod
    def some(rng: np.random.Generator, pool: np.ndarray, share: float, keep: int = 2) -> np.ndarray:
        """A few rows (sorted) of ``pool`` for a realistic shape that is no violation (an
        undecidable case, a lawful exception): at least one where ``keep`` more remain."""
        k = min(max(1, int(round(share * len(pool)))), max(0, len(pool) - keep))
        return np.sort(rng.choice(pool, size=k, replace=False)) if k else np.zeros(0, np.int64)

    def record(self, policy: str, ids: pa.Array, rows: np.ndarray) -> None:
        found = ids.take(pa.array(np.asarray(rows, np.int64), pa.int64())).to_pylist()
        self.planted[policy] = sorted(set(self.planted.get(policy, [])) | set(found))

    def unrecord(self, policy: str, ids: pa.Array, rows: np.ndarray) -> None:
        """Take ``rows`` out of ``policy``'s planted violations (a lawful exception drawn among them)."""
        gone = set(ids.take(pa.array(np.asarray(rows, np.int64), pa.int64())).to_pylist())
        self.planted[policy] = [i for i in self.planted.get(policy, []) if i not in gone]

    def emit(self, name: str, table: pa.Table, keep: tuple[str, ...] = ()) -> None:
        """Hand a complete table to the sink; ``keep`` names the columns a later stage reads
        (they share the table's buffers, the rest is freed once the sink lets go)."""
        if name in self.entity_rows:
            raise AssertionError(f"{name} generated twice")
        if self.sink is not None:
            self.sink(name, table)
        self.entity_rows[name] = table.num_rows
        if keep:
            self.kept[name] = table.select(list(keep))

    def build(self) -> Streamed:
        # Each stage draws from its own random streams, so the order only has to follow what a
        # stage reads: calls run just before recordings (which complete the calls table) so
        # that five calls per line are held for as short a time as possible.
        self.locations()
        self.people()
        self.contracts()
        self.lines()
        self.usage()
        self.stores()
        self.legal_holds()
        self.calls()
        self.recordings()
        del self.st, self.holds
        self.devices()
        del self.loc, self.loc_ids
        self.device_apps()
        del self.dev, self.device_ids
        self.licenses()
        del self.ppl, self.person_ids
        self.billing()
        missing = set(load_model().entities) - set(self.entity_rows)
        if missing:
            raise AssertionError(f"entities not generated: {sorted(missing)}")
        return Streamed(dict(self.entity_rows), dict(sorted(self.planted.items())), self.as_of)
