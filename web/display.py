"""Values for people: how every page, the CSV downloads and the CLI's tables show what the store
keeps in machine form. One format per kind of value, so a timestamp, an amount or a list reads the
same wherever it appears:

- a moment to the second with its zone (``2026-12-06 02:19:57 UTC``), never microseconds;
- a due date with how far it is (``due in 6 days``, ``due today``, ``overdue 3 days``);
- numbers with thousands separators and no trailing ``.0``;
- lists as ``a, b``, objects as ``key: value; …``, booleans as ``yes``/``no``, nothing as ``—``.

Registered as Jinja filters by ``web/app.py`` (``when``, ``day``, ``due``, ``ago``, ``num``,
``show``)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal

from dialtone.engine.freshness import describe_age

NOTHING = "—"


def moment(value: str | dt.datetime | None) -> dt.datetime | None:
    """A stored timestamp (``…T…Z``, with or without fractions of a second, or a datetime) as an
    aware datetime in UTC; None for nothing or for text that is not a timestamp."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        stamp = value
    else:
        try:
            stamp = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)   # the store writes UTC
    return stamp.astimezone(dt.UTC)


def when(value: str | dt.datetime | None) -> str:
    """``2026-12-06 02:19:57 UTC``; a value that is not a timestamp is shown as it is."""
    stamp = moment(value)
    if stamp is None:
        return NOTHING if value in (None, "") else str(value)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def day(value: str | dt.date | None) -> str:
    """A calendar date as ``2026-12-06`` (a timestamp gives its UTC day)."""
    if value in (None, ""):
        return NOTHING
    if isinstance(value, dt.datetime):
        return moment(value).date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    stamp = moment(value) if "T" in str(value) else None
    return stamp.date().isoformat() if stamp else str(value)


def _date(value: str | dt.date | None) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return moment(value).date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _days(n: int) -> str:
    return f"{n:,} day{'s' if n != 1 else ''}"


def due(value: str | dt.date | None, today: dt.date) -> str:
    """How far a due date is from ``today``: ``due in 6 days``, ``due today``, ``overdue 3 days``;
    empty when there is no due date."""
    target = _date(value)
    if target is None:
        return ""
    gap = (target - today).days
    if gap > 0:
        return f"due in {_days(gap)}"
    if gap == 0:
        return "due today"
    return f"overdue {_days(-gap)}"


def ago(value: str | dt.datetime | None, now: dt.datetime) -> str:
    """``3 hours ago``, ``in 2 days``, ``just now``; empty for nothing."""
    stamp = moment(value)
    if stamp is None:
        return ""
    seconds = (now - stamp).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    age = describe_age(abs(seconds))
    return f"{age} ago" if seconds > 0 else f"in {age}"


def num(value, places: int | None = None) -> str:
    """A number with thousands separators: whole numbers without decimals, others with two (or
    ``places``); anything else as it is."""
    if value is None or value == "":
        return NOTHING
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except ArithmeticError:
            return value
    if isinstance(value, float | Decimal) and not math.isfinite(float(value)):
        return str(value)
    if places is not None:
        return f"{float(value):,.{places}f}"
    if isinstance(value, int) or float(value) == int(float(value)):
        return f"{int(value):,}"
    return f"{float(value):,.2f}"


def yes_no(value: bool | None) -> str:
    return NOTHING if value is None else ("yes" if value else "no")


def show(value) -> str:
    """Any value an evidence field, an event or a setting holds, as text for people: a list as
    ``a, b``, an object as ``key: value; …`` (nested the same way), a boolean as yes/no, a number
    with separators, a timestamp to the second, nothing as ``—``."""
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, int | float | Decimal):
        return num(value)
    if isinstance(value, Mapping):
        parts = [f"{k}: {show(v)}" for k, v in value.items() if v not in (None, [], {}, "")]
        return "; ".join(parts) if parts else NOTHING
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ", ".join(show(v) for v in items) if items else NOTHING
    if isinstance(value, dt.datetime):
        return when(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    if len(text) >= 20 and text[4:5] == "-" and "T" in text[10:11]:
        stamp = moment(text)
        if stamp is not None:
            return when(stamp)
    return text
