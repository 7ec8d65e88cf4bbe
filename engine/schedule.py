"""The run schedule: a standard five-field cron expression, always in UTC.

APScheduler 3's ``CronTrigger.from_crontab`` numbers weekdays from Monday = 0,
unlike cron, where 0 (and 7) is Sunday, so ``0 2 * * 0`` would run on Mondays.
The day-of-week field is therefore read here with cron's numbering and handed
to APScheduler as weekday names, which mean the same to both.
"""

from __future__ import annotations

import datetime as dt
import re

from apscheduler.triggers.cron import CronTrigger

from .errors import ConfigError

#: Cron's weekday numbers (0 and 7 are Sunday) → the names APScheduler reads.
_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAMES = {name: i for i, name in enumerate(_CRON_WEEKDAYS[:7])}
FIELDS = ("minute", "hour", "day", "month", "day_of_week")


def _weekday(token: str, expr: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and int(token) <= 7:
        return int(token) % 7
    if token[:3] in _NAMES:
        return _NAMES[token[:3]]
    raise ConfigError(f"schedule.cron: '{expr}': '{token}' is not a day of the week "
                      "(0-7, where 0 and 7 are Sunday, or mon…sun)")


def _day_of_week(field: str, expr: str) -> str:
    """Cron's day-of-week field → a list of APScheduler weekday names (or ``*``)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ConfigError(f"schedule.cron: '{expr}': bad step in '{part}'")
        if rng == "*":
            first, last = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            first, last = _weekday(a, expr), _weekday(b, expr)
            if b.strip() == "7":
                last = 7
            if last < first:
                raise ConfigError(f"schedule.cron: '{expr}': the range '{rng}' runs backwards")
        else:
            first = last = _weekday(rng, expr)
            if step:
                last = 6
        days.update(d % 7 for d in range(first, last + 1, step or 1))
    order = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return ",".join(d for d in order if _NAMES[d] in days)


def cron_trigger(expr: str, jitter: int | None = None) -> CronTrigger:
    """A UTC trigger from a five-field cron expression, with a clear error when it is wrong."""
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(f"schedule.cron: '{expr}' must have five fields: "
                          "minute hour day-of-month month day-of-week (UTC)")
    values = dict(zip(FIELDS, fields, strict=True))
    if values["day"] != "*" and values["day_of_week"] != "*":
        # cron runs when EITHER matches, APScheduler only when both do: refuse the ambiguity.
        raise ConfigError(f"schedule.cron: '{expr}': restrict the day of the month or the day "
                          "of the week, not both")
    values["day_of_week"] = _day_of_week(values["day_of_week"], expr)
    if re.search(r"[?LW#]", " ".join(fields[:4])):
        raise ConfigError(f"schedule.cron: '{expr}': ?, L, W and # are not supported")
    try:
        return CronTrigger(**values, timezone=dt.UTC, jitter=jitter or None)
    except ValueError as exc:
        raise ConfigError(f"schedule.cron: '{expr}': {exc}") from None


def next_times(expr: str, count: int, after: dt.datetime) -> list[dt.datetime]:
    """The next ``count`` times the schedule fires after ``after`` (UTC)."""
    trigger = cron_trigger(expr)
    out: list[dt.datetime] = []
    previous = None
    now = after
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        out.append(fire)
        previous, now = fire, fire + dt.timedelta(microseconds=1)
    return out
