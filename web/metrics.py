"""Prometheus metrics (the official client, ``prometheus_client``) for ``GET /metrics``.

Two kinds of series, kept apart on purpose:

- What the store knows (runs, sources' age, findings, the notification outbox, disputes) is read
  from the store *at each scrape* by ``StoreCollector``, with a handful of grouped SQL counts. It is
  never kept in process globals: every waitress thread, every process and every replica of the
  web application answers the same figures, the store's.
- Request latency is what only this process sees: a histogram in the application's own
  ``CollectorRegistry`` (not the client's global one, so two applications in one process, as in
  the tests, never share or double-register series), labelled by endpoint name, method and
  status, never by raw path, so no id or name ends up in a label.

docs/operations.md lists every series.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select

from dialtone.engine.store import Store
from dialtone.engine.store.ops_reads import COMPLETED, last_run
from dialtone.engine.store.tables import disputes, findings, policies, run_sources, runs

#: Latency buckets (seconds): pages take 10 ms to 1 s, evidence packages a few seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: The run statuses engine/runs.py records (each one exported, 0 when none).
RUN_STATUSES = ("running", "succeeded", "degraded", "failed", "skipped")
def parse_time(text: str | None) -> dt.datetime | None:
    """A stored time (``2026-11-02T09:00:00.000000Z`` or without the fraction) as aware UTC."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


class StoreCollector(Collector):
    """Reads the store's figures at each scrape. A store that cannot be read raises (the view
    answers 503): a scrape never reports made-up zeros."""

    def __init__(self, store: Store, now: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self.now = now or store.now

    def collect(self) -> Iterator[Metric]:
        from dialtone.engine.store.disputes import LIVE
        from dialtone.engine.store.outbox_reads import outbox_counts

        now = self.now()
        with self.store.read() as conn:
            yield from self._runs(conn, now)
            yield from self._sources(conn, now)
            yield self._findings(conn)
            outbox = GaugeMetricFamily("dialtone_outbox_messages",
                                       "Notification messages in the outbox, by state.", labels=["state"])
            for state, n in sorted(outbox_counts(conn).items()):
                outbox.add_metric([state], n)
            yield outbox
            yield from self._disputes(conn, LIVE)

    def _runs(self, conn: Connection, now: dt.datetime) -> Iterator[Metric]:
        counts = dict(conn.execute(select(runs.c.status, func.count()).group_by(runs.c.status)).all())
        total = CounterMetricFamily("dialtone_runs", "Runs recorded in the store, by status.",
                                    labels=["status"])
        for status in sorted(set(RUN_STATUSES) | set(counts)):
            total.add_metric([status], counts.get(status, 0))
        yield total
        row = last_run(conn)
        status = GaugeMetricFamily("dialtone_last_run_status",
                                   "1 for the status of the latest run, 0 for the others.",
                                   labels=["status"])
        for name in RUN_STATUSES:
            status.add_metric([name], 1 if row is not None and row.status == name else 0)
        yield status
        if row is not None:
            started = parse_time(row.started_at)
            yield GaugeMetricFamily("dialtone_last_run_age_seconds", "Seconds since the latest run started.",
                                    value=max(0.0, (now - started).total_seconds()))
            finished = parse_time(row.finished_at)
            if finished is not None:
                yield GaugeMetricFamily("dialtone_last_run_duration_seconds",
                                        "How long the latest finished run took.",
                                        value=max(0.0, (finished - started).total_seconds()))
        done = last_run(conn, COMPLETED)
        if done is not None:
            yield GaugeMetricFamily("dialtone_last_completed_run_age_seconds",
                                    "Seconds since the latest succeeded or degraded run finished.",
                                    value=max(0.0, (now - parse_time(done.finished_at or done.started_at))
                                              .total_seconds()))

    def _sources(self, conn: Connection, now: dt.datetime) -> Iterator[Metric]:
        age = GaugeMetricFamily("dialtone_source_age_seconds",
                                "Seconds since each source's data was last collected successfully.",
                                labels=["source"])
        latest = (select(run_sources.c.source, func.max(run_sources.c.collected_at))
                  .group_by(run_sources.c.source).order_by(run_sources.c.source))
        for source, collected in conn.execute(latest):
            when = parse_time(collected)
            if when is not None:
                age.add_metric([source], max(0.0, (now - when).total_seconds()))
        yield age

    def _findings(self, conn: Connection) -> Metric:
        # Grouped by (policy, status): one pass over ix_findings_policy_status_id without reading
        # a row; each policy's severity comes from the small policies table.
        severity = dict(conn.execute(select(policies.c.id, policies.c.severity)).all())
        totals: dict[tuple[str, str], int] = {}
        for policy_id, status, n in conn.execute(select(findings.c.policy_id, findings.c.status, func.count())
                                                 .group_by(findings.c.policy_id, findings.c.status)):
            key = (status, severity.get(policy_id, "unknown"))
            totals[key] = totals.get(key, 0) + n
        family = GaugeMetricFamily("dialtone_findings", "Findings in the store, by status and severity.",
                                   labels=["status", "severity"])
        for (status, sev), n in sorted(totals.items()):
            family.add_metric([status, sev], n)
        return family

    def _disputes(self, conn: Connection, live: tuple[str, ...]) -> Iterator[Metric]:
        rows = conn.execute(select(disputes.c.status, disputes.c.currency, func.count(),
                                   func.sum(disputes.c.claimed_total - disputes.c.credited_total))
                            .where(disputes.c.status.in_(live))
                            .group_by(disputes.c.status, disputes.c.currency)).all()
        count = GaugeMetricFamily("dialtone_disputes_open", "Disputes still open, by status.",
                                  labels=["status"])
        stake = GaugeMetricFamily("dialtone_disputes_money_at_stake",
                                  "Claimed and not yet credited on open disputes, per currency.",
                                  labels=["currency"])
        by_status: dict[str, int] = dict.fromkeys(live, 0)
        by_currency: dict[str, float] = {}
        for status, currency, n, outstanding in rows:
            by_status[status] += n
            key = currency or "unknown"
            by_currency[key] = by_currency.get(key, 0.0) + (outstanding or 0.0)
        for status, n in by_status.items():
            count.add_metric([status], n)
        for currency, amount in sorted(by_currency.items()):
            stake.add_metric([currency], amount)
        yield count
        yield stake


class AppMetrics:
    """One web application's registry: the store's collector and its request latency."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(store))
        self.latency = Histogram("dialtone_http_request_duration_seconds",
                                 "Time to answer a request, by endpoint (the view's name), method and "
                                 "status.",
                                 ["endpoint", "method", "status"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.latency.labels(endpoint, method, str(status)).observe(seconds)
