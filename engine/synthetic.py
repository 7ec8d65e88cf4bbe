"""Synthetic estates: deterministic, seeded, realistic, and fast enough for a million lines.

``generate_estate(lines, seed)`` builds all eighteen estate entities as Arrow
tables with exactly the model's schema. Everything is vectorised with numpy and
Arrow compute: the only Python loops run over small catalogues (kinds,
departments, apps), never over rows, so a million lines with twelve million
usage rows take seconds.

The estate is clean by construction for the built-in policies, except for a
known set of resources planted as violations (``Estate.planted``: policy id →
resource ids). Each planted resource breaks exactly one rule, so a test can
assert that a policy finds precisely what was planted. The planting keeps away
from the policies' thresholds (90 idle days, 30 grace days, 365 days, 5 years,
2 % tolerance...) so a colleague's ``>`` versus ``>=`` cannot change a result.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .estate.model import load_model

AS_OF = dt.date(2026, 6, 30)
#: Below this the per-policy pools get too small to plant three violations and keep clean rows.
MIN_LINES = 200

_EPOCH = dt.date(1970, 1, 1)
_US_PER_S = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_S

# -- catalogues ------------------------------------------------------------------------------
COUNTRIES = ("US", "GB", "DE", "FR", "IE")
COUNTRY_P = (0.55, 0.20, 0.10, 0.08, 0.07)
CURRENCIES = ("USD", "GBP", "EUR")
COUNTRY_CURRENCY = np.array([0, 1, 2, 2, 2])
FX = np.array([1.0, 0.79, 0.92])  # USD list prices → local contract currency

# (city, region, postal codes, streets); German addresses put the number last.
CITIES = {
    "US": [("New York", "NY", ("10004", "10005", "10017", "10022"),
            ("Broadway", "Wall Street", "Park Avenue", "Madison Avenue")),
           ("Chicago", "IL", ("60601", "60603", "60606"), ("Wacker Drive", "LaSalle Street")),
           ("San Francisco", "CA", ("94105", "94111"), ("Market Street", "Mission Street")),
           ("Dallas", "TX", ("75201", "75202"), ("Main Street", "Ross Avenue")),
           ("Boston", "MA", ("02109", "02110"), ("State Street", "Federal Street"))],
    "GB": [("London", "England", ("EC2V 7HH", "EC4M 9AF", "E14 5AB", "W1G 0PW"),
            ("Cheapside", "Bishopsgate", "Canada Square", "Wimpole Street")),
           ("Manchester", "England", ("M2 3AW", "M1 4BT"), ("King Street", "Deansgate")),
           ("Edinburgh", "Scotland", ("EH2 4AD", "EH3 8EX"), ("George Street", "Lothian Road"))],
    "DE": [("Frankfurt am Main", "Hesse", ("60311", "60313"), ("Taunusanlage", "Neue Mainzer Straße")),
           ("Berlin", "Berlin", ("10117", "10785"), ("Friedrichstraße", "Potsdamer Platz")),
           ("Munich", "Bavaria", ("80331", "80333"), ("Maximilianstraße", "Brienner Straße"))],
    "FR": [("Paris", "Île-de-France", ("75002", "75008", "75009"),
            ("Rue de la Paix", "Boulevard Haussmann", "Rue de Rivoli")),
           ("Lyon", "Auvergne-Rhône-Alpes", ("69002", "69003"), ("Rue de la République",))],
    "IE": [("Dublin", "Leinster", ("D02 X285", "D01 K0F1"), ("Harcourt Street", "Grand Canal Quay")),
           ("Cork", "Munster", ("T12 X70A",), ("South Mall",))],
}

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "James",
    "Isabella", "William", "Mia", "Lucas", "Charlotte", "Henry", "Harper", "Theodore", "Aisling",
    "Jack", "Chloé", "Louis", "Léa", "Hugo", "Hannah", "Leon", "Marie", "Felix", "Priya", "Arjun",
    "Wei", "Mei", "Fatima", "Omar", "Sofia", "Mateo", "Grace", "Conor", "Niamh", "Ethan",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez",
    "Wilson", "Taylor", "Thomas", "Moore", "Jackson", "White", "Harris", "Clark", "Lewis", "Walker",
    "Young", "Evans", "Hughes", "Murphy", "Kelly", "O'Brien", "Byrne", "Müller", "Schmidt",
    "Schneider", "Fischer", "Weber", "Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Patel",
    "Khan", "Chen", "Nguyen",
)

# (department, share of people, roles)
DEPARTMENTS = (
    ("Trading", 0.12, ("Trader", "Sales Trader", "Desk Head", "Quantitative Analyst")),
    ("Sales", 0.16, ("Account Executive", "Sales Manager")),
    ("Engineering", 0.16, ("Software Engineer", "Staff Engineer", "Engineering Manager")),
    ("Operations", 0.10, ("Operations Analyst", "Operations Manager")),
    ("Finance", 0.08, ("Accountant", "Controller", "FP&A Analyst")),
    ("Customer Service", 0.10, ("Service Agent", "Team Lead")),
    ("IT", 0.08, ("Network Engineer", "Telecom Analyst", "Service Desk Analyst")),
    ("Facilities", 0.05, ("Facilities Coordinator", "Facilities Manager")),
    ("HR", 0.06, ("HR Business Partner", "Recruiter")),
    ("Legal & Compliance", 0.09, ("Counsel", "Compliance Officer")),
)
DEPT = {name: i for i, (name, _, _) in enumerate(DEPARTMENTS)}
COST_CENTRES_PER_DEPT = 5

PERSON_STATUSES = ("active", "leave", "terminated")
ACTIVE, LEAVE, TERMINATED = range(3)

# Scope sets; index 0 is "no scopes" (NULL).
SCOPE_SETS = (None, ("finra_bd",), ("finra_bd", "sec_ria"), ("cftc", "finra_bd"), ("fca",),
              ("fca", "mifid"), ("mifid",), ("pci",), ("hipaa",))
_REGULATED = {"finra_bd", "sec_ria", "cftc", "mifid", "fca"}
SCOPE_REGULATED = np.array([bool(s and _REGULATED & set(s)) for s in SCOPE_SETS])
SCOPE_MIFID = np.array([bool(s and {"mifid", "fca"} & set(s)) for s in SCOPE_SETS])
# Scope sets a trader gets, by country.
TRADER_SCOPES = {"US": (1, 2, 3), "GB": (4, 5), "DE": (6,), "FR": (6,), "IE": (6,)}

# Carrier markets: (vendor, country); one contract per market.
MARKETS = (("Verizon", "US"), ("AT&T", "US"), ("T-Mobile", "US"), ("Vodafone", "GB"),
           ("BT", "GB"), ("Vodafone", "DE"), ("Deutsche Telekom", "DE"), ("Orange", "FR"),
           ("Vodafone", "IE"))
MARKET_WEIGHT = (0.45, 0.35, 0.20, 0.55, 0.45, 0.4, 0.6, 1.0, 1.0)  # within the country
UC_VENDORS = (("Microsoft", "USD"), ("Zoom", "USD"), ("Cisco", "USD"), ("Slack", "USD"))

LINE_KINDS = ("mobile", "iot", "landline", "did", "sip_trunk", "circuit", "fax", "toll_free")
MOBILE, IOT, LANDLINE, DID, SIP, CIRCUIT, FAX, TOLL_FREE = range(8)
KIND_P = (0.70, 0.07, 0.06, 0.10, 0.02, 0.01, 0.015, 0.025)
KIND_MIN = (0, 8, 8, 10, 8, 2, 2, 5)
LINE_STATUSES = ("active", "suspended", "cancelled")
LINE_STATUS_P = (0.88, 0.04, 0.08)
PURPOSES = ("voice", "data", "alarm", "fax", "m2m", "elevator", "standby")
VOICE, DATA, ALARM, PFAX, M2M, ELEVATOR, STANDBY = range(7)
EXEMPT_PURPOSES = (ALARM, PFAX, M2M, ELEVATOR, STANDBY)
# kind → (purposes, probabilities); -1 is NULL purpose, which policies read as voice.
KIND_PURPOSES = {
    MOBILE: ((-1, VOICE, DATA), (0.08, 0.77, 0.15)),
    IOT: ((M2M, ALARM, ELEVATOR, DATA, STANDBY), (0.45, 0.2, 0.1, 0.2, 0.05)),
    LANDLINE: ((VOICE, ALARM, ELEVATOR, PFAX), (0.8, 0.1, 0.05, 0.05)),
    DID: ((VOICE,), (1.0,)),
    SIP: ((VOICE,), (1.0,)),
    CIRCUIT: ((DATA,), (1.0,)),
    FAX: ((PFAX,), (1.0,)),
    TOLL_FREE: ((VOICE,), (1.0,)),
}
# Numbering: country → (E.164 prefix, first subscriber number); the line's index is added.
NUMBERING = (("+1", 2_125_000_000), ("+44", 7_400_000_000), ("+49", 15_100_000_000),
             ("+33", 600_000_000), ("+353", 870_000_000))
# Remote parties of calls: (country, prefix, low, high) subscriber numbers.
REMOTES = (("US", "+1", 2_010_000_000, 9_899_999_999), ("GB", "+44", 7_000_000_000, 7_999_999_999),
           ("DE", "+49", 15_000_000_000, 17_999_999_999), ("FR", "+33", 600_000_000, 799_999_999),
           ("IE", "+353", 830_000_000, 899_999_999), ("JP", "+81", 300_000_000, 399_999_999),
           ("SG", "+65", 60_000_000, 99_999_999), ("CH", "+41", 440_000_000, 449_999_999),
           ("IN", "+91", 9_000_000_000, 9_999_999_999))

# (kind, plan name, charge code, USD list price, weight within the kind)
PLANS = (
    (MOBILE, "Business Unlimited", "MOB-UNL", 45.0, 0.5),
    (MOBILE, "Business 10GB", "MOB-10GB", 30.0, 0.35),
    (MOBILE, "Executive Unlimited Plus", "MOB-EXEC", 65.0, 0.15),
    (IOT, "IoT 50MB", "IOT-50MB", 4.0, 0.6),
    (IOT, "IoT 1GB", "IOT-1GB", 9.0, 0.4),
    (LANDLINE, "Business Line", "POTS", 38.0, 1.0),
    (DID, "DID Number", "DID", 1.5, 1.0),
    (SIP, "SIP Trunk 23 channels", "SIP-23CH", 180.0, 0.6),
    (SIP, "SIP Trunk 46 channels", "SIP-46CH", 330.0, 0.4),
    (CIRCUIT, "MPLS 100 Mbit/s", "MPLS-100M", 650.0, 1.0),
    (FAX, "Fax Line", "FAX", 32.0, 1.0),
    (TOLL_FREE, "Toll-Free Number", "TF", 12.0, 1.0),
)
# (charge code, description, USD list rate, unit)
USAGE_CODES = (("DATA-OVG", "Data overage", 10.0, "GB"),
               ("INTL-MIN", "International calls", 0.25, "minute"),
               ("ROAM-DAY", "International roaming day pass", 10.0, "day"))
CHARGE_CODES = tuple(p[2] for p in PLANS) + tuple(u[0] for u in USAGE_CODES)

FEATURES = {
    MOBILE: ((("voicemail",), 0.35), (("voicemail", "hotspot"), 0.35),
             (("voicemail", "intl_roaming"), 0.15), (("voicemail", "hotspot", "intl_roaming"), 0.15)),
    LANDLINE: ((("caller_id", "voicemail"), 1.0),),
    DID: ((("caller_id",), 1.0),),
    SIP: ((("failover",), 0.5), (("failover", "burst_channels"), 0.5)),
    TOLL_FREE: ((("ivr", "call_recording"), 1.0),),
}

# (kind, model, os, os versions, TAC or None, serial prefix)
DEVICE_MODELS = (
    ("smartphone", "iPhone 15", "iOS", ("17.6.1", "18.5", "18.6"), 35395511, "DNPX"),
    ("smartphone", "iPhone 16 Pro", "iOS", ("18.5", "18.6"), 35672829, "G6TY"),
    ("smartphone", "Galaxy S24", "Android", ("14", "15"), 35067331, "R5CW"),
    ("smartphone", "Pixel 9", "Android", ("15", "16"), 35892612, "3A1B"),
    ("tablet", "iPad Air 11", "iPadOS", ("17.7", "18.5"), 35480119, "DMPX"),
    ("tablet", "Galaxy Tab S9", "Android", ("14",), 35277915, "R52T"),
    ("hotspot", "Nighthawk M6", "Netgear firmware", ("NTG9.2",), 35324418, "NTG"),
    ("desk_phone", "Poly VVX 450", "UC Software", ("6.4.6",), None, "64167F"),
    ("desk_phone", "Cisco 8845", "PhoneOS", ("14.2",), None, "FCH"),
    ("desk_phone", "Yealink T54W", "Yealink firmware", ("96.86",), None, "YLK"),
    ("iot", "Telit LE910C4", "Telit firmware", ("25.30",), 35484909, "TLT"),
    ("iot", "Quectel EG25-G", "Quectel firmware", ("EG25GGBR07A08M2G",), 86698503, "QTL"),
)
DEVICE_KINDS = ("smartphone", "tablet", "hotspot", "desk_phone", "iot")
DEVICE_STATUSES = ("in_use", "spare", "lost", "retired")

# (app id, name, versions, share of phones and tablets, approved for business messaging)
APPS = (
    ("com.microsoft.teams", "Microsoft Teams", ("1416/1.0.0.2024", "1416/1.0.0.2025"), 1.0, True),
    ("com.microsoft.office.outlook", "Microsoft Outlook", ("4.2425.0", "4.2431.1"), 0.98, True),
    ("com.azure.authenticator", "Microsoft Authenticator", ("6.8.15",), 0.8, True),
    ("com.Slack", "Slack", ("25.06.10", "25.05.20"), 0.45, True),
    ("us.zoom.videomeetings", "Zoom Workplace", ("6.5.1", "6.4.10"), 0.5, True),
    ("com.cisco.webex.meetings", "Webex", ("45.6.0",), 0.1, True),
    ("com.linkedin.android", "LinkedIn", ("4.1.1050",), 0.25, True),
    ("com.whatsapp", "WhatsApp", ("2.25.18.80", "2.25.17.76"), 0.3, False),
    ("org.thoughtcrime.securesms", "Signal", ("7.46.2",), 0.06, False),
    ("com.tencent.mm", "WeChat", ("8.0.60",), 0.03, False),
)
UNAPPROVED_APPS = tuple(i for i, a in enumerate(APPS) if not a[4])

# (product, sku, unit cost USD, share of people)
SKUS = (("teams", "SPE_E5", 57.0, 0.97), ("teams", "MCOEV", 8.0, 0.35),
        ("zoom", "ZOOM_BUSINESS", 18.32, 0.30), ("webex", "WEBEX_CALLING_PRO", 17.0, 0.08),
        ("slack", "SLACK_BUSINESS_PLUS", 12.5, 0.45))

REC_NONE, REC_REGULATORY, REC_QUALITY, REC_PAYMENT = range(4)
REC_PURPOSES = (None, "regulatory", "quality", "payment")

# -- policy ids the planting targets ------------------------------------------------------
ZERO_USAGE = "cost.zero-usage-lines"
LEAVER = "cost.leaver-lines"
ORPHAN = "cost.orphan-lines"
ABOVE_RATE = "cost.charge-above-contract-rate"
LATE_FEE = "cost.late-payment-fees"
UNUSED_LICENSE = "cost.unused-licenses"
REG_RETENTION = "retention.regulatory-recordings-retention"
QUALITY_OVERDUE = "retention.quality-recordings-overdue-deletion"
OFF_CHANNEL = "regulatory.off-channel-messaging-apps"
E911 = "regulatory.e911-location-missing"
MIFID = "regulatory.mifid-voice-not-recorded"
PAYMENT_UNREDACTED = "security.payment-recordings-unredacted"
UNENCRYPTED = "security.unencrypted-devices"
SIP_UNENCRYPTED = "security.sip-trunk-without-encryption"


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


def _ids(prefix: str, n: int, width: int | None = None) -> pa.Array:
    width = width or max(4, len(str(n)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string()),
                          width=width, padding="0")
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


class _Builder:
    """Builds the entities in dependency order; keeps the numpy columns later ones need."""

    def __init__(self, lines: int, seed: int, as_of: dt.date):
        self.n = lines
        self.seed = seed
        self.as_of = as_of
        self.today = _day(as_of)
        self.now_us = (self.today + 1) * _US_PER_DAY - 3600 * _US_PER_S  # 23:00 on the as-of day
        self.month = (as_of.year - 1970) * 12 + as_of.month - 1
        self.tables: dict[str, pa.Table] = {}
        self.planted: dict[str, list[str]] = {}

    def rng(self, part: str) -> np.random.Generator:
        # One stream per entity: changing how one table is drawn leaves the others alone.
        return np.random.default_rng([self.seed, zlib.crc32(part.encode())])

    def plant(self, rng: np.random.Generator, pool: np.ndarray, share: float,
              policy: str) -> np.ndarray:
        """Row indices (sorted) drawn from ``pool`` to violate ``policy``."""
        k = max(3, int(round(share * len(pool))))
        if len(pool) < k + 2:
            raise ValueError(f"estate too small to plant violations of {policy}: "
                             f"{len(pool)} candidates; generate more lines")
        return np.sort(rng.choice(pool, size=k, replace=False))

    def record(self, policy: str, ids: pa.Array, rows: np.ndarray) -> None:
        self.planted[policy] = sorted(ids.take(pa.array(rows, pa.int64())).to_pylist())

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
        self.channels()
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
        city = _pick_in_groups(rng, country, city_start, city_count)
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
            n=n, good=good, country=country,
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
            choices = np.array(TRADER_SCOPES[name])
            scopes[rows] = choices[rng.integers(0, len(choices), len(rows))]
        cs = np.flatnonzero(dept == DEPT["Customer Service"])
        scopes[cs[rng.random(len(cs)) < 0.3]] = SCOPE_SETS.index(("pci",))
        hr = np.flatnonzero(dept == DEPT["HR"])
        scopes[hr[rng.random(len(hr)) < 0.1]] = SCOPE_SETS.index(("hipaa",))

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
        key = first * len(LAST_NAMES) + last
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        new_group = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n) - group_start
        suffix = pc.if_else(pa.array(rank == 0), "", _text(rank + 1))
        local = [_ascii(x) for x in FIRST_NAMES], [_ascii(x) for x in LAST_NAMES]
        email = _join(_pick(local[0], first), ".", _pick(local[1], last), suffix, "@example.com")

        roles = [r for d in DEPARTMENTS for r in d[2]]
        role_start = np.cumsum([0] + [len(d[2]) for d in DEPARTMENTS])[:-1]
        role = _pick_in_groups(rng, dept, role_start, np.array([len(d[2]) for d in DEPARTMENTS]))

        self.ppl = SimpleNamespace(n=n, dept=dept, country=country, status=status, scopes=scopes,
                                   terminated_on=terminated_on, hired_on=hired_on,
                                   cost_center=cost_center, office=office,
                                   regulated=SCOPE_REGULATED[scopes], mifid=SCOPE_MIFID[scopes])
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
        rng = self.rng("contracts")
        markets = len(MARKETS)
        n = markets + len(UC_VENDORS)
        currency = np.r_[[COUNTRY_CURRENCY[COUNTRIES.index(c)] for _, c in MARKETS],
                         [CURRENCIES.index(c) for _, c in UC_VENDORS]]
        started = self.today - rng.integers(420, 1400, n)
        ends = started + rng.choice([730, 1095], n)
        commitment = np.round(rng.uniform(5_000, 50_000, n) * max(1, self.n / 2000), -2)
        self.contract_ids = _ids("CON-", n, 3)
        self.tables["contracts"] = _table("contracts", {
            "id": self.contract_ids,
            "vendor": _pick([v for v, _ in MARKETS] + [v for v, _ in UC_VENDORS], np.arange(n)),
            "started_on": _dates(started),
            "ends_on": _dates(ends),
            "auto_renew": _bool(rng.random(n) < 0.6),
            "notice_days": _int(rng.choice([30, 60, 90], n)),
            "monthly_commitment": _num(commitment),
            "currency": _pick(CURRENCIES, currency),
        })

        # Rates: each carrier contract re-priced once. Half of them changed inside the
        # invoiced months, so the effective-date lookup matters.
        codes = len(CHARGE_CODES)
        list_price = np.array([p[3] for p in PLANS] + [u[2] for u in USAGE_CODES])
        decimals = np.array([2] * len(PLANS) + [2, 4, 2])
        market_currency = currency[:markets]
        discount = rng.uniform(0.82, 0.97, markets)
        new = (list_price[None, :] * FX[market_currency][:, None] * discount[:, None]
               * rng.uniform(0.97, 1.03, (markets, codes)))
        old = new * rng.uniform(1.04, 1.12, (markets, codes))
        new = np.where(decimals == 4, np.round(new, 4), np.round(new, 2))
        old = np.where(decimals == 4, np.round(old, 4), np.round(old, 2))
        invoiced = self.month - 2
        change_month = np.where(rng.random(markets) < 0.5, invoiced,
                                self.month - rng.integers(8, 14, markets))
        change = _month_first(change_month)
        self.rates = SimpleNamespace(new=new, old=old, change=change, currency=market_currency)

        c = np.repeat(np.arange(markets), codes)
        k = np.tile(np.arange(codes), markets)
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
        weight = np.array([COUNTRY_P[COUNTRIES.index(c)] * w
                           for (_, c), w in zip(MARKETS, MARKET_WEIGHT, strict=True)])
        per_market = np.maximum(1, np.round(weight / weight.sum() * max(markets, self.n // 2500)))
        per_market = per_market.astype(np.int64)
        market = np.repeat(np.arange(markets), per_market)
        na = len(market)
        self.acct = SimpleNamespace(n=na, market=market, start=np.r_[0, np.cumsum(per_market)[:-1]],
                                    count=per_market, currency=market_currency[market])
        self.account_ids = _ids("ACC-", na)
        self.account_numbers = _text(rng.integers(100_000_000, 999_999_999, na))
        self.tables["accounts"] = _table("accounts", {
            "id": self.account_ids,
            "vendor": _pick([v for v, _ in MARKETS], market),
            "account_number": self.account_numbers,
            "contract_id": self.contract_ids.take(pa.array(market)),
            "currency": _pick(CURRENCIES, market_currency[market]),
            "dispute_window_days": _int(rng.choice([60, 90, 120, 180], na)),
        })

    # -- lines ------------------------------------------------------------------------------
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
            purpose[rows] = rng.choice(np.array(choices), size=len(rows), p=probs)
        active = status == 0

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
        personal = owner < 0
        live_pool = np.flatnonzero(alive)
        rows = np.flatnonzero(personal & (status != 2))
        desk = np.isin(kind[rows], (LANDLINE, DID))
        w = np.where(ppl.dept[live_pool] == DEPT["Trading"], 3.0, 1.0)
        assignee[rows[~desk]] = live_pool[rng.integers(0, len(live_pool), (~desk).sum())]
        assignee[rows[desk]] = rng.choice(live_pool, size=desk.sum(), p=w / w.sum())
        # Cancelled lines mostly belonged to people who left.
        rows = np.flatnonzero(personal & (status == 2))
        w = np.where(ppl.status == TERMINATED, 8.0, 1.0)
        assignee[rows] = rng.choice(ppl.n, size=len(rows), p=w / w.sum())
        # Every trader has a turret line (a DID or desk line), MiFID/FCA desks first.
        traders = np.flatnonzero(alive & (ppl.dept == DEPT["Trading"]))
        traders = traders[np.argsort(~ppl.mifid[traders], kind="stable")]
        turrets = np.flatnonzero(active & personal & np.isin(kind, (LANDLINE, DID)))
        turrets = rng.permutation(turrets)[:len(traders)]
        assignee[turrets] = traders[:len(turrets)]

        country = ppl.country[assignee]
        market = np.empty(n, np.int64)
        for c, name in enumerate(COUNTRIES):
            rows = np.flatnonzero(country == c)
            ms = np.array([i for i, (_, mc) in enumerate(MARKETS) if mc == name])
            w = np.array([MARKET_WEIGHT[i] for i in ms])
            market[rows] = rng.choice(ms, size=len(rows), p=w / w.sum())
        account = _pick_in_groups(rng, market, self.acct.start, self.acct.count)

        plan = np.empty(n, np.int64)
        for k in range(len(LINE_KINDS)):
            rows = np.flatnonzero(kind == k)
            ps = np.array([i for i, p in enumerate(PLANS) if p[0] == k])
            w = np.array([PLANS[i][4] for i in ps])
            plan[rows] = rng.choice(ps, size=len(rows), p=w / w.sum())
        monthly_cost = self.rates.new[market, plan]

        activated = self.today - rng.integers(400, 3650, n)
        cancelled_on = self.today - rng.integers(5, 390, n)
        status_since = np.select([status == 0, status == 1],
                                 [activated, self.today - rng.integers(10, 300, n)], cancelled_on)
        fixed = np.isin(kind, (LANDLINE, DID, SIP, CIRCUIT, FAX))
        e911 = np.where(fixed, ppl.office[assignee], -1)
        feature_combos = [None] + [c for k in sorted(FEATURES) for c, _ in FEATURES[k]]
        features = np.zeros(n, np.int64)
        offset = 1
        for k in sorted(FEATURES):
            rows = np.flatnonzero(kind == k)
            probs = [p for _, p in FEATURES[k]]
            features[rows] = offset + rng.choice(len(probs), size=len(rows), p=probs)
            offset += len(probs)
        intl = np.array([bool(c) and "intl_roaming" in c for c in feature_combos])[features]

        # Contact centre: toll-free numbers and some Customer Service DIDs take card payments.
        tf = rng.permutation(np.flatnonzero(kind == TOLL_FREE))
        payment = np.zeros(n, bool)
        payment[tf[: max(1, int(np.ceil(0.3 * len(tf))))]] = True
        cs_did = (kind == DID) & (ppl.dept[assignee] == DEPT["Customer Service"])
        payment |= cs_did & (rng.random(n) < 0.2)
        cost_center_null = np.zeros(n, bool)
        tls = np.where(kind == SIP, 1, -1)
        srtp = np.where(kind == SIP, 1, -1)

        # -- planted violations: each line breaks exactly one rule --------------------------
        rng = self.rng("lines.planted")
        ids = _ids("L-", n)
        taken = np.zeros(n, bool)

        def pool(mask: np.ndarray) -> np.ndarray:
            return np.flatnonzero(mask & ~taken)

        rows = self.plant(rng, pool(active & (kind == SIP)), 0.05, SIP_UNENCRYPTED)
        taken[rows] = True
        mode = np.arange(len(rows)) % 3
        tls[rows[mode != 1]] = 0
        srtp[rows[mode != 0]] = 0
        self.record(SIP_UNENCRYPTED, ids, rows)

        rows = self.plant(rng, pool(active & np.isin(kind, (LANDLINE, DID, SIP))), 0.04, E911)
        taken[rows] = True
        mode = np.arange(len(rows)) % 3
        e911[rows[mode == 0]] = -1
        e911[rows[mode == 1]] = rng.choice(self.loc.not_validated, (mode == 1).sum())
        e911[rows[mode == 2]] = rng.choice(self.loc.not_dispatchable, (mode == 2).sum())
        self.record(E911, ids, rows)

        rows = self.plant(rng, pool(active & (kind == MOBILE)), 0.03, LEAVER)
        taken[rows] = True
        leavers = np.flatnonzero(ppl.status == TERMINATED)
        assignee[rows] = leavers[rng.integers(0, len(leavers), len(rows))]
        self.record(LEAVER, ids, rows)

        rows = self.plant(rng, pool(active), 0.02, ORPHAN)
        taken[rows] = True
        mode = np.arange(len(rows)) % 3
        assignee_null = np.zeros(n, bool)
        assignee_null[rows[mode == 0]] = True
        ghost = np.zeros(n, bool)
        ghost[rows[mode == 1]] = True
        cost_center_null[rows[mode == 2]] = True
        self.record(ORPHAN, ids, rows)

        # Recorded: every voice line of a trader, and the contact centre lines.
        trader_line = (~assignee_null & ~ghost & (ppl.dept[assignee] == DEPT["Trading"])
                       & np.isin(kind, (MOBILE, LANDLINE, DID)))
        contact = (kind == TOLL_FREE) | cs_did
        recorded = trader_line | contact
        mifid_line = ~assignee_null & ~ghost & ppl.mifid[assignee]
        rows = self.plant(rng, pool(active & mifid_line & np.isin(kind, (MOBILE, LANDLINE, DID))),
                          0.05, MIFID)
        taken[rows] = True
        recorded[rows] = False
        self.record(MIFID, ids, rows)

        must_be_used = active & np.isin(kind, (MOBILE, IOT)) & ~np.isin(purpose, EXEMPT_PURPOSES)
        rows = self.plant(rng, pool(must_be_used), 0.03, ZERO_USAGE)
        taken[rows] = True
        self.record(ZERO_USAGE, ids, rows)
        idle = np.zeros(n, bool)
        idle[rows] = True

        rec_purpose = np.where(trader_line & recorded, REC_REGULATORY, REC_NONE)
        rec_purpose = np.where(contact, np.where(payment, REC_PAYMENT, REC_QUALITY), rec_purpose)

        prefix = np.array([p for p, _ in NUMBERING])
        base = np.array([b for _, b in NUMBERING], dtype=np.int64)
        number = _join(_pick(prefix, country), _text(base[country] + np.arange(n)))
        number = pc.if_else(pa.array(kind == CIRCUIT), pa.scalar(None, pa.string()), number)
        assigned_to = self.person_ids.take(pa.array(assignee, mask=assignee_null))
        # Ghosts look like HR ids (same width) but lie past the last person.
        ghost_ids = pc.utf8_lpad(_text(ppl.n + 1 + np.arange(n)),
                                 width=max(4, len(str(ppl.n))), padding="0")
        ghost_ids = _join("P-", ghost_ids)
        cost_center = ppl.cost_center[assignee]
        assigned_to = pc.if_else(pa.array(ghost), ghost_ids, assigned_to)

        self.ln = SimpleNamespace(
            n=n, kind=kind, status=status, purpose=purpose, active=active, assignee=assignee,
            has_person=~assignee_null & ~ghost, country=country, market=market, account=account,
            plan=plan, activated=activated, status_since=status_since, idle=idle,
            must_be_used=must_be_used, recorded=recorded, rec_purpose=rec_purpose,
            office=ppl.office[assignee], currency=self.rates.currency[market], number=number)
        self.line_ids = ids
        self.tables["lines"] = _table("lines", {
            "id": ids,
            "kind": _pick(LINE_KINDS, kind),
            "purpose": _pick(PURPOSES, np.maximum(purpose, 0), null=purpose < 0),
            "number": number,
            "vendor": _pick([v for v, _ in MARKETS], market),
            "account_id": self.account_ids.take(pa.array(account)),
            "plan": _pick([p[1] for p in PLANS], plan),
            "features": _lists(feature_combos, features),
            "monthly_cost": _num(monthly_cost),
            "currency": _pick(CURRENCIES, self.ln.currency),
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
            "international_plan": _bool(intl, null=kind != MOBILE),
            "tls_enabled": _bool(tls == 1, null=tls < 0),
            "srtp_enabled": _bool(srtp == 1, null=srtp < 0),
        })

    # -- usage ------------------------------------------------------------------------------
    def usage(self) -> None:
        rng = self.rng("usage")
        ln = self.ln
        n = ln.n
        months = self.month - 11 + np.arange(12)
        first = _month_first(months)
        last = np.minimum(_month_first(months + 1) - 1, self.today)
        end = np.where(ln.active, self.today, ln.status_since)  # silent once suspended or cancelled
        exempt = np.isin(ln.purpose, EXEMPT_PURPOSES)
        p = np.array([0.96, 0.9, 0.9, 0.85, 0.99, 0.99, 0.5, 0.99])[ln.kind]
        p = np.where(exempt, 0.25, p)  # alarms and lifts only ring when tested
        used = (first[None, :] <= end[:, None]) & (rng.random((n, 12)) < p[:, None])
        used[ln.must_be_used, 11] = True
        idle = np.flatnonzero(ln.idle)
        # Idle lines went quiet at least four whole months ago, or never spoke at all.
        quiet_after = rng.integers(-1, 7, len(idle))
        used[idle] &= np.arange(12)[None, :] <= quiet_after[:, None]
        spoke = quiet_after >= 0
        used[idle[spoke], quiet_after[spoke]] = True

        span = np.maximum(np.minimum(last[None, :], end[:, None]) - first[None, :] + 1, 1)
        day = first[None, :] + (rng.random((n, 12)) * span).astype(np.int64)
        del span
        scale = np.where(exempt, 0.02, 1.0)
        voice_mean = np.array([280, 0, 180, 240, 25_000, 0, 15, 6_000], float)[ln.kind] * scale
        data_mean = np.array([6_000, 40, 0, 0, 0, 250_000, 0, 0], float)[ln.kind] * scale
        sms_mean = np.array([45, 5, 0, 0, 0, 0, 0, 0], float)[ln.kind]
        voice = rng.gamma(2.0, 1.0, (n, 12)) * (voice_mean / 2)[:, None] * used
        data = rng.gamma(2.0, 1.0, (n, 12)) * (data_mean / 2)[:, None] * used
        sms = rng.poisson(sms_mean[:, None] * used)
        mobile = (ln.kind == MOBILE)[:, None] & used
        fx = FX[ln.currency][:, None]
        roaming = np.where(mobile & (rng.random((n, 12)) < 0.04),
                           rng.gamma(2.0, 15.0, (n, 12)) * fx, 0.0)
        international = np.where(mobile & (rng.random((n, 12)) < 0.06),
                                 rng.gamma(2.0, 6.0, (n, 12)) * fx, 0.0)
        overage = np.where(mobile & (rng.random((n, 12)) < 0.03),
                           rng.gamma(2.0, 10.0, (n, 12)) * fx, 0.0)
        periods = np.datetime_as_string(months.astype("datetime64[M]"), unit="M")
        self.tables["usage"] = _table("usage", {
            "line_id": self.line_ids.take(pa.array(np.repeat(np.arange(n), 12))),
            "period": _pick(periods, np.tile(np.arange(12), n)),
            "voice_minutes": _num(voice.ravel(), decimals=1),
            "data_mb": _num(data.ravel(), decimals=1),
            "sms_count": _int(sms.ravel()),
            "roaming_charges": _num(roaming.ravel()),
            "international_charges": _num(international.ravel()),
            "overage_charges": _num(overage.ravel()),
            "last_activity_on": _dates(day.ravel(), null=~used.ravel()),
        })

    # -- calls ------------------------------------------------------------------------------
    def calls(self) -> None:
        rng = self.rng("calls")
        ln = self.ln
        weight = np.array([1.0, 0, 1.0, 1.5, 10.0, 0, 0, 8.0])[ln.kind] * ln.active
        weight[np.isin(ln.purpose, EXEMPT_PURPOSES)] = 0
        n = 5 * ln.n
        line = rng.choice(ln.n, size=n, p=weight / weight.sum())
        start = self.now_us - rng.integers(0, 730 * _US_PER_DAY, n)
        start = np.maximum(start - start % _US_PER_S, (ln.activated[line] + 1) * _US_PER_DAY)
        order = np.argsort(start, kind="stable")
        line, start = line[order], start[order]
        del order

        direction = np.where(ln.kind[line] == TOLL_FREE, 1, rng.choice(3, n, p=(0.5, 0.4, 0.1)))
        remote = np.where(rng.random(n) < 0.85, ln.country[line], rng.integers(0, len(REMOTES), n))
        low = np.array([r[2] for r in REMOTES], dtype=np.int64)
        high = np.array([r[3] for r in REMOTES], dtype=np.int64)
        remote_number = _join(_pick([r[1] for r in REMOTES], remote),
                              _text(low[remote] + (rng.random(n) * (high - low)[remote]).astype(np.int64)))
        people_lines = np.flatnonzero(ln.active & np.isin(ln.kind, (MOBILE, LANDLINE, DID)))
        other = people_lines[rng.integers(0, len(people_lines), n)]
        own_number = ln.number.take(pa.array(line))
        outbound, inbound = direction == 0, direction == 1
        source = pc.if_else(pa.array(inbound), remote_number, own_number)
        destination = pc.if_else(pa.array(outbound), remote_number,
                                 pc.if_else(pa.array(inbound), own_number,
                                            ln.number.take(pa.array(other))))
        dest_country = np.select([outbound, inbound], [remote, ln.country[line]], ln.country[other])
        disposition = rng.choice(4, n, p=(0.78, 0.14, 0.05, 0.03))
        answered = disposition == 0
        duration = np.where(answered, 5 + rng.gamma(1.3, 180.0, n), 0).astype(np.int64)
        billable = np.where(answered & outbound, -(-duration // 60) * 60, 0)
        per_minute = np.where(remote == ln.country[line], 0.02, 0.25) * FX[ln.currency[line]]
        cost = billable / 60 * per_minute
        self.cl = SimpleNamespace(n=n, line=line, start=start, answered=answered)
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
                             QUALITY_OVERDUE)
        # Quality monitoring samples calls; regulation and payments record every one.
        keep &= (purpose != REC_QUALITY) | (rng.random(cl.n) < 0.3)
        keep[overdue] = True
        call = np.flatnonzero(keep)
        del keep, old_quality
        n = len(call)
        purpose = purpose[call]
        started = cl.start[call]
        started_day = started // _US_PER_DAY
        age = self.today - started_day
        retention = np.select([purpose == REC_REGULATORY, purpose == REC_QUALITY], [2557, 365], 90)
        hold = np.where(purpose == REC_REGULATORY, rng.random(n) < 0.01,
                        (purpose == REC_QUALITY) & (age >= 365) & (rng.random(n) < 0.02))
        deleted = (purpose != REC_REGULATORY) & (age >= retention) & ~hold
        deleted_at = np.minimum(started + retention * _US_PER_DAY
                                + rng.integers(0, 3600, n) * _US_PER_S, self.now_us)
        retain_until = started_day + retention
        redacted = np.where(purpose == REC_PAYMENT, 1, -1)

        rng = self.rng("recordings.planted")
        ids = _ids("REC-", n)
        rows = self.plant(rng, np.flatnonzero(purpose == REC_REGULATORY), 0.03, REG_RETENTION)
        retain_until[rows] = started_day[rows] + rng.integers(365, 1461, len(rows))
        self.record(REG_RETENTION, ids, rows)
        rows = np.searchsorted(call, overdue)
        deleted[rows] = False
        hold[rows] = False
        self.record(QUALITY_OVERDUE, ids, rows)
        # A deleted recording no longer holds card data: the planted ones are still kept.
        rows = self.plant(rng, np.flatnonzero(purpose == REC_PAYMENT), 0.03, PAYMENT_UNREDACTED)
        redacted[rows] = 0
        deleted[rows] = False
        self.record(PAYMENT_UNREDACTED, ids, rows)

        country = ln.country[cl.line[call]]
        home = np.array([0, 3, 1, 4, 2])[country]
        abroad = (country != 0) & (rng.random(n) < 0.08)  # EU data kept in the US: needs SCCs
        region = np.where(abroad, 0, home)
        self.tables["recordings"] = _table("recordings", {
            "id": ids,
            "call_id": self.call_ids.take(pa.array(call)),
            "line_id": self.line_ids.take(pa.array(cl.line[call])),
            "purpose": _pick(REC_PURPOSES[1:], purpose - 1),
            "started_at": _stamps(started),
            "retain_until": _dates(retain_until),
            "deleted_at": _stamps(deleted_at, null=~deleted),
            "storage_region": _pick(("us-east-1", "eu-west-2", "eu-central-1", "eu-west-3",
                                     "eu-west-1"), region),
            "transfer_mechanism": _pick(("scc",), np.zeros(n, np.int64), null=~abroad),
            "encrypted": _bool(np.ones(n, bool)),
            "payment_data_redacted": _bool(redacted == 1, null=redacted < 0),
            "consent_announced": _bool(np.ones(n, bool)),
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
        rng = self.rng("devices")
        ln, ppl = self.ln, self.ppl
        with_device = ((ln.kind == MOBILE) | (ln.kind == IOT) | (ln.kind == DID)
                       | ((ln.kind == LANDLINE) & (ln.purpose == VOICE)))
        line = np.flatnonzero(with_device)
        spares = max(5, int(round(0.04 * ln.n)))
        n = len(line) + spares
        lk = ln.kind[line]
        kind = np.select(
            [lk == IOT, np.isin(lk, (LANDLINE, DID)), ln.purpose[line] == DATA],
            [4, 3, np.where(rng.random(len(line)) < 0.6, 1, 2)], 0)
        kind = np.r_[kind, np.zeros(spares, np.int64)]
        model = np.empty(n, np.int64)
        for k, name in enumerate(DEVICE_KINDS):
            rows = np.flatnonzero(kind == k)
            ms = np.array([i for i, m in enumerate(DEVICE_MODELS) if m[0] == name])
            model[rows] = ms[rng.integers(0, len(ms), len(rows))]
        versions = [v for m in DEVICE_MODELS for v in m[3]]
        v_count = np.array([len(m[3]) for m in DEVICE_MODELS])
        version = _pick_in_groups(rng, model, np.r_[0, np.cumsum(v_count)[:-1]], v_count)

        line_status = np.r_[ln.status[line], np.full(spares, 1)]
        status = np.select([line_status == 0, line_status == 1], [0, 1], 3)
        status[(status == 0) & (rng.random(n) < 0.01)] = 2  # lost
        has_line = np.r_[np.ones(len(line), bool), np.zeros(spares, bool)]
        person = np.r_[ln.assignee[line], np.zeros(spares, np.int64)]
        assigned = np.r_[ln.has_person[line], np.zeros(spares, bool)] & (status != 1)
        in_use = status == 0
        flags = np.where(in_use[:, None], True, rng.random((n, 3)) < (0.7, 0.8, 0.8))
        regulated = assigned & ppl.regulated[person]
        handheld = (kind == 0) | (kind == 1)

        rng = self.rng("devices.planted")
        ids = _ids("D-", n)
        # Encryption, passcode and MDM apply to phones and tablets only.
        rows = self.plant(rng, np.flatnonzero(in_use & handheld), 0.025, UNENCRYPTED)
        flags[rows, np.arange(len(rows)) % 3] = False
        self.record(UNENCRYPTED, ids, rows)
        clean = np.ones(n, bool)
        clean[rows] = False
        rows = self.plant(rng, np.flatnonzero(in_use & handheld & regulated & clean), 0.05,
                          OFF_CHANNEL)
        self.record(OFF_CHANNEL, ids, rows)
        self.dev = SimpleNamespace(n=n, handheld=handheld, assigned=assigned, regulated=regulated,
                                   off_channel=rows)

        tac = np.array([m[4] or 0 for m in DEVICE_MODELS], dtype=np.int64)[model]
        # Serial numbers are a permutation of the row number: unique, yet not in sequence.
        idx = np.arange(n, dtype=np.int64)
        body = (tac + idx // 1_000_000) * 1_000_000 + (idx * 7_919 + 123_457) % 1_000_000
        serial = (idx * 7_919 + 4_815_162) % 100_000_000
        activated = np.r_[ln.activated[line], np.full(spares, self.today - 900)]
        purchased = np.minimum(activated + rng.integers(0, 200, n), self.today - 1)
        purchased[~has_line] = self.today - rng.integers(30, 900, spares)
        check_in = np.where(in_use, self.now_us - rng.integers(0, 72 * 3600, n) * _US_PER_S,
                            (self.today - rng.integers(20, 400, n)) * _US_PER_DAY
                            + rng.integers(0, 86_400, n) * _US_PER_S)
        state = np.where(flags.all(axis=1), 0, np.where(in_use, 1, 2))
        desk = kind == 3
        office = np.r_[ln.office[line], np.zeros(spares, np.int64)]
        self.device_ids = ids
        self.tables["devices"] = _table("devices", {
            "id": ids,
            "kind": _pick(DEVICE_KINDS, kind),
            "fixed": _bool(desk),
            "serial": _join(_pick([m[5] for m in DEVICE_MODELS], model),
                            pc.utf8_lpad(_text(serial), width=8, padding="0")),
            "imei": pc.if_else(pa.array(tac > 0), _text(_luhn_imei(body)),
                               pa.scalar(None, pa.string())),
            "model": _pick([m[1] for m in DEVICE_MODELS], model),
            "os": _pick([m[2] for m in DEVICE_MODELS], model),
            "os_version": _pick(versions, version),
            "assigned_to": self.person_ids.take(pa.array(person, mask=~assigned)),
            "line_id": self.line_ids.take(pa.array(np.r_[line, np.zeros(spares, np.int64)],
                                                   mask=~has_line | (status == 1))),
            "ownership": _pick(("company", "personal"),
                               ((kind == 0) & (rng.random(n) < 0.1)).astype(np.int64)),
            "status": _pick(DEVICE_STATUSES, status),
            "mdm_enrolled": _bool(flags[:, 2]),
            "compliance_state": _pick(("compliant", "noncompliant", "unknown"), state),
            "encrypted": _bool(flags[:, 0]),
            "passcode_set": _bool(flags[:, 1]),
            "archiving_agent": _bool(in_use & handheld & regulated),
            "purchased_on": _dates(purchased),
            "last_check_in_at": _stamps(check_in),
            "e911_location_id": self.loc_ids.take(pa.array(office, mask=~desk)),
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
        versions = [v for a in APPS for v in a[2]]
        v_count = np.array([len(a[2]) for a in APPS])
        version = _pick_in_groups(rng, app, np.r_[0, np.cumsum(v_count)[:-1]], v_count)
        self.tables["device_apps"] = _table("device_apps", {
            "device_id": self.device_ids.take(pa.array(device)),
            "app_id": _pick([a[0] for a in APPS], app),
            "name": _pick([a[1] for a in APPS], app),
            "version": _pick(versions, version),
        })

    # -- channels and retention policies ----------------------------------------------------
    def channels(self) -> None:
        ingest = self.now_us - 2 * 3600 * _US_PER_S
        rp = ["RP-01", "RP-02", "RP-03", "RP-04", "RP-05", "RP-06"]
        self.tables["retention_policies"] = _table("retention_policies", {
            "id": pa.array(rp),
            "system": pa.array(["Microsoft Purview", "Slack Enterprise Grid", "Exchange Online",
                                "NICE Engage", "NICE Engage", "NICE Engage"]),
            "scope": pa.array(["Teams chats and channel messages", "All workspaces",
                               "All mailboxes", "Regulatory voice recordings",
                               "Quality monitoring recordings", "Payment call recordings"]),
            "retention_days": pa.array([2557, 2557, 2557, 2557, 365, 90], pa.int64()),
            "action": pa.array(["keep_and_delete", "keep_and_delete", "keep_and_delete",
                                "keep_and_delete", "delete", "delete"]),
            "immutable": pa.array([True, True, True, True, False, False]),
            "audit_trail": pa.array([True] * 6),
            "legal_hold": pa.array([False] * 6),
            "region": pa.array(["EU", "US", "EU", "US", "US", "US"]),
        })
        # (product, app id, approved and archived, retention policy)
        rows = (("whatsapp", "com.whatsapp", False, None),
                ("signal", "org.thoughtcrime.securesms", False, None),
                ("wechat", "com.tencent.mm", False, None),
                ("telegram", "org.telegram.messenger", False, None),
                ("teams", "com.microsoft.teams", True, "RP-01"),
                ("slack", "com.Slack", True, "RP-02"),
                ("email", "com.microsoft.office.outlook", True, "RP-03"),
                ("voice", None, True, "RP-04"))
        ok = [r[2] for r in rows]
        self.tables["channels"] = _table("channels", {
            "id": _ids("CHN-", len(rows), 2),
            "product": pa.array([r[0] for r in rows]),
            "app_id": pa.array([r[1] for r in rows], pa.string()),
            "approved": pa.array(ok),
            "archived": pa.array(ok),
            "archive_last_ingest_at": _stamps(np.full(len(rows), ingest), null=~np.array(ok)),
            "retention_policy_id": pa.array([r[3] for r in rows], pa.string()),
        })

    # -- subscriptions and licenses ---------------------------------------------------------
    def licenses(self) -> None:
        rng = self.rng("licenses")
        ppl = self.ppl
        parts = [np.flatnonzero(rng.random(ppl.n) < s[3]) for s in SKUS]
        person = np.concatenate(parts)
        sku = np.repeat(np.arange(len(SKUS)), [len(p) for p in parts])
        order = np.lexsort((sku, person))
        person, sku = person[order], sku[order]
        n = len(person)
        status = ppl.status[person]  # licence: active, suspended (on leave), removed (left)
        hired = ppl.hired_on[person]
        assigned = np.minimum(hired + rng.integers(0, 15, n), self.today)
        recent = (status == ACTIVE) & (rng.random(n) < 0.04)
        assigned[recent] = np.maximum(hired[recent], self.today - rng.integers(0, 40, recent.sum()))
        last_active = np.select(
            [status == ACTIVE, status == LEAVE],
            [self.today - rng.integers(0, 22, n), self.today - rng.integers(30, 200, n)],
            ppl.terminated_on[person] - rng.integers(0, 10, n))
        last_active = np.maximum(last_active, assigned)
        no_activity = recent.copy()

        rng = self.rng("licenses.planted")
        ids = _ids("LIC-", n)
        rows = self.plant(rng, np.flatnonzero((status == ACTIVE) & ~recent
                                              & (assigned <= self.today - 420)),
                          0.03, UNUSED_LICENSE)
        last_active[rows] = self.today - rng.integers(75, 400, len(rows))
        no_activity[rows[::3]] = True
        self.record(UNUSED_LICENSE, ids, rows)

        seats = np.bincount(sku[status != TERMINATED], minlength=len(SKUS))
        self.tables["subscriptions"] = _table("subscriptions", {
            "id": _ids("SUB-", len(SKUS), 2),
            "product": _pick([s[0] for s in SKUS], np.arange(len(SKUS))),
            "sku": _pick([s[1] for s in SKUS], np.arange(len(SKUS))),
            "prepaid_units": _int(np.ceil(seats * 1.08) + 5),
            "consumed_units": _int(seats),
            "unit_cost": _num(np.array([s[2] for s in SKUS])),
            "renews_on": _dates(self.today + rng.integers(30, 365, len(SKUS))),
        })
        self.tables["licenses"] = _table("licenses", {
            "id": ids,
            "product": _pick([s[0] for s in SKUS], sku),
            "sku": _pick([s[1] for s in SKUS], sku),
            "subscription_id": _ids("SUB-", len(SKUS), 2).take(pa.array(sku)),
            "assigned_to": self.person_ids.take(pa.array(person)),
            "monthly_cost": _num(np.array([s[2] for s in SKUS])[sku]),
            "assigned_on": _dates(assigned),
            "last_active_on": _dates(last_active, null=no_activity),
            "status": _pick(("active", "suspended", "removed"), status),
        })

    # -- invoices, charges, disputes --------------------------------------------------------
    def billing(self) -> None:
        rng = self.rng("invoices")
        ln, acct, rates = self.ln, self.acct, self.rates
        months = self.month - 3 + np.arange(3)
        p_first = _month_first(months)
        p_last = _month_first(months + 1) - 1
        ni = acct.n * 3
        inv_account = np.repeat(np.arange(acct.n), 3)
        inv_period = np.tile(np.arange(3), acct.n)
        issued = np.minimum(p_last[inv_period] + rng.integers(2, 7, ni), self.today)
        due = issued + 30
        approved = issued + rng.integers(1, 9, ni)
        paid = approved + rng.integers(1, 13, ni)

        rng = self.rng("invoices.planted")
        late_fee_inv = self.plant(rng, np.flatnonzero(inv_period >= 1), 0.05, LATE_FEE)
        previous = late_fee_inv - 1  # same account, the month before
        paid[previous] = due[previous] + rng.integers(3, 16, len(previous))
        paid = np.maximum(paid, approved)

        # Recurring charges: every billable line, every month, at the contracted rate.
        rng = self.rng("charges")
        billable = np.flatnonzero(ln.status != 2)
        r_line = np.repeat(billable, 3)
        r_period = np.tile(np.arange(3), len(billable))
        r_code = ln.plan[r_line]
        market = ln.market[r_line]
        current = p_first[r_period] >= rates.change[market]
        r_rate = np.where(current, rates.new[market, r_code], rates.old[market, r_code])
        # Usage charges on mobile lines.
        mobile = np.flatnonzero(ln.active & (ln.kind == MOBILE))
        u_parts = []
        for u, (share, lo, hi) in enumerate(((0.06, 1, 6), (0.04, 5, 300), (0.03, 1, 10))):
            hit = rng.random((len(mobile), 3)) < share
            li, pi = np.nonzero(hit)
            u_parts.append((mobile[li], pi, np.full(len(li), len(PLANS) + u),
                            rng.integers(lo, hi, len(li)).astype(float)))
        u_line = np.concatenate([p[0] for p in u_parts])
        u_period = np.concatenate([p[1] for p in u_parts])
        u_code = np.concatenate([p[2] for p in u_parts])
        u_qty = np.concatenate([p[3] for p in u_parts])
        market = ln.market[u_line]
        current = p_first[u_period] >= rates.change[market]
        u_rate = np.where(current, rates.new[market, u_code], rates.old[market, u_code])

        line = np.r_[r_line, u_line]
        period = np.r_[r_period, u_period]
        code = np.r_[r_code, u_code]
        qty = np.r_[np.ones(len(r_line)), u_qty]
        rate = np.r_[r_rate, u_rate]
        ctype = np.r_[np.zeros(len(r_line), np.int64), np.ones(len(u_line), np.int64)]
        invoice = ln.account[line] * 3 + period

        rng = self.rng("charges.planted")
        above = self.plant(rng, np.arange(len(r_line)), 0.02, ABOVE_RATE)
        contracted = rate[above].copy()
        rate[above] = np.round(contracted * rng.uniform(1.05, 1.3, len(above)), 2)
        amount = np.round(qty * rate, 2)

        # Invoice-level charges: credits, late fees, surcharges, then tax on the subtotal.
        credit_inv = np.flatnonzero(rng.random(ni) < 0.02)
        lines_billed = np.bincount(invoice[ctype == 0], minlength=ni)
        fx = FX[acct.currency[inv_account]]
        surcharge = np.round(0.45 * lines_billed * fx, 2)
        extra_inv = np.r_[credit_inv, late_fee_inv, np.arange(ni)]
        extra_amount = np.r_[-np.round(rng.uniform(10, 200, len(credit_inv)), 2),
                             np.round(rng.uniform(15, 150, len(late_fee_inv)), 2), surcharge]
        extra_type = np.r_[np.full(len(credit_inv), 6), np.full(len(late_fee_inv), 5),
                           np.full(ni, 4)]
        subtotal = (np.bincount(invoice, weights=amount, minlength=ni)
                    + np.bincount(extra_inv, weights=extra_amount, minlength=ni))
        tax_rate = np.where(acct.currency[inv_account] == 0, 0.07, 0.20)
        tax = np.round(subtotal * tax_rate, 2)

        n_items = len(line)
        all_inv = np.r_[invoice, extra_inv, np.arange(ni)]
        all_type = np.r_[ctype, extra_type, np.full(ni, 3)]
        all_amount = np.r_[amount, extra_amount, tax]
        n = len(all_inv)
        item = np.r_[np.arange(n_items), np.full(n - n_items, -1)]
        order = np.argsort(all_inv, kind="stable")
        all_inv, all_type, all_amount, item = all_inv[order], all_type[order], all_amount[order], item[order]
        position = np.empty(n, np.int64)
        position[order] = np.arange(n)
        is_item = item >= 0
        it = np.maximum(item, 0)
        # Code index: plans and usage codes, then the invoice-level codes.
        extra_codes = ("TAX", "REG-RECOVERY", "LATE-FEE", "SLA-CREDIT")
        code_all = np.where(is_item, code[it], len(CHARGE_CODES) + all_type - 3)
        descriptions = ([p[1] for p in PLANS] + [u[1] for u in USAGE_CODES]
                        + ["Sales tax / VAT", "Regulatory cost recovery", "Late payment charge",
                           "Service level credit"])
        ids = _ids("CHG-", n)
        self.record(ABOVE_RATE, ids, np.sort(position[above]))
        self.record(LATE_FEE, ids, np.flatnonzero(all_type == 5))

        inv_ids = _ids("INV-", ni)
        period_labels = np.datetime_as_string(months.astype("datetime64[M]"), unit="M")
        p_of = inv_period[all_inv]
        total = np.round(np.bincount(all_inv, weights=all_amount, minlength=ni), 2)
        self.tables["charges"] = _table("charges", {
            "id": ids,
            "invoice_id": inv_ids.take(pa.array(all_inv)),
            "line_id": self.line_ids.take(pa.array(line[it], mask=~is_item)),
            "charge_code": _pick(CHARGE_CODES + extra_codes, code_all),
            "charge_type": _pick(("recurring", "usage", "one_time", "tax", "surcharge",
                                  "late_fee", "credit"), all_type),
            "description": _pick(descriptions, code_all),
            "quantity": _num(qty[it], null=~is_item, decimals=3),
            "unit_rate": _num(rate[it], null=~is_item, decimals=4),
            "amount": _num(all_amount),
            "currency": _pick(CURRENCIES, acct.currency[inv_account[all_inv]]),
            "period_start": _dates(p_first[p_of]),
            "period_end": _dates(p_last[p_of]),
        })
        unpaid = paid > self.today
        self.tables["invoices"] = _table("invoices", {
            "id": inv_ids,
            "account_id": self.account_ids.take(pa.array(inv_account)),
            "invoice_number": _join(self.account_numbers.take(pa.array(inv_account)), "-",
                                    pc.replace_substring(_pick(period_labels, inv_period), "-", "")),
            "period": _pick(period_labels, inv_period),
            "issued_on": _dates(issued),
            "due_on": _dates(due),
            "approved_on": _dates(approved, null=approved > self.today),
            "paid_on": _dates(paid, null=unpaid),
            "total": _num(total),
            "currency": _pick(CURRENCIES, acct.currency[inv_account]),
        })

        # Disputes raised for some of the overbilled charges.
        rng = self.rng("disputes")
        disputed = rng.choice(above, size=max(1, len(above) // 4), replace=False)
        disputed.sort()
        nd = len(disputed)
        opened = np.minimum(issued[invoice[disputed]] + rng.integers(3, 21, nd), self.today)
        dstatus = rng.choice(3, nd, p=(0.5, 0.3, 0.2))
        credited_on = opened + rng.integers(7, 31, nd)
        dstatus[(dstatus == 1) & (credited_on > self.today)] = 0
        self.tables["disputes"] = _table("disputes", {
            "id": _ids("DSP-", nd),
            "account_id": self.account_ids.take(pa.array(ln.account[line[disputed]])),
            "charge_id": ids.take(pa.array(position[disputed])),
            "opened_on": _dates(opened),
            "amount": _num((rate[disputed] - contracted[np.searchsorted(above, disputed)])
                           * qty[disputed]),
            "status": _pick(("open", "credited", "rejected"), dstatus),
            "credited_on": _dates(credited_on, null=dstatus != 1),
        })


def _ascii(name: str) -> str:
    """An e-mail local part from a name: lower case, ASCII letters only."""
    table = str.maketrans({"é": "e", "ü": "ue", "'": ""})
    return name.lower().translate(table)
