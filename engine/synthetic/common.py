"""What every entity group uses: the default as-of date and sizes, the error for a
draw too small, and the vectorised helpers that turn numpy columns into Arrow."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..estate.model import load_model

AS_OF = dt.date(2026, 6, 30)
#: Below this the per-policy pools get too small to plant three violations and keep clean rows.
MIN_LINES = 200
#: Months of carrier invoices: the latest and the three a spike or a tax share is judged against.
INVOICE_MONTHS = 4

_EPOCH = dt.date(1970, 1, 1)
_US_PER_S = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_S


class EstateTooSmall(ValueError):
    """The draw left a policy too few candidates to plant its violations beside clean rows."""


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
