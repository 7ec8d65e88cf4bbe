"""How old each source's data is in a snapshot, and which entities are too old to trust.

A source's ``max_age`` (in the configuration) is copied into the snapshot's
manifest when the snapshot is written, so whether a policy may read an entity
depends on the snapshot alone: evaluating the same snapshot later, or on another
machine, gives the same answer. Ages are measured from when each source was last
collected successfully to when the snapshot was made.
"""

from __future__ import annotations

import datetime as dt
import re

from .errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: What the configuration accepts for ``max_age`` (JSON Schema pattern).
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(m|min|h|d|w)\s*$"


def parse_duration(text: str, where: str = "max_age") -> dt.timedelta:
    """``90m``, ``36h``, ``2d``, ``1w`` → a timedelta."""
    m = _DURATION.match(str(text))
    if not m:
        raise ConfigError(f"{where}: '{text}' is not a duration: write a number and a unit, "
                          "m (minutes), h (hours), d (days) or w (weeks), e.g. 36h or 2d")
    return dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def describe_age(seconds: float) -> str:
    """An age in the largest unit that keeps it readable: ``9 days``, ``5 hours``."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "less than a minute"


def _time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def source_age(manifest: dict, source: str) -> float | None:
    """Seconds between a source's last good collect and the snapshot; None if never collected."""
    meta = manifest["sources"].get(source, {})
    collected = _time(meta.get("collected_at"))
    created = _time(manifest.get("created_at"))
    if collected is None or created is None:
        return None
    return max(0.0, (created - collected).total_seconds())


def stale_entities(manifest: dict) -> dict[str, str]:
    """Entity → why it is too old, for each entity every one of whose sources is past its
    ``max_age``. An entity with one fresh source (or a source without ``max_age``) is fine."""
    out: dict[str, str] = {}
    for entity, info in manifest.get("entities", {}).items():
        reasons = []
        for source in info.get("sources", []):
            meta = manifest["sources"].get(source, {})
            limit = meta.get("max_age_seconds")
            age = source_age(manifest, source)
            if limit is None or age is None or age <= limit:
                reasons = []
                break
            failing = (f"; it has failed since {meta['failed_at']}: {meta['error']}"
                       if meta.get("error") else "")
            reasons.append(f"source '{source}' was last collected {meta['collected_at']}, "
                           f"max_age {describe_age(limit)}{failing}")
        if reasons:
            newest = min(source_age(manifest, s) or 0 for s in info["sources"])
            out[entity] = f"{entity} data is {describe_age(newest)} old ({'; '.join(reasons)})"
    return out


def incomplete_entities(manifest: dict) -> dict[str, str]:
    """Entity → why its rows may not be the whole truth today: some of them come from a
    source that failed (or was incomplete) in this collect and were carried forward.

    A policy reading such an entity can still report what it sees, but a finding it no
    longer reports may only be missing from the carried rows: it is not re-checked, not
    resolved (engine/store/sync.py)."""
    out: dict[str, str] = {}
    for entity, info in sorted(manifest.get("entities", {}).items()):
        reasons = []
        for source in info.get("sources", []):
            meta = manifest["sources"].get(source, {})
            if meta.get("status") != "stale":
                continue
            since = f" since {meta['failed_at']}" if meta.get("failed_at") else ""
            reasons.append(f"source '{source}' failed{since} and its rows from "
                           f"{meta.get('collected_at') or 'an earlier collect'} were carried "
                           f"forward ({(meta.get('error') or 'no detail').splitlines()[0]})")
        if reasons:
            out[entity] = f"{entity}: " + "; ".join(reasons)
    return out
