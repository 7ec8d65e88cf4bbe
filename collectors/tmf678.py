"""The ``tmf678`` collector: carrier bills through the TM Forum Customer Bill Management API
(TMF678 v4 and v5) → ``invoices``, ``accounts`` and ``charges``.

::

    sources:
      carrier-bills:
        collector: tmf678
        vendor: acme-telecom
        url: https://bss.example.net/tmf-api/customerBillManagement/v4
        token_url: https://bss.example.net/oauth2/token
        client_id: dialtone
        client_secret_env: DIALTONE_ACME_SECRET
        bill_filter: {billDate.gt: "2026-01-01"}

From a REST endpoint (``url``) it lists ``GET /customerBill`` and, for each bill,
``GET /appliedCustomerBillingRate?bill.id=…``, ``offset``/``limit`` page by page
until ``X-Total-Count`` items are read (a short read is an error, never a silent
truncation). From exported files (``path``: a file or a folder of ``*.json``) a
file holds one CustomerBill, a list of them, or a list of
AppliedCustomerBillingRate; files are read one item at a time.

A CustomerBill is an invoice (and its billing account an account); an
AppliedCustomerBillingRate is a charge, and each of its ``appliedTax`` items a
tax charge. Every row keeps where it was read (``source_position``: the file and
JSON pointer, or the list's URL and index). A bill whose charges do not add up
to its amount is reported (docs/collectors/tmf678.md, "Reconciliation").
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import json
import re
import time
import typing as t
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pyarrow as pa
import pyarrow.compute as pc
from requests.auth import HTTPBasicAuth

from dialtone.engine.collector_api import ROW_COLUMN, RawBatch, RawReject, SourceData, settings_schema
from dialtone.engine.errors import CollectError, ConfigError
from dialtone.engine.snapshots import sha256_file

from .cdr import input_files
from .http_api import (
    ApiClient,
    ClientCredentialsToken,
    response_fingerprint,
    secret,
    secret_schema,
    secret_setting_names,
)

CHARGE_TYPES = ("recurring", "usage", "one_time", "tax", "surcharge", "late_fee", "credit")
#: TMF678's rate type words (and the usual variants of BSS vendors) → the estate's charge
#: types. Matched without regard to case; ``charge_types`` in the settings adds or overrides.
#: TMF678's own three (v4 ``type``, v5 ``appliedBillingRateType``): appliedBillingCredit is
#: any credit, appliedPenaltyCharge a penalty linked to dunning (late fee, payment rejection
#: fee, interest), appliedBillingCharge any other charge but a tax - which kind is not said
#: (None: a charge of no type, not a reject).
DEFAULT_CHARGE_TYPES: dict[str, str | None] = {
    "appliedbillingcharge": None, "appliedbillingcredit": "credit", "appliedpenaltycharge": "late_fee",
    "recurring": "recurring", "recurringcharge": "recurring", "rc": "recurring",
    "usage": "usage", "usagecharge": "usage",
    "onetime": "one_time", "one-time": "one_time", "one_time": "one_time", "onetimecharge": "one_time",
    "nonrecurring": "one_time", "nrc": "one_time",
    "tax": "tax", "surcharge": "surcharge", "fee": "surcharge",
    "latefee": "late_fee", "late_fee": "late_fee", "latepaymentfee": "late_fee", "penalty": "late_fee",
    "credit": "credit", "adjustment": "credit", "discount": "credit", "allowance": "credit",
    "rebate": "credit", "refund": "credit",
}
#: CustomerBill states of TMF678 v4 and v5 (CustomerBillStateType), plus ``partiallySettled``,
#: the name the data model's description uses for ``partiallyPaid``.
BILL_STATES = ("new", "onHold", "validated", "sent", "partiallyPaid", "partiallySettled", "settled",
               "inProgress")
DEFAULT_LINE_CHARACTERISTICS = ("msisdn", "phoneNumber", "serviceNumber", "lineId")
#: The money properties of a CustomerBill, in the order the invoice total is taken from.
BILL_MONEY = ("taxIncludedAmount", "amountDue", "taxExcludedAmount", "remainingAmount")

INVOICE_COLUMNS = ("id", "account_id", "invoice_number", "period", "issued_on", "due_on", "total",
                   "currency", "source_position")
ACCOUNT_COLUMNS = ("id", "vendor", "account_number", "currency")
CHARGE_COLUMNS = ("id", "invoice_id", "line_id", "charge_code", "charge_type", "description", "amount",
                  "currency", "period_start", "period_end", "dispute_reference", "source_position")
COLUMNS = {"invoices": INVOICE_COLUMNS, "accounts": ACCOUNT_COLUMNS, "charges": CHARGE_COLUMNS}

#: RFC 3339 date-times as carriers write them: "T"/"Z" in either case (RFC 3339 §5.6 allows
#: lower case; TM Forum's own v5 sample has "…982z"), any number of fraction digits, an offset or
#: none, or a date alone. Only the date is kept (see _date).
_DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
                        r"(?:[Zz]|[+-]\d{2}:?\d{2})?)?")
_CURRENCY = re.compile(r"[A-Z]{3}")
READ_SIZE = 1 << 20
#: The largest bill or rate one item may be: far above any real one, and it bounds what a file
#: with a broken item makes the reader hold before it says where.
MAX_ITEM = 64 * READ_SIZE
#: Charges are kept as Arrow tables of this many rows: columns of text take a fraction of the
#: memory the same rows take as Python dicts.
CHUNK_ROWS = 50_000
#: Charge columns kept while reading: the estate's, and where the rate's currency was read.
CHARGE_FIELDS = (*CHARGE_COLUMNS, "_unit_at")
#: Money is summed exactly, as decimals of this type (a value with more places is a reject).
SUM_TYPE = pa.decimal128(38, 18)


class Bad(Exception):
    """One item that cannot be read: the JSON pointer of the offending value, and why."""

    def __init__(self, pointer: str, value: t.Any, reason: str) -> None:
        super().__init__(reason)
        self.pointer = pointer
        self.value = value
        self.reason = reason


class JsonSyntaxError(Exception):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"invalid JSON at line {line}, column {column}: {message}")


# -- reading JSON files one item at a time ------------------------------------------------------
def json_items(path: Path) -> t.Iterator[tuple[int | None, t.Any]]:
    """The items of a JSON file: ``(None, value)`` for a file that is one value (a CustomerBill),
    ``(index, item)`` for each item of a top-level array, read one at a time so memory holds one
    item, not the file. Numbers with a fraction are ``Decimal`` (money keeps its cents).

    Built on the standard library's decoder (``raw_decode`` from a position) rather than an
    event parser because it tells the line and column of a syntax error, which a user needs.
    Raises :class:`JsonSyntaxError`."""
    decoder = json.JSONDecoder(parse_float=Decimal)
    with path.open(encoding="utf-8-sig") as fh:
        buf = fh.read(READ_SIZE)
        eof = not buf
        base_line, base_col = 0, 0   # lines before buf, and buf[0]'s column in its line

        def where(pos: int) -> tuple[int, int]:
            nl = buf.rfind("\n", 0, pos)
            line = base_line + buf.count("\n", 0, pos) + 1
            return line, (pos - nl if nl >= 0 else base_col + pos + 1)

        def fail(pos: int, message: str) -> t.NoReturn:
            raise JsonSyntaxError(*where(pos), message)

        def more(size: int = READ_SIZE) -> bool:
            nonlocal buf, eof
            chunk = "" if eof else fh.read(size)
            eof = not chunk
            buf += chunk
            return bool(chunk)

        def skip(pos: int) -> int:
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf) or not more():
                    return pos

        def decode(pos: int) -> tuple[t.Any, int]:
            # An item may straddle the end of what was read: read on until it decodes whole.
            # What is read doubles each time, so an item is decoded a few times, not once a block.
            while True:
                if len(buf) - pos > MAX_ITEM:
                    fail(pos, f"an item longer than {MAX_ITEM:,} characters (a broken or runaway value)")
                try:
                    value, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    if more(max(READ_SIZE, len(buf) - pos)):
                        continue
                    fail(exc.pos, exc.msg)
                if end < len(buf) or not more():   # a number at the very end may go on
                    return value, end

        pos = skip(0)
        if pos >= len(buf):
            fail(pos, "the file is empty")
        if buf[pos] != "[":
            while len(buf) - pos <= MAX_ITEM and more():   # one value: a single bill is small
                pass
            value, end = decode(pos)
            if skip(end) < len(buf):
                fail(skip(end), "extra data after the JSON value")
            yield None, value
            return
        pos = skip(pos + 1)
        index = 0
        while True:
            if pos >= len(buf):
                fail(pos, "the array is not closed (the file ends early)")
            if buf[pos] == "]":
                end = skip(pos + 1)
                if end < len(buf):
                    fail(end, "extra data after the JSON array")
                return
            if index:
                if buf[pos] != ",":
                    fail(pos, "Expecting ',' delimiter")
                pos = skip(pos + 1)
            value, pos = decode(pos)
            yield index, value
            index += 1
            pos = skip(pos)
            if pos > READ_SIZE:   # drop what is read, keeping positions right
                done = buf[:pos]
                nl = done.rfind("\n")
                base_col = base_col + len(done) if nl < 0 else len(done) - nl - 1
                base_line += done.count("\n")
                buf, pos = buf[pos:], 0


def _not_utf8(path: Path) -> str:
    """Where a file stops being UTF-8: its byte offset and line (the text reader only knows the
    offset in its own buffer)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    done, lines = 0, 1
    with path.open("rb") as fh:
        while chunk := fh.read(READ_SIZE):
            pending = decoder.getstate()[0]   # the start of a character cut by the last read
            try:
                decoder.decode(chunk, final=len(chunk) < READ_SIZE)
            except UnicodeDecodeError as exc:   # exc.start counts from the pending bytes
                lines += (pending + chunk)[:exc.start].count(b"\n")
                return (f"not UTF-8 text: byte {done - len(pending) + exc.start} (line {lines}): "
                        f"{exc.reason}")
            done += len(chunk)
            lines += chunk.count(b"\n")
    return "not UTF-8 text"


# -- reading values ---------------------------------------------------------------------------
def _pointer(*parts: t.Any) -> str:
    """A JSON pointer (RFC 6901) from its reference tokens."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _text(obj: dict, key: str, ptr: str, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise Bad(ptr + _pointer(key), None, f"'{key}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Bad(ptr + _pointer(key), value, f"expected a string, got a JSON {_kind(value)}")
    return str(value).strip() or None


def _object(obj: dict, key: str, ptr: str, required: bool = False) -> dict | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise Bad(ptr + _pointer(key), None, f"'{key}' is required")
        return None
    if not isinstance(value, dict):
        raise Bad(ptr + _pointer(key), value, f"expected an object, got a JSON {_kind(value)}")
    return value


def _list(obj: dict, key: str, ptr: str) -> list:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Bad(ptr + _pointer(key), value, f"expected an array, got a JSON {_kind(value)}")
    return value


def _kind(value: t.Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def _money(obj: dict, key: str, ptr: str) -> tuple[Decimal, str] | None:
    """A Money object ``{"unit": "EUR", "value": 12.5}``: its value and unit."""
    money = _object(obj, key, ptr)
    if money is None:
        return None
    where = ptr + _pointer(key)
    value = money.get("value")
    if value is None:
        raise Bad(where + "/value", None, f"'{key}' has no 'value'")
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise Bad(where + "/value", value, f"expected a number, got a JSON {_kind(value)}")
    exponent = Decimal(value).as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -SUM_TYPE.scale:
        raise Bad(where + "/value", str(value), f"expected an amount, with at most {SUM_TYPE.scale} "
                  "decimal places")
    unit = money.get("unit")
    if not isinstance(unit, str) or not _CURRENCY.fullmatch(unit):
        raise Bad(where + "/unit", unit, "expected an ISO 4217 currency code (e.g. EUR)")
    return Decimal(value), unit


def _date(obj: dict, key: str, ptr: str, end: bool = False) -> str | None:
    """The date of a TMF date-time, as written: a bill's date is the carrier's calendar day, and
    moving a ``T00:00:00+01:00`` due date to UTC would make it the day before. ``end``: the end
    of a period, where midnight is the moment the period ends, so its last day is the day
    before (``endDateTime: 2026-05-01T00:00:00Z`` covers April through the 30th)."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    day = _day(value, end) if isinstance(value, str) else None
    if day is None:
        raise Bad(ptr + _pointer(key), value, "expected an RFC 3339 date-time or a date")
    return day


@functools.lru_cache(maxsize=1024)   # the rates of a bill share a few periods
def _day(value: str, end: bool) -> str | None:
    match = _DATE_TIME.fullmatch(value.strip())
    if match is None:
        return None
    y, m, d, hh, mm, ss, frac = (int(g) if g else 0 for g in match.groups())
    try:
        day = dt.date(y, m, d)
        dt.time(hh, mm, ss)
    except ValueError:
        return None
    if end and match.group(4) is not None and not (hh or mm or ss or frac):
        day -= dt.timedelta(days=1)
    return day.isoformat()


def _decimal_text(value: Decimal) -> str:
    return format(value, "f")


def _figure(value: Decimal) -> str:
    """Money in a message: at least cents, as a bill prints it (``180.0`` → ``180.00``)."""
    exponent = value.as_tuple().exponent
    return _decimal_text(value.quantize(Decimal("0.01")) if isinstance(exponent, int) and exponent > -2
                         else value)


# -- settings ---------------------------------------------------------------------------------
@dataclass
class _Bill:
    id: str
    position: str
    origin: str
    row: int
    currency: str | None
    amounts: dict[str, Decimal]
    ptr: str = ""
    account_id: str = ""
    number: str = ""
    #: TMF678's category "duplicate": the bill issued again, a copy of another.
    duplicate: bool = False


class Tmf678Collector:
    """TM Forum TMF678 customer bills and their applied billing rates, by REST or from files."""

    config_schema = settings_schema(
        required=["vendor"],
        properties={
            "vendor": {"type": "string", "minLength": 1,
                       "description": "The carrier: the vendor of the billing accounts"},
            "path": {"type": "string", "minLength": 1,
                     "description": "An exported JSON file, or a folder of them"},
            "files": {"type": "string", "minLength": 1,
                      "description": "In a folder, the files to read (glob; default *.json)"},
            "url": {"type": "string", "pattern": "^https?://",
                    "description": "The API root, ending before /customerBill"},
            "token_url": {"type": "string", "pattern": "^https?://",
                          "description": "OAuth2 token endpoint (client credentials)"},
            "client_id": {"type": "string", "minLength": 1, "description": "OAuth2 client id"},
            **secret_schema("client_secret", "OAuth2 client secret"),
            "scope": {"type": "string", "minLength": 1, "description": "OAuth2 scope to ask for"},
            **secret_schema("token", "bearer token"),
            "username": {"type": "string", "minLength": 1, "description": "HTTP Basic user name"},
            **secret_schema("password", "HTTP Basic password"),
            "page_size": {"type": "integer", "minimum": 1, "maximum": 1000,
                          "description": "Items asked for per page (limit; default 100)"},
            "bill_filter": {"type": "object",
                            "additionalProperties": {"type": ["string", "number", "boolean"]},
                            "description": "Query parameters for GET /customerBill"},
            "timeout": {"type": "number", "exclusiveMinimum": 0,
                        "description": "Seconds to wait for each answer (default 30)"},
            "charge_types": {"type": "object", "additionalProperties": {"enum": list(CHARGE_TYPES)},
                             "description": "Rate type words → charge types, beside the defaults"},
            "taxes": {"enum": ["items", "included"],
                      "description": "items: one tax charge per appliedTax (default); included: "
                                     "one tax charge per rate. Charges are always without tax"},
            "line_characteristics": {"type": "array", "items": {"type": "string", "minLength": 1},
                                     "description": "Characteristic names holding the line"},
            "line_from_product": {"enum": ["id", "name", "none"],
                                  "description": "Without such a characteristic, the line is the "
                                                 "product's id (default), name, or none"},
            "dispute_characteristic": {"type": "string", "minLength": 1,
                                       "description": "Characteristic holding the carrier's dispute "
                                                      "reference (default disputeReference)"},
            "extra_states": {"type": "array", "items": {"type": "string", "minLength": 1},
                             "description": "Bill states to accept beside TMF678's"},
            "tolerance": {"type": "number", "minimum": 0,
                          "description": "How far charges may be from the bill's amount (default 0.01)"},
            "unreconciled": {"enum": ["warn", "reject"],
                             "description": "A bill whose charges do not add up: a warning (default) "
                                            "or a reject of the bill and its charges"},
        },
    )
    secret_settings = (secret_setting_names("client_secret") + secret_setting_names("token")
                       + secret_setting_names("password"))
    #: What a collect can fill (docs/collectors/tmf678.md, "Field mapping").
    fills: t.ClassVar[dict[str, tuple[str, ...]]] = dict(COLUMNS)

    #: How the client waits before a retry; tests replace it.
    sleep: t.ClassVar[t.Callable[[float], None]] = staticmethod(time.sleep)

    def __init__(self, source: str, settings: dict, base_dir: Path) -> None:
        self.source = source
        where = f"sources.{source}"
        if ("path" in settings) == ("url" in settings):
            raise ConfigError(f"{where}: give either 'path' (exported JSON files) or 'url' "
                              "(the TMF678 API), one of them.")
        self.vendor = settings["vendor"]
        self.path = (base_dir / settings["path"]).resolve() if "path" in settings else None
        self.pattern = settings.get("files", "*.json")
        self.url = settings.get("url")
        self.auth: t.Any = None
        if self.url is not None:
            self.auth = self._auth(settings, where, base_dir)
        elif any(k in settings for k in ("token_url", "client_id", "username", "bill_filter",
                                         "page_size", *self.secret_settings)):
            raise ConfigError(f"{where}: credentials, bill_filter and page_size are for 'url'; "
                              "'path' reads files.")
        self.page_size = settings.get("page_size", 100)
        self.bill_filter = dict(settings.get("bill_filter") or {})
        self.timeout = settings.get("timeout", 30)
        self.types: dict[str, str | None] = dict(DEFAULT_CHARGE_TYPES)
        self.types.update({k.lower(): v for k, v in (settings.get("charge_types") or {}).items()})
        self.taxes = settings.get("taxes", "items")
        # In the order given: the first one a rate has is its line.
        self.line_names = tuple(dict.fromkeys(n.lower() for n in settings.get(
            "line_characteristics", DEFAULT_LINE_CHARACTERISTICS)))
        self.line_from_product = settings.get("line_from_product", "id")
        self.dispute_name = settings.get("dispute_characteristic", "disputeReference").lower()
        self.states = {s.lower(): s for s in (*BILL_STATES, *settings.get("extra_states", ()))}
        self.tolerance = Decimal(str(settings.get("tolerance", 0.01)))
        self.unreconciled = settings.get("unreconciled", "warn")

    def _auth(self, settings: dict, where: str, base_dir: Path) -> t.Any:
        ways = [w for w, keys in (("client_id", ("client_id",)), ("token", secret_setting_names("token")),
                                  ("username", ("username",))) if any(k in settings for k in keys)]
        if len(ways) > 1:
            raise ConfigError(f"{where}: give one way to sign in, not {' and '.join(ways)}.")
        if "client_id" in settings:
            if "token_url" not in settings:
                raise ConfigError(f"{where}: 'client_id' needs 'token_url', the OAuth2 token endpoint.")
            return ClientCredentialsToken(settings["token_url"], settings["client_id"],
                                          secret(settings, "client_secret", self.source, base_dir),
                                          settings.get("scope"), timeout=settings.get("timeout", 30))
        if ways == ["token"]:
            return _Bearer(secret(settings, "token", self.source, base_dir))
        if "username" in settings:
            return HTTPBasicAuth(settings["username"], secret(settings, "password", self.source, base_dir))
        return None

    # -- collecting ------------------------------------------------------------------------------
    def collect(self) -> SourceData:
        run = _Run(self, SourceData())
        if self.url is not None:
            self._collect_api(run)
        else:
            self._collect_files(run)
        return run.finish()

    def _collect_files(self, run: _Run) -> None:
        assert self.path is not None
        files = input_files(self.source, self.path, self.pattern)
        for f in files:
            origin = f.relative_to(self.path).as_posix() if self.path.is_dir() else f.name
            run.data.watch(f)
            run.data.inputs[origin] = sha256_file(f)
            # Items are mapped as they are read, so memory holds rows, not the parsed file; a file
            # that turns out not to be JSON is refused whole, what was mapped from it taken back.
            mark = run.mark()
            kinds: set[str] = set()
            try:
                for index, item in json_items(f):
                    ptr = "" if index is None else _pointer(index)
                    row = 1 if index is None else index + 1
                    if _is_rate(item):
                        kinds.add("charges")
                        run.rate(item, origin, row, ptr, f"{origin}#{ptr}", None)
                    else:
                        kinds.add("invoices")
                        run.bill(item, origin, row, ptr, f"{origin}#{ptr}")
            except (JsonSyntaxError, UnicodeDecodeError) as exc:
                run.back_to(mark)
                what = _not_utf8(f) if isinstance(exc, UnicodeDecodeError) else str(exc)
                run.reject(origin, None, "", "", f"{what}; nothing of the file was read",
                           "charges" if kinds == {"charges"} else "invoices")
            else:
                run.commit()

    def _collect_api(self, run: _Run) -> None:
        assert self.url is not None
        with ApiClient(self.url, auth=self.auth, source=self.source, timeout=self.timeout,
                       sleep=self.sleep) as api:
            listing = f"{api.base_url}/customerBill"
            bills = list(self._listing(api, "customerBill", self.bill_filter))
            run.data.inputs["customerBill"] = response_fingerprint(bills)
            for index, bill in enumerate(bills):
                run.bill(bill, listing, index + 1, _pointer(index), f"{listing}#{_pointer(index)}")
            for bill_id in list(run.bills):
                query = {"bill.id": bill_id}
                rates = list(self._listing(api, "appliedCustomerBillingRate", query))
                listed = f"appliedCustomerBillingRate?{urlencode(query)}"
                origin = f"{api.base_url}/{listed}"
                run.data.inputs[listed] = response_fingerprint(rates)
                for index, rate in enumerate(rates):
                    run.rate(rate, origin, index + 1, _pointer(index), f"{origin}#{_pointer(index)}",
                             bill_id)
                run.commit()

    def _listing(self, api: ApiClient, resource: str, query: dict) -> t.Iterator[t.Any]:
        """Every item of a TMF list, ``offset``/``limit`` page by page until ``X-Total-Count``
        items are read; without that header, until a page comes back short."""
        shown = f"GET {api.base_url}/{resource}"
        offset, total = 0, None
        before: list = []
        while True:
            items, headers = api.get_json_list(resource, {**query, "offset": offset, "limit": self.page_size},
                                               parse_float=Decimal)
            page_total = _count(headers, "X-Total-Count", self.source, shown)
            result = _count(headers, "X-Result-Count", self.source, shown)
            if result is not None and result != len(items):
                raise CollectError(f"source '{self.source}': {shown} at offset {offset}: X-Result-Count "
                                   f"says {result} items, the page has {len(items)}")
            if total is not None and page_total is not None and page_total != total:
                raise CollectError(f"source '{self.source}': {shown}: X-Total-Count changed from {total} "
                                   f"to {page_total} while the list was read; collect again")
            total = page_total if page_total is not None else total
            ids = [i.get("id") for i in items if isinstance(i, dict)]
            if offset and ids and ids == before:
                # A service that ignores offset would give the first page for ever.
                raise CollectError(f"source '{self.source}': {shown}: the page at offset {offset} is "
                                   f"the page before it again: the service does not page by offset")
            before = ids
            yield from items
            offset += len(items)
            if total is None:
                if len(items) < self.page_size:
                    return
            elif offset >= total:
                if offset > total:
                    raise CollectError(f"source '{self.source}': {shown}: {offset} items read, "
                                       f"but X-Total-Count says {total}")
                return
            elif not items:
                raise CollectError(f"source '{self.source}': {shown}: the service stopped at {offset} "
                                   f"of the {total} items its X-Total-Count announced (short read)")


class _Bearer:
    """A fixed bearer token (a :class:`~.http_api.TokenSource` that cannot refresh)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self, force_refresh: bool = False) -> str:
        return self._token


def _count(headers: t.Mapping[str, str], name: str, source: str, shown: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        count = int(value)
        if count < 0:
            raise ValueError
    except ValueError:
        raise CollectError(f"source '{source}': {shown}: {name} is '{value}', not a count") from None
    return count


def _is_rate(item: t.Any) -> bool:
    if not isinstance(item, dict):
        return False
    kind = item.get("@type")
    if isinstance(kind, str) and kind:
        return "AppliedCustomerBillingRate" in kind or "AppliedBillingRate" in kind
    return "bill" in item and "billNo" not in item


# -- mapping ----------------------------------------------------------------------------------
class _Run:
    """One collect: the rows read so far, the bills they belong to, and the reconciliation."""

    def __init__(self, c: Tmf678Collector, data: SourceData) -> None:
        self.c = c
        self.data = data
        self.rows: dict[str, list[tuple[str, int, dict]]] = defaultdict(list)   # invoices, accounts
        self.charges = _Charges()
        # Every bill read, copies too: which of the bills sharing a billNo is kept is decided
        # once all are read (finish), so the order they are listed in does not matter.
        self.bills: dict[str, _Bill] = {}
        self.copies: set[str] = set()   # the bills refused as copies of another (finish)
        self.accounts: dict[str, None] = {}   # ordered, for back_to
        self.not_billed = 0
        self.gross_only = 0   # rates with taxes in their amount and not itemised: not split
        self.status_files: set[str] = set()

    def mark(self) -> tuple:
        """Where the run is, to go back to if a file must be refused whole."""
        return ({e: len(r) for e, r in self.rows.items()}, len(self.bills), len(self.accounts),
                len(self.data.rejects), self.not_billed, self.gross_only, set(self.status_files))

    def back_to(self, mark: tuple) -> None:
        lengths, bills, accounts, rejected, self.not_billed, self.gross_only, self.status_files = mark
        for entity, kept in self.rows.items():
            del kept[lengths.get(entity, 0):]
        for bill_id in list(self.bills)[bills:]:
            del self.bills[bill_id]
        for account_id in list(self.accounts)[accounts:]:
            del self.accounts[account_id]
        del self.data.rejects[rejected:]
        self.charges.drop()

    def commit(self) -> None:
        """What was read since the last commit (a file, a list) is whole: keep it."""
        self.charges.commit()

    def reject(self, origin: str, row: int | None, ptr: str, value: t.Any, reason: str,
               entity: str) -> None:
        shown = "" if value is None else (value if isinstance(value, str) else _dump(value))
        self.data.rejects.append(RawReject(origin, row, ptr, shown[:200], reason, entity))

    def bill(self, item: t.Any, origin: str, row: int, ptr: str, position: str) -> None:
        try:
            invoice, account, bill = self._bill(item, ptr, position, origin, row)
        except Bad as bad:
            self.reject(origin, row, bad.pointer, bad.value, bad.reason, "invoices")
            return
        if bill.id in self.bills:
            first = self.bills[bill.id]
            self.reject(origin, row, ptr + "/id", bill.id,
                        f"bill {bill.id} was read before, at {first.position}", "invoices")
            return
        self.bills[bill.id] = bill
        self.rows["invoices"].append((origin, row, invoice))
        if account["id"] not in self.accounts:
            self.accounts[account["id"]] = None
            self.rows["accounts"].append((origin, row, account))

    def _bill(self, item: t.Any, ptr: str, position: str, origin: str,
              row: int) -> tuple[dict, dict, _Bill]:
        if not isinstance(item, dict):
            raise Bad(ptr, item, f"expected a CustomerBill object, got a JSON {_kind(item)}")
        bill_id = _text(item, "id", ptr, required=True)
        assert bill_id is not None
        number = _text(item, "billNo", ptr, required=True)
        account = _object(item, "billingAccount", ptr, required=True)
        assert account is not None
        account_id = _text(account, "id", ptr + "/billingAccount", required=True)
        key = "state" if "state" in item else "status"
        if key == "status" and "status" in item:
            # TM Forum's own v5 sample says "status"; the model says "state". Read it, say so.
            self.status_files.add(origin)
        state = _text(item, key, ptr)
        if state is not None and state.lower() not in self.c.states:
            raise Bad(ptr + _pointer(key), state, f"unknown bill state '{state}': expected one of "
                      f"{', '.join(BILL_STATES)} (or add it to extra_states)")
        amounts: dict[str, Decimal] = {}
        currency = None
        for name in BILL_MONEY:
            money = _money(item, name, ptr)
            if money is None:
                continue
            if currency is not None and money[1] != currency:
                raise Bad(ptr + _pointer(name, "unit"), money[1],
                          f"the bill's amounts are in {currency}, this one in {money[1]}")
            amounts[name], currency = money
        period = _object(item, "billingPeriod", ptr)
        start = _date(period, "startDateTime", ptr + "/billingPeriod") if period else None
        total = amounts.get("taxIncludedAmount", amounts.get("amountDue"))
        invoice = {"id": bill_id, "account_id": account_id, "invoice_number": number,
                   "period": start[:7] if start else None,
                   "issued_on": _date(item, "billDate", ptr), "due_on": _date(item, "paymentDueDate", ptr),
                   "total": None if total is None else _decimal_text(total), "currency": currency,
                   "source_position": position}
        acct = {"id": account_id, "vendor": self.c.vendor, "account_number": account_id,
                "currency": currency}
        category = item.get("category")
        duplicate = isinstance(category, str) and category.strip().lower() == "duplicate"
        return invoice, acct, _Bill(bill_id, position, origin, row, currency, amounts, ptr, account_id,
                                    number, duplicate)

    def rate(self, item: t.Any, origin: str, row: int, ptr: str, position: str,
             bill_id: str | None) -> None:
        try:
            charges = self._rate(item, ptr, position, bill_id)
        except Bad as bad:
            self.reject(origin, row, bad.pointer, bad.value, bad.reason, "charges")
            return
        self.charges.add(origin, row, charges)

    def _rate(self, item: t.Any, ptr: str, position: str, bill_id: str | None) -> list[dict]:
        if not isinstance(item, dict):
            raise Bad(ptr, item, f"expected an AppliedCustomerBillingRate object, got a JSON {_kind(item)}")
        rate_id = _text(item, "id", ptr, required=True)
        bill_ref = _object(item, "bill", ptr, required=bill_id is None)
        ref = _text(bill_ref, "id", ptr + "/bill", required=bill_id is None) if bill_ref else None
        if bill_id is not None and ref is not None and ref != bill_id:
            raise Bad(ptr + "/bill/id", ref, f"listed for bill {bill_id}, but the rate says bill {ref}")
        invoice_id = bill_id or ref
        assert invoice_id is not None
        billed = item.get("isBilled")
        if billed is not None and not isinstance(billed, bool):
            raise Bad(ptr + "/isBilled", billed, f"expected true or false, got a JSON {_kind(billed)}")
        if billed is False:
            self.not_billed += 1   # on no bill yet: not a charge of this one
            return []
        # v4 says `type`; v5 renamed it `appliedBillingRateType`.
        key = "type" if item.get("type") not in (None, "") else "appliedBillingRateType"
        word = _text(item, key, ptr)
        charge_type = None
        if word is not None:
            if word.lower() not in self.c.types:
                raise Bad(ptr + _pointer(key), word, f"unknown charge type '{word}': map it to one of "
                          f"{', '.join(CHARGE_TYPES)} in the source's charge_types")
            charge_type = self.c.types[word.lower()]
        # The bill's currency is checked once every bill is read (finish): a file of rates may
        # come before the file of their bills.
        currency: str | None = None
        unit_at = ""

        def money(obj: dict, key: str, where: str) -> Decimal | None:
            nonlocal currency, unit_at
            got = _money(obj, key, where)
            if got is None:
                return None
            if currency is not None and got[1] != currency:
                raise Bad(where + _pointer(key, "unit"), got[1],
                          f"{got[1]} is not {currency}, the unit of the rate's other amounts")
            currency, unit_at = got[1], unit_at or where + _pointer(key, "unit")
            return got[0]

        excluded = money(item, "taxExcludedAmount", ptr)
        included = money(item, "taxIncludedAmount", ptr)
        taxes: list[tuple[int, dict, Decimal]] = []
        for i, tax in enumerate(_list(item, "appliedTax", ptr)):
            where = f"{ptr}/appliedTax/{i}"
            if not isinstance(tax, dict):
                raise Bad(where, tax, f"expected an AppliedBillingTaxRate object, got a JSON {_kind(tax)}")
            amount = money(tax, "taxAmount", where)
            if amount is None:
                raise Bad(where + "/taxAmount", None, "'taxAmount' is required")
            taxes.append((i, tax, amount))
        if excluded is None and included is None:
            raise Bad(ptr + "/taxExcludedAmount", None,
                      "the rate has neither taxExcludedAmount nor taxIncludedAmount")
        # A charge's own amount is always without its taxes, whatever `taxes` says: contract rates
        # are without tax, and a tax-inclusive amount compared with them claims the VAT as an
        # overcharge. Only a rate that gives its amount with taxes and not the taxes cannot be
        # split: it is kept as given, and counted.
        tax_sum = sum((a for _, _, a in taxes), Decimal(0))
        amount = excluded if excluded is not None else included - tax_sum   # type: ignore[operator]
        if excluded is None and not taxes:
            self.gross_only += 1
        if amount < 0 and charge_type != "tax":
            charge_type = "credit"
        traits = self._characteristics(item, ptr)
        offering = _object(item, "productOffering", ptr) or {}
        code = (_text(offering, "id", f"{ptr}/productOffering")
                or _text(offering, "name", f"{ptr}/productOffering") or _text(item, "name", ptr))
        coverage = _object(item, "periodCoverage", ptr) or {}
        base = {"invoice_id": invoice_id, "line_id": self._line(item, traits, ptr), "_unit_at": unit_at,
                "currency": currency,
                "period_start": _date(coverage, "startDateTime", ptr + "/periodCoverage"),
                "period_end": _date(coverage, "endDateTime", ptr + "/periodCoverage", end=True),
                "dispute_reference": traits.get(self.c.dispute_name)}
        charges = [{**base, "id": rate_id, "charge_code": code, "charge_type": charge_type,
                    "description": _text(item, "description", ptr) or _text(item, "name", ptr),
                    "amount": _decimal_text(amount), "source_position": position}]
        if self.c.taxes == "included":
            charges += _tax_of_rate(base, rate_id, ptr, position, taxes, excluded, included)
        else:
            for i, tax, tax_amount in taxes:
                category = _text(tax, "taxCategory", f"{ptr}/appliedTax/{i}")
                charges.append({**base, "id": f"{rate_id}:tax:{i + 1}", "charge_code": category,
                                "charge_type": "tax", "dispute_reference": None,
                                "description": " ".join(filter(None, ("tax", category, _rate_text(tax)))),
                                "amount": _decimal_text(tax_amount),
                                "source_position": f"{position}/appliedTax/{i}"})
            if not taxes and excluded is not None and included is not None and included != excluded:
                # Taxed, but the taxes are not itemised: the difference is the tax.
                charges.append({**base, "id": f"{rate_id}:tax", "charge_code": None, "charge_type": "tax",
                                "dispute_reference": None, "description": "tax (not itemised)",
                                "amount": _decimal_text(included - excluded),
                                "source_position": f"{position}/taxIncludedAmount"})
        return charges

    def _characteristics(self, item: dict, ptr: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for i, trait in enumerate(_list(item, "characteristic", ptr)):
            if not isinstance(trait, dict):
                raise Bad(f"{ptr}/characteristic/{i}", trait,
                          f"expected a Characteristic object, got a JSON {_kind(trait)}")
            name = trait.get("name")
            value = trait.get("value")
            if isinstance(name, str) and value not in (None, "") and not isinstance(value, (dict, list)):
                found.setdefault(name.lower(), str(value).strip())
        return found

    def _line(self, item: dict, traits: dict[str, str], ptr: str) -> str | None:
        for name in self.c.line_names:
            if traits.get(name):
                return traits[name]
        product = _object(item, "product", ptr)
        if product is None or self.c.line_from_product == "none":
            return None
        return _text(product, self.c.line_from_product, ptr + "/product")

    # -- reconciliation and the batches ----------------------------------------------------------
    def finish(self) -> SourceData:
        data = self.data
        self.charges.commit()
        tables = self._same_currency(self._without_copies(self.charges.tables))
        sums = _sums(tables)
        refused: set[str] = set()
        for bill in self.bills.values():
            for problem in self._reconcile(bill, *sums.get(bill.id, (None, None))):
                if self.c.unreconciled == "reject":
                    refused.add(bill.id)
                    self.reject(bill.origin, bill.row, "", bill.id, problem, "invoices")
                else:
                    data.warnings.append(f"{bill.position}: {problem}")
        if refused:
            tables = self._refuse(tables, {b: f"its bill {b} does not reconcile" for b in refused})
        unread = sum(1 for b in self.bills if b not in sums)
        if unread:
            data.warnings.append(f"{unread} bill(s) with no applied billing rates read: their totals "
                                 "are not reconciled")
        orphans = sorted(set(sums) - set(self.bills))
        if orphans:
            data.warnings.append(f"charges of {len(orphans)} bill(s) that were not read: "
                                 f"{', '.join(orphans[:5])}{'…' if len(orphans) > 5 else ''}")
        if self.gross_only:
            data.warnings.append(f"{self.gross_only} applied billing rate(s) give only taxIncludedAmount "
                                 "and no appliedTax: their charges keep that amount, which includes "
                                 "any tax (a contract rate is compared with it as it is)")
        if self.not_billed:
            data.warnings.append(f"{self.not_billed} applied billing rate(s) with isBilled false left "
                                 "out: they are on no bill yet")
        for origin in sorted(self.status_files):
            data.warnings.append(f"{origin}: bills give their state as 'status' (TMF678 says 'state'); "
                                 "read as the state")
        for entity in ("invoices", "accounts"):
            by_origin: dict[str, list[tuple[int, dict]]] = defaultdict(list)
            for origin, row, record in self.rows.get(entity, []):
                if entity == "accounts" or (record["id"] not in refused and record["id"] not in self.copies):
                    by_origin[origin].append((row, record))
            for origin, rows in by_origin.items():
                table = {c: pa.array([r[c] for _, r in rows], pa.string()) for c in COLUMNS[entity]}
                table[ROW_COLUMN] = pa.array([n for n, _ in rows], pa.int64())
                data.batches.append(RawBatch(entity, pa.table(table), origin))
        by_file: dict[str, list[pa.Table]] = defaultdict(list)
        for origin, table in tables:
            by_file[origin].append(table.drop_columns(["_unit_at"]))
        for origin, parts in by_file.items():
            # Streamed: the engine checks a chunk at a time and keeps the checked rows on disk.
            data.batches.append(RawBatch.streamed("charges", origin, lambda parts=parts: iter(parts)))
        return data

    def _without_copies(self, tables: list[tuple[str, pa.Table]]) -> list[tuple[str, pa.Table]]:
        """One bill of each billNo of an account: a copy (TMF678's category "duplicate", the bill
        issued again under an id of its own) would bill every charge twice. Kept is a bill that
        is no copy, else one the rates name, else the one read first, whatever the order the
        bills are listed in (an API listing newest first gives a re-issued copy first). The
        copies are rejects. Their rates are too when the bill kept has rates of its own; when it
        has none, the rates of one copy are its charges (a copy's rates are the bill's)."""
        numbers = [(bill.account_id, bill.number) for bill in self.bills.values()]
        if len(set(numbers)) == len(numbers):   # the usual case, said fast
            return tables
        repeated = {n for n, count in Counter(numbers).items() if count > 1}
        groups: dict[tuple[str, str], list[_Bill]] = defaultdict(list)
        for number, bill in zip(numbers, self.bills.values(), strict=True):
            if number in repeated:
                groups[number].append(bill)
        named = set().union(*(pc.unique(table["invoice_id"]).to_pylist() for _, table in tables))
        moved: dict[str, str] = {}
        refused: dict[str, str] = {}
        for group in groups.values():
            # sorted is stable: among equals, the bill read first is kept.
            kept, *copies = sorted(group, key=lambda b: (b.duplicate, b.id not in named))
            donor = next((b for b in (kept, *copies) if b.id in named), kept)
            for copy_ in copies:
                del self.bills[copy_.id]
                self.copies.add(copy_.id)
                if copy_.duplicate and not kept.duplicate:
                    why = "this bill's category is 'duplicate'"
                elif kept.id in named and copy_.id not in named:
                    why = f"the rates name bill {kept.id}, not this one"
                else:
                    why = f"bill {kept.id} was read first"
                self.reject(copy_.origin, copy_.row, copy_.ptr + "/billNo", copy_.number,
                            f"bill {copy_.number} of account {copy_.account_id} is also bill {kept.id} at "
                            f"{kept.position}: {why}; a copy is not counted twice", "invoices")
                if copy_ is donor:
                    moved[copy_.id] = kept.id
                else:
                    refused[copy_.id] = f"its bill {copy_.id} is a copy of bill {kept.id}"
        if moved:
            tables = _moved(tables, moved)
            shown = [f"{c} → {k}" for c, k in sorted(moved.items())]
            self.data.warnings.append(
                f"the rates of {len(moved)} copied bill(s) are charges of the bill kept, which has no "
                f"rates of its own: {', '.join(shown[:5])}{'…' if len(shown) > 5 else ''}")
        return self._refuse(tables, refused) if refused else tables

    def _same_currency(self, tables: list[tuple[str, pa.Table]]) -> list[tuple[str, pa.Table]]:
        """The charges without the rates in another currency than their bill; those are rejects
        (one per rate, its taxes go with it)."""
        if not self.bills:
            return tables
        ids = pa.array(list(self.bills), pa.string())
        currencies = pa.array([b.currency for b in self.bills.values()], pa.string())
        out = []
        for origin, table in tables:
            expected = pc.take(currencies, pc.index_in(table["invoice_id"], value_set=ids))
            wrong = pc.fill_null(pc.not_equal(table["currency"], expected), False)
            if not pc.any(wrong).as_py():
                out.append((origin, table))
                continue
            rows: dict[int, None] = {}
            for r in table.filter(wrong).to_pylist():
                if r[ROW_COLUMN] not in rows:
                    rows[r[ROW_COLUMN]] = None
                    bill = self.bills[r["invoice_id"]]
                    self.reject(origin, r[ROW_COLUMN], r["_unit_at"], r["currency"],
                                f"{r['currency']} is not {bill.currency}, bill {bill.id}'s currency",
                                "charges")
            dropped = pc.is_in(table[ROW_COLUMN], value_set=pa.array(list(rows), pa.int64()))
            out.append((origin, table.filter(pc.invert(dropped))))
        return out

    def _refuse(self, tables: list[tuple[str, pa.Table]],
                refused: dict[str, str]) -> list[tuple[str, pa.Table]]:
        """The charges without those of bills refused (bill id → why); each of those is a reject."""
        out = []
        value_set = pa.array(sorted(refused), pa.string())
        for origin, table in tables:
            mask = pc.is_in(table["invoice_id"], value_set=value_set)
            for r in table.filter(mask).select(["id", "invoice_id", ROW_COLUMN]).to_pylist():
                self.reject(origin, r[ROW_COLUMN], "", r["id"], refused[r["invoice_id"]], "charges")
            out.append((origin, table.filter(pc.invert(mask))))
        return out

    def _reconcile(self, bill: _Bill, everything: Decimal | None, untaxed: Decimal | None) -> list[str]:
        """What does not add up between a bill's amounts and its charges (none read: nothing)."""
        if everything is None or untaxed is None:
            return []
        checks = [("taxIncludedAmount", everything, "the charges with their taxes")]
        if self.c.taxes == "items":
            checks.append(("taxExcludedAmount", untaxed, "the charges without taxes"))
        problems = []
        for name, got, what in checks:
            want = bill.amounts.get(name)
            if want is not None and abs(want - got) > self.c.tolerance:
                problems.append(f"bill {bill.id} does not reconcile: {what} add up to "
                                f"{_figure(got)} {bill.currency}, its {name} is "
                                f"{_figure(want)} {bill.currency}")
        return problems


class _Charges:
    """The charge rows read so far, as Arrow tables with their origin. Rows of the file being
    read are staged until it is read whole (``commit``), or dropped with it (``drop``)."""

    def __init__(self) -> None:
        self.tables: list[tuple[str, pa.Table]] = []
        self._staged: list[tuple[str, pa.Table]] = []
        self._buffer: list[tuple] = []
        self._origin = ""

    def add(self, origin: str, row: int, charges: list[dict]) -> None:
        if origin != self._origin:
            self._flush()
            self._origin = origin
        self._buffer += [(*(c[f] for f in CHARGE_FIELDS), row) for c in charges]
        if len(self._buffer) >= CHUNK_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        columns = list(zip(*self._buffer, strict=True))
        arrays = [pa.array(c, pa.string()) for c in columns[:-1]] + [pa.array(columns[-1], pa.int64())]
        self._staged.append((self._origin, pa.Table.from_arrays(arrays, [*CHARGE_FIELDS, ROW_COLUMN])))
        self._buffer = []

    def commit(self) -> None:
        self._flush()
        self.tables += self._staged
        self._staged = []

    def drop(self) -> None:
        self._buffer = []
        self._staged = []


def _moved(tables: list[tuple[str, pa.Table]], moved: dict[str, str]) -> list[tuple[str, pa.Table]]:
    """The charges with the bill ids ``moved`` names (from → to) replaced (set-based)."""
    sources = pa.array(list(moved), pa.string())
    targets = pa.array(list(moved.values()), pa.string())
    out = []
    for origin, table in tables:
        column = table["invoice_id"]
        mask = pc.fill_null(pc.is_in(column, value_set=sources), False)
        if pc.any(mask).as_py():
            renamed = pc.if_else(mask, pc.take(targets, pc.index_in(column, value_set=sources)), column)
            table = table.set_column(table.schema.get_field_index("invoice_id"), "invoice_id", renamed)
        out.append((origin, table))
    return out


def _sums(tables: list[tuple[str, pa.Table]]) -> dict[str, tuple[Decimal, Decimal]]:
    """Per bill, the sum of its charges and of those that are no tax, exactly (set-based)."""
    if not tables:
        return {}
    whole = pa.concat_tables([t.select(["invoice_id", "charge_type", "amount"]) for _, t in tables])
    whole = whole.append_column("tax", pc.fill_null(pc.equal(whole["charge_type"], "tax"), False))
    whole = whole.append_column("value", pc.cast(whole["amount"], SUM_TYPE))
    sums: dict[str, list[Decimal]] = {}
    for r in whole.group_by(["invoice_id", "tax"]).aggregate([("value", "sum")]).to_pylist():
        got = sums.setdefault(r["invoice_id"], [Decimal(0), Decimal(0)])
        got[0] += r["value_sum"]
        if not r["tax"]:
            got[1] += r["value_sum"]
    return {k: (a.normalize(), b.normalize()) for k, (a, b) in sums.items()}


def _tax_of_rate(base: dict, rate_id: str, ptr: str, position: str, taxes: list[tuple[int, dict, Decimal]],
                 excluded: Decimal | None, included: Decimal | None) -> list[dict]:
    """With ``taxes: included``, a rate's taxes as one tax charge ``<rate id>:tax`` beside it:
    the difference of its two amounts when it gives both (the rate and its tax then add up to
    its taxIncludedAmount), else the sum of its appliedTax; none when that is zero."""
    if excluded is not None and included is not None:
        amount, at = included - excluded, f"{position}/taxIncludedAmount"
    else:
        amount, at = sum((a for _, _, a in taxes), Decimal(0)), f"{position}/appliedTax"
    if not amount:
        return []
    categories = [_text(tax, "taxCategory", f"{ptr}/appliedTax/{i}") for i, tax, _ in taxes]
    words = [" ".join(filter(None, ("tax", category, _rate_text(tax))))
             for category, (_, tax, _) in zip(categories, taxes, strict=True)]
    return [{**base, "id": f"{rate_id}:tax", "charge_type": "tax", "dispute_reference": None,
             "charge_code": categories[0] if len(set(categories)) == 1 else None,
             "description": ", ".join(words) or "tax (not itemised)",
             "amount": _decimal_text(amount), "source_position": at}]


def _rate_text(tax: dict) -> str | None:
    rate = tax.get("taxRate")
    if isinstance(rate, (int, Decimal)) and not isinstance(rate, bool):
        text = _decimal_text(Decimal(rate) * 100)
        return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"
    return None


def _dump(value: t.Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
