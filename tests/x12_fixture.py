"""A generated X12 811 interchange: several billing accounts, every charge type, taxes, a
credit quoting a dispute reference, a late fee. Deterministic; the totals are computed as the
file is written, so each TDS reconciles and each count is right (tests break them on purpose).
"""

from __future__ import annotations

import io
import typing as t
from dataclasses import dataclass, field
from decimal import Decimal

#: Versions: (ISA12, ISA11, GS08).
VERSIONS = {"004010": ("00401", "U", "004010"), "005010": ("00501", "^", "005010")}


def isa(control: int, version: str = "005010", element: str = "*", component: str = ">") -> str:
    """An ISA of the fixed 106-character length (without its terminator)."""
    release, repetition, _ = VERSIONS[version]
    return element.join(["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "CARRIER".ljust(15), "ZZ",
                         "CUSTOMER".ljust(15), "240705", "1200", repetition, release,
                         f"{control:09d}", "0", "P", component])


@dataclass
class Writer:
    """Writes segments, counting them per transaction set and per envelope."""

    out: t.TextIO
    element: str = "*"
    terminator: str = "~\n"
    position: int = 0
    in_set: int = 0
    sets_in_group: int = 0
    total: Decimal = Decimal(0)
    charges: int = 0
    positions: dict[str, int] = field(default_factory=dict)   # label → segment position

    def seg(self, *elements: object, label: str | None = None) -> None:
        self.out.write(self.element.join(str(e) for e in elements) + self.terminator)
        self.position += 1
        self.in_set += 1
        if label:
            self.positions[label] = self.position

    def charge(self, amount: Decimal) -> None:
        self.total += amount
        self.charges += 1

    def begin(self, control: str) -> None:
        self.in_set, self.total, self.charges = 0, Decimal(0), 0
        self.seg("ST", "811", control)
        self.sets_in_group += 1

    def end(self, control: str) -> None:
        self.seg("TDS", int((self.total * 100).to_integral_value()), label="TDS")
        self.seg("SE", self.in_set + 1, control)


@dataclass(frozen=True)
class Account:
    number: str
    invoice: str
    lines: tuple[str, ...]


ACCOUNTS = (
    Account("8001001", "INV-2024-07-001", ("3125550100", "3125550101")),
    Account("8001002", "INV-2024-07-002", ("3125550200",)),
    Account("8001003", "INV-2024-07-003", ("3125550300", "3125550301", "3125550302")),
)
DISPUTE = "DSP-2024-0042"


def bill(w: Writer, account: Account, control: str, expected: dict) -> None:
    """One invoice: the heading, a provider, the account, each line with its charges."""
    w.begin(control)
    w.seg("BIG", "20240705", account.invoice, label=f"{account.invoice}:ST")
    w.seg("REF", "12", account.number)
    w.seg("CUR", "BY", "USD")
    w.seg("ITD", "05", "3", "", "", "", "20240730")
    w.seg("DTM", "186", "20240601")
    w.seg("DTM", "187", "20240630")
    w.seg("N1", "RE", "EXAMPLE CARRIER")
    w.seg("HL", "1", "", "1")
    w.seg("HL", "2", "1", "2")
    w.seg("REF", "11", account.number)
    charges: list[dict] = []

    def charge(kind: str, amount: str, **more: object) -> None:
        w.charge(Decimal(amount))
        charges.append({"charge_type": kind, "amount": float(amount), "position": w.position, **more})

    hl = 2
    for i, line in enumerate(account.lines):
        hl += 1
        w.seg("HL", hl, "2", "9")
        w.seg("SI", "TI", "TN", line)
        w.seg("IT1", "1", "1", "EA", "45.00", "", "SV", "MRC01")
        charge("recurring", "45.00", line=line, code="MRC01")
        w.seg("PID", "F", "", "", "", "Business line monthly")
        w.seg("DTM", "150", "20240601")
        w.seg("DTM", "151", "20240630")
        w.seg("SLN", "1", "", "A", "2", "EA", "2.50", "", "", "SV", "FEAT1")
        charge("recurring", "5.00", line=line, code="FEAT1")
        w.seg("SLN", "2", "", "I", "1", "EA", "45.00", "", "", "SV", "MRC01")   # included: no charge
        w.seg("TXI", "ST", "3.15", "", "CI", "IL")
        charge("tax", "3.15", line=line, code="ST")
        w.seg("IT1", "2", "120", "MJ", "0.05", "", "SV", "USG01")
        charge("usage", "6.00", line=line, code="USG01")
        w.seg("PID", "F", "", "", "", "Long distance")
        if i == 0:
            w.seg("IT1", "3", "1", "EA", "75", "", "SV", "INS01")
            charge("one_time", "75", line=line, code="INS01")
            w.seg("PID", "F", "", "", "", "Installation charge")
            w.seg("ITA", "C", "", "FUSF", "", "", "", "123", "", "", "", "", "", "Federal USF surcharge")
            charge("surcharge", "1.23", line=line, code="FUSF")
        if i == 1 or len(account.lines) == 1:
            w.seg("IT1", "4", "1", "EA", "-20.00", "", "SV", "ADJ01")
            charge("credit", "-20.00", line=line, code="ADJ01", dispute=DISPUTE)
            w.seg("PID", "F", "", "", "", "Billing adjustment")
            w.seg("REF", "CR", DISPUTE)
    hl += 1
    w.seg("HL", hl, "2", "4")
    w.seg("IT1", "1", "1", "EA", "25", "", "SV", "LPC")
    charge("late_fee", "25", code="LPC")
    w.seg("PID", "F", "", "", "", "Late payment charge")
    w.seg("TXI", "FE", "1.10")
    charge("tax", "1.10", code="FE")
    w.seg("CTT", len(charges))
    total = w.total
    w.end(control)
    expected[account.invoice] = {"total": total, "charges": charges, "tds": w.positions["TDS"],
                                 "se": w.position}


def interchange(version: str = "005010", accounts: t.Sequence[Account] = ACCOUNTS,
                element: str = "*", terminator: str = "~\n", control: int = 905) -> tuple[str, dict]:
    """An 811 interchange of one functional group, one invoice per account, and what a
    reader should find in it (per invoice: total, charges with their positions)."""
    out = io.StringIO()
    w = Writer(out, element, terminator)
    expected: dict = {}
    w.seg("ISA", *isa(control, version, element).split(element)[1:])
    w.seg("GS", "CI", "CARRIER", "CUSTOMER", "20240705", "1200", "77", "X", VERSIONS[version][2])
    for n, account in enumerate(accounts, start=1):
        bill(w, account, f"{n:04d}", expected)
    w.seg("GE", len(accounts), "77")
    w.seg("IEA", "1", f"{control:09d}")
    return out.getvalue(), expected


def write_large(out: t.TextIO, charges: int, accounts: int = 10, per_line: int = 10) -> int:
    """A large 811 interchange for the benchmark, written as it goes: ``charges`` IT1 lines
    over ``accounts`` invoices, ``per_line`` charges per service. Returns the segment count."""
    w = Writer(out)
    w.seg("ISA", *isa(1).split("*")[1:])
    w.seg("GS", "CI", "CARRIER", "CUSTOMER", "20240705", "1200", "1", "X", "005010")
    per_account = charges // accounts
    for a in range(accounts):
        control = f"{a + 1:04d}"
        w.begin(control)
        w.seg("BIG", "20240705", f"INV-{a + 1:06d}")
        w.seg("REF", "12", f"ACC{a + 1:06d}")
        w.seg("CUR", "BY", "USD")
        w.seg("DTM", "186", "20240601")
        w.seg("DTM", "187", "20240630")
        w.seg("HL", "1", "", "2")
        hl = 1
        for c in range(per_account):
            if c % per_line == 0:
                hl += 1
                w.seg("HL", hl, "1", "9")
                w.seg("SI", "TI", "TN", f"312{(a * per_account + c) // per_line % 10_000_000:07d}")
            cents = 100 + c % 5000
            w.seg("IT1", c % 1000 + 1, "1", "EA", f"{cents // 100}.{cents % 100:02d}", "", "SV",
                  f"C{c % 50:03d}")
            w.charge(Decimal(cents) / 100)
            w.seg("PID", "F", "", "", "", "Monthly service")
        w.end(control)
    w.seg("GE", accounts, "1")
    w.seg("IEA", "1", "000000001")
    return w.position


def late_account(before: int, after: int, account: str = "ACC-LATE", invoice: str = "INV-LATE",
                 control: int = 7) -> tuple[str, dict]:
    """One 811 interchange of one invoice whose heading names no account: ``before`` charges
    (IT1 with its PID) at the provider level, then the account-level HL naming the account
    (``REF*11``), then ``after`` charges on a service. Returns the text and, for the invoice,
    its total and each charge's position."""
    out = io.StringIO()
    w = Writer(out)
    w.seg("ISA", *isa(control).split("*")[1:])
    w.seg("GS", "CI", "CARRIER", "CUSTOMER", "20240705", "1200", "1", "X", "005010")
    w.begin("0001")
    w.seg("BIG", "20240705", invoice)
    w.seg("CUR", "BY", "USD")
    w.seg("DTM", "186", "20240601")
    w.seg("DTM", "187", "20240630")
    w.seg("HL", "1", "", "1")
    positions = []

    def item(c: int) -> None:
        cents = 100 + c % 500
        w.seg("IT1", c + 1, "1", "EA", f"{cents // 100}.{cents % 100:02d}", "", "SV", f"C{c % 50:03d}")
        w.charge(Decimal(cents) / 100)
        positions.append(w.position)
        w.seg("PID", "F", "", "", "", "Monthly service")

    for c in range(before):
        item(c)
    w.seg("HL", "2", "1", "2")
    w.seg("REF", "11", account)
    w.seg("HL", "3", "2", "9")
    w.seg("SI", "TI", "TN", "3125550100")
    for c in range(before, before + after):
        item(c)
    total = w.total
    w.end("0001")
    w.seg("GE", "1", "1")
    w.seg("IEA", "1", f"{control:09d}")
    return out.getvalue(), {"total": total, "positions": positions, "tds": w.positions["TDS"]}
