"""The operational store: evaluations, findings, their remediation history, exceptions.

``Store`` opens the database (SQLite by default, PostgreSQL by URL), refuses an
out-of-date schema, and hands out write and read transactions. Everything that
reads "now" asks ``Store.now()`` so tests (and replays) can pin the clock.

Reads never write: the read models (``queries``, ``reads``, ``dashboard``) only read, and
opening a store changes nothing in an existing database. What is kept in memory between
calls (the dashboard's counts, when exceptions were last brought up to date) is kept on the
``Store`` object, ``Store.memo``: one per database, gone with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Connection

from ..config import DEFAULT_EXCEPTION_MAX_DAYS, DEFAULT_SLA_DAYS, Config
from .db import StoreError, check_schema, make_engines, reachable
from .lifecycle import STATUSES

__all__ = ["STATUSES", "Store", "StoreError", "iso"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Memo:
    """What this process keeps about one store between calls; each user documents its entry."""

    #: dashboard: the figures last served, (key, catalogue, figures)
    posture: tuple | None = None
    #: dashboard: the counts per policy and status they were computed from
    counts: object | None = None
    #: exceptions.refresh_exceptions_if_changed: (chain head, day) as of its last run
    exceptions_refreshed: tuple | None = None
    #: guards the entries above
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: held by the one thread counting the figures (the others wait for them)
    counting: threading.Lock = field(default_factory=threading.Lock)
    #: held by the one thread bringing the exceptions up to date
    refreshing: threading.Lock = field(default_factory=threading.Lock)


class Store:
    def __init__(self, url: str, *, sla_days: dict[str, int] | None = None,
                 exception_max_days: dict[str, int] | None = None,
                 clock: Callable[[], datetime] = _utcnow, create_if_empty: bool = True,
                 check: bool = True) -> None:
        self.url = url
        self.sla_days = {**DEFAULT_SLA_DAYS, **(sla_days or {})}
        self.exception_max_days = {**DEFAULT_EXCEPTION_MAX_DAYS, **(exception_max_days or {})}
        self.clock = clock
        self.memo = Memo()
        self.writer, self.reader = make_engines(url)
        if check:
            try:
                check_schema(self.writer, url, create_if_empty=create_if_empty)
            except BaseException:
                self.close()
                raise

    @classmethod
    def from_config(cls, config: Config, **kwargs) -> Store:
        return cls(config.store_url, sla_days=config.store.sla_days,
                   exception_max_days=config.store.exception_max_days, **kwargs)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def now_text(self) -> str:
        return iso(self.now())

    def today(self) -> date:
        """Today in UTC: the one notion of 'today' for due dates and exception expiry."""
        return self.now().date()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with reachable(self.url), self.writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with reachable(self.url), self.reader.connect() as conn:
            yield conn

    def close(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
