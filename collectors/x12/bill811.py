"""What an 811 Consolidated Service Invoice/Statement says, segment by segment.

``Bills`` listens to the X12 reader (reader.py) over one file: each transaction set is one
invoice of one billing account; its charges are built as the segments go by and held
(pending.py) until the envelopes around them are known to be good. The profile (profile.py)
says which codes and qualifiers mean what.
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import pyarrow as pa
import pyarrow.compute as pc

from dialtone.engine.collector_api import ROW_COLUMN, RawReject
from dialtone.engine.phone import normalise_numbers

from .pending import Pending
from .profile import Profile
from .reader import Fault

CHARGE_COLUMNS = ("id", "invoice_id", "line_id", "charge_code", "charge_type", "description",
                  "quantity", "unit_rate", "amount", "currency", "period_start", "period_end",
                  "dispute_reference", "source_position")
INVOICE_COLUMNS = ("id", "account_id", "invoice_number", "period", "issued_on", "due_on", "total",
                   "currency", "source_position")
ACCOUNT_COLUMNS = ("id", "vendor", "account_number", "currency")
CHARGE_SCHEMA = pa.schema([pa.field(c, pa.string()) for c in CHARGE_COLUMNS]
                          + [pa.field(ROW_COLUMN, pa.int64())])
#: The columns a charge takes from its invoice, written in as the charges are released.
_ID, _INVOICE, _CURRENCY = (CHARGE_COLUMNS.index(c) for c in ("id", "invoice_id", "currency"))
#: Charges built before they are handed on as one table.
CHUNK = 65_536
#: ITA04 / SAC12 (element 331, method of handling) "Information Only": the allowance or charge
#: amount is not added to the bill nor subtracted from it.
INFORMATION_ONLY = "15"
#: Segments of the 811 (004010 and 005010) read for nothing or for context only; any other
#: segment is a reject.
KNOWN = frozenset({
    "BIG", "NTE", "CUR", "REF", "PER", "ITD", "DTM", "TXI", "N1", "N2", "N3", "N4", "DMG", "FA1",
    "FA2", "HL", "LX", "VEH", "SI", "PID", "MEA", "AMT", "QTY", "NM1", "ITA", "IT1", "INC", "MSG",
    "CAD", "YNQ", "LQ", "LCD", "SLN", "TCD", "USD", "TRF", "III", "SAC", "TDS", "BAL", "CTT",
})
_R = re.compile(r"-?(\d+\.?\d*|\.\d+)")     # X12 "R": explicit decimal point
_N = re.compile(r"-?\d+")                   # X12 "N2": two implied decimals
_CENT = Decimal("0.01")


def _el(el: list[str], i: int) -> str:
    return el[i] if len(el) > i else ""


def _text(d: Decimal | None) -> str | None:
    # Amounts are read from plain decimals (no exponent), so str() writes them plainly.
    return None if d is None else str(d)


@dataclass
class _Item:
    """A charge being read: its own segment, then the segments of its loop."""

    kind: str                      # IT1, SLN, LX, TXI, ITA, SAC
    set_pos: int
    pos: int
    line: str | None
    code: str | None = None
    description: str | None = None
    quantity: Decimal | None = None
    unit: str = ""
    rate: Decimal | None = None
    amount: Decimal | None = None
    kind_hint: str | None = None   # the type its segment implies (tax, credit, surcharge)
    start: str | None = None
    end: str | None = None
    dispute: str | None = None
    children: list[_Item] = field(default_factory=list)


@dataclass
class _Level:
    hl: str
    account: str | None
    service: str | None


@dataclass
class _Bill:
    """One transaction set: one invoice."""

    tag: int
    pos: int
    vendor: str
    number: str | None = None
    issued: str | None = None
    account: str | None = None
    currency: str | None = None
    start: str | None = None
    end: str | None = None
    due: str | None = None
    due_days: int | None = None
    total: Decimal | None = None
    total_pos: int | None = None
    total_text: str = ""
    read: Decimal = Decimal(0)
    charges: int = 0
    accounts: dict[str, None] = field(default_factory=dict)
    in_detail: bool = False

    @property
    def invoice_id(self) -> str | None:
        if not (self.account and self.number):
            return None
        return f"{self.vendor}:{self.account}:{self.number}"


class Bills:
    """The reader's listener for one 811 file: charges, invoices and accounts, rejects."""

    def __init__(self, origin: str, vendor: str, profile: Profile, currency: str | None,
                 region: str | None, rejects: list[RawReject], warnings: list[str],
                 seen: dict[str, str] | None = None):
        self.origin, self.vendor, self.profile = origin, vendor, profile
        #: Invoice id → where it was read, across the files of a collect: a bill sent twice is
        #: kept once (its second copy's charges would otherwise be counted again).
        self.seen = {} if seen is None else seen
        self.currency, self.region = currency, region
        self.rejects, self.warnings = rejects, warnings
        self.pending = Pending(CHARGE_SCHEMA)
        self.ready: deque[t.Iterator[pa.Table]] = deque()
        self.invoices: list[dict] = []                 # released
        self.accounts: dict[str, dict] = {}            # released, by id
        self.held_invoices: list[tuple[int, dict]] = []
        self.held_charges: dict[int, int] = {}        # charges of each held invoice, by its tag
        self.held_accounts: list[tuple[int, dict]] = []
        self.group_sets: list[int] = []
        self.bill: _Bill | None = None
        self.item: _Item | None = None
        self.levels: list[_Level] = []
        self.rows: list[tuple] = []
        self.tags = 0
        self.unread: dict[str, int] = {}               # what carries no money, counted for a warning
        handlers: dict[str, t.Callable[[int, int, list[str]], None]] = {
            "BIG": self._big, "REF": self._ref, "DTM": self._dtm, "ITD": self._itd, "CUR": self._cur,
            "HL": self._hl, "LX": self._lx, "IT1": self._it1, "SLN": self._sln, "PID": self._pid,
            "AMT": self._amt, "TXI": self._txi, "ITA": self._ita, "SAC": self._sac, "TDS": self._tds,
            "SI": self._si, "TCD": self._tcd,
        }
        self.handlers = handlers
        self._types: dict[tuple[str | None, str | None, bool], str | None] = {}
        self._codes = profile.charge_code_qualifiers

    # -- rejects --------------------------------------------------------------------------------
    def reject(self, pos: int, fld: str, value: str, reason: str, entity: str = "charges") -> None:
        self.rejects.append(RawReject(self.origin, pos, fld, value, reason, entity))

    def fault(self, f: Fault) -> None:
        self.reject(f.position, f.field, f.value, f.reason, "invoices")

    def notice(self, message: str) -> None:
        self.warnings.append(f"{self.origin}: {message}")

    # -- envelopes ------------------------------------------------------------------------------
    def begin_set(self, position: int, st: list[str]) -> None:
        self.tags += 1
        self.bill = _Bill(self.tags, position, self.vendor)
        self.item = None
        self.levels = []

    def segment(self, position: int, set_position: int, el: list[str]) -> None:
        handler = self.handlers.get(el[0])
        if handler is not None:
            try:
                handler(position, set_position, el)
            except _Bad as bad:   # an unreadable value: a reject naming its element, no traceback
                self._bad(bad)
        elif el[0] not in KNOWN:
            self.reject(position, el[0], self._show(el),
                        f"segment {el[0]} is not a segment of the 811 transaction set; not read (the "
                        "charge it sits in is kept)")

    def end_set(self, position: int, faults: list[Fault]) -> None:
        bill = self.bill
        if bill is None:
            return
        self._close_item()
        refusals = list(faults)
        read = not any(f.field == "ST01" for f in faults)   # not an 811: nothing in it was read
        if read and bill.number is None:
            refusals.append(Fault(bill.pos, "BIG", "", "the transaction set has no BIG with an invoice "
                                  "number (BIG02)"))
        if read and bill.account is None:
            quals = "/".join(self.profile.account_qualifiers)
            refusals.append(Fault(bill.pos, "REF", "", f"the transaction set names no billing account: "
                                  f"expected a REF with qualifier {quals} in the heading or in an "
                                  "account-level HL loop (profile "
                                  "account_qualifiers)"))
        first = self.seen.get(bill.invoice_id or "")
        if read and first:
            refusals.append(Fault(bill.pos, "BIG02", bill.number or "",
                                  f"invoice {bill.number} of account {bill.account} was already read at "
                                  f"{first}: this copy is not kept"))
        if read:
            self._reconcile(bill, position, kept=not refusals)
        if refusals:
            lost = (f"invoice {bill.number or '(no number)'} of the transaction set at segment {bill.pos} "
                    f"and its {bill.charges} charges are not kept")
            for f in refusals:
                self.reject(f.position, f.field, f.value, f"{f.reason}; {lost}", "invoices")
            self.rows.clear()
            self.pending.refuse([bill.tag])
        else:
            self._flush()
            self._hold(bill)
            self.group_sets.append(bill.tag)
        self.bill = None

    def end_group(self, position: int, faults: list[Fault]) -> None:
        sets, self.group_sets = self.group_sets, []
        if faults:
            self._refuse(sets, faults, "its functional group is refused")

    def end_interchange(self, position: int, faults: list[Fault]) -> None:
        self.group_sets = []
        if faults:
            self._refuse([tag for tag, _ in self.held_invoices], faults, "its interchange is refused")
            self.pending.discard()
        else:
            refused = self.pending.refused
            kept = [(tag, row) for tag, row in self.held_invoices if tag not in refused]
            self.ready.append(_invoiced(self.pending.release(),
                                        {tag: (row["id"], row["currency"]) for tag, row in kept}))
            self.invoices += [row for _, row in kept]
            for tag, row in self.held_accounts:
                if tag not in refused:
                    self.accounts.setdefault(row["id"], row)
        self.pending = Pending(CHARGE_SCHEMA)
        self.held_invoices, self.held_accounts, self.held_charges = [], [], {}

    def abandon(self) -> None:
        """The file was not read to its end (an error, or the reader stopped): remove the
        spill file of the interchange left open."""
        self.pending.discard()

    def _refuse(self, tags: list[int], faults: list[Fault], why: str) -> None:
        """Refuse the sets ``tags`` (a group's, an interchange's): one reject per fault, and one
        per invoice lost, at its ST."""
        wanted, refused = set(tags), self.pending.refused
        alive = [(tag, row) for tag, row in self.held_invoices if tag in wanted and tag not in refused]
        for f in faults:
            self.reject(f.position, f.field, f.value,
                        f"{f.reason}; {why}: its {len(alive)} invoices are not kept", "invoices")
        for tag, row in alive:
            # Not kept, so not "already read": a corrected copy sent later is taken.
            self.seen.pop(row["id"], None)
            st = int(row["source_position"].rsplit(" ", 1)[1])
            self.reject(st, "ST", row["invoice_number"], f"invoice {row['invoice_number']} and its "
                        f"{self.held_charges.get(tag, 0)} charges are not kept: {why} (see segment "
                        f"{faults[0].position})", "invoices")
        self.pending.refuse(tags)

    def _hold(self, bill: _Bill) -> None:
        assert bill.invoice_id is not None and bill.account is not None
        self.seen[bill.invoice_id] = f"{self.origin}:segment {bill.pos}"
        self.held_charges[bill.tag] = bill.charges
        currency = bill.currency or self.currency
        period = (bill.start or bill.issued or "")[:7] or None
        due = bill.due
        if due is None and bill.due_days is not None and bill.issued:
            due = (dt.date.fromisoformat(bill.issued) + dt.timedelta(days=bill.due_days)).isoformat()
        self.held_invoices.append((bill.tag, {
            "id": bill.invoice_id, "account_id": self._account_id(bill.account),
            "invoice_number": bill.number, "period": period, "issued_on": bill.issued, "due_on": due,
            "total": _text(bill.total), "currency": currency,
            "source_position": f"{self.origin}:segment {bill.pos}"}))
        for number in {bill.account: None, **bill.accounts}:
            self.held_accounts.append((bill.tag, {"id": self._account_id(number), "vendor": self.vendor,
                                                  "account_number": number, "currency": currency}))

    def _account_id(self, number: str) -> str:
        return f"{self.vendor}:{number}"

    def _reconcile(self, bill: _Bill, position: int, kept: bool) -> None:
        then = "the invoice is kept as billed" if kept else "the invoice is refused (see its other rejects)"
        if bill.total is None:
            self.reject(position, "TDS", "", "the transaction set has no TDS: the invoice's total is "
                        f"not known and its charges ({bill.read:.2f}) cannot be reconciled; {then}",
                        "invoices")
            return
        gap = bill.read - bill.total
        if abs(gap) >= _CENT:
            self.reject(bill.total_pos, "TDS01", bill.total_text,
                        f"TDS01 says the invoice totals {bill.total:.2f} (two implied decimals), but its "
                        f"{bill.charges} charges read sum to {bill.read:.2f}, {abs(gap):.2f} "
                        f"{'more' if gap > 0 else 'less'} than the total; {then}", "invoices")

    # -- charges --------------------------------------------------------------------------------
    def _context(self) -> tuple[str | None, str | None]:
        if self.levels:
            top = self.levels[-1]
            return top.account, top.service
        return None, None

    def _open(self, kind: str, pos: int, set_pos: int) -> _Item:
        self._close_item()
        bill = self.bill
        assert bill is not None
        bill.in_detail = True
        if bill.account is None:
            account, _ = self._context()
            bill.account = account
        item = self.item = _Item(kind, set_pos, pos, self._context()[1])
        return item

    def _side(self, kind: str, pos: int, set_pos: int) -> _Item:
        """A tax, allowance or charge: part of the item whose loop it is in, or one of its own."""
        parent = self.item
        if parent is not None and parent.kind in ("IT1", "SLN", "LX"):
            child = _Item(kind, set_pos, pos, parent.line)
            parent.children.append(child)
            return child
        return self._open(kind, pos, set_pos)

    def _close_item(self) -> None:
        item, self.item = self.item, None
        if item is None:
            return
        self._emit(item, None)
        for child in item.children:
            self._emit(child, item)

    def _emit(self, item: _Item, parent: _Item | None) -> None:
        bill = self.bill
        assert bill is not None
        amount = item.amount
        if amount is None:
            if item.kind in ("IT1", "SLN") and item.rate is not None:
                amount = item.rate * (item.quantity if item.quantity is not None else 1)
            else:
                if item.kind != "LX":     # an LX without an amount is a description of a service
                    self._unread(f"{item.kind} without an amount")
                return
        key = (item.code, item.description, amount < 0)
        kind = self._types.get(key, "?")
        if kind == "?":
            if len(self._types) > 100_000:    # descriptions may be unique per line: stay bounded
                self._types.clear()
            kind = self._types[key] = self.profile.type_of(*key)
        kind = kind or item.kind_hint
        if kind is None:
            kind = "usage" if item.unit in self.profile.usage_units else "recurring"
        start = item.start or (parent.start if parent else None) or bill.start
        end = item.end or (parent.end if parent else None) or bill.end
        dispute = item.dispute or (parent.dispute if parent and amount < 0 else None)
        bill.read += amount
        bill.charges += 1
        self.rows.append((item.set_pos, item.line, item.code, kind, item.description,
                          _text(item.quantity), _text(item.rate), _text(amount), start, end, dispute,
                          item.pos))
        if len(self.rows) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        """Hand the charges built so far to the holding area, without their invoice: its
        account may be named after them (in a later HL loop), so which invoice they belong to
        is known only at the set's SE. ``_invoiced`` writes it in as they are released."""
        rows, self.rows = self.rows, []
        bill = self.bill
        if not rows or bill is None:
            return
        cols = list(zip(*rows, strict=True))
        n = len(rows)
        lines = pa.array(cols[1], pa.string())
        positions = pa.array(cols[11], pa.int64())
        unknown = pa.nulls(n, pa.string())
        table = pa.table({
            # The charge's position in its set; the invoice id is put before it on release.
            "id": pc.cast(pa.array(cols[0], pa.int64()), pa.string()),
            "invoice_id": unknown,
            "line_id": normalise_numbers(lines, self.region),
            "charge_code": pa.array(cols[2], pa.string()),
            "charge_type": pa.array(cols[3], pa.string()),
            "description": pa.array(cols[4], pa.string()),
            "quantity": pa.array(cols[5], pa.string()),
            "unit_rate": pa.array(cols[6], pa.string()),
            "amount": pa.array(cols[7], pa.string()),
            "currency": unknown,
            "period_start": pa.array(cols[8], pa.string()),
            "period_end": pa.array(cols[9], pa.string()),
            "dispute_reference": pa.array(cols[10], pa.string()),
            "source_position": pc.binary_join_element_wise(f"{self.origin}:segment",
                                                           pc.cast(positions, pa.string()), " "),
            ROW_COLUMN: positions,
        }, schema=CHARGE_SCHEMA)
        self.pending.add(bill.tag, table)

    def _unread(self, what: str) -> None:
        self.unread[what] = self.unread.get(what, 0) + 1

    # -- values ---------------------------------------------------------------------------------
    def _show(self, el: list[str]) -> str:
        return "*".join(el)[:80]

    def _decimal(self, el: list[str], i: int, pos: int, implied: bool = False) -> Decimal | None:
        """Element ``i`` as a number: "R" (explicit decimal point) or "N2" (two implied
        decimals); empty is None; anything else a reject (raises _Bad)."""
        text = _el(el, i).strip()
        if not text:
            return None
        if (_N if implied else _R).fullmatch(text):
            try:
                d = Decimal(text)
                return d.scaleb(-2) if implied else d
            except InvalidOperation:
                pass
        kind = "a whole number of cents (two implied decimals)" if implied else "a decimal number"
        raise _Bad(pos, f"{el[0]}{i:02d}", text, f"expected {kind}")

    def _own(self, el: list[str], i: int, pos: int, what: str, implied: bool = False) -> Decimal | None:
        """The amount of a tax or allowance: unreadable, it is lost alone (not the item around it)."""
        try:
            return self._decimal(el, i, pos, implied)
        except _Bad as bad:
            bad.kills, bad.reason = False, f"{bad.reason}; the {what} is not kept"
            raise

    def _date(self, el: list[str], i: int, pos: int) -> str | None:
        text = _el(el, i).strip()
        if not text:
            return None
        if len(text) == 8 and text.isdigit():
            try:
                return dt.date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
            except ValueError:
                pass
        raise _Bad(pos, f"{el[0]}{i:02d}", text, "expected a date, CCYYMMDD; the date is not read",
                   kills=False)

    def _bad(self, bad: _Bad) -> None:
        item = self.item
        lost = ""
        if bad.kills and item is not None:
            self.item = None   # the charge cannot be read: rejected, not summed
            lost = f"; the {item.kind} charge at segment {item.pos} is not kept"
            # Its taxes, allowances and charges read so far are charges of their own.
            for child in item.children:
                self._emit(child, item)
            if item.children:
                lost += (f" (the {len(item.children)} TXI, ITA or SAC read in its loop before segment "
                         f"{bad.pos} are kept, as charges of their own)")
        self.reject(bad.pos, bad.field, bad.value, bad.reason + lost)

    # -- heading --------------------------------------------------------------------------------
    def _big(self, pos: int, set_pos: int, el: list[str]) -> None:
        bill = self.bill
        assert bill is not None
        bill.number = _el(el, 2).strip() or None
        try:
            bill.issued = self._date(el, 1, pos)
        except _Bad as bad:
            self.reject(bad.pos, bad.field, bad.value, bad.reason + "; the invoice has no issue date",
                        "invoices")

    def _ref(self, pos: int, set_pos: int, el: list[str]) -> None:
        bill, p = self.bill, self.profile
        assert bill is not None
        qual, value = _el(el, 1), _el(el, 2).strip()
        if not value:
            return
        if qual in p.account_qualifiers:
            if not bill.in_detail and not self.levels:
                bill.account = bill.account or value
            elif self.levels:
                self.levels[-1].account = value
            bill.accounts[value] = None
        elif qual in p.service_qualifiers:
            self._service(value)
        elif qual in p.dispute_qualifiers:
            if self.item is not None:
                self.item.dispute = value
            else:
                self.reject(pos, f"REF*{qual}", value, "a dispute reference outside any charge's loop "
                            "(expected it after the credit's IT1, SLN, ITA or SAC); not read")

    def _service(self, number: str) -> None:
        if self.item is not None:
            self.item.line = number
        elif self.levels:
            self.levels[-1].service = number

    def _si(self, pos: int, set_pos: int, el: list[str]) -> None:
        for i in range(2, len(el) - 1, 2):
            if el[i] in self.profile.service_qualifiers and el[i + 1].strip():
                self._service(el[i + 1].strip())
                return

    def _dtm(self, pos: int, set_pos: int, el: list[str]) -> None:
        p, bill = self.profile, self.bill
        assert bill is not None
        qual = _el(el, 1)
        starts, ends = qual in p.period_start, qual in p.period_end
        if not (starts or ends):
            return
        day = self._date(el, 2, pos)
        target = self.item if self.item is not None else (None if bill.in_detail else bill)
        if target is None:
            return
        if starts:
            target.start = day
        else:
            target.end = day

    def _itd(self, pos: int, set_pos: int, el: list[str]) -> None:
        bill = self.bill
        assert bill is not None
        bill.due = self._date(el, 6, pos)
        days = _el(el, 7).strip()
        if days.isdigit():
            bill.due_days = int(days)

    def _cur(self, pos: int, set_pos: int, el: list[str]) -> None:
        code = _el(el, 2).strip()
        if re.fullmatch(r"[A-Z]{3}", code):
            assert self.bill is not None
            self.bill.currency = code
        else:
            self.reject(pos, "CUR02", code, "expected an ISO 4217 currency code, e.g. USD", "invoices")

    def _tds(self, pos: int, set_pos: int, el: list[str]) -> None:
        self._close_item()
        bill = self.bill
        assert bill is not None
        bill.total_pos, bill.total_text = pos, _el(el, 1)
        bill.total = self._decimal(el, 1, pos, implied=True)
        bill.in_detail = True

    # -- detail ---------------------------------------------------------------------------------
    def _hl(self, pos: int, set_pos: int, el: list[str]) -> None:
        self._close_item()
        bill = self.bill
        assert bill is not None
        bill.in_detail = True
        hl, parent, level = _el(el, 1), _el(el, 2), _el(el, 3)
        stack = self.levels
        if parent:
            while stack and stack[-1].hl != parent:
                stack.pop()
            if not stack:
                self.reject(pos, "HL02", parent, f"HL02 names parent level {parent}, which is not an open "
                            "level above this one; read as a top level", "charges")
        else:
            stack.clear()
        role = self.profile.levels.get(level)
        if role is None:
            self.reject(pos, "HL03", level, f"level code '{level}' is not in the profile's levels "
                        f"({', '.join(sorted(self.profile.levels))}); read as a grouping, its charges "
                        "kept", "charges")
        above = stack[-1] if stack else _Level("", None, None)
        stack.append(_Level(hl, above.account, None if role == "account" else above.service))

    def _lx(self, pos: int, set_pos: int, el: list[str]) -> None:
        self._open("LX", pos, set_pos)

    def _it1(self, pos: int, set_pos: int, el: list[str]) -> None:
        item = self._open("IT1", pos, set_pos)
        item.quantity = self._decimal(el, 2, pos)
        item.unit = _el(el, 3)
        item.rate = self._decimal(el, 4, pos)
        item.code = self._code(el, 6)

    def _sln(self, pos: int, set_pos: int, el: list[str]) -> None:
        relation = _el(el, 3)
        if relation in ("I", "O"):
            # Included in its item's amount, or information only: not a charge of its own.
            self._unread(f"SLN {'included in its item' if relation == 'I' else 'for information only'}")
            return
        if relation != "A":
            self._close_item()
            self.reject(pos, "SLN03", relation, "expected relationship code A (added: a charge of its "
                        "own), I (included in its item) or O (information only); the subline is not "
                        "kept")
            return
        parent = self.item
        item = self._open("SLN", pos, set_pos)
        if parent is not None and item.line is None:
            item.line = parent.line
        item.quantity = self._decimal(el, 4, pos)
        unit = _el(el, 5)
        # SLN05 is a composite (C001): its first component is the unit of measure.
        item.unit = unit if unit.isalnum() else re.split(r"[^A-Za-z0-9]", unit, maxsplit=1)[0]
        item.rate = self._decimal(el, 6, pos)
        item.code = self._code(el, 9)

    def _code(self, el: list[str], first: int) -> str | None:
        pairs = {el[i]: el[i + 1] for i in range(first, len(el) - 1, 2) if el[i] and el[i + 1]}
        for q in self._codes:
            if q in pairs:
                return pairs[q]
        return None

    def _pid(self, pos: int, set_pos: int, el: list[str]) -> None:
        if self.item is not None and _el(el, 5).strip():
            self.item.description = _el(el, 5).strip()

    def _amt(self, pos: int, set_pos: int, el: list[str]) -> None:
        item = self.item
        if item is None or _el(el, 1) not in self.profile.amount_qualifiers:
            return
        if item.kind == "LX" and not self.profile.service_amounts:
            return
        item.amount = self._decimal(el, 2, pos)

    def _txi(self, pos: int, set_pos: int, el: list[str]) -> None:
        amount = self._own(el, 2, pos, "tax")
        if amount is None:
            self._unread("TXI without an amount (a rate only)")
            return
        item = self._side("TXI", pos, set_pos)
        code = _el(el, 1)
        where = _el(el, 5).strip()
        item.code, item.amount, item.kind_hint = code, amount, "tax"
        item.description = f"Tax {code}" + (f" ({where})" if where else "")

    def _allowance(self, pos: int, set_pos: int, el: list[str], at: int, code_at: int,
                   text_at: int, handling_at: int) -> None:
        indicator = _el(el, 1)
        if indicator == "N":
            self._unread(f"{el[0]} with no allowance or charge (N)")
            return
        if _el(el, handling_at).strip() == INFORMATION_ONLY:
            # Shown on the bill (a discount "you saved"), not added to it nor taken off it.
            self._unread(f"{el[0]} for information only")
            return
        if indicator not in ("A", "C"):
            self.reject(pos, f"{el[0]}01", indicator, "expected A (allowance: a credit) or C (charge); "
                        "the allowance or charge is not kept")
            return
        amount = self._own(el, at, pos, "allowance or charge", implied=True)
        if amount is None:
            self._unread(f"{el[0]} without an amount")
            return
        item = self._side(el[0], pos, set_pos)
        item.code = _el(el, code_at) or None
        item.description = _el(el, text_at).strip() or None
        item.amount = -abs(amount) if indicator == "A" else amount
        item.kind_hint = "credit" if indicator == "A" else "surcharge"

    def _ita(self, pos: int, set_pos: int, el: list[str]) -> None:
        self._allowance(pos, set_pos, el, 7, 3, 13, 4)

    def _sac(self, pos: int, set_pos: int, el: list[str]) -> None:
        self._allowance(pos, set_pos, el, 5, 2, 15, 12)

    def _tcd(self, pos: int, set_pos: int, el: list[str]) -> None:
        self._unread("TCD itemised call detail (not read into usage)")

    def finish(self) -> None:
        """After the file: say what carried no money and was not read as a charge."""
        if self.unread:
            what = ", ".join(f"{n} {k}" for k, n in sorted(self.unread.items()))
            self.notice(f"not read as charges: {what}")


def _invoiced(released: t.Iterator[tuple[int, pa.Table]],
              invoices: dict[int, tuple[str, str | None]]) -> t.Iterator[pa.Table]:
    """The charges released by the holding area, each with its set's invoice (tag → invoice
    id and currency) written in: ``invoice_id``, ``currency`` and ``id`` (``<invoice id>:<its
    position in the set>``)."""
    schema = CHARGE_SCHEMA
    for tag, table in released:
        invoice, currency = invoices[tag]
        n = table.num_rows
        table = table.set_column(_ID, schema.field(_ID),
                                 pc.binary_join_element_wise(invoice, table.column(_ID), ":"))
        table = table.set_column(_INVOICE, schema.field(_INVOICE), pa.repeat(invoice, n))
        table = table.set_column(_CURRENCY, schema.field(_CURRENCY),
                                 pa.repeat(pa.scalar(currency, pa.string()), n))
        yield table


class _Bad(Exception):
    def __init__(self, pos: int, fld: str, value: str, reason: str, kills: bool = True):
        super().__init__(reason)
        self.pos, self.field, self.value, self.reason, self.kills = pos, fld, value, reason, kills

