"""Is a source whole? The checks a collect makes before a source's rows are used.

A source that delivers less than it should — an export emptied or cut short, a
key column renamed, a file replaced or a folder moved away while it is read —
must not pass as collected: its rows would make every finding they hid look
fixed. Each check here turns such a source into a failed one (its previous
rows carried forward, marked stale) instead:

- **files unchanged while read**: collectors note each input file's size,
  modification time and inode when they open it (``SourceData.watch``); after
  the source's last row is read the files must be there and the same (a log
  that only grows, such as Asterisk's ``Master.csv``, may grow);
- **a complete last line**: a CSV or CDR file that ends in the middle of a
  line was cut short (``require_complete_last_line``);
- **the key columns present** (``missing_key_columns``), and every column the source's CSV
  files declared in the previous snapshot (``check_columns``);
- **row counts within a band** of the previous snapshot's, per source and
  entity (``check_counts``): not empty where it had rows, not below
  ``min_rows``, not more than ``max_drop`` fewer rows.

The band is configured per source, and per entity inside it::

    sources:
      carrier:
        collector: csv
        path: ./exports
        completeness:
          max_drop: 20%            # the default
          min_rows: 1
          entities:
            calls: {max_drop: 60%}
            lines: {min_rows: 400}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CollectError, ConfigError, did_you_mean
from .estate.model import load_model

#: The largest drop in rows, as a fraction of the previous snapshot's, that passes.
DEFAULT_MAX_DROP = 0.20
#: A drop of this many rows or fewer is ordinary churn (a contract ending in a table of
#: three) and never fails the band; emptying an entity always does.
CHURN_ROWS = 5

_PERCENT = r"^\s*\d+(\.\d+)?\s*%\s*$"
_RULE_PROPERTIES = {
    "max_drop": {"type": "string", "pattern": _PERCENT,
                 "description": "largest drop against the previous snapshot, e.g. 20%"},
    "min_rows": {"type": "integer", "minimum": 0},
}
#: JSON Schema of a source's ``completeness:`` setting (engine/config.py).
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **_RULE_PROPERTIES,
        "entities": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": False,
                                     "properties": _RULE_PROPERTIES},
        },
    },
}


@dataclass(frozen=True)
class Band:
    max_drop: float = DEFAULT_MAX_DROP
    min_rows: int = 0


@dataclass(frozen=True)
class Completeness:
    """A source's completeness rules: a default band and per-entity bands."""

    default: Band = field(default_factory=Band)
    entities: dict[str, Band] = field(default_factory=dict)

    def band(self, entity: str) -> Band:
        return self.entities.get(entity, self.default)

    @classmethod
    def from_setting(cls, spec: dict | None, where: str) -> Completeness:
        if not spec:
            return cls()
        default = _band(spec, Band(), where)
        entities = {}
        model = load_model()
        for name, sub in (spec.get("entities") or {}).items():
            if name not in model.entities:
                raise ConfigError(f"{where}.entities: no entity '{name}'."
                                  f"{did_you_mean(name, model.entities)}")
            entities[name] = _band(sub, default, f"{where}.entities.{name}")
        return cls(default, entities)


def _band(spec: dict, base: Band, where: str) -> Band:
    drop = base.max_drop
    if "max_drop" in spec:
        drop = float(str(spec["max_drop"]).strip().rstrip("%")) / 100
        if drop > 1:
            raise ConfigError(f"{where}.max_drop: at most 100%, got {spec['max_drop']}")
    return Band(max_drop=drop, min_rows=int(spec.get("min_rows", base.min_rows)))


def check_counts(rows_now: dict[str, int], rows_before: dict[str, int] | None,
                 rules: Completeness) -> list[str]:
    """Why the rows a source delivered now are not a whole export (empty when they are).

    ``rows_before`` is the source's rows per entity in the previous snapshot (None when
    there is none: only ``min_rows`` applies to a first collect)."""
    problems = []
    for entity in sorted(set(rows_now) | set(rows_before or {}) | set(rules.entities)):
        now = rows_now.get(entity, 0)
        before = (rows_before or {}).get(entity, 0)
        band = rules.band(entity)
        if before and not now:
            problems.append(f"{entity}: no rows, where the previous snapshot had {before:,}")
        elif now < band.min_rows:
            problems.append(f"{entity}: {now:,} rows, fewer than min_rows {band.min_rows:,}")
        elif before and now < before * (1 - band.max_drop) and before - now > CHURN_ROWS:
            problems.append(
                f"{entity}: {now:,} rows, {before - now:,} fewer than the previous snapshot's "
                f"{before:,} ({(before - now) / before:.0%} drop; max_drop {band.max_drop:.0%})")
    return problems


def check_columns(columns_now: dict[str, set[str]], columns_before: dict[str, list[str]] | None,
                  filled_now: dict[str, dict[str, int]] | None = None,
                  filled_before: dict[str, dict[str, int]] | None = None,
                  rows_before: dict[str, int] | None = None) -> list[str]:
    """The columns a source's input declared in the previous snapshot (its CSV headers) and no
    longer declares, or that held a value on most rows then (and more than ``CHURN_ROWS``) and
    none now, for the entities it delivers now: a renamed, dropped or emptied column leaves its
    field empty on every row, which reads as "no cost centre" or "not cancelled" everywhere. A
    column filled on few rows (a cancellation date) may empty because those rows left."""
    problems = []
    for entity, before in sorted((columns_before or {}).items()):
        if entity not in columns_now:
            continue      # the entity's file is gone: the row-count band says so
        missing = sorted(set(before) - columns_now[entity])
        if missing:
            problems.append(f"{entity}: the column(s) {', '.join(missing)} it delivered before "
                            "are missing")
        had = (filled_before or {}).get(entity, {})
        has = (filled_now or {}).get(entity, {})
        rows = (rows_before or {}).get(entity, 0)
        for name in sorted(columns_now[entity] & set(before)):
            if had.get(name, 0) > CHURN_ROWS and 2 * had[name] >= rows and not has.get(name, 0):
                problems.append(f"{entity}: the column {name} is empty on every row, where the "
                                f"previous snapshot had {had[name]:,} values")
    return problems


# -- files ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Watched:
    """An input file as it was when a collector opened it."""

    path: Path
    size: int
    mtime_ns: int
    inode: int
    #: A log that is appended to while it is read may grow, but not shrink or be replaced.
    growing: bool = False

    @classmethod
    def of(cls, path: Path, growing: bool = False) -> Watched:
        st = path.stat()
        return cls(path, st.st_size, st.st_mtime_ns, st.st_ino, growing)

    def change(self) -> str | None:
        """How the file changed since it was noted, or None if it did not."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return f"{self.path} disappeared while it was read"
        except OSError as exc:
            return f"{self.path} cannot be checked after reading: {exc.strerror or exc}"
        if st.st_ino != self.inode:
            return f"{self.path} was replaced while it was read"
        if self.growing:
            if st.st_size < self.size:
                return (f"{self.path} shrank from {self.size:,} to {st.st_size:,} bytes while "
                        "it was read")
            return None
        if st.st_size != self.size:
            return (f"{self.path} changed size while it was read ({self.size:,} → "
                    f"{st.st_size:,} bytes)")
        if st.st_mtime_ns != self.mtime_ns:
            return f"{self.path} was modified while it was read"
        return None


def unchanged(watched: list[Watched]) -> None:
    """Raise CollectError if any watched file changed or vanished since it was opened."""
    changes = [c for w in watched if (c := w.change())]
    if changes:
        raise CollectError("; ".join(changes) + ": the source was not read whole")


def require_complete_last_line(path: Path, origin: str | None = None) -> None:
    """Raise CollectError when a non-empty text file does not end with a line break: its
    last record was cut short (a truncated export, or a copy still in progress)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return
            fh.seek(-1, os.SEEK_END)
            last = fh.read(1)
    except OSError as exc:
        raise CollectError(f"{origin or path}: cannot read: {exc.strerror or exc}") from None
    if last not in (b"\n", b"\r"):
        raise CollectError(
            f"{origin or path.name}: the last line has no line break, so the file looks cut "
            "short (truncated, or still being written); the source was not used")


def missing_key_columns(columns: list[str], key: tuple[str, ...],
                        required: tuple[str, ...] = ()) -> list[str]:
    """The key and required fields a batch of rows lacks as columns."""
    return [k for k in dict.fromkeys((*key, *required)) if k not in columns]
