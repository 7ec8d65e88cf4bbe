"""Synthetic estates: deterministic, seeded, realistic, and fast enough for a million lines.

``generate_estate(lines, seed)`` builds all the estate entities as Arrow tables with
exactly the model's schema. Everything is vectorised with numpy and Arrow compute: the
Python loops run over small catalogues (kinds, departments, apps, store templates), over
the few carrier accounts and legal holds, never over lines, calls or usage rows, so a
million lines with twelve million usage rows take seconds.

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
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import synthetic_catalogue as cat
from .estate.model import load_model
from .synthetic_catalogue import (
    ACTIVE,
    ALARM,
    CIRCUIT,
    CONTACT_CENTRE,
    COUNTRIES,
    COUNTRY_P,
    CURRENCIES,
    DATA,
    DEPARTMENTS,
    DEPT,
    DID,
    DID_BLOCK,
    EMERGENCY,
    FAX,
    FX,
    HOTSPOT,
    IOT,
    LANDLINE,
    LEAVE,
    LIFE_SAFETY,
    LIFT,
    LINE_KINDS,
    M2M,
    MARKETS,
    MOBILE,
    PAYMENT_TERMINAL,
    PERSON,
    PFAX,
    PLANS,
    REC_NONE,
    REC_PAYMENT,
    REC_QUALITY,
    REC_REGULATORY,
    SCOPE_SETS,
    SHARED,
    SIP,
    STANDBY,
    TERMINATED,
    TOLL_FREE,
    TRUNK,
    US,
    VOICE,
)

AS_OF = dt.date(2026, 6, 30)
#: Below this the per-policy pools get too small to plant three violations and keep clean rows.
MIN_LINES = 200
#: Months of carrier invoices: the latest and the three a spike or a tax share is judged against.
INVOICE_MONTHS = 4

_EPOCH = dt.date(1970, 1, 1)
_US_PER_S = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_S


@dataclass
class Estate:
    """A generated estate: typed tables, the planted violations and the as-of date."""

    tables: dict[str, pa.Table]
    planted: dict[str, list[str]]
    as_of: dt.date

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.tables.values())


#: Draws of one seed tried before an estate is called too small for its planted violations.
DRAWS = 32


class EstateTooSmall(ValueError):
    """The draw left a policy too few candidates to plant its violations beside clean rows."""


def generate_estate(lines: int, seed: int = 7, as_of: dt.date = AS_OF) -> Estate:
    """A synthetic estate of about ``lines`` lines; the same arguments give the same tables.

    In a small estate a draw can leave a rare kind of resource (an old quality recording of an
    EEA line, a CFTC trader's phone) too few candidates to plant three violations and keep two
    clean; the next draw of the same seed is tried then, so every seed gives an estate and the
    same seed always the same one."""
    if lines < MIN_LINES:
        raise ValueError(f"a synthetic estate needs at least {MIN_LINES} lines, not {lines}")
    for draw in range(DRAWS):
        try:
            return _Builder(int(lines), int(seed), as_of, draw).build()
        except EstateTooSmall as exc:
            last = exc
    raise ValueError(f"{last} (in {DRAWS} draws)")


# -- vectorised helpers ----------------------------------------------------------------------
def _day(d: dt.date) -> int:
    return (d - _EPOCH).days


def _month_first(months: np.ndarray) -> np.ndarray:
    """Days since the epoch of the first day of months counted from 1970-01."""
    return np.asarray(months, dtype="datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _exact(rng: np.random.Generator, n: int, probs, minimum=None) -> np.ndarray:
    """Category per row with counts as close to ``probs`` as rounding allows, shuffled.

    Exact shares, unlike independent draws, keep small estates representative.
    """
    p = np.asarray(probs, dtype=float)
    p = p / p.sum()
    counts = np.floor(p * n).astype(np.int64)
    short = n - counts.sum()
    counts[np.argsort(-(p * n - counts), kind="stable")[:short]] += 1
    if minimum is not None:
        extra = np.maximum(np.asarray(minimum) - counts, 0)
        counts += extra
        counts[np.argmax(counts)] -= extra.sum()
    return rng.permutation(np.repeat(np.arange(len(p)), counts))


def _pick_in_groups(rng: np.random.Generator, group: np.ndarray, start: np.ndarray,
                    count: np.ndarray) -> np.ndarray:
    """A random member index per row, from the row's group (members stored contiguously)."""
    return start[group] + (rng.random(len(group)) * count[group]).astype(np.int64)


def _rank_in_groups(group: np.ndarray) -> np.ndarray:
    """Each row's 0-based position among the rows of its group, in row order."""
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    first = np.r_[True, sorted_group[1:] != sorted_group[:-1]] if len(group) else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(first, np.arange(len(group)), 0))
    rank = np.empty(len(group), np.int64)
    rank[order] = np.arange(len(group)) - start
    return rank


def _distinct(rng: np.random.Generator, pool: np.ndarray, k: int, what: str) -> np.ndarray:
    """``k`` different members of ``pool``, in random order."""
    if k > len(pool):
        raise EstateTooSmall(f"estate too small: {k} {what} for {len(pool)} people; generate more lines")
    return rng.choice(pool, size=k, replace=False)


def _ids(prefix: str, n: int, width: int | None = None, start: int = 1) -> pa.Array:
    width = width or max(4, len(str(n)))
    numbers = np.arange(start, start + n, dtype=np.int64)
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _pick(vocab, idx: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Strings from a small vocabulary by index; ``null`` marks NULL rows."""
    return pa.array(list(vocab), pa.string()).take(pa.array(idx, pa.int64(), mask=null))


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _dates(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(days).astype(np.int32), pa.date32(), mask=null)


def _stamps(us: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(us).astype(np.int64), pa.timestamp("us"), mask=null)


def _num(values: np.ndarray, null: np.ndarray | None = None, decimals: int = 2) -> pa.Array:
    return pa.array(np.round(np.asarray(values, dtype=float), decimals), pa.float64(), mask=null)


def _int(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values).astype(np.int64), pa.int64(), mask=null)


def _bool(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=bool), pa.bool_(), mask=null)


def _tristate(values: np.ndarray) -> pa.Array:
    """Booleans from 1 / 0, NULL where -1."""
    return _bool(values == 1, null=values < 0)


def _lists(combos, idx: np.ndarray) -> pa.Array:
    """List values from a catalogue of tuples (``None`` entries give NULL)."""
    catalogue = pa.array([list(c) if c else None for c in combos], pa.list_(pa.string()))
    return catalogue.take(pa.array(idx, pa.int64()))


def _luhn_imei(body: np.ndarray) -> np.ndarray:
    """15-digit IMEIs: the 14-digit body and its Luhn check digit."""
    total = np.zeros(len(body), dtype=np.int64)
    rest = body.copy()
    for pos in range(14):  # from the right; the rightmost body digit is doubled
        digit = rest % 10
        rest //= 10
        if pos % 2 == 0:
            digit = digit * 2
            digit = digit // 10 + digit % 10
        total += digit
    return body * 10 + (10 - total % 10) % 10


def _table(entity: str, columns: dict[str, pa.Array]) -> pa.Table:
    schema = load_model().entity(entity).arrow_schema
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise ValueError(f"{entity}: not in the model: {', '.join(sorted(unknown))}")
    n = len(next(iter(columns.values())))
    arrays = [columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type)
              for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _ascii(name: str) -> str:
    """An e-mail local part from a name: lower case, ASCII letters only."""
    table = str.maketrans({"é": "e", "ü": "ue", "'": ""})
    return name.lower().translate(table)


class _Builder:
    """Builds the entities in dependency order; keeps the numpy columns later ones need."""

    def __init__(self, lines: int, seed: int, as_of: dt.date, draw: int = 0):
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
        self.tables: dict[str, pa.Table] = {}
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

    def build(self) -> Estate:
        self.locations()
        self.people()
        self.contracts()
        self.lines()
        self.usage()
        self.calls()
        self.stores()
        self.legal_holds()
        self.recordings()
        self.devices()
        self.device_apps()
        self.licenses()
        self.billing()
        model = load_model()
        missing = set(model.entities) - set(self.tables)
        if missing:
            raise AssertionError(f"entities not generated: {sorted(missing)}")
        tables = {name: self.tables[name] for name in model.entities}
        return Estate(tables, dict(sorted(self.planted.items())), self.as_of)

    # -- e911_locations ---------------------------------------------------------------------
    def locations(self) -> None:
        """Validated offices in every city; a few locations an E911 audit rejects (half of them
        in the US); and a few US branch offices whose validation or dispatchability the
        emergency-location service does not report (single-storey, no floor or room)."""
        rng = self.rng("e911_locations")
        good = max(len(COUNTRIES) * 3, self.n // 200)
        bad = max(8, self.n // 5000)
        unreported = max(2, self.n // 50_000)
        n = good + bad + unreported
        bad_country = np.where(np.arange(bad) % 4 < 2, US, _exact(rng, bad, COUNTRY_P))
        country = np.concatenate([
            np.sort(_exact(rng, good, COUNTRY_P, minimum=[3] * len(COUNTRIES))),
            bad_country, np.full(unreported, US)])
        cities = [(c, *city) for c in COUNTRIES for city in cat.CITIES[c]]
        city_start = np.cumsum([0] + [len(cat.CITIES[c]) for c in COUNTRIES])[:-1]
        city_count = np.array([len(cat.CITIES[c]) for c in COUNTRIES])
        # Validated offices take the country's cities in turn, so every city has one.
        city = np.empty(n, np.int64)
        rank = np.arange(good) - np.searchsorted(country[:good], country[:good])
        city[:good] = city_start[country[:good]] + rank % city_count[country[:good]]
        city[good:] = _pick_in_groups(rng, country[good:], city_start, city_count)
        postal_of = [p for c in cities for p in c[3]]
        postal_start = np.cumsum([0] + [len(c[3]) for c in cities])[:-1]
        postal = _pick_in_groups(rng, city, postal_start, np.array([len(c[3]) for c in cities]))
        street_of = [s for c in cities for s in c[4]]
        street_start = np.cumsum([0] + [len(c[4]) for c in cities])[:-1]
        street = _pick_in_groups(rng, city, street_start, np.array([len(c[4]) for c in cities]))
        number = _text(rng.integers(1, 400, n))
        street_text = _pick(street_of, street)
        address = pc.if_else(pa.array(country == COUNTRIES.index("DE")),
                             _join(street_text, " ", number), _join(number, " ", street_text))
        validated = np.ones(n, np.int64)
        dispatchable = np.ones(n, np.int64)
        # The ``bad`` locations after the good ones are those an E911 audit would reject: every
        # other one not validated, the others not dispatchable; US ones at positions 0 and 1 of 4.
        validated[good:good + bad:2] = 0
        dispatchable[good + 1:good + bad:2] = 0
        # Branch offices: dispatchability not reported; the first not yet validated either.
        branch = np.arange(good + bad, n)
        dispatchable[branch] = -1
        validated[branch[0]] = -1
        floor = np.where(np.arange(n) >= good + bad, -1, rng.integers(1, 45, n))
        room = np.where((rng.random(n) < 0.1) & (floor >= 0), rng.integers(0, 2, n), -1)
        self.loc = SimpleNamespace(
            n=n, good=good, country=country, city=city,
            # validated locations per country, contiguous because ``country`` is sorted there
            start=np.searchsorted(country[:good], np.arange(len(COUNTRIES))),
            count=np.bincount(country[:good], minlength=len(COUNTRIES)),
            not_validated_us=good + np.flatnonzero(np.arange(bad) % 4 == 0),
            not_dispatchable_us=good + np.flatnonzero(np.arange(bad) % 4 == 1),
            branch=branch)
        self.loc_ids = _ids("LOC-", n)
        self.tables["e911_locations"] = _table("e911_locations", {
            "id": self.loc_ids,
            "address": address,
            "floor": _pick([str(f) for f in range(45)], np.maximum(floor, 0), null=floor < 0),
            "room": _pick(["Trading Floor", "Server Room"], np.maximum(room, 0), null=room < 0),
            "city": _pick([c[1] for c in cities], city),
            "region": _pick([c[2] for c in cities], city),
            "country": _pick(COUNTRIES, country),
            "postal_code": _pick(postal_of, postal),
            "validated": _tristate(validated),
            "dispatchable": _tristate(dispatchable),
        })

    # -- people -----------------------------------------------------------------------------
    def people(self) -> None:
        """Employees and contractors from HR; then the directory's other accounts: Teams Phone
        resource accounts (auto attendants and call queues) and meeting rooms."""
        rng = self.rng("people")
        n = int(round(0.8 * self.n))
        dept = _exact(rng, n, [d[1] for d in DEPARTMENTS])
        country = np.empty(n, np.int64)
        status = np.empty(n, np.int64)
        for d in range(len(DEPARTMENTS)):
            rows = np.flatnonzero(dept == d)
            country[rows] = _exact(rng, len(rows), COUNTRY_P)
            status[rows] = _exact(rng, len(rows), (0.90, 0.03, 0.07))
        scopes = np.zeros(n, np.int64)
        for c, name in enumerate(COUNTRIES):
            rows = np.flatnonzero((dept == DEPT["Trading"]) & (country == c))
            choices, shares = cat.TRADER_SCOPES[name]
            scopes[rows] = np.array(choices)[_exact(rng, len(rows), shares)]
        cs = np.flatnonzero(dept == DEPT["Customer Service"])
        scopes[cs[rng.random(len(cs)) < 0.3]] = SCOPE_SETS.index(("pci",))
        hr = np.flatnonzero(dept == DEPT["HR"])
        scopes[hr[rng.random(len(hr)) < 0.1]] = SCOPE_SETS.index(("hipaa",))
        platform = _exact(rng, n, cat.PLATFORM_P)

        # Terminations keep well clear of any leaver grace period.
        terminated = status == TERMINATED
        terminated_on = self.today - rng.integers(45, 730, n)
        hired_on = np.where(terminated, terminated_on - rng.integers(90, 4000, n),
                            self.today - rng.integers(60, 6000, n))
        cost_center = 1000 + dept * 100 + rng.integers(0, cat.COST_CENTRES_PER_DEPT, n)
        office = _pick_in_groups(rng, country, self.loc.start, self.loc.count)
        rng_u = self.rng("people.unreported")
        # A few leavers whose directory account was disabled without the HR termination date.
        no_date = self.some(rng_u, np.flatnonzero(terminated & (dept != DEPT["Trading"])), 0.03)
        # A few US staff in branch offices the emergency-location service does not fully
        # report, and a few whose office HR does not record (Graph does not map it).
        us_staff = np.flatnonzero((country == US) & ~terminated & (dept != DEPT["Trading"])
                                  & (dept != DEPT["Facilities"]))
        branch = self.some(rng_u, us_staff, 0.004)
        office[branch] = self.loc.branch[np.arange(len(branch)) % len(self.loc.branch)]
        no_office = self.some(rng_u, np.setdiff1d(us_staff, branch), 0.002)

        first = rng.integers(0, len(cat.FIRST_NAMES), n)
        last = rng.integers(0, len(cat.LAST_NAMES), n)
        # Emails are unique: a repeated first.last gets a number, as directories do.
        rank = _rank_in_groups(first * len(cat.LAST_NAMES) + last)
        suffix = pc.if_else(pa.array(rank == 0), "", _text(rank + 1))
        local = [_ascii(x) for x in cat.FIRST_NAMES], [_ascii(x) for x in cat.LAST_NAMES]
        email = _join(_pick(local[0], first), ".", _pick(local[1], last), suffix, "@example.com")
        name = _join(_pick(cat.FIRST_NAMES, first), " ", _pick(cat.LAST_NAMES, last))

        roles = [r for d in DEPARTMENTS for r in d[2]]
        role_start = np.cumsum([0] + [len(d[2]) for d in DEPARTMENTS])[:-1]
        role = _pick_in_groups(rng, dept, role_start, np.array([len(d[2]) for d in DEPARTMENTS]))

        # Resource accounts (a queue per service number, roughly) and meeting rooms.
        rng_d = self.rng("people.directory")
        n_ra = max(6, int(round(0.012 * self.n)))
        n_room = max(2, int(round(0.003 * self.n)))
        k = np.r_[np.full(n_ra, cat.RESOURCE_ACCOUNT), np.full(n_room, cat.ROOM)]
        m = len(k)
        d_country = _exact(rng_d, m, COUNTRY_P, minimum=[1] * len(COUNTRIES))
        d_office = _pick_in_groups(rng_d, d_country, self.loc.start, self.loc.count)
        d_dept = np.where(k == cat.RESOURCE_ACCOUNT, DEPT["Customer Service"], DEPT["Facilities"])
        d_cost = 1000 + d_dept * 100
        ra_name = np.arange(n_ra) % len(cat.RESOURCE_ACCOUNTS)
        ra_no = np.arange(n_ra) // len(cat.RESOURCE_ACCOUNTS) + 1
        seq = _text(np.arange(1, m + 1))
        d_city = _pick([c[0] for cc in COUNTRIES for c in cat.CITIES[cc]], self.loc.city[d_office])
        d_name = pc.if_else(
            pa.array(k == cat.RESOURCE_ACCOUNT),
            _join(_pick(cat.RESOURCE_ACCOUNTS, np.r_[ra_name, np.zeros(n_room, np.int64)]), " ",
                  _text(np.r_[ra_no, np.zeros(n_room, np.int64)])),
            _join("Meeting Room ", seq, " (", d_city, ")"))
        d_email = pc.if_else(pa.array(k == cat.RESOURCE_ACCOUNT), _join("cq", seq, "@example.com"),
                             _join("room", seq, "@example.com"))

        total = n + m
        self.ppl = SimpleNamespace(
            n=total, n_person=n, kind=np.r_[np.full(n, PERSON), k],
            dept=np.r_[dept, d_dept], country=np.r_[country, d_country],
            status=np.r_[status, np.full(m, ACTIVE)], scopes=np.r_[scopes, np.zeros(m, np.int64)],
            terminated_on=np.r_[terminated_on, np.zeros(m, np.int64)],
            hired_on=np.r_[hired_on, np.zeros(m, np.int64)],
            cost_center=np.r_[cost_center, d_cost], office=np.r_[office, d_office],
            platform=np.r_[platform, np.zeros(m, np.int64)],
            no_date=np.r_[np.isin(np.arange(n), no_date), np.zeros(m, bool)])
        ppl = self.ppl
        ppl.person = ppl.kind == PERSON
        ppl.alive = ppl.person & (ppl.status != TERMINATED)
        ppl.dated_leaver = ppl.person & (ppl.status == TERMINATED) & ~ppl.no_date
        ppl.regulated = cat.SCOPE_REGULATED[ppl.scopes]
        ppl.mifid = cat.SCOPE_MIFID[ppl.scopes]
        ppl.cftc = cat.SCOPE_CFTC[ppl.scopes]
        ppl.hipaa = cat.SCOPE_HIPAA[ppl.scopes]
        ppl.branch = np.isin(np.arange(total), branch)
        ppl.no_office = np.isin(np.arange(total), no_office)
        self.person_ids = _ids("P-", total)
        person_kind = ppl.kind == PERSON
        emails = pa.concat_arrays([email, d_email])
        self.tables["people"] = _table("people", {
            "id": self.person_ids,
            "name": pa.concat_arrays([name, d_name]),
            "kind": _pick(cat.PEOPLE_KINDS, ppl.kind),
            "email": emails,
            "employee_id": pc.if_else(pa.array(person_kind),
                                      _join("E", _text(100_000 + np.arange(total))),
                                      pa.scalar(None, pa.string())),
            "upn": emails,
            "department": _pick([d[0] for d in DEPARTMENTS], np.r_[dept, d_dept],
                                null=np.r_[np.zeros(n, bool), k == cat.RESOURCE_ACCOUNT]),
            "cost_center": _join("CC-", _text(ppl.cost_center)),
            "country": _pick(COUNTRIES, ppl.country),
            "office_location_id": self.loc_ids.take(pa.array(
                ppl.office, mask=np.r_[np.isin(np.arange(n), no_office), k == cat.RESOURCE_ACCOUNT])),
            "status": _pick(cat.PERSON_STATUSES, ppl.status),
            "hired_on": _dates(ppl.hired_on, null=~person_kind),
            "terminated_on": _dates(ppl.terminated_on, null=~ppl.dated_leaver),
            "regulatory_scopes": _lists(SCOPE_SETS, ppl.scopes),
            "role": _pick(roles, np.r_[role, np.zeros(m, np.int64)], null=~person_kind),
        })

    # -- contracts, accounts, rates ---------------------------------------------------------
    def contracts(self) -> None:
        """Carrier contracts (a few accounts each), vendor contracts, accounts and rates.

        The contracts table itself is written by ``billing()``: commitments follow spend.
        """
        rng = self.rng("contracts")
        markets = len(MARKETS)
        market_currency = np.array([cat.COUNTRY_CURRENCY[COUNTRIES.index(c)] for _, c in MARKETS])
        weight = np.array([COUNTRY_P[COUNTRIES.index(c)] * w
                           for (_, c), w in zip(MARKETS, cat.MARKET_WEIGHT, strict=True)])
        wanted = max(markets * cat.MIN_ACCOUNTS_PER_MARKET, self.n // 2500)
        per_market = np.maximum(cat.MIN_ACCOUNTS_PER_MARKET,
                                np.round(weight / weight.sum() * wanted)).astype(np.int64)
        contracts_per_market = np.maximum(2, -(-per_market // cat.ACCOUNTS_PER_CONTRACT))
        carrier = int(contracts_per_market.sum())
        c_market = np.repeat(np.arange(markets), contracts_per_market)
        n = carrier + len(cat.VENDOR_CONTRACTS)
        currency = np.r_[market_currency[c_market], [CURRENCIES.index(c) for _, c in cat.VENDOR_CONTRACTS]]
        started = self.today - rng.integers(420, 1400, n)
        term = rng.choice([730, 1095], n)
        auto_renew = rng.random(n) < 0.6
        notice = rng.choice([30, 60, 90], n)
        # Terms roll on a year at a time; an auto-renewing term's notice deadline is more than
        # the policy's 90 days of warning away (the contracts due for renewal are planted).
        first_end = started + term
        floor = self.today + np.where(auto_renew, notice + 90 + 25, 20)
        ends = first_end + np.maximum(0, -(-(floor - first_end) // 365)) * 365

        rng_p = self.rng("contracts.planted")
        taken = np.zeros(n, bool)
        # Ended before the latest invoiced month, not renewed, still billed.
        out = self.plant(rng_p, np.arange(carrier), 0.03, cat.OUT_OF_CONTRACT)
        taken[out] = True
        auto_renew[out] = False
        ends[out] = self.inv_first[-1] - rng_p.integers(20, 60, len(out))
        renew = self.plant(rng_p, np.flatnonzero(~taken), 0.03, cat.AUTO_RENEWAL)
        taken[renew] = True
        auto_renew[renew] = True
        ends[renew] = self.today + notice[renew] + rng_p.integers(-notice[renew] + 7, 90 - 7)
        shortfall = self.plant(rng_p, np.flatnonzero(~taken[:carrier]), 0.03, cat.SHORTFALL)
        self.contract_ids = _ids("CON-", n, 3)
        self.record(cat.AUTO_RENEWAL, self.contract_ids, renew)
        self.record(cat.SHORTFALL, self.contract_ids, shortfall)

        # Rates: each carrier contract has its own discount and was re-priced once; half of
        # them inside the invoiced months, so the effective-date lookup matters.
        codes = len(cat.CHARGE_CODES)
        list_price = np.array([p[3] for p in PLANS] + [u[2] for u in cat.USAGE_CODES])
        decimals = np.array([2] * len(PLANS) + [2, 4, 2])
        cur = currency[:carrier]
        discount = rng.uniform(0.82, 0.97, carrier)
        new = (list_price[None, :] * FX[cur][:, None] * discount[:, None]
               * rng.uniform(0.97, 1.03, (carrier, codes)))
        old = new * rng.uniform(1.04, 1.12, (carrier, codes))
        new = np.where(decimals == 4, np.round(new, 4), np.round(new, 2))
        old = np.where(decimals == 4, np.round(old, 4), np.round(old, 2))
        change_month = np.where(rng.random(carrier) < 0.5, self.inv_months[1],
                                self.month - rng.integers(8, 14, carrier))
        started_month = started[:carrier].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        change = _month_first(np.maximum(change_month, started_month + 2))
        self.rates = SimpleNamespace(new=new, old=old, change=change, currency=cur)

        c = np.repeat(np.arange(carrier), codes)
        k = np.tile(np.arange(codes), carrier)
        units = [None] * len(PLANS) + [u[3] for u in cat.USAGE_CODES]
        unit = np.array([-1 if u is None else i for i, u in enumerate(units)])[k]
        unit_vocab = ["" if u is None else u for u in units]

        def both(old_rows: np.ndarray, new_rows: np.ndarray) -> np.ndarray:
            return np.concatenate([old_rows, new_rows])

        self.tables["rates"] = _table("rates", {
            "contract_id": self.contract_ids.take(pa.array(both(c, c))),
            "charge_code": _pick(cat.CHARGE_CODES, both(k, k)),
            "unit_rate": _num(both(old[c, k], new[c, k]), decimals=4),
            "currency": _pick(CURRENCIES, both(cur[c], cur[c])),
            "unit": _pick(unit_vocab, both(np.maximum(unit, 0), np.maximum(unit, 0)),
                          null=both(unit < 0, unit < 0)),
            "effective_from": _dates(both(started[c], change[c])),
            "effective_to": _dates(both(change[c] - 1, change[c]),
                                   null=both(np.zeros(len(c), bool), np.ones(len(c), bool))),
        })

        rng = self.rng("accounts")
        market = np.repeat(np.arange(markets), per_market)
        na = len(market)
        rank = _rank_in_groups(market)
        c_start = np.r_[0, np.cumsum(contracts_per_market)[:-1]]
        contract = c_start[market] + rank % contracts_per_market[market]
        self.acct = SimpleNamespace(n=na, market=market, contract=contract,
                                    start=np.r_[0, np.cumsum(per_market)[:-1]], count=per_market,
                                    currency=market_currency[market],
                                    window=rng.choice([60, 90, 120, 180], na, p=(0.5, 0.3, 0.1, 0.1)))
        self.con = SimpleNamespace(n=n, carrier=carrier, market=c_market, currency=currency,
                                   started=started, ends=ends, auto_renew=auto_renew, notice=notice,
                                   shortfall=shortfall)
        self.account_ids = _ids("ACC-", na)
        self.record(cat.OUT_OF_CONTRACT, self.account_ids, np.flatnonzero(np.isin(contract, out)))
        self.account_numbers = _text(rng.integers(100_000_000, 999_999_999, na))
        self.tables["accounts"] = _table("accounts", {
            "id": self.account_ids,
            "vendor": _pick([v for v, _ in MARKETS], market),
            "account_number": self.account_numbers,
            "contract_id": self.contract_ids.take(pa.array(contract)),
            "currency": _pick(CURRENCIES, market_currency[market]),
            "dispute_window_days": _int(self.acct.window),
        })

    # -- lines ------------------------------------------------------------------------------
    def _recurring_by_account(self, account: np.ndarray, plan: np.ndarray, status: np.ndarray,
                              cancelled_on: np.ndarray, activated: np.ndarray) -> np.ndarray:
        """Recurring charges per invoiced month and account: (months, accounts)."""
        contract = self.acct.contract[account]
        out = np.zeros((INVOICE_MONTHS, self.acct.n))
        for m in range(INVOICE_MONTHS):
            billed = (activated <= self.inv_last[m]) & ((status != 2) | (cancelled_on >= self.inv_first[m]))
            rate = np.where(self.inv_first[m] >= self.rates.change[contract],
                            self.rates.new[contract, plan], self.rates.old[contract, plan])
            out[m] = np.bincount(account[billed], weights=rate[billed], minlength=self.acct.n)
        return out

    def _keepers(self, rng: np.random.Generator, kind: np.ndarray, purpose: np.ndarray,
                 status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Who keeps each line: (person row, no holder on record). A person's line (voice, data,
        hotspot) has its user; every other line a custodian of the department that keeps it, or
        a call queue for service numbers; some machine, trunk, fax and life-safety lines name
        no holder, only the cost centre that pays."""
        n, ppl = self.n, self.ppl
        active = status == 0
        keeper = np.full(n, -1, np.int64)
        personal = (((kind == MOBILE) & np.isin(purpose, (-1, VOICE, DATA, HOTSPOT)))
                    | (np.isin(kind, (LANDLINE, DID)) & (purpose == VOICE)))
        custodian = {
            "IT": (np.isin(kind, (SIP, CIRCUIT)) | ((kind == IOT) & ~np.isin(purpose, (ALARM, LIFT)))
                   | ((kind == MOBILE) & (purpose == SHARED)) | ((kind == DID) & (purpose == DID_BLOCK))),
            "Facilities": (((kind == IOT) & np.isin(purpose, (ALARM, LIFT)))
                           | ((kind == LANDLINE) & np.isin(purpose, (ALARM, LIFT, EMERGENCY, SHARED)))),
            "Finance": (kind == FAX) | ((kind == LANDLINE) & np.isin(purpose, (PFAX, PAYMENT_TERMINAL))),
            "Operations": ((kind == LANDLINE) & (purpose == -1)) | ((kind == DID) & (purpose == SHARED)),
        }
        for d, mask in custodian.items():
            rows = np.flatnonzero(mask)
            pool = np.flatnonzero(ppl.alive & (ppl.dept == DEPT[d]))
            keeper[rows] = pool[rng.integers(0, len(pool), len(rows))]
        # Lift and emergency phones in US buildings are looked after by US facilities staff.
        rows = np.flatnonzero((kind == LANDLINE) & np.isin(purpose, (LIFT, EMERGENCY)))
        us_fac = np.flatnonzero(ppl.alive & (ppl.dept == DEPT["Facilities"]) & (ppl.country == US)
                                & ~ppl.branch)
        rows = rows[:max(4, len(rows) // 3)]
        keeper[rows] = us_fac[rng.integers(0, len(us_fac), len(rows))]
        # Service numbers belong to call queues; most toll-free numbers are American.
        queues = np.flatnonzero(ppl.kind == cat.RESOURCE_ACCOUNT)
        us_queues = queues[ppl.country[queues] == US]
        rows = np.flatnonzero((kind == TOLL_FREE) | ((kind == DID) & (purpose == CONTACT_CENTRE)))
        keeper[rows] = queues[np.arange(len(rows)) % len(queues)]
        rows = np.flatnonzero(kind == TOLL_FREE)
        rows = rows[:int(np.ceil(0.6 * len(rows)))]
        keeper[rows] = us_queues[np.arange(len(rows)) % len(us_queues)]
        unassigned = (np.isin(purpose, (TRUNK, DID_BLOCK, M2M, PAYMENT_TERMINAL, PFAX, STANDBY) + LIFE_SAFETY)
                      & (rng.random(n) < 0.4))

        # People hold at most one active line per kind and class. Every trader has a turret (a
        # DID or a desk line), MiFID/FCA desks first, and a company mobile.
        live = personal & active
        desk = live & np.isin(kind, (LANDLINE, DID))
        traders = np.flatnonzero(ppl.alive & (ppl.dept == DEPT["Trading"]))
        traders = traders[np.argsort(~ppl.mifid[traders], kind="stable")]
        turrets = rng.permutation(np.flatnonzero(desk))[:len(traders)]
        keeper[turrets] = traders[:len(turrets)]
        is_turret = np.zeros(n, bool)
        is_turret[turrets] = True
        no_turret = ppl.alive.copy()
        no_turret[traders[:len(turrets)]] = False
        voice_class = np.isin(purpose, (-1, VOICE))
        rows = rng.permutation(np.flatnonzero(live & (kind == MOBILE) & voice_class))
        keeper[rows[:len(traders)]] = traders[:len(rows)]
        others = ppl.alive.copy()
        others[traders] = False
        for held, holders in ((rows[len(traders):], others),
                              (np.flatnonzero(live & (kind == MOBILE) & (purpose == DATA)), ppl.alive),
                              (np.flatnonzero(live & (kind == MOBILE) & (purpose == HOTSPOT)), ppl.alive),
                              (np.flatnonzero(desk & ~is_turret & (kind == DID)), no_turret),
                              (np.flatnonzero(desk & ~is_turret & (kind == LANDLINE)), no_turret)):
            keeper[held] = _distinct(rng, np.flatnonzero(holders), len(held), "lines")
        # Suspended: a lost phone until it is replaced, or a line kept while its holder is on
        # leave. Cancelled lines mostly belonged to people who left.
        rows = np.flatnonzero(personal & (status == 1))
        on_leave = np.flatnonzero(ppl.person & (ppl.status == LEAVE))
        live_pool = np.flatnonzero(ppl.alive)
        leave = rng.random(len(rows)) < 0.2
        keeper[rows] = np.where(leave, on_leave[rng.integers(0, len(on_leave), len(rows))],
                                live_pool[rng.integers(0, len(live_pool), len(rows))])
        rows = np.flatnonzero(personal & (status == 2))
        w = np.where(ppl.status == TERMINATED, 8.0, 1.0) * ppl.person
        keeper[rows] = rng.choice(ppl.n, size=len(rows), p=w / w.sum())
        return keeper, unassigned & ~personal

    def lines(self) -> None:
        rng = self.rng("lines")
        n, ppl = self.n, self.ppl
        kind = _exact(rng, n, cat.KIND_P, minimum=cat.KIND_MIN)
        status = np.empty(n, np.int64)
        purpose = np.full(n, -1, np.int64)
        for k in range(len(LINE_KINDS)):
            rows = np.flatnonzero(kind == k)
            status[rows] = _exact(rng, len(rows), cat.LINE_STATUS_P)
            choices, probs = cat.KIND_PURPOSES[k]
            purpose[rows] = np.array(choices)[_exact(rng, len(rows), probs,
                                                     minimum=cat.KIND_PURPOSE_MIN.get(k))]
        life_safety = np.isin(purpose, LIFE_SAFETY)
        status[life_safety & (status == 1)] = 0  # lift and alarm lines are never suspended
        active = status == 0
        keeper, unassigned = self._keepers(rng, kind, purpose, status)
        personal = (((kind == MOBILE) & np.isin(purpose, (-1, VOICE, DATA, HOTSPOT)))
                    | (np.isin(kind, (LANDLINE, DID)) & (purpose == VOICE)))
        voice_class = np.isin(purpose, (-1, VOICE))

        activated = self.today - rng.integers(400, 3650, n)
        cancelled_on = self.today - rng.integers(5, 390, n)
        on_leave = ppl.status[keeper] == LEAVE
        suspended_for = np.where(on_leave & personal, rng.integers(100, 400, n), rng.integers(5, 86, n))
        status_since = np.select([status == 0, status == 1], [activated, self.today - suspended_for],
                                 cancelled_on)
        plan = np.empty(n, np.int64)
        for k in range(len(LINE_KINDS)):
            ps = [i for i, p in enumerate(PLANS) if p[0] == k]
            if k == IOT:  # IoT plans follow the purpose: meters, alarm panels, standby SIMs
                for i in ps:
                    plan[(kind == IOT) & np.isin(purpose, PLANS[i][6])] = i
                continue
            rows = np.flatnonzero(kind == k)
            plan[rows] = np.array(ps)[_exact(rng, len(rows), [PLANS[i][4] for i in ps])]
        allowance = cat.PLAN_ALLOWANCE[plan]
        feature_combos = [None] + [c for k in sorted(cat.FEATURES) for c, _ in cat.FEATURES[k]]
        features = np.zeros(n, np.int64)
        offset = 1
        for k in sorted(cat.FEATURES):
            rows = np.flatnonzero(kind == k)
            probs = [p for _, p in cat.FEATURES[k]]
            features[rows] = offset + _exact(rng, len(rows), probs)
            offset += len(probs)
        # Hotspot and data SIMs roam too; voice-only extras stay on phones.
        intl = np.array([bool(c) and "intl_roaming" in c for c in feature_combos])[features]
        # Contact centre: toll-free numbers take card payments or run the benefits helpline.
        tf = rng.permutation(np.flatnonzero(kind == TOLL_FREE))
        n_pay = max(1, int(np.ceil(0.3 * len(tf))))
        payment = np.zeros(n, bool)
        payment[tf[:n_pay]] = True
        helpline = np.zeros(n, bool)
        helpline[tf[n_pay:n_pay + max(1, int(np.ceil(0.2 * len(tf))))]] = True
        payment |= purpose == PAYMENT_TERMINAL
        tls = np.where(kind == SIP, 1, -1)
        srtp = np.where(kind == SIP, 1, -1)

        # -- planted violations: each line breaks exactly one rule --------------------------
        rng_p = self.rng("lines.planted")
        rng_u = self.rng("lines.undecidable")
        ids = _ids("L-", n)
        taken = np.zeros(n, bool)

        def pool(mask: np.ndarray) -> np.ndarray:
            return np.flatnonzero(mask & ~taken)

        def plant(mask: np.ndarray, share: float, policy: str) -> np.ndarray:
            rows = self.plant(rng_p, pool(mask), share, policy)
            taken[rows] = True
            self.record(policy, ids, rows)
            return rows

        def some(mask: np.ndarray, share: float) -> np.ndarray:
            rows = self.some(rng_u, pool(mask), share)
            taken[rows] = True
            return rows

        rows = plant(active & (kind == SIP), 0.05, cat.SIP_UNENCRYPTED)
        mode = np.arange(len(rows)) % 3
        tls[rows[mode != 1]] = 0
        srtp[rows[mode != 0]] = 0
        # The SBC of a few trunks reports TLS but not SRTP: undecidable.
        srtp[some(active & (kind == SIP), 0.05)] = -1

        # Assignments first: everything else about a line follows its holder.
        trader = ppl.dept[keeper] == DEPT["Trading"]
        # Leavers whose account was disabled without a termination date still hold a phone.
        no_date = np.flatnonzero(ppl.no_date)
        rows = pool(active & (kind == MOBILE) & (purpose == VOICE) & ~trader)
        rows = rng_u.choice(rows, size=min(len(no_date), len(rows)), replace=False)
        keeper[rows] = no_date[:len(rows)]
        taken[rows] = True
        rows = plant(active & personal & (kind == MOBILE), 0.02, cat.LEAVER)
        keeper[rows] = _distinct(rng_p, np.flatnonzero(ppl.dated_leaver), len(rows), "leavers")
        leaver_line = np.zeros(n, bool)
        leaver_line[rows] = True
        # Orphans: a person's line with no holder or one HR does not know; any line with no
        # cost centre (not a life-safety line, which has its own policy).
        rows = plant(active & personal, 0.01, cat.ORPHAN)
        assignee_null = np.zeros(n, bool)
        ghost = np.zeros(n, bool)
        assignee_null[rows[::2]] = True
        ghost[rows[1::2]] = True
        cost_center_null = np.zeros(n, bool)
        cost_center_null[plant(active & ~life_safety, 0.005, cat.ORPHAN)] = True
        has_person = ~assignee_null & ~ghost & ~unassigned
        # A second mobile voice line for someone who already has one, activated later.
        mobile_voice = active & (kind == MOBILE) & (purpose == VOICE) & has_person & (keeper >= 0)
        rows = plant(mobile_voice, 0.02, cat.MULTIPLE_LINES)
        firsts = _distinct(rng_p, pool(mobile_voice), len(rows), "second lines")
        taken[firsts] = True
        keeper[rows] = keeper[firsts]
        activated[rows] = np.minimum(activated[firsts] + rng_p.integers(30, 300, len(rows)),
                                     self.today - 200)
        status_since[rows] = activated[rows]

        country = ppl.country[keeper]
        market = np.empty(n, np.int64)
        for c, name in enumerate(COUNTRIES):
            rows = np.flatnonzero(country == c)
            ms = np.array([i for i, (_, mc) in enumerate(MARKETS) if mc == name])
            market[rows] = ms[_exact(rng, len(rows), [cat.MARKET_WEIGHT[i] for i in ms])]
        # Accounts take their market's lines in turn, so none is empty.
        account = self.acct.start[market] + _rank_in_groups(market) % self.acct.count[market]
        prev_account = account.copy()

        # Spend spikes: some lines moved between two accounts of a market in the latest
        # month; the receiving account's invoice jumps, the giving one's falls.
        rng_m = self.rng("lines.moves")
        recurring = self._recurring_by_account(account, plan, status, cancelled_on, activated)
        baseline = recurring[:-1].mean(axis=0)
        busy = np.zeros(self.acct.n, bool)
        by_account = np.argsort(account, kind="stable")
        first_line = np.searchsorted(account[by_account], np.arange(self.acct.n + 1))
        spikes, donors = [], []
        wanted = max(3, int(round(0.03 * self.acct.n)))
        for b in rng_m.permutation(self.acct.n):
            if len(spikes) == wanted:
                break
            if busy[b] or baseline[b] <= 0:
                continue
            same = np.flatnonzero((self.acct.market == self.acct.market[b]) & ~busy)
            same = same[same != b]
            if not len(same):
                continue
            a = same[np.argmax(recurring[-1, same])]
            given = by_account[first_line[a]:first_line[a + 1]]
            given = rng_m.permutation(given[active[given]])
            cost = np.cumsum(self.rates.new[self.acct.contract[b], plan[given]])
            need = 1.75 * baseline[b] - recurring[-1, b]
            if not len(cost) or cost[-1] < need:
                continue
            moved = given[:np.searchsorted(cost, need) + 1]
            account[moved] = b
            busy[[a, b]] = True
            spikes.append(b)
            donors.append(a)
        if len(spikes) < 3:
            raise EstateTooSmall("estate too small to plant spend spikes; generate more lines")
        self.spikes, self.donors = np.sort(spikes), np.array(donors)
        contract = self.acct.contract[account]
        monthly_cost = self.rates.new[contract, plan]

        # E911: fixed lines are registered at their keeper's office.
        fixed = np.isin(kind, (LANDLINE, DID, SIP, CIRCUIT, FAX))
        office = ppl.office[keeper]
        e911 = np.where(fixed, office, -1)
        us = country == US

        def unlocate(rows: np.ndarray) -> None:
            mode = np.arange(len(rows)) % 3
            e911[rows[mode == 0]] = -1
            e911[rows[mode == 1]] = rng_p.choice(self.loc.not_validated_us, (mode == 1).sum())
            e911[rows[mode == 2]] = rng_p.choice(self.loc.not_dispatchable_us, (mode == 2).sum())

        e911_scope = (active & np.isin(kind, (LANDLINE, DID, SIP)) & us
                      & np.isin(purpose, (-1, VOICE, SHARED, CONTACT_CENTRE, TRUNK, DID_BLOCK)))
        unlocate(plant(e911_scope, 0.04, cat.E911))

        # Life-safety lines: a suspended one (some with no custodian left either), a US lift or
        # emergency landline with no valid location, an IoT alarm or lift line cancelled while
        # its communicator still runs. Never long enough suspended for the cost pack.
        ls_located = active & (kind == LANDLINE) & np.isin(purpose, (LIFT, EMERGENCY)) & us
        ls_device_pool = active & (kind == IOT) & life_safety
        unlocated = self.some(rng_p, pool(ls_located), 0.05, keep=1)
        taken[unlocated] = True
        ls_device = np.zeros(n, bool)
        ls_device[self.some(rng_p, pool(ls_device_pool), 0.03, keep=1)] = True
        taken[ls_device] = True
        left = pool(active & life_safety)
        k = max(3 - len(unlocated) - int(ls_device.sum()), int(round(0.03 * len(left))), 1)
        if len(left) < k + 2:
            raise EstateTooSmall("estate too small to plant violations of "
                             f"{cat.LIFE_SAFETY_POLICY}; generate more lines")
        suspended = np.sort(rng_p.choice(left, size=k, replace=False))
        taken[suspended] = True
        status[suspended] = 1
        status_since[suspended] = self.today - rng_p.integers(5, 80, k)
        unassigned[suspended[::3]] = True
        has_person[suspended[::3]] = False
        cost_center_null[suspended[::3]] = True
        unlocate(unlocated)
        rows = np.flatnonzero(ls_device)
        status[rows] = 2
        cancelled_on[rows] = self.today - rng_p.integers(20, 200, len(rows))
        status_since[rows] = cancelled_on[rows]
        self.record(cat.LIFE_SAFETY_POLICY, ids, np.r_[unlocated, rows, suspended])
        # One US lift phone sits at a branch office whose location is not fully reported.
        rows = some(ls_located, 0.01)
        e911[rows] = self.loc.branch[0]
        active = status == 0
        # Some lift and alarm lines are paid by building services, a cost centre nobody
        # carries: orphan-lines cannot tell it from a typo, so it cannot decide.
        building = some(life_safety & unassigned & active, 0.3)

        # Recorded: every voice line of a trader, and the contact centre lines.
        dept_of = ppl.dept[keeper]
        phone = np.isin(kind, (MOBILE, LANDLINE, DID))
        trader_line = has_person & (dept_of == DEPT["Trading"]) & phone & voice_class
        cs_did = (kind == DID) & (purpose == VOICE) & has_person & (dept_of == DEPT["Customer Service"])
        payment |= cs_did & (rng.random(n) < 0.2)
        contact = (kind == TOLL_FREE) | cs_did | ((kind == DID) & (purpose == CONTACT_CENTRE))
        recorded = np.where(trader_line | contact, 1, 0)
        phi = helpline | (has_person & ppl.hipaa[keeper] & phone)
        in_person_scope = active & has_person & phone & voice_class & ppl.person[keeper]
        recorded[plant(in_person_scope & ppl.mifid[keeper], 0.05, cat.MIFID)] = 0
        recorded[plant(in_person_scope & ppl.cftc[keeper], 0.05, cat.CFTC)] = 0
        # The inventory says nothing of a few traders' lines, and nothing was recorded on
        # them: undecidable, not a finding.
        unknown = some(in_person_scope & (ppl.mifid[keeper] | ppl.cftc[keeper]), 0.01)
        recorded[unknown] = -1
        rec_purpose = np.where(trader_line & (recorded == 1), REC_REGULATORY, REC_NONE)
        rec_purpose = np.where(contact, np.where(payment & (kind == TOLL_FREE), REC_PAYMENT, REC_QUALITY),
                               rec_purpose)

        # Usage-shaped violations; usage() draws the months to match.
        judged = active & np.isin(kind, (MOBILE, IOT)) & np.isin(purpose, (-1, VOICE, DATA, HOTSPOT, SHARED))
        mobile = active & (kind == MOBILE)
        marks = {}
        for name, mask, share, policy in (
                ("idle", judged & np.isnan(allowance) & ~intl, 0.02, cat.ZERO_USAGE),
                ("intl_unused", mobile & intl, 0.04, cat.INTL_UNUSED),
                ("roaming", mobile & ~intl, 0.01, cat.ROAMING),
                ("over_provisioned", active & (allowance > 0) & ~life_safety, 0.02, cat.OVER_PROVISIONED),
                ("overage", mobile & (allowance > 0), 0.02, cat.OVERAGE),
                ("no_device", mobile & has_person & np.isin(purpose, (-1, VOICE, DATA, SHARED)), 0.01,
                 cat.NO_MANAGED_DEVICE)):
            marks[name] = np.zeros(n, bool)
            marks[name][plant(mask, share, policy)] = True
        # The one overlap planted on purpose: a leaver's phone nobody has used since, found by
        # leaver-lines and zero-usage-lines alike, whose saving is one line's cost, counted once.
        both = np.flatnonzero(leaver_line & judged & np.isnan(allowance) & ~intl & ~marks["idle"])[:1]
        if not len(both):
            raise EstateTooSmall("estate too small to plant an idle leaver's line; generate more lines")
        marks["idle"][both] = True
        self.record(cat.ZERO_USAGE, ids, both)
        # Undecidable, never found: a silent phone whose carrier file misses a month of the
        # window; a phone with no device of its own whose holder has a Wi-Fi tablet (the SIM
        # may be in it).
        for name, mask in (("silent_gap", judged & (kind == MOBILE) & (purpose == VOICE)
                            & np.isnan(allowance) & ~intl),
                           ("no_device_tablet", mobile & has_person & (purpose == VOICE))):
            marks[name] = np.zeros(n, bool)
            marks[name][some(mask, 0.002)] = True
        holder_on_leave = ppl.status[keeper] == LEAVE
        suspended = (status == 1) & ~life_safety & ~(holder_on_leave & has_person)
        rows = plant(suspended, 0.1, cat.LONG_SUSPENSION)
        status_since[rows] = self.today - rng_p.integers(120, 400, len(rows))
        # A few suspensions the carrier exports without a date: undecidable.
        since_unknown = np.zeros(n, bool)
        since_unknown[some(suspended, 0.03)] = True

        # Fixed numbers whose only call was long ago; a few reception lines the collected
        # phone system never sees (no call on record: undecidable).
        voice_number = (active & np.isin(kind, (LANDLINE, DID, TOLL_FREE))
                        & np.isin(purpose, (-1, VOICE, SHARED, CONTACT_CENTRE)))
        marks["idle_number"] = np.zeros(n, bool)
        marks["idle_number"][plant(voice_number & (activated < self.today - 420)
                                   & (((kind == LANDLINE) & np.isin(purpose, (VOICE, SHARED)))
                                      | ((kind == DID) & np.isin(purpose, (SHARED, CONTACT_CENTRE)))),
                                   0.03, cat.IDLE_NUMBERS)] = True
        marks["unseen_number"] = np.zeros(n, bool)
        marks["unseen_number"][some(voice_number & (kind == LANDLINE) & (purpose == SHARED), 0.05)] = True
        # Telephony licences whose DID took only internal calls lately: their holders have no
        # other fixed number, so nothing else shows outside calls.
        fixed_lines = np.bincount(keeper[np.isin(kind, (LANDLINE, DID)) & (keeper >= 0)], minlength=ppl.n)
        lone_did = (active & (kind == DID) & (purpose == VOICE) & has_person & (fixed_lines[keeper] == 1)
                    & (ppl.status[keeper] == ACTIVE) & (ppl.hired_on[keeper] < self.today - 200))
        marks["internal_only"] = np.zeros(n, bool)
        marks["internal_only"][self.plant(rng_p, pool(lone_did), 0.01, cat.TELEPHONY)] = True
        taken |= marks["internal_only"]

        # Numbers: US lines take their office's area code, toll-free numbers 800.
        city = self.loc.city[office]
        us_geo = us & (kind != TOLL_FREE)
        area = np.where(us_geo, np.array(cat.US_CITY_AREA)[np.minimum(city, len(cat.US_CITY_AREA) - 1)],
                        cat.US_TOLL_FREE_AREA)
        rank = _rank_in_groups(np.where(us, area, -1))
        base = np.array([b for _, b in cat.NUMBERING], dtype=np.int64)
        subscriber = np.where(us, area * 10_000_000 + np.where(us_geo, 5_000_000, 2_000_000) + rank,
                              base[country] + np.arange(n))
        number = _join(_pick([p for p, _ in cat.NUMBERING], country), _text(subscriber))
        number = pc.if_else(pa.array(kind == CIRCUIT), pa.scalar(None, pa.string()), number)
        city_state = np.array([cat.US_STATES.index(c[1]) for c in cat.CITIES["US"]])
        region = np.where(us_geo & (kind != CIRCUIT), city_state[np.minimum(city, len(city_state) - 1)], -1)

        holder = np.where(has_person, keeper, -1)
        assigned_to = self.person_ids.take(pa.array(np.maximum(holder, 0), mask=holder < 0))
        # Ghosts look like HR ids (same width) but lie past the last person.
        ghost_ids = pc.utf8_lpad(_text(ppl.n + 1 + np.arange(n)),
                                 width=max(4, len(str(ppl.n))), padding="0")
        assigned_to = pc.if_else(pa.array(ghost), _join("P-", ghost_ids), assigned_to)
        cost_center = np.where(np.isin(np.arange(n), building), 1790, ppl.cost_center[keeper])
        currency = self.rates.currency[contract]

        self.ln = SimpleNamespace(
            n=n, kind=kind, status=status, purpose=purpose, active=active, keeper=keeper,
            holder=holder, has_person=has_person, country=country, market=market, account=account,
            prev_account=prev_account, plan=plan, allowance=allowance, intl=intl,
            activated=activated, status_since=status_since, cancelled_on=cancelled_on,
            judged=judged & active, recorded=recorded, rec_purpose=rec_purpose, phi=phi,
            payment=payment, helpline=helpline, office=office, currency=currency, number=number,
            region=region, taken=taken, leaver_line=leaver_line, life_safety=life_safety,
            ls_device=ls_device, monthly_cost=monthly_cost, **marks)
        self.line_ids = ids
        self.tables["lines"] = _table("lines", {
            "id": ids,
            "kind": _pick(LINE_KINDS, kind),
            "purpose": _pick(cat.PURPOSES, np.maximum(purpose, 0), null=purpose < 0),
            "number": number,
            "vendor": _pick([v for v, _ in MARKETS], market),
            "account_id": self.account_ids.take(pa.array(account)),
            "plan": _pick([p[1] for p in PLANS], plan),
            "data_allowance_mb": _num(np.nan_to_num(allowance), null=np.isnan(allowance), decimals=0),
            "features": _lists(feature_combos, features),
            "monthly_cost": _num(monthly_cost),
            "currency": _pick(CURRENCIES, currency),
            "status": _pick(cat.LINE_STATUSES, status),
            "status_since": _dates(status_since, null=since_unknown),
            "activated_on": _dates(activated),
            "cancelled_on": _dates(cancelled_on, null=status != 2),
            "assigned_to": assigned_to,
            "cost_center": pc.if_else(pa.array(cost_center_null), pa.scalar(None, pa.string()),
                                      _join("CC-", _text(cost_center))),
            "country": _pick(COUNTRIES, country),
            "e911_location_id": self.loc_ids.take(pa.array(np.maximum(e911, 0), mask=e911 < 0)),
            "recorded": _tristate(recorded),
            "payment_line": _bool(payment),
            "phi": _bool(phi),
            "international_plan": _bool(intl, null=kind != MOBILE),
            "tls_enabled": _tristate(tls),
            "srtp_enabled": _tristate(srtp),
        })

    # -- usage ------------------------------------------------------------------------------
    def usage(self) -> None:
        """Twelve months per line, as carriers summarise them. The last three are what the usage
        policies read: every person's or shared line in the zero-usage rule's scope shows
        activity, limited plans are used (a quarter or more of the allowance) but not exceeded,
        international add-ons are used, and only lines with an add-on roam. One carrier gives
        no last-activity date (activity is in the volumes), and one's IoT summaries carry no
        roaming, international or overage amounts."""
        rng = self.rng("usage")
        ln = self.ln
        n = ln.n
        months = self.month - 11 + np.arange(12)
        first = _month_first(months)
        last = np.minimum(_month_first(months + 1) - 1, self.today)
        recent = np.arange(12) >= 9
        end = np.where(ln.active, self.today, ln.status_since)  # silent once suspended or cancelled
        rings_when_tested = ln.life_safety & (ln.kind != IOT)
        p = np.array([0.96, 0.99, 0.9, 0.85, 0.99, 0.99, 0.5, 0.99])[ln.kind]
        p = np.where(rings_when_tested, 0.25, p)
        p = np.where(ln.purpose == PFAX, 0.5, p)
        p = np.where(ln.purpose == STANDBY, 0.1, p)
        used = ((first[None, :] <= end[:, None]) & (last[None, :] >= ln.activated[:, None])
                & (rng.random((n, 12), dtype=np.float32) < p[:, None].astype(np.float32)))
        silent = ln.idle | ln.silent_gap
        used[ln.judged & ~silent, 11] = True
        # Lines whose last three months must show something get one of them for sure.
        force = rng.integers(9, 12, n)
        finite = ln.allowance > 0
        showing = np.flatnonzero(ln.active & ~silent & (finite | (ln.intl & ~ln.intl_unused)
                                                        | ln.roaming | ln.overage))
        used[showing, force[showing]] = True
        # Idle lines went quiet at least four whole months ago, or never spoke at all; idle
        # numbers' carrier usage stops before the window too; the undecidable silent lines
        # last showed something in March.
        quiet_after = np.full(n, 11)
        rows = np.flatnonzero(ln.idle)
        quiet_after[rows] = rng.integers(-1, 7, len(rows))
        rows = np.flatnonzero(ln.idle_number)
        quiet_after[rows] = rng.integers(2, 9, len(rows))
        quiet_after[ln.silent_gap | ln.unseen_number] = 8
        rows = np.flatnonzero(quiet_after < 11)
        used[rows] &= np.arange(12)[None, :] <= quiet_after[rows, None]
        rows = rows[quiet_after[rows] >= 0]
        used[rows, quiet_after[rows]] = True

        span = np.maximum(np.minimum(last[None, :], end[:, None]) - first[None, :] + 1, 1)
        day = (first[None, :] + (rng.random((n, 12), dtype=np.float32) * span).astype(np.int32))
        del span
        # One carrier reports no last-activity date; a few lines miss a month of the window.
        gap = np.zeros(n * 12, bool)
        rows = np.flatnonzero(ln.silent_gap)
        gap[rows * 12 + rng.integers(9, 12, len(rows))] = True
        no_date = np.repeat(ln.market == cat.NO_LAST_ACTIVITY_MARKET, 12)
        last_activity = _dates(day.ravel(), null=~used.ravel() | no_date | gap)
        del day, no_date
        scale = np.where(rings_when_tested, 0.02, 1.0)
        voice_mean = np.array([280, 0, 180, 240, 25_000, 20_000, 15, 6_000], float)[ln.kind] * scale
        sms_mean = np.array([45, 5, 0, 0, 0, 0, 0, 0], float)[ln.kind]
        voice = _num((rng.gamma(2.0, 1.0, (n, 12)) * (voice_mean / 2)[:, None] * used).ravel(),
                     null=gap, decimals=1)
        sms = _int(rng.poisson(sms_mean[:, None] * used).ravel(), null=gap)

        # Data: limited plans use 30-90 % of the allowance, one recent month 45-95 %; ten-gig
        # mobile plans ran over now and then before the last quarter.
        allowance = np.nan_to_num(ln.allowance)[:, None]
        data_mean = np.array([6_000, 0, 0, 0, 0, 0, 0, 0], float)[ln.kind]
        data_mean = np.where(ln.purpose == HOTSPOT, 15_000.0, data_mean)
        data = np.where(finite[:, None], allowance * rng.uniform(0.3, 0.9, (n, 12)),
                        rng.gamma(2.0, 1.0, (n, 12)) * (data_mean / 2)[:, None])
        data[ln.purpose == STANDBY] = rng.gamma(2.0, 1.5, ((ln.purpose == STANDBY).sum(), 12))
        rows = np.flatnonzero(finite)
        data[rows, force[rows]] = allowance[rows, 0] * rng.uniform(0.45, 0.95, len(rows))
        over = ((ln.kind == MOBILE) & finite)[:, None] & ~recent[None, :] & (rng.random((n, 12)) < 0.04)
        data = np.where(over, allowance * rng.uniform(1.02, 1.3, (n, 12)), data)
        del over
        rows = np.flatnonzero(ln.over_provisioned)
        data[rows[:, None], np.arange(9, 12)[None, :]] = (
            allowance[rows] * rng.uniform(0.02, 0.15, (len(rows), 3)))
        used[rows, 11] = True
        rows = np.flatnonzero(ln.overage)
        data[rows, force[rows]] = allowance[rows, 0] * rng.uniform(1.1, 1.5, len(rows))
        data = np.round(data * used, 1)
        fx = FX[ln.currency][:, None]
        overage = np.where(finite[:, None] & (data > allowance),
                           np.ceil((data - allowance) / 1024) * cat.USAGE_CODES[0][2] * fx, 0.0)
        data_mb = _num(data.ravel(), null=gap, decimals=1)
        del data

        # Roaming and international calls on mobiles. With an add-on: day passes and calls
        # abroad, and at least one of the last three months shows them. Without: calls abroad
        # at any time, roaming only before the last quarter.
        mobile = (ln.kind == MOBILE)[:, None] & used
        intl = ln.intl[:, None]
        roam_hit = mobile & (rng.random((n, 12), dtype=np.float32)
                             < np.where(intl, np.float32(0.2), np.where(recent, 0, np.float32(0.01))))
        roaming = np.where(roam_hit, np.where(intl, rng.integers(1, 8, (n, 12)) * cat.USAGE_CODES[2][2],
                                              rng.gamma(2.0, 25.0, (n, 12))) * fx, 0.0)
        del roam_hit
        call_hit = mobile & (rng.random((n, 12), dtype=np.float32)
                             < np.where(intl, np.float32(0.3), np.float32(0.05)))
        international = np.where(call_hit, rng.integers(5, 120, (n, 12)) * cat.USAGE_CODES[1][2] * fx, 0.0)
        del call_hit, mobile
        rows = np.flatnonzero(ln.active & ln.intl & ~ln.intl_unused)
        international[rows, force[rows]] += (rng.integers(5, 60, len(rows)) * cat.USAGE_CODES[1][2]
                                             * fx[rows, 0])
        rows = np.flatnonzero(ln.intl_unused)
        roaming[rows[:, None], np.arange(9, 12)[None, :]] = 0.0
        international[rows[:, None], np.arange(9, 12)[None, :]] = 0.0
        rows = np.flatnonzero(ln.roaming)
        roaming[rows, force[rows]] = rng.gamma(2.0, 25.0, len(rows)) * fx[rows, 0] + 5
        no_charges = np.repeat((ln.kind == IOT) & np.isin(ln.market, cat.IOT_DATA_ONLY_MARKETS), 12)
        periods = np.datetime_as_string(months.astype("datetime64[M]"), unit="M")
        self.tables["usage"] = _table("usage", {
            "line_id": self.line_ids.take(pa.array(np.repeat(np.arange(n), 12))),
            "period": _pick(periods, np.tile(np.arange(12), n)),
            "voice_minutes": voice,
            "data_mb": data_mb,
            "sms_count": sms,
            "roaming_charges": _num(roaming.ravel(), null=no_charges),
            "international_charges": _num(international.ravel(), null=no_charges),
            "overage_charges": _num(overage.ravel(), null=no_charges),
            "last_activity_on": last_activity,
        })

    # -- calls ------------------------------------------------------------------------------
    def calls(self) -> None:
        """Five calls per line over two years, both parties placed as the CDR collectors place
        them from the numbers (country, and the state of a US number)."""
        rng = self.rng("calls")
        ln = self.ln
        weight = np.array([1.0, 0, 1.0, 1.5, 10.0, 0, 0, 8.0])[ln.kind] * ln.active
        quiet = (np.isin(ln.purpose, (DID_BLOCK, M2M, PAYMENT_TERMINAL, PFAX, STANDBY) + LIFE_SAFETY)
                 | ln.idle | ln.silent_gap | ln.idle_number | ln.unseen_number)
        weight[quiet] = 0
        n = 5 * ln.n
        # Every active voice number (a person's, shared or service number) took or made a call
        # lately: their holders' telephony licences are in use, and no number is idle. Planted
        # idle numbers have one call, 120 to 400 days ago, and no other.
        desk = np.flatnonzero(ln.active & np.isin(ln.kind, (LANDLINE, DID, TOLL_FREE))
                              & np.isin(ln.purpose, (-1, VOICE, SHARED, CONTACT_CENTRE))
                              & ~ln.unseen_number)
        line = np.r_[desk, rng.choice(ln.n, size=n - len(desk), p=weight / weight.sum())]
        opened = np.maximum(self.now_us - 730 * _US_PER_DAY, (ln.activated[line] + 1) * _US_PER_DAY)
        start = opened + (rng.random(n) * (self.now_us - opened)).astype(np.int64)
        start[:len(desk)] = self.now_us - rng.integers(3600, 60 * 86_400, len(desk)) * _US_PER_S
        idle_call = np.flatnonzero(ln.idle_number[desk])
        rng_p = self.rng("calls.planted")
        start[idle_call] = (self.now_us
                            - rng_p.integers(120 * 86_400, 400 * 86_400, len(idle_call)) * _US_PER_S)
        start -= start % _US_PER_S
        lately = np.zeros(n, bool)
        lately[:len(desk)] = True
        order = np.argsort(start, kind="stable")
        line, start, lately = line[order], start[order], lately[order]
        del order, opened

        direction = np.where(ln.kind[line] == TOLL_FREE, 1, rng.choice(3, n, p=(0.5, 0.4, 0.1)))
        direction[lately] = np.where(ln.kind[line[lately]] == TOLL_FREE, 1, rng.integers(0, 2, lately.sum()))
        # Telephony licences not needed: the DID took only internal calls in the last 90 days.
        direction[ln.internal_only[line] & (start >= self.now_us - 91 * _US_PER_DAY)] = 2
        remote = np.where(rng.random(n) < 0.85, ln.country[line], rng.integers(0, len(cat.REMOTES), n))
        # The add-ons planted as unused saw no call cross a border in the window either.
        home = ln.intl_unused[line] & (start >= _month_first(self.month - 3) * _US_PER_DAY)
        remote[home] = ln.country[line[home]]
        direction[home & (direction == 2)] = 0
        low = np.array([r[2] for r in cat.REMOTES], dtype=np.int64)
        high = np.array([r[3] for r in cat.REMOTES], dtype=np.int64)
        subscriber = low[remote] + (rng.random(n) * (high - low)[remote]).astype(np.int64)
        # US numbers called: a real area code, which gives the state.
        weights = np.array([a[2] for a in cat.US_AREAS], float)
        area = rng.choice(len(cat.US_AREAS), n, p=weights / weights.sum())
        to_us = remote == US
        subscriber = np.where(to_us, np.array([a[0] for a in cat.US_AREAS])[area] * 10_000_000
                              + rng.integers(2_000_000, 10_000_000, n), subscriber)
        remote_number = _join(_pick([r[1] for r in cat.REMOTES], remote), _text(subscriber))
        del subscriber
        remote_region = np.where(to_us, np.array([cat.US_STATES.index(a[1]) for a in cat.US_AREAS])[area], -1)
        del area
        outbound, inbound = direction == 0, direction == 1
        # A few callers withhold their number: neither party's place is then known.
        withheld = inbound & ~lately & (rng.random(n) < 0.01)
        people_lines = np.flatnonzero(ln.active & np.isin(ln.kind, (MOBILE, LANDLINE, DID)))
        other = people_lines[rng.integers(0, len(people_lines), n)]
        own_number = ln.number.take(pa.array(line))
        source = pc.if_else(pa.array(inbound), pc.if_else(pa.array(withheld), "anonymous", remote_number),
                            own_number)
        destination = pc.if_else(pa.array(outbound), remote_number,
                                 pc.if_else(pa.array(inbound), own_number,
                                            ln.number.take(pa.array(other))))
        del remote_number, own_number
        own_c, own_r = ln.country[line], ln.region[line]
        src_c = np.where(withheld, -1, np.where(inbound, remote, own_c))
        src_r = np.where(withheld, -1, np.where(inbound, remote_region, own_r))
        dst_c = np.select([outbound, inbound], [remote, own_c], ln.country[other])
        dst_r = np.select([outbound, inbound], [remote_region, own_r], ln.region[other])
        del other, own_c, own_r, remote_region
        disposition = rng.choice(4, n, p=(0.78, 0.14, 0.05, 0.03))
        disposition[lately] = 0
        answered = disposition == 0
        duration = np.where(answered, 5 + rng.gamma(1.3, 180.0, n), 0).astype(np.int64)
        billable = np.where(answered & outbound, -(-duration // 60) * 60, 0)
        per_minute = np.where(remote == ln.country[line], 0.02, 0.25) * FX[ln.currency[line]]
        cost = billable / 60 * per_minute
        self.cl = SimpleNamespace(n=n, line=line, start=start, answered=answered,
                                  src_c=src_c, src_r=src_r, dst_c=dst_c, dst_r=dst_r)
        self.call_ids = _ids("CALL-", n)
        countries = [r[0] for r in cat.REMOTES]
        self.call_columns = {
            "id": self.call_ids,
            "line_id": self.line_ids.take(pa.array(line)),
            "started_at": _stamps(start),
            "duration_s": _int(duration),
            "billable_s": _int(billable),
            "direction": _pick(("outbound", "inbound", "internal"), direction),
            "source": source,
            "destination": destination,
            "source_country": _pick(countries, np.maximum(src_c, 0), null=src_c < 0),
            "source_region": _pick(cat.US_STATES, np.maximum(src_r, 0), null=src_r < 0),
            "destination_country": _pick(countries, np.maximum(dst_c, 0), null=dst_c < 0),
            "destination_region": _pick(cat.US_STATES, np.maximum(dst_r, 0), null=dst_r < 0),
            "disposition": _pick(("answered", "no_answer", "busy", "failed"), disposition),
            "cost": _num(cost, decimals=4),
            "currency": _pick(CURRENCIES, ln.currency[line]),
        }

    # -- retention policies and channels ----------------------------------------------------
    def stores(self) -> None:
        """Where communications are kept, per business line and regulated population.

        Regulated populations keep seven years on WORM storage with an audit trail: Purview
        for Teams, Exchange, Slack Enterprise Grid, a Smarsh or Global Relay archive for
        e-mail, chat and SMS, NICE for voice and a records vault for the books; each store
        declares the record types it holds, and those systems keep held items whatever their
        retention. Their approved channels are archived, ingested within the last hours and
        point at the store that declares their scopes and record type; consumer messaging
        apps are unapproved and nobody regulated is recorded using them."""
        sets = max(1, self.n // cat.LINES_PER_STORE_SET)
        # (system, scope, days, unlimited, action, immutable, audit, legal hold, hold precedence,
        #  region, scopes, record types)
        rows: list[tuple] = []
        store_of: dict[tuple[int, int, str], int] = {}
        channels: list[tuple] = []  # (product, app id, approved, scopes, archived, store, ingest)
        fresh = self.now_us - 2 * 3600 * _US_PER_S
        litigation = []
        for s in range(sets):
            line_name = cat.BUSINESS_LINES[s % len(cat.BUSINESS_LINES)]
            if s >= len(cat.BUSINESS_LINES):
                line_name += f" {s // len(cat.BUSINESS_LINES) + 1}"
            for p, (scope_set, label, country) in enumerate(cat.POPULATIONS):
                scopes = SCOPE_SETS[scope_set]
                regulated = cat.SCOPE_REGULATED[scope_set]
                templates = cat.REGULATED_STORES if regulated else cat.OTHER_STORES[scope_set]
                for key, system, scope, days, action, immutable, audit, precedence, types in templates:
                    store_of[s, p, key] = len(rows)
                    rows.append((system or cat.ARCHIVE_SYSTEM[country], f"{scope}: {label}, {line_name}",
                                 days, False, action, immutable, audit, False, precedence,
                                 cat.STORE_REGION[country], scopes, types))
                approved = cat.APPROVED_CHANNELS["regulated" if regulated else scope_set]
                for product, app_id, key in approved:
                    channels.append((product, app_id, True, scopes, True, store_of[s, p, key], fresh))
            litigation.append(len(rows))
            rows.append(("Microsoft Purview eDiscovery", f"Litigation hold: matter {2025 + s // 50}-"
                         f"{s % 50 + 1:03d}", None, True, "keep", True, True, True, True, "US", None,
                         None))
        # Consumer messaging apps: not approved (one never assessed), no regulated user on
        # record. The inventory cannot say "nobody" (an empty list, which the canonical CSV
        # cannot carry either), so the unapproved-channel policy counts them as undecidable.
        for product, app_id in cat.UNAPPROVED_CHANNELS:
            channels.append((product, app_id, None if product == "telegram" else False, None, False,
                             None, None))
        clean_stores = len(rows)

        rng = self.rng("stores.planted")
        planted_stores: dict[str, list[int]] = {}
        k = max(3, int(round(0.01 * clean_stores)))
        for (policy, scopes, system, scope, days, action, immutable, audit, hold, precedence,
             types) in cat.PLANTED_STORES:
            planted_stores[policy] = list(range(len(rows), len(rows) + k))
            for i in range(k):
                desk = cat.BUSINESS_LINES[int(rng.integers(0, len(cat.BUSINESS_LINES)))]
                region = "UK" if scopes and "fca" in scopes else "US"
                rows.append((system, f"{scope}: {desk} {i + 1}", days, False, action, immutable, audit,
                             hold, precedence, region, scopes, types))
        held_stores = list(planted_stores[cat.HOLD_DELETION])
        # Settings partly not exported: each undecidable for one policy, fine for the others.
        for (_, scopes, system, scope, days, action, immutable, audit, hold, precedence, types,
             named) in cat.UNREPORTED_STORES:
            if named:
                held_stores.append(len(rows))
            rows.append((system, scope, days, None if days is None else False, action, immutable,
                         audit, hold, precedence, "UK" if scopes and "fca" in scopes else "US",
                         scopes, types))

        # Channels: misconfigured copies of regulated populations' approved channels.
        regulated = np.array([i for i, c in enumerate(channels)
                              if c[2] and c[3] and cat.SCOPE_REGULATED[SCOPE_SETS.index(tuple(c[3]))]])
        product_of = np.array([c[0] for c in channels])
        scopes_of = [tuple(c[3] or ()) for c in channels]
        # A broker-dealer's or adviser's voice channel needs no capture (neither rule makes
        # the firm record calls): no such channel is planted as not archived or unlinked.
        bd_voice = np.array([product_of[i] == "voice" and set(scopes_of[i]) <= {"finra_bd", "sec_ria"}
                             for i in regulated])
        k = max(3, int(round(0.02 * len(regulated))))
        now = self.now_us
        # A store of a population that lacks one of the channel's scopes.
        narrower = {("finra_bd", "sec_ria"): 0, ("cftc", "finra_bd"): 0, ("fca", "mifid"): 3,
                    ("finra_bd",): 5, ("fca",): 5, ("mifid",): 3}
        planted_channels: dict[str, list[int]] = {}
        for policy in (cat.UNAPPROVED_CHANNEL, cat.ARCHIVE_STALE, cat.NOT_ARCHIVED,
                       cat.NO_RETENTION_POLICY, cat.SCOPE_MISMATCH):
            planted_channels[policy] = []
            candidates = regulated
            if policy in (cat.NOT_ARCHIVED, cat.NO_RETENTION_POLICY):
                candidates = regulated[~bd_voice]
            elif policy == cat.SCOPE_MISMATCH:
                candidates = regulated[product_of[regulated] != "voice"]
            for j in rng.choice(candidates, size=k, replace=len(candidates) < k):
                product, app_id, _, scopes, _, store, stamp = channels[j]
                archived = True
                if policy == cat.UNAPPROVED_CHANNEL:
                    product, app_id = cat.UNAPPROVED_CHANNELS[len(planted_channels[policy]) % 4]
                    approved, archived, store, stamp = False, False, None, None
                else:
                    approved = True
                if policy == cat.ARCHIVE_STALE:
                    stamp = now - int(rng.integers(5, 30)) * _US_PER_DAY
                elif policy == cat.NOT_ARCHIVED:
                    archived, stamp = False, None
                elif policy == cat.NO_RETENTION_POLICY:
                    store = None
                elif policy == cat.SCOPE_MISMATCH:
                    s = int(rng.integers(0, sets))
                    key = "archive" if product in ("email", "sms") else product
                    store = store_of[s, narrower[tuple(scopes)], key]
                planted_channels[policy].append(len(channels))
                channels.append((product, app_id, approved, scopes, archived, store, stamp))
        # Undecidable: an archive connector that reports no ingest time; an approved channel
        # whose capture is not reported.
        channels.append(("sms", None, True, ("fca",), True, store_of[0, 3, "archive"], None))
        channels.append(("teams", "com.microsoft.teams", True, ("mifid",), None, store_of[0, 5, "teams"],
                         fresh))

        n = len(rows)
        ids = _ids("RP-", n, 4)
        self.tables["retention_policies"] = _table("retention_policies", {
            "id": ids,
            "system": pa.array([r[0] for r in rows], pa.string()),
            "scope": pa.array([r[1] for r in rows], pa.string()),
            "retention_days": pa.array([r[2] for r in rows], pa.int64()),
            "retention_unlimited": pa.array([r[3] for r in rows], pa.bool_()),
            "action": pa.array([r[4] for r in rows], pa.string()),
            "immutable": pa.array([r[5] for r in rows], pa.bool_()),
            "audit_trail": pa.array([r[6] for r in rows], pa.bool_()),
            "legal_hold": pa.array([r[7] for r in rows], pa.bool_()),
            "hold_precedence": pa.array([r[8] for r in rows], pa.bool_()),
            "region": pa.array([r[9] for r in rows], pa.string()),
            "regulatory_scopes": pa.array([list(r[10]) if r[10] else None for r in rows],
                                          pa.list_(pa.string())),
            "record_types": pa.array([list(r[11]) if r[11] else None for r in rows],
                                     pa.list_(pa.string())),
        })
        for policy, planted in planted_stores.items():
            self.record(policy, ids, np.array(planted))
        # The stores that keep recordings: (set, population, key) → row, -1 where none.
        keys = ("voice", "quality")
        store_idx = np.full((sets, len(cat.POPULATIONS), len(keys)), -1, np.int64)
        for (s, p, key), row in store_of.items():
            if key in keys:
                store_idx[s, p, keys.index(key)] = row
        self.st = SimpleNamespace(ids=ids, sets=sets, store_idx=store_idx, litigation=litigation,
                                  held=held_stores)
        channel_ids = _ids("CHN-", len(channels), 4)
        store = np.array([-1 if c[5] is None else c[5] for c in channels])
        self.tables["channels"] = _table("channels", {
            "id": channel_ids,
            "product": pa.array([c[0] for c in channels], pa.string()),
            "app_id": pa.array([c[1] for c in channels], pa.string()),
            "approved": pa.array([c[2] for c in channels], pa.bool_()),
            "regulatory_scopes": pa.array([None if c[3] is None else list(c[3]) for c in channels],
                                          pa.list_(pa.string())),
            "archived": pa.array([c[4] for c in channels], pa.bool_()),
            "archive_last_ingest_at": pa.array([c[6] for c in channels], pa.timestamp("us")),
            "retention_policy_id": ids.take(pa.array(np.maximum(store, 0), mask=store < 0)),
        })
        for policy, planted in planted_channels.items():
            self.record(policy, channel_ids, np.array(planted))

    # -- legal holds --------------------------------------------------------------------------
    def legal_holds(self) -> None:
        """Holds in force and released: each litigation-hold store is a matter's hold on that
        store; a few matters hold custodians (contact-centre agents, traders, a leaver) and a
        service number, some released since; counsel's register holds a Slack workspace whose
        custom retention ignores it (planted) and Zoom recordings whose precedence is not
        reported (undecidable)."""
        rng = self.rng("legal_holds")
        ln, ppl, st = self.ln, self.ppl, self.st
        holds = []
        for k, row in enumerate(st.litigation):
            holds.append(SimpleNamespace(matter=f"{2025 + k // 50}-{k % 50 + 1:03d}", stores=[row],
                                         custodians=np.zeros(0, np.int64), lines=np.zeros(0, np.int64),
                                         start=self.today - 400 - 7 * k, release=None,
                                         system="Microsoft Purview eDiscovery"))
        holds.append(SimpleNamespace(matter="2026-HR-017", stores=st.held, custodians=np.zeros(0, np.int64),
                                     lines=np.zeros(0, np.int64), start=self.today - 150, release=None,
                                     system="Counsel's register"))
        # US matters: US agents, traders and service numbers.
        us = ln.country == US
        agents = np.unique(ln.holder[us & (ln.kind == DID) & (ln.rec_purpose == REC_QUALITY)
                                     & (ln.holder >= 0)])
        traders = np.unique(ln.holder[us & (ln.rec_purpose == REC_REGULATORY) & (ln.holder >= 0)])
        leavers = np.flatnonzero(ppl.dated_leaver & (ppl.country == US))
        service = ln.active & ((ln.kind == TOLL_FREE) | ((ln.kind == DID) & (ln.purpose == CONTACT_CENTRE)))
        numbers = np.flatnonzero(service & us) if (service & us).any() else np.flatnonzero(service)
        numbers = numbers[np.argsort(~ln.payment[numbers], kind="stable")]  # card lines first
        systems = ("Microsoft Purview eDiscovery", "Smarsh Enterprise Archive", "Global Relay Archive",
                   "Counsel's register")
        wanted = max(3, int(round(self.n / 40_000)))
        for h in range(wanted):
            custodians = np.r_[
                rng.choice(agents, size=min(len(agents), int(rng.integers(1, 4))), replace=False),
                rng.choice(traders, size=min(len(traders), int(rng.integers(0, 3))), replace=False),
                               rng.choice(leavers, size=min(len(leavers), h % 2), replace=False)]
            start = self.today - int(rng.integers(200, 700))
            release = None
            if h % 2 and start + 150 < self.today - 10:
                release = int(min(start + rng.integers(150, 300), self.today - 10))
            holds.append(SimpleNamespace(matter=f"{2024 + h % 3}-LIT-{h + 1:03d}", stores=[],
                                         custodians=np.unique(custodians),
                                         lines=np.unique(numbers[np.arange(2 * h, 2 * h + 2) % len(numbers)]),
                                         start=start, release=release,
                                         system=systems[h % len(systems)]))
        self.holds = holds

        def id_lists(ids: pa.Array, groups: list) -> pa.Array:
            flat = np.concatenate([np.asarray(g, np.int64) for g in groups] + [np.zeros(0, np.int64)])
            offsets = np.r_[0, np.cumsum([len(g) for g in groups])].astype(np.int32)
            values = pa.ListArray.from_arrays(pa.array(offsets), ids.take(pa.array(flat)))
            return pc.if_else(pa.array([len(g) > 0 for g in groups]), values,
                              pa.scalar(None, pa.list_(pa.string())))

        self.tables["legal_holds"] = _table("legal_holds", {
            "id": _ids("LH-", len(holds), 4),
            "matter": pa.array([h.matter for h in holds], pa.string()),
            "custodians": id_lists(self.person_ids, [h.custodians for h in holds]),
            "stores": id_lists(st.ids, [h.stores for h in holds]),
            "lines": id_lists(self.line_ids, [h.lines for h in holds]),
            "started_on": _dates(np.array([h.start for h in holds])),
            "released_on": _dates(np.array([h.release or 0 for h in holds]),
                                  null=np.array([h.release is None for h in holds])),
            "system": pa.array([h.system for h in holds], pa.string()),
        })

    # -- recordings (and the calls that point at them) --------------------------------------
    def recordings(self) -> None:
        """Recordings of the traders' calls (kept seven years for their recording duty), and
        of the contact centre's (payments kept 90 days, quality samples a year), each in its
        store. A recording due for deletion while a legal hold covers it (its line, or its
        line's holder as custodian) is kept: to the release, or still, flagged as held."""
        rng = self.rng("recordings")
        ln, cl, st, ppl = self.ln, self.cl, self.st, self.ppl
        purpose = ln.rec_purpose[cl.line]
        keep = cl.answered & (purpose != REC_NONE)
        # Which lines any hold names, through the line or its holder (whatever the dates).
        custodians = np.zeros(ppl.n + 1, bool)
        named_line = np.zeros(ln.n, bool)
        for h in self.holds:
            custodians[h.custodians] = True
            named_line[h.lines] = True
        named_line |= custodians[ln.holder]  # holder -1 reads the spare last slot: False
        # Planted overdue quality recordings are drawn from every old quality call of an EEA or
        # UK line nobody holds, sampled or not, so that small estates still have enough of them.
        old_quality = (keep & (purpose == REC_QUALITY) & (cl.start < (self.today - 400) * _US_PER_DAY)
                       & (ln.country[cl.line] != US) & ~named_line[cl.line])
        overdue = self.plant(self.rng("recordings.overdue"), np.flatnonzero(old_quality), 0.012,
                             cat.QUALITY_OVERDUE)
        # Quality monitoring samples calls; regulation, payments and the health helpline
        # record every one.
        keep &= (purpose != REC_QUALITY) | ln.phi[cl.line] | (rng.random(cl.n) < 0.3)
        keep[overdue] = True
        call = np.flatnonzero(keep)
        del keep, old_quality
        n = len(call)
        purpose = purpose[call]
        rec_line = cl.line[call]
        holder = ln.holder[rec_line]
        started = cl.start[call]
        started_day = started // _US_PER_DAY
        age = self.today - started_day
        regulatory = purpose == REC_REGULATORY
        retention = np.select([regulatory, purpose == REC_QUALITY],
                              [cat.RETENTION_DAYS[REC_REGULATORY], cat.RETENTION_DAYS[REC_QUALITY]],
                              cat.RETENTION_DAYS[REC_PAYMENT])
        # The store: the population's voice store for a trader, the contact centre's payment or
        # quality store, the benefits helpline's own.
        pop_of = np.full(len(SCOPE_SETS), 6, np.int64)
        for p, (scope_set, _, _) in enumerate(cat.POPULATIONS):
            pop_of[scope_set] = p
        s = rec_line % st.sets
        pop = np.select([regulatory, ln.helpline[rec_line]],
                        [pop_of[ppl.scopes[ln.keeper[rec_line]]], pop_of[SCOPE_SETS.index(("hipaa",))]],
                        pop_of[SCOPE_SETS.index(("pci",))])
        store = st.store_idx[s, pop, np.where(regulatory | (purpose == REC_PAYMENT), 0, 1)]
        retain_until = started_day + retention
        retain_null = (purpose == REC_QUALITY) & (rng.random(n) < 0.3)  # the store's period applies
        duty = cat.SCOPE_VOICE_DUTY[ppl.scopes[ln.keeper[rec_line]]]

        # Deletion at the end of the period, unless a hold covering the recording is in force
        # that day: then at the hold's release (or not yet).
        due = started + retention * _US_PER_DAY + rng.integers(0, 3600, n) * _US_PER_S
        deletable = ~regulatory
        deleted_at = due.copy()
        blocked = np.zeros(n, bool)
        in_force = np.zeros(n, bool)
        due_in_hold = np.zeros(n, bool)
        covers = []
        for h in self.holds:
            cover = np.isin(rec_line, h.lines) | np.isin(holder, h.custodians)
            if h.release is None:
                in_force |= cover & (h.start <= self.today)
            day = due // _US_PER_DAY
            due_in_hold |= cover & (day >= h.start) & (day < (h.release or self.today + 99_999))
            covers.append((h, cover))
        for _ in range(4):
            moved = False
            for h, cover in covers:
                day = deleted_at // _US_PER_DAY
                until = h.release or self.today + 99_999
                hit = cover & deletable & ~blocked & (day >= h.start) & (day < until)
                if not hit.any():
                    continue
                moved = True
                if h.release is None:
                    blocked |= hit
                else:
                    deleted_at[hit] = (h.release * _US_PER_DAY
                                       + rng.integers(0, 5 * 86_400, hit.sum()) * _US_PER_S)
            if not moved:
                break
        deleted = deletable & ~blocked & (deleted_at <= self.now_us)
        hold_flag = in_force & ~deleted
        redacted = np.full(n, -1, np.int64)
        paused = np.full(n, -1, np.int64)
        card = ln.payment[rec_line] | (purpose == REC_PAYMENT)
        pause = rng.random(n) < 0.6
        paused[card & pause] = 1
        redacted[card & ~pause] = 1
        encrypted = np.ones(n, np.int64)
        consent = np.ones(n, np.int64)
        country = ln.country[rec_line]
        home = np.array([0, 1, 2, 3, 4])[country]
        abroad = (country != US) & (rng.random(n) < 0.08)  # EU data kept in the US: needs SCCs
        region = np.where(abroad, 0, home)
        mechanism = abroad.copy()
        # Where each party is: a region counts when it is a US state; a party is placed when its
        # state, or a country outside the US, is known.
        listed_states = np.array([cat.US_STATES.index(x) for x in cat.ALL_PARTY_STATES if x in cat.US_STATES])
        src_c, src_r, dst_c, dst_r = cl.src_c[call], cl.src_r[call], cl.dst_c[call], cl.dst_r[call]
        listed = (np.isin(src_r, listed_states) | np.isin(dst_r, listed_states))
        placed = (((src_r >= 0) | ((src_c >= 0) & (src_c != US)))
                  & ((dst_r >= 0) | ((dst_c >= 0) & (dst_c != US))))
        # A few desks skip the announcement on calls whose parties are all in one-party states.
        consent[~listed & placed & (cl.dst_c[call] == US) & (rng.random(n) < 0.01)] = 0

        rng = self.rng("recordings.planted")
        rng_u = self.rng("recordings.undecidable")
        ids = _ids("REC-", n)
        taken = np.zeros(n, bool)
        rows = np.searchsorted(call, overdue)
        deleted[rows] = False
        hold_flag[rows] = False
        taken[rows] = True
        self.record(cat.QUALITY_OVERDUE, ids, rows)

        def plant(mask: np.ndarray, share: float, policy: str) -> np.ndarray:
            rows = self.plant(rng, np.flatnonzero(mask & ~taken), share, policy)
            taken[rows] = True
            if policy != cat.ALL_PARTY:
                self.record(policy, ids, rows)
            return rows

        def some(mask: np.ndarray, share: float) -> np.ndarray:
            rows = self.some(rng_u, np.flatnonzero(mask & ~taken), share)
            taken[rows] = True
            return rows

        unnamed = ~named_line[rec_line]
        # The purge ran although a hold covered the recording that day.
        rows = plant(deletable & due_in_hold & (due <= self.now_us), 0.01, cat.HOLD_DELETED)
        deleted[rows] = True
        deleted_at[rows] = due[rows]
        hold_flag[rows] = True
        rows = plant(regulatory & unnamed, 0.03, cat.REG_RETENTION)
        share = rng.uniform(0.2, 0.8, len(rows))
        retain_until[rows] = started_day[rows] + (share * duty[rows]).astype(np.int64)
        rows = plant(regulatory & unnamed & (age >= 200), 0.01, cat.REG_DELETED_EARLY)
        deleted[rows] = True
        kept = rng.integers(30, np.minimum(duty[rows], age[rows]) - 30)
        deleted_at[rows] = started[rows] + kept * _US_PER_DAY + rng.integers(0, 86_400, len(rows)) * _US_PER_S
        # A deleted recording no longer holds card data: the planted ones are still kept.
        rows = plant(purpose == REC_PAYMENT, 0.03, cat.PAYMENT_UNREDACTED)
        deleted[rows] = False
        hold_flag[rows] = in_force[rows]
        mode = np.arange(len(rows)) % 2
        redacted[rows] = np.where(mode == 0, 0, -1)
        paused[rows] = np.where(mode == 0, -1, 0)
        rows = plant(ln.phi[rec_line] & ~deleted, 0.03, cat.PHI_UNENCRYPTED)
        encrypted[rows] = 0
        rows = plant(~deleted & (country != US) & ~abroad, 0.01, cat.OUTSIDE_EEA)
        region[rows] = 0
        rows = plant(listed, 0.02, cat.ALL_PARTY)
        consent[rows] = 0
        self.record(cat.ALL_PARTY, self.call_ids, call[rows])

        # Undecidable, never found: a legacy recorder's trader calls with no retention date or
        # store; card-line recordings whose redaction and pausing are not reported; PHI
        # recordings whose encryption is not; EEA recordings whose storage is not; calls with a
        # party in an all-party state whose announcement is not; deleted recordings stamped as
        # held that no hold covers (tombstones of records deleted before a hold).
        legacy = some(regulatory & unnamed, 0.005)
        retain_null[legacy] = True
        store[legacy] = -1
        rows = some(card & ~deleted, 0.01)
        redacted[rows] = paused[rows] = -1
        encrypted[some(ln.phi[rec_line] & ~deleted, 0.01)] = -1
        storage_unknown = np.zeros(n, bool)
        storage_unknown[some(~deleted & (country != US) & ~abroad, 0.002)] = True
        consent[some(listed, 0.005)] = -1
        hold_flag[some(deleted & unnamed, 0.005)] = True
        # One contact-centre recorder tags nothing: its quality recordings are untagged.
        untagged = (purpose == REC_QUALITY) & (country == COUNTRIES.index("FR"))

        self.tables["recordings"] = _table("recordings", {
            "id": ids,
            "call_id": self.call_ids.take(pa.array(call)),
            "line_id": self.line_ids.take(pa.array(rec_line)),
            "store_id": st.ids.take(pa.array(np.maximum(store, 0), mask=store < 0)),
            "purpose": _pick(cat.REC_PURPOSES[1:], purpose - 1, null=untagged),
            "record_type": _pick((cat.VOICE_REC,), np.zeros(n, np.int64)),
            "started_at": _stamps(started),
            "retain_until": _dates(retain_until, null=retain_null),
            "deleted_at": _stamps(deleted_at, null=~deleted),
            "storage_region": _pick([s[0] for s in cat.STORAGE], region, null=storage_unknown),
            "storage_country": _pick([s[1] for s in cat.STORAGE], region, null=storage_unknown),
            "transfer_mechanism": _pick(("scc",), np.zeros(n, np.int64), null=~mechanism),
            "encrypted": _tristate(encrypted),
            "payment_data_redacted": _tristate(redacted),
            "payment_capture_paused": _tristate(paused),
            "consent_announced": _tristate(consent),
            "legal_hold": _bool(hold_flag),
        })
        recording = np.full(cl.n, -1, np.int64)
        recording[call] = np.arange(n)
        self.tables["calls"] = _table("calls", {
            **self.call_columns,
            "recorded": _bool(recording >= 0),
            "recording_id": ids.take(pa.array(np.maximum(recording, 0), mask=recording < 0)),
        })
        del self.call_columns, self.cl

    # -- devices ----------------------------------------------------------------------------
    def devices(self) -> None:
        """One device per phone line, IoT SIM and desk number, Wi-Fi tablets, a conference phone
        per meeting room and a few spares.

        Company devices in use are under three years old (bought, or for a few only enrolled,
        within that time), encrypted, locked, enrolled and compliant or in their grace period,
        and checked in today; desk phones sit at their user's office."""
        rng = self.rng("devices")
        ln, ppl = self.ln, self.ppl
        with_device = ((ln.kind == MOBILE) | (ln.kind == IOT)
                       | (np.isin(ln.kind, (LANDLINE, DID)) & (ln.purpose == VOICE))
                       | ((ln.kind == DID) & (ln.purpose == SHARED))) & ~ln.no_device & ~ln.no_device_tablet
        line = np.flatnonzero(with_device)
        # Wi-Fi tablets, never for the holders of a planted line without a device; always for
        # those whose phone line has no device of its own (undecidable: the SIM may be in it).
        no_tablet = np.zeros(ppl.n, bool)
        no_tablet[ln.holder[ln.no_device]] = True
        must = np.unique(ln.holder[ln.no_device_tablet])
        tablets = max(12, int(round(0.03 * ln.n)))
        pool = np.setdiff1d(np.flatnonzero(ppl.alive & ~no_tablet), must)
        tablet_people = np.r_[must, _distinct(rng, pool, tablets - len(must), "tablets")]
        rooms = np.flatnonzero(ppl.kind == cat.ROOM)
        spares = max(5, int(round(0.03 * ln.n)))
        n_line, n_tab, n_room = len(line), len(tablet_people), len(rooms)
        n = n_line + n_tab + n_room + spares
        lk, lp = ln.kind[line], ln.purpose[line]
        kind = np.select([lk == IOT, np.isin(lk, (LANDLINE, DID)), lp == DATA, lp == HOTSPOT],
                         [cat.IOT_DEVICE, cat.DESK_PHONE, cat.TABLET, cat.HOTSPOT_DEVICE], cat.SMARTPHONE)
        kind = np.r_[kind, np.full(n_tab, cat.TABLET), np.full(n_room, cat.DESK_PHONE),
                     np.full(spares, cat.SMARTPHONE)]
        current = np.array([not m[7] for m in cat.DEVICE_MODELS])
        current[cat.ROOM_PHONE] = False
        model = np.empty(n, np.int64)
        for k, name in enumerate(cat.DEVICE_KINDS):
            rows = np.flatnonzero(kind == k)
            ms = np.array([i for i, m in enumerate(cat.DEVICE_MODELS) if m[0] == name and current[i]])
            model[rows] = ms[rng.integers(0, len(ms), len(rows))]
        model[n_line + n_tab:n_line + n_tab + n_room] = cat.ROOM_PHONE

        # Status follows the line: a suspended line's phone is lost or back in the drawer; a
        # cancelled line's device is retired, unless a life-safety communicator still runs on it.
        line_status = ln.status[line]
        status = np.select([line_status == 0, line_status == 1],
                           [cat.IN_USE, np.where(rng.random(n_line) < 0.3, cat.LOST, cat.SPARE)], cat.RETIRED)
        status[ln.ls_device[line]] = cat.IN_USE
        status = np.r_[status, np.full(n_tab + n_room, cat.IN_USE), np.full(spares, cat.SPARE)]
        has_line = np.r_[np.ones(n_line, bool), np.zeros(n_tab + n_room + spares, bool)]
        line_of = np.r_[line, np.zeros(n_tab + n_room + spares, np.int64)]
        person = np.r_[np.maximum(ln.holder[line], 0), tablet_people, rooms, np.zeros(spares, np.int64)]
        # A leaver's device on a line nobody cancelled: the directory account is gone, so
        # MDM shows no user.
        assigned = (np.r_[(ln.holder[line] >= 0) & ~ln.leaver_line[line], np.ones(n_tab + n_room, bool),
                          np.zeros(spares, bool)] & (status != cat.SPARE))
        # A few spare phones went missing from the cupboard: lost, with no line on record.
        spare_rows = np.arange(n - spares, n)
        lost_spares = spare_rows[:max(1, spares // 20)]
        status[lost_spares] = cat.LOST
        in_use = status == cat.IN_USE
        handheld = (kind == cat.SMARTPHONE) | (kind == cat.TABLET)
        managed = handheld | (kind == cat.HOTSPOT_DEVICE)
        personal = in_use & (kind == cat.SMARTPHONE) & assigned & (rng.random(n) < 0.1)
        # Flags: 1 true, 0 false, -1 unknown. Desk phones and IoT modules are not in MDM.
        flags = np.where(in_use[:, None], 1, (rng.random((n, 3)) < (0.7, 0.8, 0.8)).astype(np.int64))
        flags[~managed, :2] = -1
        flags[~managed, 2] = 0
        state = np.where(managed, np.where(in_use, cat.ST_COMPLIANT, cat.ST_UNKNOWN), -1)
        # The organisation's own grace period, and co-management, are not failures.
        draw = rng.random(n)
        state[managed & in_use & (draw < 0.04)] = cat.ST_GRACE
        state[managed & in_use & (draw >= 0.04) & (draw < 0.05)] = cat.ST_ELSEWHERE

        released = np.array([_day(m[6]) for m in cat.DEVICE_MODELS])[model]
        activated = np.r_[ln.activated[line], np.full(n_tab + n_room + spares, self.today - 900)]
        newest = np.maximum(released + 14, np.maximum(activated - 30, self.today - cat.REFRESH_DAYS))
        purchased = newest + (rng.random(n) * (self.today - 5 - newest)).astype(np.int64)
        not_used = ~in_use
        purchased[not_used] = np.maximum(released[not_used] + 14,
                                         self.today - rng.integers(60, 1400, not_used.sum()))
        # Enrolled in MDM a few days after purchase (a personal phone when its owner joined the
        # programme); Intune gives some company devices no purchase date, only the enrolment.
        enrolled = np.where(personal, self.today - rng.integers(30, 900, n),
                            np.minimum(purchased + rng.integers(0, 20, n), self.today))
        purchase_unknown = managed & ~personal & (rng.random(n) < 0.15)
        check_in = np.where(in_use, self.now_us - rng.integers(0, 72 * 3600, n) * _US_PER_S,
                            (self.today - rng.integers(20, 400, n)) * _US_PER_DAY
                            + rng.integers(0, 86_400, n) * _US_PER_S)
        office = np.r_[ln.office[line], ppl.office[tablet_people], ppl.office[rooms],
                       np.zeros(spares, np.int64)]
        e911 = np.where(kind == cat.DESK_PHONE, office, -1)
        version_of = np.array([0] + [len(m[3]) for m in cat.DEVICE_MODELS]).cumsum()
        version = version_of[model] + (rng.random(n) * np.diff(version_of)[model]).astype(np.int64)
        versions = [v for m in cat.DEVICE_MODELS for v in m[3]]

        # -- planted violations: each device breaks exactly one rule -------------------------
        rng = self.rng("devices.planted")
        rng_u = self.rng("devices.undecidable")
        ids = _ids("D-", n)
        clean = np.ones(n, bool)
        line_active = has_line & ln.active[line_of]
        is_person = assigned & ppl.person[person]
        us_user = is_person & (ppl.country[person] == US) & ~ppl.branch[person] & ~ppl.no_office[person]
        regulated = is_person & ppl.regulated[person]

        def plant(mask: np.ndarray, share: float, policy: str) -> np.ndarray:
            rows = self.plant(rng, np.flatnonzero(mask & clean), share, policy)
            clean[rows] = False
            self.record(policy, ids, rows)
            return rows

        def some(mask: np.ndarray, share: float) -> np.ndarray:
            rows = self.some(rng_u, np.flatnonzero(mask & clean), share)
            clean[rows] = False
            return rows

        def legacy(rows: np.ndarray, supported: bool) -> None:
            """An older model of the same kind; its OS below the floor unless ``supported``."""
            for k, name in enumerate(cat.DEVICE_KINDS):
                sel = rows[kind[rows] == k]
                ms = [i for i, m in enumerate(cat.DEVICE_MODELS) if m[0] == name and m[7]]
                if not len(sel):
                    continue
                pick = np.array(ms)[np.arange(len(sel)) % len(ms)]
                model[sel] = pick
                pool = [cat.DEVICE_MODELS[i][3] if supported else cat.DEVICE_MODELS[i][8] for i in pick]
                extra.extend(zip(sel, [p[j % len(p)] for j, p in enumerate(pool)], strict=True))

        extra: list[tuple[int, str]] = []
        rows = plant(in_use & handheld & regulated, 0.05, cat.OFF_CHANNEL)
        off_channel = rows
        rows = plant(in_use & (kind == cat.SMARTPHONE) & regulated & ~personal, 0.05, cat.BYOD)
        personal[rows] = True
        enrolled[rows] = self.today - rng.integers(30, 900, len(rows))
        byod_no_agent = rows
        rows = plant(in_use & handheld, 0.015, cat.UNENCRYPTED)
        flags[rows, np.arange(len(rows)) % 2] = 0  # MDM has no encryption rule for them
        rows = plant(in_use & handheld, 0.01, cat.NONCOMPLIANT)
        state[rows] = np.array([cat.ST_NONCOMPLIANT, cat.ST_ERROR, cat.ST_CONFLICT])[np.arange(len(rows)) % 3]
        rows = plant(in_use & handheld, 0.01, cat.OS_FLOOR)
        legacy(rows, supported=False)
        rows = plant(in_use & ~personal & handheld, 0.01, cat.REFRESH)
        legacy(rows[kind[rows] == cat.SMARTPHONE], supported=True)
        purchased[rows] = self.today - rng.integers(1200, 1900, len(rows))
        enrolled[rows] = purchased[rows] + rng.integers(0, 20, len(rows))
        purchase_unknown[rows] = np.arange(len(rows)) % 4 == 3  # aged by its enrolment
        iot_lines = line_active & (kind == cat.IOT_DEVICE)
        iot_lines[has_line] &= ~ln.taken[line] & ~ln.life_safety[line]
        rows = plant(in_use & iot_lines, 0.02, cat.LOST_BILLED)
        status[rows] = cat.LOST
        check_in[rows] = (self.today - rng.integers(20, 80, len(rows))) * _US_PER_DAY
        in_use = status == cat.IN_USE
        paid = line_active & (np.r_[ln.monthly_cost[line], np.zeros(n - n_line)] > 0)
        rows = plant(in_use & paid & managed & ~personal, 0.01, cat.STALE_MDM)
        check_in[rows] = ((self.today - rng.integers(95, 300, len(rows))) * _US_PER_DAY
                          + rng.integers(0, 86_400, len(rows)) * _US_PER_S)
        desk_us = in_use & (kind == cat.DESK_PHONE) & us_user & has_line
        # No location at all: a location elsewhere, even a rejected one, would also differ from
        # the user's office.
        e911[plant(desk_us, 0.03, cat.E911_DEVICE)] = -1
        rows = plant(desk_us, 0.03, cat.E911_DIFFERS)
        # Registered at another US office: a different city, so a different address.
        us_good = np.flatnonzero(self.loc.country[:self.loc.good] == US)
        city = self.loc.city[office[rows]]
        for c in np.unique(city):
            elsewhere = us_good[self.loc.city[us_good] != c]
            sel = rows[city == c]
            e911[sel] = elsewhere[rng.integers(0, len(elsewhere), len(sel))]
        tablet_rows = np.arange(n_line, n_line + n_tab)
        rows = plant(np.isin(np.arange(n), tablet_rows) & in_use & ~np.isin(person, must), 0.1,
                     cat.LEAVER_DEVICE)
        person[rows] = _distinct(rng, np.flatnonzero(ppl.dated_leaver), len(rows), "leavers")
        office[rows] = ppl.office[person[rows]]

        # Undecidable, never found: an enrolled phone whose check-in time MDM does not export;
        # company phones with neither a purchase nor an enrolment date; an MDM state not yet
        # evaluated; an OS version not reported; no passcode flag (Graph gives none); regulated
        # staff's personal phones with no agent flag and no app inventory.
        check_null = np.zeros(n, bool)
        check_null[some(in_use & paid & managed & ~personal & (kind == cat.SMARTPHONE), 0.002)] = True
        rows = some(in_use & handheld & ~personal, 0.002)
        purchase_unknown[rows] = True
        enrolled[rows] = -1
        state[some(in_use & handheld, 0.002)] = cat.ST_UNKNOWN
        version[some(in_use & handheld, 0.002)] = -1
        flags[some(in_use & handheld, 0.005), 1] = -1
        no_inventory = some(in_use & (kind == cat.SMARTPHONE) & regulated & personal & ~np.isin(
            np.arange(n), byod_no_agent), 0.2)

        regulated = is_person & ppl.regulated[person]
        agent = np.where(in_use & handheld & regulated, 1, 0)
        agent[byod_no_agent] = 0
        # On personal phones the capture app is the agent; some inventories do not say more.
        capture = in_use & personal & regulated & (agent == 1) & ~np.isin(np.arange(n), no_inventory)
        agent[capture & (rng.random(n) < 0.3)] = -1
        agent[no_inventory] = -1
        self.dev = SimpleNamespace(n=n, handheld=handheld, assigned=assigned, regulated=regulated,
                                   off_channel=off_channel, capture=capture, no_inventory=no_inventory)
        if extra:
            sel, text = zip(*extra, strict=True)
            versions = versions + list(text)
            version[np.array(sel)] = len(versions) - len(text) + np.arange(len(text))

        tac = np.array([m[4] or 0 for m in cat.DEVICE_MODELS], dtype=np.int64)[model]
        # Serial numbers are a permutation of the row number: unique, yet not in sequence.
        idx = np.arange(n, dtype=np.int64)
        body = (tac + idx // 1_000_000) * 1_000_000 + (idx * 7_919 + 123_457) % 1_000_000
        serial = (idx * 7_919 + 4_815_162) % 100_000_000
        self.device_ids = ids
        self.tables["devices"] = _table("devices", {
            "id": ids,
            "kind": _pick(cat.DEVICE_KINDS, kind),
            "fixed": _bool(kind == cat.DESK_PHONE),
            "serial": _join(_pick([m[5] for m in cat.DEVICE_MODELS], model),
                            pc.utf8_lpad(_text(serial), width=8, padding="0")),
            "imei": pc.if_else(pa.array(tac > 0), _text(_luhn_imei(body)),
                               pa.scalar(None, pa.string())),
            "model": _pick([m[1] for m in cat.DEVICE_MODELS], model),
            "os": _pick([m[2] for m in cat.DEVICE_MODELS], model),
            "os_version": _pick(versions, np.maximum(version, 0), null=version < 0),
            "assigned_to": self.person_ids.take(pa.array(person, mask=~assigned)),
            "line_id": self.line_ids.take(pa.array(line_of, mask=~has_line | (status == cat.SPARE))),
            "ownership": _pick(("company", "personal"), personal.astype(np.int64)),
            "status": _pick(cat.DEVICE_STATUSES, status),
            "mdm_enrolled": _tristate(flags[:, 2]),
            "compliance_state": _pick(cat.COMPLIANCE_STATES, np.maximum(state, 0), null=state < 0),
            "encrypted": _tristate(flags[:, 0]),
            "passcode_set": _tristate(flags[:, 1]),
            "archiving_agent": _tristate(agent),
            # A personal phone's purchase is the owner's business.
            "purchased_on": _dates(purchased, null=personal | purchase_unknown),
            "enrolled_on": _dates(enrolled, null=~managed | (enrolled < 0)),
            "last_check_in_at": _stamps(check_in, null=check_null),
            "e911_location_id": self.loc_ids.take(pa.array(np.maximum(e911, 0), mask=e911 < 0)),
        })

    # -- device_apps ------------------------------------------------------------------------
    def device_apps(self) -> None:
        rng = self.rng("device_apps")
        dev = self.dev
        eligible = dev.handheld & dev.assigned & ~np.isin(np.arange(dev.n), dev.no_inventory)
        device_parts, app_parts = [], []
        for a, (_, _, _, share, approved) in enumerate(cat.APPS):
            mask = eligible & (rng.random(dev.n) < share)
            if not approved:
                mask &= ~dev.regulated  # regulated staff keep these off, except where planted
            rows = np.flatnonzero(mask)
            device_parts.append(rows)
            app_parts.append(np.full(len(rows), a))
        device_parts.append(np.flatnonzero(dev.capture))
        app_parts.append(np.full(int(dev.capture.sum()), cat.CAPTURE_APP))
        device_parts.append(dev.off_channel)
        app_parts.append(np.array(cat.UNAPPROVED_APPS)[np.arange(len(dev.off_channel))
                                                      % len(cat.UNAPPROVED_APPS)])
        device = np.concatenate(device_parts)
        app = np.concatenate(app_parts)
        order = np.lexsort((app, device))
        device, app = device[order], app[order]
        # A planted app may already be there: one row per device and app.
        keep = np.r_[True, (device[1:] != device[:-1]) | (app[1:] != app[:-1])]
        device, app = device[keep], app[keep]
        versions = [v for a in cat.APPS for v in a[2]]
        v_count = np.array([len(a[2]) for a in cat.APPS])
        version = _pick_in_groups(rng, app, np.r_[0, np.cumsum(v_count)[:-1]], v_count)
        self.tables["device_apps"] = _table("device_apps", {
            "device_id": self.device_ids.take(pa.array(device)),
            "app_id": _pick([a[0] for a in cat.APPS], app),
            "name": _pick([a[1] for a in cat.APPS], app),
            "version": _pick(versions, version),
        })

    # -- subscriptions and licenses ---------------------------------------------------------
    def licenses(self) -> None:
        """Licences of everyone still employed: their platform's suite and meetings, a calling
        plan for those with a DID, Slack for some; a virtual-user licence per Teams Phone
        resource account and a Teams Rooms licence per meeting room. Leavers' seats are
        reclaimed, except a few whose directory account was disabled without an HR date."""
        rng = self.rng("licenses")
        ppl, ln = self.ppl, self.ln
        did = np.zeros(ppl.n, bool)
        did[ln.holder[ln.active & (ln.kind == DID) & (ln.purpose == VOICE) & (ln.holder >= 0)]] = True
        quiet_did = np.zeros(ppl.n, bool)
        quiet_did[ln.holder[ln.internal_only]] = True
        parts, skus = [], []
        for s, (_, _, _, platforms, who) in enumerate(cat.SKUS):
            if who in ("resource", "room"):
                mask = ppl.kind == (cat.RESOURCE_ACCOUNT if who == "resource" else cat.ROOM)
            elif who == "none":
                mask = np.zeros(ppl.n, bool)
            else:
                mask = ppl.alive & np.isin(ppl.platform, platforms)
                if who == "did":
                    mask &= did & ((rng.random(ppl.n) < 0.9) | quiet_did)
                elif who != "all":
                    mask &= rng.random(ppl.n) < who
            rows = np.flatnonzero(mask)
            parts.append(rows)
            skus.append(np.full(len(rows), s))
        # A leaver disabled in the directory without a termination date keeps the main licence.
        rows = np.flatnonzero(ppl.no_date)
        parts.append(rows)
        skus.append(np.array(cat.PLATFORM_MAIN_SKU, np.int64)[ppl.platform[rows]])
        person = np.concatenate(parts)
        sku = np.concatenate(skus)
        n = len(person)
        status = np.zeros(n, np.int64)  # active, disabled, suspended
        p_status = ppl.status[person]
        directory = ppl.kind[person] != PERSON
        hired = np.where(directory, self.today - 900, ppl.hired_on[person])
        assigned = np.minimum(hired + rng.integers(0, 15, n), self.today)
        recent = (p_status == ACTIVE) & ~directory & ~quiet_did[person] & (rng.random(n) < 0.04)
        assigned[recent] = np.maximum(hired[recent], self.today - rng.integers(0, 40, recent.sum()))
        last_active = np.where(p_status == LEAVE, self.today - rng.integers(0, 46, n),
                               self.today - rng.integers(0, 22, n))
        last_active = np.where(ppl.no_date[person], self.today - rng.integers(5, 40, n), last_active)
        last_active = np.maximum(last_active, assigned)
        # Newly assigned seats and resource accounts (which never sign in) have no activity.
        no_activity = recent | (ppl.kind[person] == cat.RESOURCE_ACCOUNT)

        rng = self.rng("licenses.planted")
        busy = np.zeros(ppl.n, bool)
        busy[quiet_did] = True
        telephony = cat.TELEPHONY_SKUS[sku]
        person_active = (p_status == ACTIVE) & ~directory
        unused = self.plant(rng, np.flatnonzero(person_active & ~recent & ~telephony
                                                & (assigned <= self.today - 420)), 0.02,
                            cat.UNUSED_LICENSE)
        last_active[unused] = self.today - rng.integers(75, 400, len(unused))
        busy[person[unused]] = True
        # Undecidable: a few Slack seats nobody has signed in to since they were assigned.
        taken = np.zeros(n, bool)
        taken[unused] = True
        never = self.some(self.rng("licenses.undecidable"),
                          np.flatnonzero(person_active & ~recent & ~taken
                                         & (sku == cat.SKU_INDEX["SLACK_BUSINESS_PLUS"])
                                         & (assigned <= self.today - 120)), 0.01)
        no_activity[never] = True
        # Extra licences, each a violation: (people, sku, status, assigned, last active).
        extra = []
        settled = (ppl.person & (ppl.status == ACTIVE) & (ppl.platform == 0)
                   & (ppl.hired_on <= self.today - 200))
        # Overlapping platforms: a Zoom seat for someone on Teams; the Phone System add-on for
        # someone whose E5 already includes it.
        who = self.plant(rng, np.flatnonzero(settled & ~busy), 0.006, cat.OVERLAPPING, minimum=2)
        busy[who] = True
        extra.append((who, cat.SKU_INDEX["ZOOM_WORKPLACE_BUSINESS"], np.zeros(len(who), np.int64),
                      self.today - rng.integers(100, 180, len(who)),
                      self.today - rng.integers(0, 20, len(who)), cat.OVERLAPPING))
        # The add-on is a telephony licence too: bought for people whose DID takes outside calls,
        # or who have no fixed number on record at all (their telephony use cannot be seen).
        fixed = np.bincount(ln.holder[np.isin(ln.kind, (LANDLINE, DID)) & (ln.holder >= 0)], minlength=ppl.n)
        who = self.plant(rng, np.flatnonzero(settled & ~busy & (did | (fixed == 0))), 0.004,
                         cat.OVERLAPPING, minimum=2)
        busy[who] = True
        extra.append((who, cat.SKU_INDEX["MCOEV"], np.zeros(len(who), np.int64),
                      self.today - rng.integers(120, 190, len(who)),
                      self.today - rng.integers(0, 20, len(who)), cat.OVERLAPPING))
        # Leavers whose main licence was missed: still active shortly after they left (inside
        # the idle limit), or disabled or suspended but still paid for.
        who = self.plant(rng, np.flatnonzero(ppl.dated_leaver), 0.03, cat.LEAVER_LICENSE)
        gone = ppl.terminated_on[who]
        extra.append((who, np.array(cat.PLATFORM_MAIN_SKU)[ppl.platform[who]],
                      np.where(self.today - gone <= 50, 0, 1 + np.arange(len(who)) % 2),
                      ppl.hired_on[who] + rng.integers(0, 15, len(who)), gone, cat.LEAVER_LICENSE))
        tags = np.full(n, -1, np.int64)
        for t, (who, s, st, a, la, _) in enumerate(extra):
            person = np.r_[person, who]
            sku = np.r_[sku, np.broadcast_to(s, len(who))]
            status = np.r_[status, st]
            assigned = np.r_[assigned, a]
            last_active = np.r_[last_active, la]
            no_activity = np.r_[no_activity, np.zeros(len(who), bool)]
            tags = np.r_[tags, np.full(len(who), t)]
        unused_tag = np.zeros(len(person), bool)
        unused_tag[unused] = True
        order = np.lexsort((sku, person))
        person, sku, status, assigned = person[order], sku[order], status[order], assigned[order]
        last_active, no_activity, tags, unused_tag = (last_active[order], no_activity[order],
                                                      tags[order], unused_tag[order])
        n = len(person)
        ids = _ids("LIC-", n)
        self.record(cat.UNUSED_LICENSE, ids, np.flatnonzero(unused_tag))
        for t, item in enumerate(extra):
            self.record(item[5], ids, np.flatnonzero(tags == t))
        # Calling plans whose DID took only internal calls in the last 90 days.
        self.record(cat.TELEPHONY, ids, np.flatnonzero(quiet_did[person] & cat.TELEPHONY_SKUS[sku]
                                                       & (tags < 0)))

        # Subscriptions: a SKU per billing region (US, UK, EU) in its currency, large tenants
        # in tranches. Seats are trued up before renewal; until then there is some headroom.
        region = cat.COUNTRY_REGION[ppl.country[person]]
        group = sku * len(cat.REGION_CURRENCY) + region
        tranches = np.maximum(1, np.bincount(group, minlength=len(cat.SKUS) * 3) // cat.SEATS_PER_TRANCHE)
        key = group * 1000 + (rng.random(n) * tranches[group]).astype(np.int64)
        keys, sub = np.unique(key, return_inverse=True)
        ns = len(keys)
        s_sku, s_region = keys // 1000 // 3, keys // 1000 % 3
        consumed = np.bincount(sub, minlength=ns)
        currency = cat.REGION_CURRENCY[s_region]
        unit_cost = np.round(np.array([s[2] for s in cat.SKUS])[s_sku] * FX[currency], 2)
        soon = rng.random(ns) < 0.15
        renews = np.where(soon, self.today + rng.integers(5, 55, ns), self.today + rng.integers(100, 365, ns))
        prepaid = np.where(soon, consumed, consumed + np.ceil(consumed * rng.uniform(0.02, 0.08, ns)) + 1)
        rows = self.plant(rng, np.flatnonzero(unit_cost > 0), 0.03, cat.UNASSIGNED_SEATS)
        renews[rows] = self.today + rng.integers(10, 50, len(rows))
        spare = np.ceil(consumed[rows] * rng.uniform(0.15, 0.3, len(rows)))
        prepaid[rows] = consumed[rows] + np.maximum(6, spare) + 1
        # Teams Rooms licences are bought month to month: no renewal date (undecidable).
        month_to_month = s_sku == cat.SKU_INDEX["MICROSOFT_TEAMS_ROOMS_PRO"]
        month_to_month[rows] = False
        sub_ids = _ids("SUB-", ns, 3)
        self.record(cat.UNASSIGNED_SEATS, sub_ids, rows)
        self.tables["subscriptions"] = _table("subscriptions", {
            "id": sub_ids,
            "product": _pick([s[0] for s in cat.SKUS], s_sku),
            "sku": _pick([s[1] for s in cat.SKUS], s_sku),
            "prepaid_units": _int(prepaid),
            "consumed_units": _int(consumed),
            "unit_cost": _num(unit_cost),
            "currency": _pick(CURRENCIES, currency),
            "renews_on": _dates(renews, null=month_to_month),
        })
        self.tables["licenses"] = _table("licenses", {
            "id": ids,
            "product": _pick([s[0] for s in cat.SKUS], sku),
            "sku": _pick([s[1] for s in cat.SKUS], sku),
            "subscription_id": sub_ids.take(pa.array(sub)),
            "assigned_to": self.person_ids.take(pa.array(person)),
            "monthly_cost": _num(unit_cost[sub]),
            "currency": _pick(CURRENCIES, currency[sub]),
            "assigned_on": _dates(assigned),
            "last_active_on": _dates(last_active, null=no_activity),
            "status": _pick(("active", "disabled", "suspended"), status),
        })

    # -- invoices, charges, disputes, and the contracts' commitments -------------------------
    def _contracted(self, account: np.ndarray, period: np.ndarray, code: np.ndarray) -> np.ndarray:
        """The rate in force for a charge code, by the account's contract and the period."""
        c = self.acct.contract[account]
        current = self.inv_first[period] >= self.rates.change[c]
        return np.where(current, self.rates.new[c, code], self.rates.old[c, code])

    def billing(self) -> None:
        """Four months of carrier invoices. Recurring charges follow the lines at the contracted
        rate; usage, credits and late fees stay small against them, taxes and the regulatory
        surcharge are a steady share, so a month only spikes or shifts its tax share where
        planted."""
        rng = self.rng("invoices")
        ln, acct = self.ln, self.acct
        M = INVOICE_MONTHS
        p_first, p_last = self.inv_first, self.inv_last
        ni = acct.n * M
        inv_account = np.repeat(np.arange(acct.n), M)
        inv_period = np.tile(np.arange(M), acct.n)

        # Recurring: every line, every month it was in service; moved lines were billed to
        # their previous account before the latest month. Item columns are kept compact: a
        # million lines make four million charges.
        billed = ((ln.activated[:, None] <= p_last[None, :])
                  & ((ln.status != 2)[:, None] | (ln.cancelled_on[:, None] >= p_first[None, :])))
        r_line, r_period = (x.astype(np.int32) for x in np.nonzero(billed))
        del billed
        r_inv = (np.where(r_period < M - 1, ln.prev_account[r_line], ln.account[r_line]) * M
                 + r_period).astype(np.int32)
        r_code = ln.plan[r_line].astype(np.int16)
        r_rate = self._contracted(r_inv // M, r_period, r_code)

        rng_p = self.rng("charges.planted")
        nr = len(r_line)
        above = self.plant(rng_p, np.arange(nr), 0.015, cat.ABOVE_RATE)
        contracted = r_rate[above].copy()
        r_rate[above] = np.round(contracted * rng_p.uniform(1.05, 1.3, len(above)), 2)
        clean = np.ones(nr, bool)
        clean[above] = False
        # The errors that add charges sit in the older months, which the latest is judged by.
        dup = self.plant(rng_p, np.flatnonzero(clean & (r_period == 0) & ln.active[r_line]), 0.003,
                         cat.DUPLICATE)
        del clean
        # Billed for a month that began weeks after the line was cancelled.
        late = self.plant(rng_p, np.flatnonzero((ln.status == 2) & (ln.cancelled_on < p_first[0] - 20)),
                          0.03, cat.AFTER_CANCELLATION)
        # Billed for lines the inventory has never heard of.
        k = max(3, int(round(0.0005 * nr)))
        mobile_plans = np.array([i for i, p in enumerate(PLANS) if p[0] == MOBILE])
        g_acc = rng_p.integers(0, acct.n, k)
        g_period = rng_p.integers(0, M - 2, k)
        g_code = mobile_plans[rng_p.integers(0, len(mobile_plans), k)]
        e_period = np.r_[r_period[dup], np.zeros(len(late), np.int32), g_period]
        e_line = np.r_[r_line[dup], late, ln.n + np.arange(k)]
        e_inv = np.r_[r_inv[dup], ln.account[late] * M, g_acc * M + g_period]
        e_code = np.r_[r_code[dup], ln.plan[late], g_code]
        e_rate = np.r_[r_rate[dup], self._contracted(e_inv[len(dup):] // M, e_period[len(dup):],
                                                     e_code[len(dup):])]
        n_rec = nr + len(e_line)
        recurring = (np.bincount(r_inv, weights=np.round(r_rate, 2), minlength=ni)
                     + np.bincount(e_inv, weights=np.round(e_rate, 2), minlength=ni))

        # Usage charges on active mobiles, kept to 4 % of each invoice's recurring charges.
        mobile = np.flatnonzero(ln.active & (ln.kind == MOBILE))
        u_parts = []
        for u, (share, lo, hi) in enumerate(((0.05, 1, 6), (0.04, 5, 300), (0.03, 1, 10))):
            li, pi = np.nonzero(rng.random((len(mobile), M), dtype=np.float32) < share)
            u_parts.append((mobile[li], pi, np.full(len(li), len(PLANS) + u),
                            rng.integers(lo, hi, len(li))))
        u_line = np.concatenate([p[0] for p in u_parts]).astype(np.int32)
        u_period = np.concatenate([p[1] for p in u_parts]).astype(np.int32)
        u_code = np.concatenate([p[2] for p in u_parts]).astype(np.int16)
        u_qty = np.concatenate([p[3] for p in u_parts]).astype(np.float64)
        del u_parts
        u_inv = (np.where(u_period < M - 1, ln.prev_account[u_line], ln.account[u_line]) * M
                 + u_period).astype(np.int32)
        u_rate = self._contracted(u_inv // M, u_period, u_code)
        u_amount = np.round(u_qty * u_rate, 2)
        order = np.lexsort((rng.random(len(u_inv)), u_inv))
        spent = np.cumsum(u_amount[order])
        first = np.r_[True, u_inv[order][1:] != u_inv[order][:-1]]
        spent -= np.maximum.accumulate(np.where(first, spent - u_amount[order], 0))
        keep = np.ones(len(u_inv), bool)
        keep[order[spent > 0.04 * recurring[u_inv[order]]]] = False
        del order, spent, first
        u_line, u_period, u_code, u_qty, u_inv, u_rate, u_amount = (
            x[keep] for x in (u_line, u_period, u_code, u_qty, u_inv, u_rate, u_amount))
        del keep
        usage = np.bincount(u_inv, weights=u_amount, minlength=ni)

        # Invoice-level charges: credits, late fees, the regulatory surcharge, then tax.
        credit_inv = np.flatnonzero((rng.random(ni) < 0.02) & (recurring > 0))
        credit = -np.round(rng.uniform(0.01, 0.03, len(credit_inv)) * recurring[credit_inv], 2)
        # Accounts whose lines moved keep to their own story: no late fees, no tax jumps.
        latest = np.arange(acct.n) * M + M - 1
        steady = np.ones(acct.n, bool)
        steady[self.spikes] = steady[self.donors] = False
        fee_inv = self.plant(rng_p, np.flatnonzero((inv_period >= 2) & steady[inv_account]), 0.04,
                             cat.LATE_FEE)
        tax_rate = np.array([cat.TAX_RATE[c] for c in range(len(CURRENCIES))])[acct.currency[inv_account]]
        fee = np.round(0.015 * (recurring + usage)[fee_inv - 2] * (1 + tax_rate[fee_inv - 2]), 2)
        surcharge = np.round(cat.SURCHARGE_SHARE * recurring, 2)
        other = (np.bincount(credit_inv, weights=credit, minlength=ni)
                 + np.bincount(fee_inv, weights=fee, minlength=ni))
        # A tax-share jump on the latest invoice: a surcharge far above its usual share.
        taxed = latest[self.plant(rng_p, np.flatnonzero(steady), 0.03, cat.TAX_ANOMALY)]
        steady[taxed // M] = False
        share = (tax_rate * (recurring + usage + surcharge + other) + surcharge) / np.maximum(recurring, 1)
        target = 1.5 * (share[taxed - 1] + share[taxed - 2] + share[taxed - 3]) / 3
        t = tax_rate[taxed]
        surcharge[taxed] = np.round((target * recurring[taxed] - t * (recurring + usage + other)[taxed])
                                    / (1 + t), 2)
        tax = np.round(tax_rate * (recurring + usage + surcharge + other), 2)

        # Dates: issued a few days after the month, due in 30 days, approved within the week.
        issued = np.minimum(p_last[inv_period] + rng.integers(2, 7, ni), self.today)
        approved = np.minimum(issued + rng.integers(1, 9, ni), self.today)
        due = issued + 30
        paid = approved + rng.integers(1, 13, ni)
        paid[fee_inv - 2] = due[fee_inv - 2] + rng_p.integers(3, 16, len(fee_inv))
        unapproved = latest[self.plant(rng_p, np.flatnonzero(steady), 0.03, cat.UNAPPROVED_NEAR_DUE)]
        issued[unapproved] = p_last[M - 1] + rng_p.integers(1, 3, len(unapproved))
        due[unapproved] = issued[unapproved] + 30
        approved[unapproved] = self.today + 1
        paid[unapproved] = self.today + 1

        # Charges, grouped by invoice: the items of each invoice, then its invoice-level lines.
        inv_charges = np.r_[credit_inv, fee_inv, np.arange(ni), np.arange(ni)].astype(np.int32)
        inv_type = np.r_[np.full(len(credit_inv), 6), np.full(len(fee_inv), 5), np.full(ni, 4),
                         np.full(ni, 3)].astype(np.int8)
        inv_amount = np.r_[credit, fee, surcharge, tax]
        n_items = n_rec + len(u_inv)
        all_inv = np.r_[r_inv, e_inv.astype(np.int32), u_inv, inv_charges]
        n = len(all_inv)
        order = np.argsort(all_inv, kind="stable")
        all_inv = all_inv[order]
        position = np.empty(n, np.int64)
        position[order] = np.arange(n)
        total = np.zeros(ni)
        ids = _ids("CHG-", n)
        dup_at = nr + np.arange(len(dup))
        late_at = nr + len(dup) + np.arange(len(late))
        ghost_at = nr + len(dup) + len(late) + np.arange(k)
        self.record(cat.ABOVE_RATE, ids, position[above])
        self.record(cat.DUPLICATE, ids, position[dup_at])
        self.record(cat.AFTER_CANCELLATION, ids, position[late_at])
        self.record(cat.NOT_IN_INVENTORY, ids, position[ghost_at])
        self.record(cat.LATE_FEE, ids, position[n_items + len(credit_inv) + np.arange(len(fee_inv))])
        # What disputes are raised about: the billing errors, and some roaming charges.
        roam = np.flatnonzero(u_code == len(PLANS) + 2)
        disputable = SimpleNamespace(
            charge=position[np.r_[above, dup_at, late_at, ghost_at, n_rec + roam]],
            invoice=np.r_[r_inv[above], e_inv, u_inv[roam]],
            amount=np.r_[r_rate[above] - contracted, np.round(e_rate, 2), u_amount[roam]],
            chance=np.r_[np.full(len(above) + len(e_inv), 0.4), np.full(len(roam), 0.05)])
        del position
        is_item = order < n_items
        columns: dict[str, pa.Array] = {"id": ids}

        def item_column(*parts: np.ndarray, fill=0) -> np.ndarray:
            """One value per charge in charge order: the items' parts, ``fill`` elsewhere."""
            values = np.concatenate([*parts, np.full(n - n_items, fill, parts[0].dtype)])
            return values[order]

        inv_ids = _ids("INV-", ni)
        columns["invoice_id"] = inv_ids.take(pa.array(all_inv))
        line_vocab = pa.concat_arrays([self.line_ids, _ids("L-", k, max(4, len(str(ln.n))),
                                                           start=ln.n + 1)])
        columns["line_id"] = line_vocab.take(pa.array(item_column(r_line, e_line.astype(np.int32),
                                                                  u_line), mask=~is_item))
        del line_vocab, r_line, u_line
        all_type = item_column(np.zeros(n_rec, np.int8), np.ones(len(u_inv), np.int8))
        all_type[~is_item] = inv_type[order[~is_item] - n_items]
        code = item_column(r_code, e_code.astype(np.int16), u_code)
        code[~is_item] = len(cat.CHARGE_CODES) + all_type[~is_item] - 3
        columns["charge_code"] = _pick(cat.CHARGE_CODES + tuple(c for c, _ in cat.INVOICE_CODES), code)
        columns["charge_type"] = _pick(cat.CHARGE_TYPES, all_type)
        columns["description"] = _pick([p[1] for p in PLANS] + [u[1] for u in cat.USAGE_CODES]
                                       + [d for _, d in cat.INVOICE_CODES], code)
        del code, all_type, r_code, u_code
        columns["quantity"] = _num(item_column(np.ones(n_rec), u_qty), null=~is_item, decimals=3)
        columns["unit_rate"] = _num(item_column(r_rate, e_rate, u_rate), null=~is_item, decimals=4)
        amount = np.concatenate([np.round(r_rate, 2), np.round(e_rate, 2), u_amount, inv_amount])[order]
        total = np.round(np.bincount(all_inv, weights=amount, minlength=ni), 2)
        columns["amount"] = _num(amount)
        del amount, is_item, u_qty, u_amount
        order = None  # done with the charge order (item_column reads it)
        columns["currency"] = _pick(CURRENCIES, acct.currency[all_inv // M])
        p_of = all_inv % M
        columns["period_start"] = _dates(p_first[p_of])
        columns["period_end"] = _dates(p_last[p_of])
        del p_of, all_inv
        self.tables["charges"] = _table("charges", columns)
        del columns

        self.record(cat.SPEND_SPIKE, inv_ids, latest[self.spikes])
        self.record(cat.TAX_ANOMALY, inv_ids, taxed)
        self.record(cat.UNAPPROVED_NEAR_DUE, inv_ids, unapproved)
        period_labels = np.datetime_as_string(self.inv_months.astype("datetime64[M]"), unit="M")
        self.tables["invoices"] = _table("invoices", {
            "id": inv_ids,
            "account_id": self.account_ids.take(pa.array(inv_account)),
            "invoice_number": _join(self.account_numbers.take(pa.array(inv_account)), "-",
                                    pc.replace_substring(_pick(period_labels, inv_period), "-", "")),
            "period": _pick(period_labels, inv_period),
            "issued_on": _dates(issued),
            "due_on": _dates(due),
            "approved_on": _dates(approved, null=approved > self.today),
            "paid_on": _dates(paid, null=paid > self.today),
            "total": _num(total),
            "currency": _pick(CURRENCIES, acct.currency[inv_account]),
        })

        # Disputes: raised for the billing errors and for some roaming charges. Open ones are
        # less than two months old (then they are escalated), except the planted ones.
        rng = self.rng("disputes")
        errors = disputable.charge
        overbilled = disputable.amount
        chance = disputable.chance
        e_inv = disputable.invoice
        old = self.today - issued[e_inv] >= 80
        rows = self.plant(rng, np.flatnonzero(old), 0.02, cat.DISPUTE_PAST_WINDOW)
        planted = np.zeros(len(errors), bool)
        planted[rows] = True
        rows = np.r_[rows, np.flatnonzero(~planted & (rng.random(len(errors)) < chance))]
        rows.sort()
        nd = len(rows)
        d_planted = planted[rows]
        issued_d = issued[e_inv[rows]]
        opened = np.minimum(issued_d + rng.integers(3, 21, nd), self.today)
        status = rng.choice(3, nd, p=(0.4, 0.4, 0.2))
        credited_on = opened + rng.integers(7, 31, nd)
        status[(status == 1) & (credited_on > self.today)] = 0
        opened = np.where(status == 0, np.maximum(opened, self.today - 55), opened)
        status[d_planted] = 0
        opened[d_planted] = issued_d[d_planted] + (
            rng.random(d_planted.sum()) * (self.today - 70 - issued_d[d_planted] - 3)).astype(np.int64) + 3
        # A few disputes raised by phone have no opening date on record (undecidable).
        undated = np.zeros(nd, bool)
        undated[self.some(self.rng("disputes.undecidable"), np.flatnonzero((status == 0) & ~d_planted),
                          0.01)] = True
        dispute_ids = _ids("DSP-", nd)
        self.record(cat.DISPUTE_PAST_WINDOW, dispute_ids, np.flatnonzero(d_planted))
        self.tables["disputes"] = _table("disputes", {
            "id": dispute_ids,
            "account_id": self.account_ids.take(pa.array(inv_account[e_inv[rows]])),
            "charge_id": ids.take(pa.array(errors[rows])),
            "opened_on": _dates(opened, null=undated),
            "amount": _num(overbilled[rows]),
            "status": _pick(("open", "credited", "rejected"), status),
            "credited_on": _dates(credited_on, null=status != 1),
        })
        self._contracts_table(recurring + usage, inv_account, inv_period)

    def _contracts_table(self, eligible: np.ndarray, inv_account: np.ndarray, inv_period: np.ndarray) -> None:
        """Contracts, with monthly commitments well under the last three months' eligible spend
        (recurring and usage charges), except the planted shortfalls; vendor contracts
        (licences, archiving) commit to nothing."""
        con, acct = self.con, self.acct
        recent = inv_period >= INVOICE_MONTHS - 3
        spend = np.bincount(acct.contract[inv_account[recent]], weights=eligible[recent],
                            minlength=con.n) / 3
        rng = self.rng("contracts.commitment")
        commitment = np.floor(spend * rng.uniform(0.55, 0.8, con.n) / 100) * 100
        short = con.shortfall
        commitment[short] = np.ceil(spend[short] * rng.uniform(1.3, 1.8, len(short)) / 100) * 100
        none = commitment <= 0
        none[con.carrier:] = True
        self.tables["contracts"] = _table("contracts", {
            "id": self.contract_ids,
            "vendor": _pick([v for v, _ in MARKETS] + [v for v, _ in cat.VENDOR_CONTRACTS],
                            np.r_[con.market, len(MARKETS) + np.arange(con.n - con.carrier)]),
            "started_on": _dates(con.started),
            "ends_on": _dates(con.ends),
            "auto_renew": _bool(con.auto_renew),
            "notice_days": _int(con.notice),
            "monthly_commitment": _num(np.maximum(commitment, 0), null=none),
            "currency": _pick(CURRENCIES, con.currency),
        })
