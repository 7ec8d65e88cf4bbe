"""Synthetic estates: deterministic, seeded, realistic, and fast enough for a million lines.

``generate_estate(lines, seed)`` builds all eighteen estate entities as Arrow
tables with exactly the model's schema. Everything is vectorised with numpy and
Arrow compute: the Python loops run over small catalogues (kinds, departments,
apps, store templates) and over the few carrier accounts, never over lines,
calls or usage rows, so a million lines with twelve million usage rows take
seconds.

The estate is clean by construction for every built-in policy, except for a
known set of resources planted as violations (``Estate.planted``: policy id →
resource ids, one entry per built-in policy), about 1-5 % of the resources a
policy looks at and at least three. Most are existing rows changed to break one
rule (a line's recording switched off, a device's OS left behind); some are rows
added for the purpose (a duplicated charge, a misconfigured retention store, a
channel pointed at the wrong store, a Zoom seat for someone on Teams), and a
spend spike is lines moved between two accounts of a market in the latest
month. A planted resource breaks its own policy's rule and no other policy's;
the one inherent overlap is a broker-dealer store kept for less than three
years (SEC 17a-4), which is also kept for less than FINRA's six, so the FINRA
policy's planted set includes the SEC 17a-4 stores. Planting keeps away from
the policies' thresholds (90 idle days, 30 grace days, 25 % spikes, 1095 days,
5 years...) so a colleague's ``>`` versus ``>=`` cannot change a result.

What "clean" means, in short: people hold at most one active line per kind and
purpose; leavers' lines are cancelled and their licences reclaimed (a leaver's
line left active has a phone that MDM no longer ties to anyone); every person
works on one meeting platform; telephony licences go to people with a DID that
takes calls; every active voice number took a call lately; company devices are
replaced within three years and report to MDM; limited data plans are used but
not exceeded; international add-ons are used and nobody roams without one;
suspensions are short; contracts are renewed or noticed in time and commitments
met; invoices are approved before they fall
due; regulated stores keep records seven years on WORM storage; regulated
channels are archived, fresh, and point at stores that declare their scopes.
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
    ACCOUNTS_PER_CONTRACT,
    ACTIVE,
    ALARM,
    ALL_PARTY_STATES,
    APPROVED_CHANNELS,
    APPS,
    ARCHIVE_SYSTEM,
    BUSINESS_LINES,
    CHARGE_CODES,
    CHARGE_TYPES,
    CIRCUIT,
    CITIES,
    COMPLIANCE_STATES,
    COST_CENTRES_PER_DEPT,
    COUNTRIES,
    COUNTRY_CURRENCY,
    COUNTRY_P,
    COUNTRY_REGION,
    CURRENCIES,
    DATA,
    DEPARTMENTS,
    DEPT,
    DESK_PHONE,
    DEVICE_KINDS,
    DEVICE_MODELS,
    DEVICE_STATUSES,
    DID,
    ELEVATOR,
    EXEMPT_PURPOSES,
    FAX,
    FEATURES,
    FIRST_NAMES,
    FX,
    HOTSPOT,
    IN_USE,
    INVOICE_CODES,
    IOT,
    IOT_DEVICE,
    KIND_MIN,
    KIND_P,
    KIND_PURPOSES,
    LANDLINE,
    LAST_NAMES,
    LEAVE,
    LINE_KINDS,
    LINE_STATUS_P,
    LINE_STATUSES,
    LINES_PER_STORE_SET,
    LOST,
    MARKET_WEIGHT,
    MARKETS,
    MIN_ACCOUNTS_PER_MARKET,
    MOBILE,
    NUMBERING,
    OTHER_STORES,
    PERSON_STATUSES,
    PFAX,
    PLAN_ALLOWANCE,
    PLANS,
    PLANTED_STORES,
    PLATFORM_MAIN_SKU,
    PLATFORM_P,
    POPULATIONS,
    PURPOSES,
    REC_NONE,
    REC_PAYMENT,
    REC_PURPOSES,
    REC_QUALITY,
    REC_REGULATORY,
    REFRESH_DAYS,
    REGION_CURRENCY,
    REGULATED_STORES,
    REMOTES,
    RETENTION_DAYS,
    RETIRED,
    SCOPE_CFTC,
    SCOPE_HIPAA,
    SCOPE_MIFID,
    SCOPE_REGULATED,
    SCOPE_SETS,
    SEATS_PER_TRANCHE,
    SIP,
    SKU_INDEX,
    SKUS,
    SMARTPHONE,
    SPARE,
    STANDBY,
    STORAGE,
    STORE_REGION,
    SURCHARGE_SHARE,
    TABLET,
    TAX_RATE,
    TELEPHONY_SKUS,
    TERMINATED,
    TOLL_FREE,
    TRADER_SCOPES,
    UNAPPROVED_APPS,
    UNAPPROVED_CHANNELS,
    US,
    US_AREAS,
    US_CITY_AREA,
    US_STATES,
    US_TOLL_FREE_AREA,
    USAGE_CODES,
    VENDOR_CONTRACTS,
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


def generate_estate(lines: int, seed: int = 7, as_of: dt.date = AS_OF) -> Estate:
    """A synthetic estate of about ``lines`` lines; the same arguments give the same tables."""
    if lines < MIN_LINES:
        raise ValueError(f"a synthetic estate needs at least {MIN_LINES} lines, not {lines}")
    return _Builder(int(lines), int(seed), as_of).build()


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
        raise ValueError(f"estate too small: {k} {what} for {len(pool)} people; generate more lines")
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

    def __init__(self, lines: int, seed: int, as_of: dt.date):
        self.n = lines
        self.seed = seed
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
        return np.random.default_rng([self.seed, zlib.crc32(part.encode())])

    def plant(self, rng: np.random.Generator, pool: np.ndarray, share: float,
              policy: str, minimum: int = 3) -> np.ndarray:
        """Row indices (sorted) drawn from ``pool`` to violate ``policy``."""
        k = max(minimum, int(round(share * len(pool))))
        if len(pool) < k + 2:
            raise ValueError(f"estate too small to plant violations of {policy}: "
                             f"{len(pool)} candidates; generate more lines")
        return np.sort(rng.choice(pool, size=k, replace=False))

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
        self.recordings()
        self.devices()
        self.device_apps()
        self.stores()
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
        rng = self.rng("e911_locations")
        good = max(len(COUNTRIES) * 3, self.n // 200)
        bad = max(6, self.n // 5000)
        n = good + bad
        country = np.concatenate([
            np.sort(_exact(rng, good, COUNTRY_P, minimum=[3] * len(COUNTRIES))),
            _exact(rng, bad, COUNTRY_P)])
        cities = [(c, *city) for c in COUNTRIES for city in CITIES[c]]
        city_start = np.cumsum([0] + [len(CITIES[c]) for c in COUNTRIES])[:-1]
        city_count = np.array([len(CITIES[c]) for c in COUNTRIES])
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
        validated = np.ones(n, bool)
        dispatchable = np.ones(n, bool)
        # The last ``bad`` locations are the ones an E911 audit would reject.
        validated[good::2] = False
        dispatchable[good + 1::2] = False
        room = np.where(rng.random(n) < 0.1, rng.integers(0, 2, n), -1)
        self.loc = SimpleNamespace(
            n=n, good=good, country=country, city=city,
            # validated locations per country, contiguous because ``country`` is sorted there
            start=np.searchsorted(country[:good], np.arange(len(COUNTRIES))),
            count=np.bincount(country[:good], minlength=len(COUNTRIES)),
            not_validated=np.arange(good, n, 2), not_dispatchable=np.arange(good + 1, n, 2))
        self.loc_ids = _ids("LOC-", n)
        self.tables["e911_locations"] = _table("e911_locations", {
            "id": self.loc_ids,
            "address": address,
            "floor": _text(rng.integers(1, 45, n)),
            "room": _pick(["Trading Floor", "Server Room"], np.maximum(room, 0), null=room < 0),
            "city": _pick([c[1] for c in cities], city),
            "region": _pick([c[2] for c in cities], city),
            "country": _pick(COUNTRIES, country),
            "postal_code": _pick(postal_of, postal),
            "validated": _bool(validated),
            "dispatchable": _bool(dispatchable),
        })

    # -- people -----------------------------------------------------------------------------
    def people(self) -> None:
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
            choices, shares = TRADER_SCOPES[name]
            scopes[rows] = np.array(choices)[_exact(rng, len(rows), shares)]
        cs = np.flatnonzero(dept == DEPT["Customer Service"])
        scopes[cs[rng.random(len(cs)) < 0.3]] = SCOPE_SETS.index(("pci",))
        hr = np.flatnonzero(dept == DEPT["HR"])
        scopes[hr[rng.random(len(hr)) < 0.1]] = SCOPE_SETS.index(("hipaa",))
        platform = _exact(rng, n, PLATFORM_P)

        # Terminations keep well clear of any leaver grace period.
        terminated = status == TERMINATED
        terminated_on = self.today - rng.integers(45, 730, n)
        hired_on = np.where(terminated, terminated_on - rng.integers(90, 4000, n),
                            self.today - rng.integers(60, 6000, n))
        cost_center = 1000 + dept * 100 + rng.integers(0, COST_CENTRES_PER_DEPT, n)
        office = _pick_in_groups(rng, country, self.loc.start, self.loc.count)

        first = rng.integers(0, len(FIRST_NAMES), n)
        last = rng.integers(0, len(LAST_NAMES), n)
        # Emails are unique: a repeated first.last gets a number, as directories do.
        rank = _rank_in_groups(first * len(LAST_NAMES) + last)
        suffix = pc.if_else(pa.array(rank == 0), "", _text(rank + 1))
        local = [_ascii(x) for x in FIRST_NAMES], [_ascii(x) for x in LAST_NAMES]
        email = _join(_pick(local[0], first), ".", _pick(local[1], last), suffix, "@example.com")

        roles = [r for d in DEPARTMENTS for r in d[2]]
        role_start = np.cumsum([0] + [len(d[2]) for d in DEPARTMENTS])[:-1]
        role = _pick_in_groups(rng, dept, role_start, np.array([len(d[2]) for d in DEPARTMENTS]))

        self.ppl = SimpleNamespace(n=n, dept=dept, country=country, status=status, scopes=scopes,
                                   terminated_on=terminated_on, hired_on=hired_on,
                                   cost_center=cost_center, office=office, platform=platform,
                                   regulated=SCOPE_REGULATED[scopes], mifid=SCOPE_MIFID[scopes],
                                   cftc=SCOPE_CFTC[scopes], hipaa=SCOPE_HIPAA[scopes])
        self.person_ids = _ids("P-", n)
        self.tables["people"] = _table("people", {
            "id": self.person_ids,
            "name": _join(_pick(FIRST_NAMES, first), " ", _pick(LAST_NAMES, last)),
            "email": email,
            "department": _pick([d[0] for d in DEPARTMENTS], dept),
            "cost_center": _join("CC-", _text(cost_center)),
            "country": _pick(COUNTRIES, country),
            "office_location_id": self.loc_ids.take(pa.array(office)),
            "status": _pick(PERSON_STATUSES, status),
            "hired_on": _dates(hired_on),
            "terminated_on": _dates(terminated_on, null=~terminated),
            "regulatory_scopes": _lists(SCOPE_SETS, scopes),
            "role": _pick(roles, role),
        })

    # -- contracts, accounts, rates ---------------------------------------------------------
    def contracts(self) -> None:
        """Carrier contracts (a few accounts each), vendor contracts, accounts and rates.

        The contracts table itself is written by ``billing()``: commitments follow spend.
        """
        rng = self.rng("contracts")
        markets = len(MARKETS)
        market_currency = np.array([COUNTRY_CURRENCY[COUNTRIES.index(c)] for _, c in MARKETS])
        weight = np.array([COUNTRY_P[COUNTRIES.index(c)] * w
                           for (_, c), w in zip(MARKETS, MARKET_WEIGHT, strict=True)])
        wanted = max(markets * MIN_ACCOUNTS_PER_MARKET, self.n // 2500)
        per_market = np.maximum(MIN_ACCOUNTS_PER_MARKET,
                                np.round(weight / weight.sum() * wanted)).astype(np.int64)
        contracts_per_market = np.maximum(2, -(-per_market // ACCOUNTS_PER_CONTRACT))
        carrier = int(contracts_per_market.sum())
        c_market = np.repeat(np.arange(markets), contracts_per_market)
        n = carrier + len(VENDOR_CONTRACTS)
        currency = np.r_[market_currency[c_market], [CURRENCIES.index(c) for _, c in VENDOR_CONTRACTS]]
        started = self.today - rng.integers(420, 1400, n)
        term = rng.choice([730, 1095], n)
        auto_renew = rng.random(n) < 0.6
        notice = rng.choice([30, 60, 90], n)
        # Terms roll on a year at a time; an auto-renewing term ends well after its notice window.
        first_end = started + term
        floor = self.today + np.where(auto_renew, notice + 30 + 20, 20)
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
        ends[renew] = self.today + rng_p.integers(7, notice[renew] + 30 - 7)
        shortfall = self.plant(rng_p, np.flatnonzero(~taken[:carrier]), 0.03, cat.SHORTFALL)
        self.contract_ids = _ids("CON-", n, 3)
        self.record(cat.AUTO_RENEWAL, self.contract_ids, renew)
        self.record(cat.SHORTFALL, self.contract_ids, shortfall)

        # Rates: each carrier contract has its own discount and was re-priced once; half of
        # them inside the invoiced months, so the effective-date lookup matters.
        codes = len(CHARGE_CODES)
        list_price = np.array([p[3] for p in PLANS] + [u[2] for u in USAGE_CODES])
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
        units = [None] * len(PLANS) + [u[3] for u in USAGE_CODES]
        unit = np.array([-1 if u is None else i for i, u in enumerate(units)])[k]
        unit_vocab = ["" if u is None else u for u in units]

        def both(old_rows: np.ndarray, new_rows: np.ndarray) -> np.ndarray:
            return np.concatenate([old_rows, new_rows])

        self.tables["rates"] = _table("rates", {
            "contract_id": self.contract_ids.take(pa.array(both(c, c))),
            "charge_code": _pick(CHARGE_CODES, both(k, k)),
            "unit_rate": _num(both(old[c, k], new[c, k]), decimals=4),
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

    def lines(self) -> None:
        rng = self.rng("lines")
        n, ppl = self.n, self.ppl
        kind = _exact(rng, n, KIND_P, minimum=KIND_MIN)
        status = np.empty(n, np.int64)
        purpose = np.full(n, -1, np.int64)
        for k in range(len(LINE_KINDS)):
            rows = np.flatnonzero(kind == k)
            status[rows] = _exact(rng, len(rows), LINE_STATUS_P)
            choices, probs = KIND_PURPOSES[k]
            purpose[rows] = np.array(choices)[_exact(rng, len(rows), probs)]
        active = status == 0
        voice_class = np.isin(purpose, (-1, VOICE))

        # Owners: infrastructure belongs to a department, the rest to people.
        owner = np.full(n, -1, np.int64)
        owner[np.isin(kind, (IOT, SIP, CIRCUIT))] = DEPT["IT"]
        owner[kind == FAX] = DEPT["Finance"]
        owner[kind == TOLL_FREE] = DEPT["Customer Service"]
        owner[(kind == LANDLINE) & np.isin(purpose, (ALARM, ELEVATOR))] = DEPT["Facilities"]
        owner[(kind == LANDLINE) & (purpose == PFAX)] = DEPT["Finance"]
        alive = ppl.status != TERMINATED
        assignee = np.empty(n, np.int64)
        for d in range(len(DEPARTMENTS)):
            rows = np.flatnonzero(owner == d)
            pool = np.flatnonzero(alive & (ppl.dept == d))
            assignee[rows] = pool[rng.integers(0, len(pool), len(rows))]
        # An active landline of each purpose per holder (alarm panels, lift phones, fax).
        for p, d in ((ALARM, "Facilities"), (ELEVATOR, "Facilities"), (PFAX, "Finance")):
            rows = np.flatnonzero(active & (kind == LANDLINE) & (purpose == p))
            pool = np.flatnonzero(alive & (ppl.dept == DEPT[d]))
            assignee[rows] = _distinct(rng, pool, len(rows), "landlines")
        # People hold at most one active line per kind and purpose. Every trader has a turret
        # (a DID or a desk line), MiFID/FCA desks first.
        personal = owner < 0
        live = personal & active
        desk = live & ((kind == DID) | ((kind == LANDLINE) & (purpose == VOICE)))
        traders = np.flatnonzero(alive & (ppl.dept == DEPT["Trading"]))
        traders = traders[np.argsort(~ppl.mifid[traders], kind="stable")]
        turrets = rng.permutation(np.flatnonzero(desk))[:len(traders)]
        assignee[turrets] = traders[:len(turrets)]
        is_turret = np.zeros(n, bool)
        is_turret[turrets] = True
        no_turret = alive.copy()
        no_turret[traders[:len(turrets)]] = False
        # Traders get a company mobile first.
        rows = rng.permutation(np.flatnonzero(live & (kind == MOBILE) & voice_class))
        assignee[rows[:len(traders)]] = traders[:len(rows)]
        others = alive.copy()
        others[traders] = False
        for held, holders in ((rows[len(traders):], others),
                              (np.flatnonzero(live & (kind == MOBILE) & (purpose == DATA)), alive),
                              (np.flatnonzero(desk & ~is_turret & (kind == DID)), no_turret),
                              (np.flatnonzero(desk & ~is_turret & (kind == LANDLINE)), no_turret)):
            assignee[held] = _distinct(rng, np.flatnonzero(holders), len(held), "lines")
        rows = np.flatnonzero(personal & (status == 1))
        live_pool = np.flatnonzero(alive)
        assignee[rows] = live_pool[rng.integers(0, len(live_pool), len(rows))]
        # Cancelled lines mostly belonged to people who left.
        rows = np.flatnonzero(personal & (status == 2))
        w = np.where(ppl.status == TERMINATED, 8.0, 1.0)
        assignee[rows] = rng.choice(ppl.n, size=len(rows), p=w / w.sum())

        activated = self.today - rng.integers(400, 3650, n)
        cancelled_on = self.today - rng.integers(5, 390, n)
        # Suspensions are short: a lost phone's line until it is replaced, a leave of absence.
        status_since = np.select([status == 0, status == 1],
                                 [activated, self.today - rng.integers(5, 86, n)], cancelled_on)
        plan = np.empty(n, np.int64)
        for k in range(len(LINE_KINDS)):
            ps = [i for i, p in enumerate(PLANS) if p[0] == k]
            if k == IOT:  # IoT plans follow the purpose: meters, alarm panels, standby SIMs
                for i in ps:
                    plan[(kind == IOT) & np.isin(purpose, PLANS[i][6])] = i
                continue
            rows = np.flatnonzero(kind == k)
            plan[rows] = np.array(ps)[_exact(rng, len(rows), [PLANS[i][4] for i in ps])]
        allowance = PLAN_ALLOWANCE[plan]
        feature_combos = [None] + [c for k in sorted(FEATURES) for c, _ in FEATURES[k]]
        features = np.zeros(n, np.int64)
        offset = 1
        for k in sorted(FEATURES):
            rows = np.flatnonzero(kind == k)
            probs = [p for _, p in FEATURES[k]]
            features[rows] = offset + _exact(rng, len(rows), probs)
            offset += len(probs)
        intl = np.array([bool(c) and "intl_roaming" in c for c in feature_combos])[features]
        # Contact centre: toll-free numbers take card payments or run the benefits helpline.
        tf = rng.permutation(np.flatnonzero(kind == TOLL_FREE))
        n_pay = max(1, int(np.ceil(0.3 * len(tf))))
        payment = np.zeros(n, bool)
        payment[tf[:n_pay]] = True
        helpline = np.zeros(n, bool)
        helpline[tf[n_pay:n_pay + max(1, int(np.ceil(0.2 * len(tf))))]] = True
        tls = np.where(kind == SIP, 1, -1)
        srtp = np.where(kind == SIP, 1, -1)

        # -- planted violations: each line breaks exactly one rule --------------------------
        rng_p = self.rng("lines.planted")
        ids = _ids("L-", n)
        taken = np.zeros(n, bool)

        def pool(mask: np.ndarray) -> np.ndarray:
            return np.flatnonzero(mask & ~taken)

        def plant(mask: np.ndarray, share: float, policy: str) -> np.ndarray:
            rows = self.plant(rng_p, pool(mask), share, policy)
            taken[rows] = True
            self.record(policy, ids, rows)
            return rows

        rows = plant(active & (kind == SIP), 0.05, cat.SIP_UNENCRYPTED)
        mode = np.arange(len(rows)) % 3
        tls[rows[mode != 1]] = 0
        srtp[rows[mode != 0]] = 0
        e911_bad = plant(active & np.isin(kind, (LANDLINE, DID, SIP)), 0.04, cat.E911)

        # Assignments first: everything else about a line follows its holder.
        rows = plant(active & (kind == MOBILE), 0.02, cat.LEAVER)
        assignee[rows] = _distinct(rng_p, np.flatnonzero(ppl.status == TERMINATED), len(rows),
                                   "leavers")
        leaver_line = np.zeros(n, bool)
        leaver_line[rows] = True
        rows = plant(active, 0.015, cat.ORPHAN)
        mode = np.arange(len(rows)) % 3
        assignee_null = np.zeros(n, bool)
        assignee_null[rows[mode == 0]] = True
        ghost = np.zeros(n, bool)
        ghost[rows[mode == 1]] = True
        cost_center_null = np.zeros(n, bool)
        cost_center_null[rows[mode == 2]] = True
        has_person = ~assignee_null & ~ghost
        # A second mobile voice line for someone who already has one, activated later.
        mobile_voice = active & (kind == MOBILE) & voice_class & has_person
        rows = plant(mobile_voice, 0.02, cat.MULTIPLE_LINES)
        firsts = _distinct(rng_p, pool(mobile_voice), len(rows), "second lines")
        taken[firsts] = True
        assignee[rows] = assignee[firsts]
        activated[rows] = np.minimum(activated[firsts] + rng_p.integers(30, 300, len(rows)),
                                     self.today - 200)
        status_since[rows] = activated[rows]

        country = ppl.country[assignee]
        market = np.empty(n, np.int64)
        for c, name in enumerate(COUNTRIES):
            rows = np.flatnonzero(country == c)
            ms = np.array([i for i, (_, mc) in enumerate(MARKETS) if mc == name])
            market[rows] = ms[_exact(rng, len(rows), [MARKET_WEIGHT[i] for i in ms])]
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
            raise ValueError("estate too small to plant spend spikes; generate more lines")
        self.spikes, self.donors = np.sort(spikes), np.array(donors)
        contract = self.acct.contract[account]
        monthly_cost = self.rates.new[contract, plan]

        fixed = np.isin(kind, (LANDLINE, DID, SIP, CIRCUIT, FAX))
        office = ppl.office[assignee]
        e911 = np.where(fixed, office, -1)
        mode = np.arange(len(e911_bad)) % 3
        e911[e911_bad[mode == 0]] = -1
        e911[e911_bad[mode == 1]] = rng_p.choice(self.loc.not_validated, (mode == 1).sum())
        e911[e911_bad[mode == 2]] = rng_p.choice(self.loc.not_dispatchable, (mode == 2).sum())

        # Recorded: every voice line of a trader, and the contact centre lines.
        dept_of = ppl.dept[assignee]
        phone = np.isin(kind, (MOBILE, LANDLINE, DID))
        trader_line = has_person & (dept_of == DEPT["Trading"]) & phone
        cs_did = (kind == DID) & has_person & (dept_of == DEPT["Customer Service"])
        payment |= cs_did & (rng.random(n) < 0.2)
        contact = (kind == TOLL_FREE) | cs_did
        recorded = trader_line | contact
        phi = helpline | (has_person & ppl.hipaa[assignee] & phone)
        rows = plant(active & has_person & ppl.mifid[assignee] & phone, 0.05, cat.MIFID)
        recorded[rows] = False
        rows = plant(active & has_person & ppl.cftc[assignee] & phone & voice_class, 0.05, cat.CFTC)
        recorded[rows] = False
        rec_purpose = np.where(trader_line & recorded, REC_REGULATORY, REC_NONE)
        rec_purpose = np.where(contact, np.where(payment, REC_PAYMENT, REC_QUALITY), rec_purpose)

        # Usage-shaped violations; usage() draws the months to match.
        must_be_used = active & np.isin(kind, (MOBILE, IOT)) & ~np.isin(purpose, EXEMPT_PURPOSES)
        mobile = active & (kind == MOBILE)
        marks = {}
        for name, mask, share, policy in (
                ("idle", must_be_used & np.isnan(allowance) & ~intl, 0.02, cat.ZERO_USAGE),
                ("intl_unused", mobile & intl, 0.04, cat.INTL_UNUSED),
                ("roaming", mobile & ~intl, 0.01, cat.ROAMING),
                ("over_provisioned", active & (allowance > 0), 0.02, cat.OVER_PROVISIONED),
                ("overage", mobile & (allowance > 0), 0.02, cat.OVERAGE),
                ("no_device", mobile & has_person, 0.01, cat.NO_MANAGED_DEVICE)):
            marks[name] = np.zeros(n, bool)
            marks[name][plant(mask, share, policy)] = True
        rows = plant(status == 1, 0.1, cat.LONG_SUSPENSION)
        status_since[rows] = self.today - rng_p.integers(120, 400, len(rows))

        # Numbers: US lines take their office's area code, toll-free numbers 800.
        city = self.loc.city[office]
        us = country == US
        us_geo = us & (kind != TOLL_FREE)
        area = np.where(us_geo, np.array(US_CITY_AREA)[np.minimum(city, len(US_CITY_AREA) - 1)],
                        US_TOLL_FREE_AREA)
        rank = _rank_in_groups(np.where(us, area, -1))
        base = np.array([b for _, b in NUMBERING], dtype=np.int64)
        subscriber = np.where(us, area * 10_000_000 + np.where(us_geo, 5_000_000, 2_000_000) + rank,
                              base[country] + np.arange(n))
        number = _join(_pick([p for p, _ in NUMBERING], country), _text(subscriber))
        number = pc.if_else(pa.array(kind == CIRCUIT), pa.scalar(None, pa.string()), number)
        city_state = np.array([US_STATES.index(c[1]) for c in CITIES["US"]])
        region = np.where(us_geo & (kind != CIRCUIT), city_state[np.minimum(city, len(city_state) - 1)], -1)

        assigned_to = self.person_ids.take(pa.array(assignee, mask=assignee_null))
        # Ghosts look like HR ids (same width) but lie past the last person.
        ghost_ids = pc.utf8_lpad(_text(ppl.n + 1 + np.arange(n)),
                                 width=max(4, len(str(ppl.n))), padding="0")
        assigned_to = pc.if_else(pa.array(ghost), _join("P-", ghost_ids), assigned_to)
        cost_center = ppl.cost_center[assignee]
        currency = self.rates.currency[contract]

        self.ln = SimpleNamespace(
            n=n, kind=kind, status=status, purpose=purpose, active=active, assignee=assignee,
            has_person=has_person, country=country, market=market, account=account,
            prev_account=prev_account, plan=plan, allowance=allowance, intl=intl,
            activated=activated, status_since=status_since, cancelled_on=cancelled_on,
            must_be_used=must_be_used, recorded=recorded, rec_purpose=rec_purpose, phi=phi,
            office=office, currency=currency, number=number, region=region, taken=taken,
            leaver_line=leaver_line, monthly_cost=monthly_cost, **marks)
        self.line_ids = ids
        self.tables["lines"] = _table("lines", {
            "id": ids,
            "kind": _pick(LINE_KINDS, kind),
            "purpose": _pick(PURPOSES, np.maximum(purpose, 0), null=purpose < 0),
            "number": number,
            "vendor": _pick([v for v, _ in MARKETS], market),
            "account_id": self.account_ids.take(pa.array(account)),
            "plan": _pick([p[1] for p in PLANS], plan),
            "data_allowance_mb": _num(np.nan_to_num(allowance), null=np.isnan(allowance), decimals=0),
            "features": _lists(feature_combos, features),
            "monthly_cost": _num(monthly_cost),
            "currency": _pick(CURRENCIES, currency),
            "status": _pick(LINE_STATUSES, status),
            "status_since": _dates(status_since),
            "activated_on": _dates(activated),
            "cancelled_on": _dates(cancelled_on, null=status != 2),
            "assigned_to": assigned_to,
            "cost_center": pc.if_else(pa.array(cost_center_null), pa.scalar(None, pa.string()),
                                      _join("CC-", _text(cost_center))),
            "country": _pick(COUNTRIES, country),
            "e911_location_id": self.loc_ids.take(pa.array(np.maximum(e911, 0), mask=e911 < 0)),
            "recorded": _bool(recorded),
            "payment_line": _bool(payment),
            "phi": _bool(phi),
            "international_plan": _bool(intl, null=kind != MOBILE),
            "tls_enabled": _tristate(tls),
            "srtp_enabled": _tristate(srtp),
        })

    # -- usage ------------------------------------------------------------------------------
    def usage(self) -> None:
        """Twelve months per line. The last three are what the usage policies read: limited
        plans are used (a quarter or more of the allowance) but not exceeded, international
        add-ons are used, and only lines with an add-on roam."""
        rng = self.rng("usage")
        ln = self.ln
        n = ln.n
        months = self.month - 11 + np.arange(12)
        first = _month_first(months)
        last = np.minimum(_month_first(months + 1) - 1, self.today)
        recent = np.arange(12) >= 9
        end = np.where(ln.active, self.today, ln.status_since)  # silent once suspended or cancelled
        exempt = np.isin(ln.purpose, EXEMPT_PURPOSES)
        p = np.array([0.96, 0.99, 0.9, 0.85, 0.99, 0.99, 0.5, 0.99])[ln.kind]
        p = np.where(exempt & (ln.kind != IOT), 0.25, p)  # alarms and lifts only ring when tested
        p = np.where(ln.purpose == STANDBY, 0.1, p)
        used = ((first[None, :] <= end[:, None]) & (last[None, :] >= ln.activated[:, None])
                & (rng.random((n, 12), dtype=np.float32) < p[:, None].astype(np.float32)))
        used[ln.must_be_used, 11] = True
        # Lines whose last three months must show something get one of them for sure.
        force = rng.integers(9, 12, n)
        finite = ln.allowance > 0
        showing = np.flatnonzero(ln.active & ~ln.idle & (finite | (ln.intl & ~ln.intl_unused)
                                                         | ln.roaming | ln.overage))
        used[showing, force[showing]] = True
        idle = np.flatnonzero(ln.idle)
        # Idle lines went quiet at least four whole months ago, or never spoke at all.
        quiet_after = rng.integers(-1, 7, len(idle))
        used[idle] &= np.arange(12)[None, :] <= quiet_after[:, None]
        spoke = quiet_after >= 0
        used[idle[spoke], quiet_after[spoke]] = True

        span = np.maximum(np.minimum(last[None, :], end[:, None]) - first[None, :] + 1, 1)
        day = (first[None, :] + (rng.random((n, 12), dtype=np.float32) * span).astype(np.int32))
        del span
        last_activity = _dates(day.ravel(), null=~used.ravel())
        del day
        scale = np.where(exempt & (ln.kind != IOT), 0.02, 1.0)
        voice_mean = np.array([280, 0, 180, 240, 25_000, 0, 15, 6_000], float)[ln.kind] * scale
        sms_mean = np.array([45, 5, 0, 0, 0, 0, 0, 0], float)[ln.kind]
        voice = _num((rng.gamma(2.0, 1.0, (n, 12)) * (voice_mean / 2)[:, None] * used).ravel(), decimals=1)
        sms = _int(rng.poisson(sms_mean[:, None] * used).ravel())

        # Data: limited plans use 30-90 % of the allowance, one recent month 45-95 %; ten-gig
        # mobile plans ran over now and then before the last quarter.
        allowance = np.nan_to_num(ln.allowance)[:, None]
        data_mean = np.array([6_000, 0, 0, 0, 0, 250_000, 0, 0], float)[ln.kind]
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
                           np.ceil((data - allowance) / 1024) * USAGE_CODES[0][2] * fx, 0.0)
        data_mb = _num(data.ravel(), decimals=1)
        del data

        # Roaming and international calls on mobiles. With an add-on: day passes and calls
        # abroad, and at least one of the last three months shows them. Without: calls abroad
        # at any time, roaming only before the last quarter.
        mobile = (ln.kind == MOBILE)[:, None] & used
        intl = ln.intl[:, None]
        roam_hit = mobile & (rng.random((n, 12), dtype=np.float32)
                             < np.where(intl, np.float32(0.2), np.where(recent, 0, np.float32(0.01))))
        roaming = np.where(roam_hit, np.where(intl, rng.integers(1, 8, (n, 12)) * USAGE_CODES[2][2],
                                              rng.gamma(2.0, 25.0, (n, 12))) * fx, 0.0)
        del roam_hit
        call_hit = mobile & (rng.random((n, 12), dtype=np.float32)
                             < np.where(intl, np.float32(0.3), np.float32(0.05)))
        international = np.where(call_hit, rng.integers(5, 120, (n, 12)) * USAGE_CODES[1][2] * fx, 0.0)
        del call_hit, mobile
        rows = np.flatnonzero(ln.active & ln.intl & ~ln.intl_unused)
        international[rows, force[rows]] += rng.integers(5, 60, len(rows)) * USAGE_CODES[1][2] * fx[rows, 0]
        rows = np.flatnonzero(ln.intl_unused)
        roaming[rows[:, None], np.arange(9, 12)[None, :]] = 0.0
        international[rows[:, None], np.arange(9, 12)[None, :]] = 0.0
        rows = np.flatnonzero(ln.roaming)
        roaming[rows, force[rows]] = rng.gamma(2.0, 25.0, len(rows)) * fx[rows, 0] + 5
        periods = np.datetime_as_string(months.astype("datetime64[M]"), unit="M")
        self.tables["usage"] = _table("usage", {
            "line_id": self.line_ids.take(pa.array(np.repeat(np.arange(n), 12))),
            "period": _pick(periods, np.tile(np.arange(12), n)),
            "voice_minutes": voice,
            "data_mb": data_mb,
            "sms_count": sms,
            "roaming_charges": _num(roaming.ravel()),
            "international_charges": _num(international.ravel()),
            "overage_charges": _num(overage.ravel()),
            "last_activity_on": last_activity,
        })

    # -- calls ------------------------------------------------------------------------------
    def calls(self) -> None:
        rng = self.rng("calls")
        ln = self.ln
        weight = np.array([1.0, 0, 1.0, 1.5, 10.0, 0, 0, 8.0])[ln.kind] * ln.active
        weight[np.isin(ln.purpose, EXEMPT_PURPOSES)] = 0
        n = 5 * ln.n
        # Every active voice number (DID, voice desk line, toll-free) took or made a call lately:
        # their holders' telephony licences are in use, and no number is idle.
        desk = np.flatnonzero(ln.active & (ln.purpose == VOICE)
                              & np.isin(ln.kind, (DID, LANDLINE, TOLL_FREE)))
        # Planted: desk lines of people whose last call (their only one) was 120 to 400 days
        # ago; activated before it, and no other call lands on them.
        rng_p = self.rng("calls.planted")
        idle = self.plant(rng_p, np.flatnonzero(ln.active & (ln.kind == LANDLINE) & (ln.purpose == VOICE)
                                                & ln.has_person & ~ln.taken
                                                & (ln.activated < self.today - 420)),
                          0.03, cat.IDLE_NUMBERS)
        ln.taken[idle] = True
        self.record(cat.IDLE_NUMBERS, self.line_ids, idle)
        weight[idle] = 0
        line = np.r_[desk, rng.choice(ln.n, size=n - len(desk), p=weight / weight.sum())]
        opened = np.maximum(self.now_us - 730 * _US_PER_DAY, (ln.activated[line] + 1) * _US_PER_DAY)
        start = opened + (rng.random(n) * (self.now_us - opened)).astype(np.int64)
        start[:len(desk)] = self.now_us - rng.integers(3600, 60 * 86_400, len(desk)) * _US_PER_S
        idle_call = np.flatnonzero(np.isin(desk, idle))
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
        remote = np.where(rng.random(n) < 0.85, ln.country[line], rng.integers(0, len(REMOTES), n))
        low = np.array([r[2] for r in REMOTES], dtype=np.int64)
        high = np.array([r[3] for r in REMOTES], dtype=np.int64)
        subscriber = low[remote] + (rng.random(n) * (high - low)[remote]).astype(np.int64)
        # US numbers called: a real area code, which gives the state.
        weights = np.array([a[2] for a in US_AREAS], float)
        area = rng.choice(len(US_AREAS), n, p=weights / weights.sum())
        to_us = remote == US
        subscriber = np.where(to_us, np.array([a[0] for a in US_AREAS])[area] * 10_000_000
                              + rng.integers(2_000_000, 10_000_000, n), subscriber)
        remote_number = _join(_pick([r[1] for r in REMOTES], remote), _text(subscriber))
        del subscriber
        people_lines = np.flatnonzero(ln.active & np.isin(ln.kind, (MOBILE, LANDLINE, DID)))
        other = people_lines[rng.integers(0, len(people_lines), n)]
        own_number = ln.number.take(pa.array(line))
        outbound, inbound = direction == 0, direction == 1
        source = pc.if_else(pa.array(inbound), remote_number, own_number)
        destination = pc.if_else(pa.array(outbound), remote_number,
                                 pc.if_else(pa.array(inbound), own_number,
                                            ln.number.take(pa.array(other))))
        del remote_number, own_number
        dest_country = np.select([outbound, inbound], [remote, ln.country[line]], ln.country[other])
        area_state = np.array([US_STATES.index(a[1]) for a in US_AREAS])[area]
        dest_region = np.select([outbound, inbound],
                                [np.where(to_us, area_state, -1), ln.region[line]], ln.region[other])
        del area, area_state, other
        disposition = rng.choice(4, n, p=(0.78, 0.14, 0.05, 0.03))
        disposition[lately] = 0
        answered = disposition == 0
        duration = np.where(answered, 5 + rng.gamma(1.3, 180.0, n), 0).astype(np.int64)
        billable = np.where(answered & outbound, -(-duration // 60) * 60, 0)
        per_minute = np.where(remote == ln.country[line], 0.02, 0.25) * FX[ln.currency[line]]
        cost = billable / 60 * per_minute
        self.cl = SimpleNamespace(n=n, line=line, start=start, answered=answered,
                                  region=dest_region, to_us=dest_country == US)
        self.call_ids = _ids("CALL-", n)
        self.call_columns = {
            "id": self.call_ids,
            "line_id": self.line_ids.take(pa.array(line)),
            "started_at": _stamps(start),
            "duration_s": _int(duration),
            "billable_s": _int(billable),
            "direction": _pick(("outbound", "inbound", "internal"), direction),
            "source": source,
            "destination": destination,
            "destination_country": _pick([r[0] for r in REMOTES], dest_country),
            "destination_region": _pick(US_STATES, np.maximum(dest_region, 0), null=dest_region < 0),
            "disposition": _pick(("answered", "no_answer", "busy", "failed"), disposition),
            "cost": _num(cost, decimals=4),
            "currency": _pick(CURRENCIES, ln.currency[line]),
        }

    # -- recordings (and the calls that point at them) --------------------------------------
    def recordings(self) -> None:
        rng = self.rng("recordings")
        ln, cl = self.ln, self.cl
        purpose = ln.rec_purpose[cl.line]
        keep = cl.answered & (purpose != REC_NONE)
        # Planted overdue quality recordings are drawn from every old quality call, sampled or
        # not, so that small estates still have enough of them.
        old_quality = keep & (purpose == REC_QUALITY) & (cl.start < (self.today - 400) * _US_PER_DAY)
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
        started = cl.start[call]
        started_day = started // _US_PER_DAY
        age = self.today - started_day
        retention = np.select([purpose == REC_REGULATORY, purpose == REC_QUALITY],
                              [RETENTION_DAYS[REC_REGULATORY], RETENTION_DAYS[REC_QUALITY]],
                              RETENTION_DAYS[REC_PAYMENT])
        hold = np.where(purpose == REC_REGULATORY, rng.random(n) < 0.01,
                        (purpose == REC_QUALITY) & (age >= 365) & (rng.random(n) < 0.02))
        deleted = (purpose != REC_REGULATORY) & (age >= retention) & ~hold
        deleted_at = np.minimum(started + retention * _US_PER_DAY
                                + rng.integers(0, 3600, n) * _US_PER_S, self.now_us)
        retain_until = started_day + retention
        redacted = np.where(purpose == REC_PAYMENT, 1, -1)
        encrypted = np.ones(n, bool)
        consent = np.ones(n, bool)
        country = ln.country[rec_line]
        home = np.array([0, 1, 2, 3, 4])[country]
        abroad = (country != US) & (rng.random(n) < 0.08)  # EU data kept in the US: needs SCCs
        region = np.where(abroad, 0, home)
        mechanism = abroad.copy()
        # Calls to one-party-consent states need no announcement; a few desks skip it there.
        call_region = cl.region[call]
        all_party = np.isin(call_region, [US_STATES.index(s) for s in ALL_PARTY_STATES])
        consent[cl.to_us[call] & (call_region >= 0) & ~all_party & (rng.random(n) < 0.01)] = False

        rng = self.rng("recordings.planted")
        ids = _ids("REC-", n)
        taken = np.zeros(n, bool)
        rows = np.searchsorted(call, overdue)
        deleted[rows] = False
        hold[rows] = False
        taken[rows] = True
        self.record(cat.QUALITY_OVERDUE, ids, rows)

        def plant(mask: np.ndarray, share: float, policy: str) -> np.ndarray:
            rows = self.plant(rng, np.flatnonzero(mask & ~taken), share, policy)
            taken[rows] = True
            if policy != cat.ALL_PARTY:
                self.record(policy, ids, rows)
            return rows

        rows = plant((purpose == REC_REGULATORY) & ~hold, 0.03, cat.REG_RETENTION)
        retain_until[rows] = started_day[rows] + rng.integers(365, 1461, len(rows))
        # A deleted recording no longer holds card data: the planted ones are still kept.
        rows = plant(purpose == REC_PAYMENT, 0.03, cat.PAYMENT_UNREDACTED)
        redacted[rows] = 0
        deleted[rows] = False
        rows = plant(ln.phi[rec_line] & ~deleted, 0.03, cat.PHI_UNENCRYPTED)
        encrypted[rows] = False
        rows = plant(deleted, 0.01, cat.HOLD_DELETED)  # the purge ran despite the hold
        hold[rows] = True
        rows = plant((purpose == REC_REGULATORY) & ~hold & (age >= 200), 0.01, cat.REG_DELETED_EARLY)
        deleted[rows] = True
        deleted_at[rows] = (started[rows] + rng.integers(60, age[rows] - 30) * _US_PER_DAY
                            + rng.integers(0, 86_400, len(rows)) * _US_PER_S)
        rows = plant(~deleted & (country != US) & ~abroad, 0.01, cat.OUTSIDE_EEA)
        region[rows] = 0
        rows = plant(cl.to_us[call] & all_party, 0.02, cat.ALL_PARTY)
        consent[rows] = False
        self.record(cat.ALL_PARTY, self.call_ids, call[rows])

        self.tables["recordings"] = _table("recordings", {
            "id": ids,
            "call_id": self.call_ids.take(pa.array(call)),
            "line_id": self.line_ids.take(pa.array(rec_line)),
            "purpose": _pick(REC_PURPOSES[1:], purpose - 1),
            "started_at": _stamps(started),
            "retain_until": _dates(retain_until),
            "deleted_at": _stamps(deleted_at, null=~deleted),
            "storage_region": _pick([s[0] for s in STORAGE], region),
            "storage_country": _pick([s[1] for s in STORAGE], region),
            "transfer_mechanism": _pick(("scc",), np.zeros(n, np.int64), null=~mechanism),
            "encrypted": _bool(encrypted),
            "payment_data_redacted": _tristate(redacted),
            "consent_announced": _bool(consent),
            "legal_hold": _bool(hold),
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
        """One device per phone line, IoT SIM and desk line, Wi-Fi tablets and a few spares.

        Company devices in use are under three years old, encrypted, locked, enrolled and
        compliant, and checked in today; desk phones sit at their user's office."""
        rng = self.rng("devices")
        ln, ppl = self.ln, self.ppl
        with_device = (((ln.kind == MOBILE) | (ln.kind == IOT) | (ln.kind == DID)
                        | ((ln.kind == LANDLINE) & (ln.purpose == VOICE))) & ~ln.no_device)
        line = np.flatnonzero(with_device)
        tablets = max(12, int(round(0.03 * ln.n)))
        spares = max(5, int(round(0.03 * ln.n)))
        n = len(line) + tablets + spares
        lk = ln.kind[line]
        data_line = ln.purpose[line] == DATA
        kind = np.select([lk == IOT, np.isin(lk, (LANDLINE, DID)), data_line],
                         [IOT_DEVICE, DESK_PHONE, np.where(rng.random(len(line)) < 0.6, TABLET, HOTSPOT)],
                         SMARTPHONE)
        kind = np.r_[kind, np.full(tablets, TABLET), np.full(spares, SMARTPHONE)]
        current = np.array([not m[7] for m in DEVICE_MODELS])
        model = np.empty(n, np.int64)
        for k, name in enumerate(DEVICE_KINDS):
            rows = np.flatnonzero(kind == k)
            ms = np.array([i for i, m in enumerate(DEVICE_MODELS) if m[0] == name and current[i]])
            model[rows] = ms[rng.integers(0, len(ms), len(rows))]

        # Status follows the line: a suspended line's phone is lost or back in the drawer.
        line_status = ln.status[line]
        status = np.select([line_status == 0, line_status == 1],
                           [IN_USE, np.where(rng.random(len(line)) < 0.3, LOST, SPARE)], RETIRED)
        status = np.r_[status, np.full(tablets, IN_USE), np.full(spares, SPARE)]
        has_line = np.r_[np.ones(len(line), bool), np.zeros(tablets + spares, bool)]
        line_of = np.r_[line, np.zeros(tablets + spares, np.int64)]
        tablet_people = _distinct(rng, np.flatnonzero(ppl.status != TERMINATED), tablets, "tablets")
        person = np.r_[ln.assignee[line], tablet_people, np.zeros(spares, np.int64)]
        # A leaver's device on a line nobody cancelled: the directory account is gone, so
        # MDM shows no user.
        assigned = (np.r_[ln.has_person[line] & ~ln.leaver_line[line], np.ones(tablets, bool),
                          np.zeros(spares, bool)] & (status != SPARE))
        in_use = status == IN_USE
        handheld = (kind == SMARTPHONE) | (kind == TABLET)
        managed = handheld | (kind == HOTSPOT)
        personal = in_use & (kind == SMARTPHONE) & assigned & (rng.random(n) < 0.1)
        # Flags: 1 true, 0 false, -1 unknown. Desk phones and IoT modules are not in MDM.
        flags = np.where(in_use[:, None], 1, (rng.random((n, 3)) < (0.7, 0.8, 0.8)).astype(np.int64))
        flags[~managed, :2] = -1
        flags[~managed, 2] = 0
        state = np.where(managed, np.where(in_use, 0, 3), -1)

        released = np.array([_day(m[6]) for m in DEVICE_MODELS])[model]
        activated = np.r_[ln.activated[line], np.full(tablets + spares, self.today - 900)]
        newest = np.maximum(released + 14, np.maximum(activated - 30, self.today - REFRESH_DAYS))
        purchased = newest + (rng.random(n) * (self.today - 5 - newest)).astype(np.int64)
        not_used = ~in_use
        purchased[not_used] = np.maximum(released[not_used] + 14,
                                         self.today - rng.integers(60, 1400, not_used.sum()))
        check_in = np.where(in_use, self.now_us - rng.integers(0, 72 * 3600, n) * _US_PER_S,
                            (self.today - rng.integers(20, 400, n)) * _US_PER_DAY
                            + rng.integers(0, 86_400, n) * _US_PER_S)
        office = np.r_[ln.office[line], ppl.office[tablet_people], np.zeros(spares, np.int64)]
        e911 = np.where(kind == DESK_PHONE, office, -1)
        version_of = np.array([0] + [len(m[3]) for m in DEVICE_MODELS]).cumsum()
        version = version_of[model] + (rng.random(n) * np.diff(version_of)[model]).astype(np.int64)
        versions = [v for m in DEVICE_MODELS for v in m[3]]

        # -- planted violations: each device breaks exactly one rule -------------------------
        rng = self.rng("devices.planted")
        ids = _ids("D-", n)
        clean = np.ones(n, bool)
        line_active = has_line & ln.active[line_of]
        us_user = assigned & (ppl.country[person] == US)
        regulated = assigned & ppl.regulated[person]

        def plant(mask: np.ndarray, share: float, policy: str) -> np.ndarray:
            rows = self.plant(rng, np.flatnonzero(mask & clean), share, policy)
            clean[rows] = False
            self.record(policy, ids, rows)
            return rows

        def legacy(rows: np.ndarray, supported: bool) -> None:
            """An older model of the same kind; its OS below the floor unless ``supported``."""
            for k, name in enumerate(DEVICE_KINDS):
                sel = rows[kind[rows] == k]
                ms = [i for i, m in enumerate(DEVICE_MODELS) if m[0] == name and m[7]]
                if not len(sel):
                    continue
                pick = np.array(ms)[np.arange(len(sel)) % len(ms)]
                model[sel] = pick
                pool = [DEVICE_MODELS[i][3] if supported else DEVICE_MODELS[i][8] for i in pick]
                extra.extend(zip(sel, [p[j % len(p)] for j, p in enumerate(pool)], strict=True))

        extra: list[tuple[int, str]] = []
        rows = plant(in_use & handheld & regulated, 0.05, cat.OFF_CHANNEL)
        off_channel = rows
        rows = plant(in_use & (kind == SMARTPHONE) & regulated & ~personal, 0.05, cat.BYOD)
        personal[rows] = True
        byod_no_agent = rows
        rows = plant(in_use & handheld, 0.015, cat.UNENCRYPTED)
        flags[rows, np.arange(len(rows)) % 2] = 0  # MDM has no encryption rule for them
        rows = plant(in_use & handheld, 0.01, cat.NONCOMPLIANT)
        state[rows] = np.where(np.arange(len(rows)) % 3 == 2, 2, 1)
        rows = plant(in_use & handheld, 0.01, cat.OS_FLOOR)
        legacy(rows, supported=False)
        rows = plant(in_use & ~personal & np.isin(kind, (SMARTPHONE, DESK_PHONE)), 0.01, cat.REFRESH)
        legacy(rows[kind[rows] == SMARTPHONE], supported=True)
        purchased[rows] = self.today - rng.integers(1200, 1900, len(rows))
        iot_lines = line_active & (kind == IOT_DEVICE)
        iot_lines[has_line] &= ~ln.taken[line] & np.isin(ln.purpose[line], EXEMPT_PURPOSES)
        rows = plant(in_use & iot_lines, 0.02, cat.LOST_BILLED)
        status[rows] = LOST
        check_in[rows] = (self.today - rng.integers(20, 80, len(rows))) * _US_PER_DAY
        in_use = status == IN_USE
        paid = line_active & (np.r_[ln.monthly_cost[line], np.zeros(tablets + spares)] > 0)
        rows = plant(in_use & paid & np.isin(kind, (HOTSPOT, DESK_PHONE, IOT_DEVICE)), 0.01,
                     cat.STALE_MDM)
        check_in[rows] = ((self.today - rng.integers(45, 300, len(rows))) * _US_PER_DAY
                          + rng.integers(0, 86_400, len(rows)) * _US_PER_S)
        desk_us = in_use & (kind == DESK_PHONE) & us_user
        rows = plant(desk_us, 0.03, cat.E911_DEVICE)
        e911[rows] = -1
        rows = plant(desk_us, 0.03, cat.E911_DIFFERS)
        # Registered at another US office: a different city, so a different address.
        us_good = np.flatnonzero(self.loc.country[:self.loc.good] == US)
        city = self.loc.city[office[rows]]
        for c in np.unique(city):
            elsewhere = us_good[self.loc.city[us_good] != c]
            sel = rows[city == c]
            e911[sel] = elsewhere[rng.integers(0, len(elsewhere), len(sel))]
        rows = plant(in_use & ~has_line & (kind == TABLET), 0.1, cat.LEAVER_DEVICE)
        person[rows] = _distinct(rng, np.flatnonzero(ppl.status == TERMINATED), len(rows), "leavers")
        office[rows] = ppl.office[person[rows]]

        regulated = assigned & ppl.regulated[person]
        agent = in_use & handheld & regulated
        agent[byod_no_agent] = False
        self.dev = SimpleNamespace(n=n, handheld=handheld, assigned=assigned, regulated=regulated,
                                   off_channel=off_channel)
        if extra:
            sel, text = zip(*extra, strict=True)
            versions = versions + list(text)
            version[np.array(sel)] = len(versions) - len(text) + np.arange(len(text))

        tac = np.array([m[4] or 0 for m in DEVICE_MODELS], dtype=np.int64)[model]
        # Serial numbers are a permutation of the row number: unique, yet not in sequence.
        idx = np.arange(n, dtype=np.int64)
        body = (tac + idx // 1_000_000) * 1_000_000 + (idx * 7_919 + 123_457) % 1_000_000
        serial = (idx * 7_919 + 4_815_162) % 100_000_000
        self.device_ids = ids
        self.tables["devices"] = _table("devices", {
            "id": ids,
            "kind": _pick(DEVICE_KINDS, kind),
            "fixed": _bool(kind == DESK_PHONE),
            "serial": _join(_pick([m[5] for m in DEVICE_MODELS], model),
                            pc.utf8_lpad(_text(serial), width=8, padding="0")),
            "imei": pc.if_else(pa.array(tac > 0), _text(_luhn_imei(body)),
                               pa.scalar(None, pa.string())),
            "model": _pick([m[1] for m in DEVICE_MODELS], model),
            "os": _pick([m[2] for m in DEVICE_MODELS], model),
            "os_version": _pick(versions, version),
            "assigned_to": self.person_ids.take(pa.array(person, mask=~assigned)),
            "line_id": self.line_ids.take(pa.array(line_of, mask=~has_line | (status == SPARE))),
            "ownership": _pick(("company", "personal"), personal.astype(np.int64)),
            "status": _pick(DEVICE_STATUSES, status),
            "mdm_enrolled": _tristate(flags[:, 2]),
            "compliance_state": _pick(COMPLIANCE_STATES, np.maximum(state, 0), null=state < 0),
            "encrypted": _tristate(flags[:, 0]),
            "passcode_set": _tristate(flags[:, 1]),
            "archiving_agent": _bool(agent),
            # A personal phone's purchase is the owner's business.
            "purchased_on": _dates(purchased, null=personal),
            "last_check_in_at": _stamps(check_in),
            "e911_location_id": self.loc_ids.take(pa.array(np.maximum(e911, 0), mask=e911 < 0)),
        })

    # -- device_apps ------------------------------------------------------------------------
    def device_apps(self) -> None:
        rng = self.rng("device_apps")
        dev = self.dev
        eligible = dev.handheld & dev.assigned
        device_parts, app_parts = [], []
        for a, (_, _, _, share, approved) in enumerate(APPS):
            mask = eligible & (rng.random(dev.n) < share)
            if not approved:
                mask &= ~dev.regulated  # regulated staff keep these off, except where planted
            rows = np.flatnonzero(mask)
            device_parts.append(rows)
            app_parts.append(np.full(len(rows), a))
        device_parts.append(dev.off_channel)
        app_parts.append(np.array(UNAPPROVED_APPS)[np.arange(len(dev.off_channel))
                                                  % len(UNAPPROVED_APPS)])
        device = np.concatenate(device_parts)
        app = np.concatenate(app_parts)
        order = np.lexsort((app, device))
        device, app = device[order], app[order]
        # A planted app may already be there: one row per device and app.
        keep = np.r_[True, (device[1:] != device[:-1]) | (app[1:] != app[:-1])]
        device, app = device[keep], app[keep]
        versions = [v for a in APPS for v in a[2]]
        v_count = np.array([len(a[2]) for a in APPS])
        version = _pick_in_groups(rng, app, np.r_[0, np.cumsum(v_count)[:-1]], v_count)
        self.tables["device_apps"] = _table("device_apps", {
            "device_id": self.device_ids.take(pa.array(device)),
            "app_id": _pick([a[0] for a in APPS], app),
            "name": _pick([a[1] for a in APPS], app),
            "version": _pick(versions, version),
        })

    # -- retention policies and channels ----------------------------------------------------
    def stores(self) -> None:
        """Where communications are kept, per business line and regulated population.

        Regulated populations keep seven years on WORM storage with an audit trail: Purview
        for Teams, Exchange, Slack Enterprise Grid, a Smarsh or Global Relay archive for
        e-mail, chat and SMS, and NICE for voice. Their approved channels are archived,
        ingested within the last hours and point at the store that declares their scopes;
        consumer messaging apps are unapproved and nobody regulated is recorded using them."""
        sets = max(1, self.n // LINES_PER_STORE_SET)
        rows: list[tuple] = []   # (system, scope, days, action, immutable, audit, hold, region, scopes)
        store_of: dict[tuple[int, int, str], int] = {}
        channels: list[tuple] = []  # (product, app id, approved, scopes, archived, store, ingest)
        fresh = self.now_us - 2 * 3600 * _US_PER_S
        for s in range(sets):
            line_name = BUSINESS_LINES[s % len(BUSINESS_LINES)]
            if s >= len(BUSINESS_LINES):
                line_name += f" {s // len(BUSINESS_LINES) + 1}"
            for p, (scope_set, label, country) in enumerate(POPULATIONS):
                scopes = SCOPE_SETS[scope_set]
                templates = REGULATED_STORES if SCOPE_REGULATED[scope_set] else OTHER_STORES[scope_set]
                for key, system, scope, days, action, immutable, audit in templates:
                    system = system or ARCHIVE_SYSTEM[country]
                    store_of[s, p, key] = len(rows)
                    rows.append((system, f"{scope}: {label}, {line_name}", days, action, immutable,
                                 audit, False, STORE_REGION[country], scopes))
                approved = APPROVED_CHANNELS["regulated" if SCOPE_REGULATED[scope_set] else scope_set]
                for product, app_id, key in approved:
                    channels.append((product, app_id, True, scopes, True, store_of[s, p, key], fresh))
            rows.append(("Microsoft Purview eDiscovery", f"Litigation hold: matter {2025 + s // 50}-"
                         f"{s % 50 + 1:03d}", None, "keep", True, True, True, "US", None))
        for product, app_id in UNAPPROVED_CHANNELS:
            channels.append((product, app_id, False, None, False, None, None))
        clean_stores = len(rows)

        rng = self.rng("stores.planted")
        planted_stores: dict[str, list[int]] = {}
        k = max(3, int(round(0.01 * clean_stores)))
        for policy, scopes, system, scope, days, action, immutable, audit, hold in PLANTED_STORES:
            planted_stores[policy] = list(range(len(rows), len(rows) + k))
            for i in range(k):
                desk = BUSINESS_LINES[int(rng.integers(0, len(BUSINESS_LINES)))]
                region = "UK" if scopes and "fca" in scopes else "US"
                rows.append((system, f"{scope}: {desk} {i + 1}", days, action, immutable, audit, hold,
                             region, scopes))
        planted_stores[cat.FINRA] += planted_stores[cat.SEC_17A4]

        # Channels: misconfigured copies of regulated populations' approved channels.
        regulated = [i for i, c in enumerate(channels) if c[2] and c[3] and SCOPE_REGULATED[
            SCOPE_SETS.index(c[3])]]
        k = max(3, int(round(0.02 * len(regulated))))
        now = self.now_us
        # A store of a population that lacks one of the channel's scopes.
        narrower = {("finra_bd", "sec_ria"): 0, ("cftc", "finra_bd"): 0, ("fca", "mifid"): 3,
                    ("finra_bd",): 5, ("fca",): 5, ("mifid",): 3}
        planted_channels: dict[str, list[int]] = {}
        for policy in (cat.UNAPPROVED_CHANNEL, cat.ARCHIVE_STALE, cat.NOT_ARCHIVED,
                       cat.NO_RETENTION_POLICY, cat.SCOPE_MISMATCH):
            planted_channels[policy] = []
            for j in rng.choice(regulated, size=k, replace=len(regulated) < k):
                product, app_id, _, scopes, _, store, stamp = channels[j]
                archived = True
                if policy == cat.UNAPPROVED_CHANNEL:
                    product, app_id = UNAPPROVED_CHANNELS[len(planted_channels[policy]) % 4]
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

        n = len(rows)
        ids = _ids("RP-", n, 4)
        self.tables["retention_policies"] = _table("retention_policies", {
            "id": ids,
            "system": pa.array([r[0] for r in rows], pa.string()),
            "scope": pa.array([r[1] for r in rows], pa.string()),
            "retention_days": pa.array([r[2] for r in rows], pa.int64()),
            "action": pa.array([r[3] for r in rows], pa.string()),
            "immutable": pa.array([r[4] for r in rows], pa.bool_()),
            "audit_trail": pa.array([r[5] for r in rows], pa.bool_()),
            "legal_hold": pa.array([r[6] for r in rows], pa.bool_()),
            "region": pa.array([r[7] for r in rows], pa.string()),
            "regulatory_scopes": pa.array([list(r[8]) if r[8] else None for r in rows],
                                          pa.list_(pa.string())),
        })
        for policy, planted in planted_stores.items():
            self.record(policy, ids, np.array(planted))
        # Each litigation-hold store is a legal hold in force since a matter opened.
        held = [i for i, r in enumerate(rows) if r[1].startswith("Litigation hold")]
        self.tables["legal_holds"] = _table("legal_holds", {
            "id": _ids("LH-", len(held), 4),
            "matter": pa.array([rows[i][1].split("matter ")[-1] for i in held], pa.string()),
            "stores": pa.array([[ids[i].as_py()] for i in held], pa.list_(pa.string())),
            "started_on": pa.array([self.as_of - dt.timedelta(days=400 + 7 * k)
                                    for k in range(len(held))], pa.date32()),
            "system": pa.array(["Microsoft Purview eDiscovery"] * len(held), pa.string()),
        })
        channel_ids = _ids("CHN-", len(channels), 4)
        store = np.array([-1 if c[5] is None else c[5] for c in channels])
        self.tables["channels"] = _table("channels", {
            "id": channel_ids,
            "product": pa.array([c[0] for c in channels], pa.string()),
            "app_id": pa.array([c[1] for c in channels], pa.string()),
            "approved": pa.array([c[2] for c in channels], pa.bool_()),
            "regulatory_scopes": pa.array([list(c[3]) if c[3] else None for c in channels],
                                          pa.list_(pa.string())),
            "archived": pa.array([c[4] for c in channels], pa.bool_()),
            "archive_last_ingest_at": pa.array([c[6] for c in channels], pa.timestamp("us")),
            "retention_policy_id": ids.take(pa.array(np.maximum(store, 0), mask=store < 0)),
        })
        for policy, planted in planted_channels.items():
            self.record(policy, channel_ids, np.array(planted))

    # -- subscriptions and licenses ---------------------------------------------------------
    def licenses(self) -> None:
        """Licences of everyone still employed: their platform's suite and meetings, telephony
        for those with a DID, Slack for some. Leavers' seats are reclaimed."""
        rng = self.rng("licenses")
        ppl, ln = self.ppl, self.ln
        alive = ppl.status != TERMINATED
        did = np.zeros(ppl.n, bool)
        did[ln.assignee[ln.active & ln.has_person & (ln.kind == DID)]] = True
        parts, skus = [], []
        for s, (_, _, _, platforms, who) in enumerate(SKUS):
            mask = alive & np.isin(ppl.platform, platforms)
            if who == "did":
                mask &= did & (rng.random(ppl.n) < 0.9)
            elif who != "all":
                mask &= rng.random(ppl.n) < who
            rows = np.flatnonzero(mask)
            parts.append(rows)
            skus.append(np.full(len(rows), s))
        person = np.concatenate(parts)
        sku = np.concatenate(skus)
        n = len(person)
        status = np.zeros(n, np.int64)  # active, disabled, suspended
        p_status = ppl.status[person]
        hired = ppl.hired_on[person]
        assigned = np.minimum(hired + rng.integers(0, 15, n), self.today)
        recent = (p_status == ACTIVE) & (rng.random(n) < 0.04)
        assigned[recent] = np.maximum(hired[recent], self.today - rng.integers(0, 40, recent.sum()))
        last_active = np.where(p_status == LEAVE, self.today - rng.integers(0, 46, n),
                               self.today - rng.integers(0, 22, n))
        last_active = np.maximum(last_active, assigned)
        no_activity = recent.copy()

        rng = self.rng("licenses.planted")
        busy = np.zeros(ppl.n, bool)
        unused = self.plant(rng, np.flatnonzero((p_status == ACTIVE) & ~recent & ~TELEPHONY_SKUS[sku]
                                                & (assigned <= self.today - 420)), 0.02,
                            cat.UNUSED_LICENSE)
        last_active[unused] = self.today - rng.integers(75, 400, len(unused))
        no_activity[unused[::3]] = True
        busy[person[unused]] = True
        # Extra licences, each a violation: (people, sku, status, assigned, last active).
        extra = []
        settled = (ppl.status == ACTIVE) & (ppl.platform == 0) & (ppl.hired_on <= self.today - 200)
        who = self.plant(rng, np.flatnonzero(settled & ~busy), 0.01, cat.OVERLAPPING)
        busy[who] = True
        extra.append((who, SKU_INDEX["ZOOM_WORKPLACE_BUSINESS"], np.zeros(len(who), np.int64),
                      self.today - rng.integers(100, 180, len(who)),
                      self.today - rng.integers(0, 20, len(who)), cat.OVERLAPPING))
        holds_line = np.zeros(ppl.n, bool)
        holds_line[ln.assignee[ln.active]] = True
        who = self.plant(rng, np.flatnonzero(settled & ~busy & ~holds_line), 0.01, cat.TELEPHONY)
        busy[who] = True
        extra.append((who, SKU_INDEX["MCOEV"], np.zeros(len(who), np.int64),
                      self.today - rng.integers(120, 190, len(who)),
                      self.today - rng.integers(0, 20, len(who)), cat.TELEPHONY))
        # Leavers whose main licence was missed: still active shortly after they left (inside
        # the idle limit), or disabled or suspended but still paid for.
        who = self.plant(rng, np.flatnonzero(ppl.status == TERMINATED), 0.03, cat.LEAVER_LICENSE)
        gone = ppl.terminated_on[who]
        extra.append((who, np.array(PLATFORM_MAIN_SKU)[ppl.platform[who]],
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

        # Subscriptions: a SKU per billing region (US, UK, EU) in its currency, large tenants
        # in tranches. Seats are trued up before renewal; until then there is some headroom.
        region = COUNTRY_REGION[ppl.country[person]]
        group = sku * len(REGION_CURRENCY) + region
        tranches = np.maximum(1, np.bincount(group, minlength=len(SKUS) * 3) // SEATS_PER_TRANCHE)
        key = group * 1000 + (rng.random(n) * tranches[group]).astype(np.int64)
        keys, sub = np.unique(key, return_inverse=True)
        ns = len(keys)
        s_sku, s_region = keys // 1000 // 3, keys // 1000 % 3
        consumed = np.bincount(sub, minlength=ns)
        currency = REGION_CURRENCY[s_region]
        unit_cost = np.round(np.array([s[2] for s in SKUS])[s_sku] * FX[currency], 2)
        soon = rng.random(ns) < 0.15
        renews = np.where(soon, self.today + rng.integers(5, 55, ns), self.today + rng.integers(75, 365, ns))
        prepaid = np.where(soon, consumed, consumed + np.ceil(consumed * rng.uniform(0.02, 0.08, ns)) + 1)
        rows = self.plant(rng, np.arange(ns), 0.03, cat.UNASSIGNED_SEATS)
        renews[rows] = self.today + rng.integers(10, 50, len(rows))
        prepaid[rows] = consumed[rows] + np.ceil(consumed[rows] * rng.uniform(0.03, 0.1, len(rows))) + 1
        sub_ids = _ids("SUB-", ns, 3)
        self.record(cat.UNASSIGNED_SEATS, sub_ids, rows)
        self.tables["subscriptions"] = _table("subscriptions", {
            "id": sub_ids,
            "product": _pick([s[0] for s in SKUS], s_sku),
            "sku": _pick([s[1] for s in SKUS], s_sku),
            "prepaid_units": _int(prepaid),
            "consumed_units": _int(consumed),
            "unit_cost": _num(unit_cost),
            "currency": _pick(CURRENCIES, currency),
            "renews_on": _dates(renews),
        })
        self.tables["licenses"] = _table("licenses", {
            "id": ids,
            "product": _pick([s[0] for s in SKUS], sku),
            "sku": _pick([s[1] for s in SKUS], sku),
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
        tax_rate = np.array([TAX_RATE[c] for c in range(len(CURRENCIES))])[acct.currency[inv_account]]
        fee = np.round(0.015 * (recurring + usage)[fee_inv - 2] * (1 + tax_rate[fee_inv - 2]), 2)
        surcharge = np.round(SURCHARGE_SHARE * recurring, 2)
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
        code[~is_item] = len(CHARGE_CODES) + all_type[~is_item] - 3
        columns["charge_code"] = _pick(CHARGE_CODES + tuple(c for c, _ in INVOICE_CODES), code)
        columns["charge_type"] = _pick(CHARGE_TYPES, all_type)
        columns["description"] = _pick([p[1] for p in PLANS] + [u[1] for u in USAGE_CODES]
                                       + [d for _, d in INVOICE_CODES], code)
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
        # inside the carrier's window, except the planted ones, opened well before it closed.
        rng = self.rng("disputes")
        errors = disputable.charge
        overbilled = disputable.amount
        chance = disputable.chance
        e_inv = disputable.invoice
        window = acct.window[inv_account[e_inv]]
        old = self.today - issued[e_inv] >= window + 20
        rows = self.plant(rng, np.flatnonzero(old), 0.02, cat.DISPUTE_PAST_WINDOW)
        planted = np.zeros(len(errors), bool)
        planted[rows] = True
        rows = np.r_[rows, np.flatnonzero(~planted & (rng.random(len(errors)) < chance))]
        rows.sort()
        nd = len(rows)
        d_planted = planted[rows]
        issued_d = issued[e_inv[rows]]
        window_d = window[rows]
        opened = np.minimum(issued_d + rng.integers(3, 21, nd), self.today)
        status = rng.choice(3, nd, p=(0.4, 0.4, 0.2))
        credited_on = opened + rng.integers(7, 31, nd)
        status[(status == 1) & (credited_on > self.today)] = 0
        opened = np.where(status == 0, np.maximum(opened, self.today - window_d + 10), opened)
        status[d_planted] = 0
        opened[d_planted] = issued_d[d_planted] + (
            rng.random(d_planted.sum()) * (self.today - window_d[d_planted] - 10 - issued_d[d_planted] - 3)
        ).astype(np.int64) + 3
        dispute_ids = _ids("DSP-", nd)
        self.record(cat.DISPUTE_PAST_WINDOW, dispute_ids, np.flatnonzero(d_planted))
        self.tables["disputes"] = _table("disputes", {
            "id": dispute_ids,
            "account_id": self.account_ids.take(pa.array(inv_account[e_inv[rows]])),
            "charge_id": ids.take(pa.array(errors[rows])),
            "opened_on": _dates(opened),
            "amount": _num(overbilled[rows]),
            "status": _pick(("open", "credited", "rejected"), status),
            "credited_on": _dates(credited_on, null=status != 1),
        })
        self._contracts_table(total, inv_account, inv_period)

    def _contracts_table(self, total: np.ndarray, inv_account: np.ndarray, inv_period: np.ndarray) -> None:
        """Contracts, with monthly commitments well under the last three months' spend, except
        the planted shortfalls; vendor contracts (licences, archiving) commit to nothing."""
        con, acct = self.con, self.acct
        recent = inv_period >= INVOICE_MONTHS - 3
        spend = np.bincount(acct.contract[inv_account[recent]], weights=total[recent],
                            minlength=con.n) / 3
        rng = self.rng("contracts.commitment")
        commitment = np.floor(spend * rng.uniform(0.55, 0.8, con.n) / 100) * 100
        short = con.shortfall
        commitment[short] = np.ceil(spend[short] * rng.uniform(1.3, 1.8, len(short)) / 100) * 100
        none = commitment <= 0
        none[con.carrier:] = True
        self.tables["contracts"] = _table("contracts", {
            "id": self.contract_ids,
            "vendor": _pick([v for v, _ in MARKETS] + [v for v, _ in VENDOR_CONTRACTS],
                            np.r_[con.market, len(MARKETS) + np.arange(con.n - con.carrier)]),
            "started_on": _dates(con.started),
            "ends_on": _dates(con.ends),
            "auto_renew": _bool(con.auto_renew),
            "notice_days": _int(con.notice),
            "monthly_commitment": _num(np.maximum(commitment, 0), null=none),
            "currency": _pick(CURRENCIES, con.currency),
        })
