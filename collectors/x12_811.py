"""The ``x12-811`` collector: carrier bills as ANSI X12 811 files → ``accounts``,
``invoices`` and ``charges``.

::

    sources:
      att-bills:
        collector: x12-811
        path: ./bills/att            # an 811 file, or a folder of .edi, .x12 and .txt files
        vendor: att
        currency: USD                # when the bills carry no CUR segment
        profile:                     # the carrier's conventions; each key replaces the default's
          account_qualifiers: ["11"]
          charge_types: {LPC: late_fee}

Each transaction set (ST … SE) is one invoice of one billing account. Versions 004010 and
005010. The envelopes are checked (collectors/x12/reader.py) and the X12 rules followed: a
broken interchange (ISA/IEA) refuses every invoice in it, a broken functional group (GS/GE)
every invoice in the group, a broken transaction set (ST/SE) its own invoice; the rest of the
file is kept. Each refusal, each unreadable value and each unknown segment is a reject naming
its segment position. Every invoice's charges are reconciled with its TDS total.

Files are read in blocks and charges held on disk until their envelope closes, so memory does
not grow with the file (docs/collectors/x12-811.md, "Performance").
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pyarrow as pa

from dialtone.engine.collector_api import ROW_COLUMN, RawBatch, SourceData, settings_schema
from dialtone.engine.errors import CollectError
from dialtone.engine.phone import REGION_SCHEMA, check_region
from dialtone.engine.snapshots import sha256_file

from .cdr import check_encoding
from .x12.bill811 import ACCOUNT_COLUMNS, CHARGE_COLUMNS, INVOICE_COLUMNS, Bills
from .x12.profile import PROFILE_SCHEMA, load_profile
from .x12.reader import walk

#: File name endings read from a folder (unless ``files`` says otherwise).
EXTENSIONS = (".edi", ".x12", ".txt", ".811")


class X12811Collector:
    """ANSI X12 811 Consolidated Service Invoice/Statement files."""

    config_schema = settings_schema(
        required=["path", "vendor"],
        properties={
            "path": {"type": "string", "minLength": 1,
                     "description": "An 811 file, or a folder of them"},
            "files": {"type": "string", "minLength": 1,
                      "description": "In a folder, the files to read (glob; default *.edi, *.x12, "
                                     "*.txt, *.811)"},
            "vendor": {"type": "string", "minLength": 1,
                       "description": "The carrier: accounts.vendor, and the prefix of account and "
                                      "invoice ids"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                         "description": "ISO 4217 currency of bills without a CUR segment"},
            "dispute_window_days": {"type": "integer", "minimum": 0,
                                    "description": "Days the carrier allows for billing disputes, "
                                                   "counted from the bill date (accounts.dispute_"
                                                   "window_days)"},
            "profile": PROFILE_SCHEMA,
            "default_region": {**REGION_SCHEMA,
                               "description": "Region of the service numbers written without a "
                                              "country code (default US)"},
            "encoding": {"type": "string", "minLength": 1,
                         "description": "Text encoding of the files (default utf-8)"},
        },
    )
    secret_settings = ()
    #: What a collect can fill (docs/collectors/x12-811.md, "What it feeds").
    fills: t.ClassVar[dict[str, tuple[str, ...]]] = {
        "accounts": ACCOUNT_COLUMNS + ("dispute_window_days",),
        "invoices": INVOICE_COLUMNS,
        "charges": CHARGE_COLUMNS,
    }

    def __init__(self, source: str, settings: dict, base_dir: Path):
        self.source = source
        self.path = (base_dir / settings["path"]).resolve()
        self.pattern = settings.get("files")
        self.vendor = settings["vendor"]
        self.currency = settings.get("currency")
        self.window = settings.get("dispute_window_days")
        self.profile = load_profile(source, settings.get("profile"))
        self.region = check_region(source, settings.get("default_region", "US"))
        self.encoding = check_encoding(source, settings.get("encoding", "utf-8"))

    def files(self) -> list[Path]:
        path = self.path
        if not path.exists():
            raise CollectError(f"source '{self.source}': {path} does not exist")
        if not path.is_dir():
            return [path]
        if self.pattern:
            found = sorted(f for f in path.glob(self.pattern) if f.is_file())
        else:
            found = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in EXTENSIONS)
        if not found:
            raise CollectError(f"source '{self.source}': no 811 files in {path} (expected "
                               f"{self.pattern or ', '.join('*' + e for e in EXTENSIONS)})")
        return found

    def collect(self) -> SourceData:
        data = SourceData()
        accounts: dict[str, dict] = {}
        seen: dict[str, str] = {}
        for f in self.files():
            data.watch(f)
            data.inputs[f.name] = sha256_file(f)
            reading = _File(self, f, data, accounts, seen)
            # The engine reads a source's batches in order: a file's charges (which reads the
            # file) before its invoices, and every file before the accounts.
            data.batches.append(RawBatch.streamed("charges", f.name, reading.charges))
            data.batches.append(RawBatch.streamed("invoices", f.name, reading.invoices))
        data.batches.append(RawBatch.streamed("accounts", self.path.name, lambda: [self._accounts(accounts)]))
        return data

    def _accounts(self, accounts: dict[str, dict]) -> pa.Table:
        table = _table(ACCOUNT_COLUMNS, list(accounts.values()))
        window = None if self.window is None else str(self.window)
        return table.append_column("dispute_window_days", pa.array([window] * table.num_rows, pa.string()))


class _File:
    """One 811 file, read once: its charges as they are released, then its invoices."""

    def __init__(self, collector: X12811Collector, path: Path, data: SourceData,
                 accounts: dict[str, dict], seen: dict[str, str]):
        self.c, self.path, self.data, self.accounts, self.seen = collector, path, data, accounts, seen
        self.bills: Bills | None = None

    def charges(self) -> t.Iterator[pa.Table]:
        c = self.c
        bills = self.bills = Bills(self.path.name, c.vendor, c.profile, c.currency, c.region,
                                   self.data.rejects, self.data.warnings, self.seen)
        try:
            for _ in walk(self.path, bills, c.encoding, transaction="811"):
                while bills.ready:
                    yield from bills.ready.popleft()
            while bills.ready:
                yield from bills.ready.popleft()
        finally:
            bills.abandon()   # after an error, the open interchange's spill file is not left behind
        bills.finish()
        for account_id, row in bills.accounts.items():
            self.accounts.setdefault(account_id, row)

    def invoices(self) -> t.Iterator[pa.Table]:
        if self.bills is None:
            raise RuntimeError("x12-811: a file's charges must be read before its invoices")
        yield _table(INVOICE_COLUMNS, self.bills.invoices)


def _table(columns: tuple[str, ...], rows: list[dict]) -> pa.Table:
    table = {c: pa.array([r[c] for r in rows], pa.string()) for c in columns}
    table[ROW_COLUMN] = pa.array([int(r["source_position"].rsplit(" ", 1)[1]) if "source_position" in r
                                  else i + 1 for i, r in enumerate(rows)], pa.int64())
    return pa.table(table)
