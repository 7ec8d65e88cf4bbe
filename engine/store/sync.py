"""Record an evaluation and move every finding through its lifecycle, set-based.

In one transaction: the evaluation and its per-policy runs are recorded, the
current findings are staged, and a handful of SQL statements decide for all
findings at once what changed — new → ``open``; violating again → reopened;
still violating → last seen and evidence refreshed (after a run of the policy
that could not look, a ``seen_again`` event); no longer violating → ``resolved``;
policy gone from the set → ``retired``. Only policies that ran (``alarm`` or
``ok``) touch their findings; a skipped or failed policy changes none.

A finding is resolved only when the evaluation saw its resource's data and the
policy no longer fires. When the policy read rows carried forward from a source
that failed or was incomplete (``PolicyOutcome.incomplete_inputs``), or the
resource is no longer in the snapshot at all, or the policy could not decide the resource
this time (it is among the outcome's ``undecidable``: the data to decide went missing, e.g.
an export that dropped a column), silence proves nothing: the
finding stays as it is and its history notes once why it was not re-checked
(``not_rechecked``; ``findings.recheck_note`` holds the note until the policy
sees the resource again or it is resolved).
The only per-finding Python is hashing the events into the chain, which is
sequential by nature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, insert, select, text, update

from .. import resource_attributes
from ..canonical_json import canonical_template
from ..estate.model import load_model
from ..evaluation import Evaluation
from ..policy.loader import LoadedPolicies
from . import Store, chain, dashboard, search_index
from .exceptions import ExceptionSpec, refresh_exceptions
from .lifecycle import GONE, STANDING, sql_list
from .staging import StagedFindings
from .tables import evaluations, policies, policy_requirements, policy_runs

#: Why a finding whose resource its policy could not decide stays as it was.
UNDECIDED_NOTE = ("not re-checked: the data to decide it is missing from this snapshot "
                  "(undecidable)")
#: Why a finding was retired: its policy left the set, or its rule changed and no longer
#: reports it (not a fix: its saving is not realised).
RETIRED_LEFT_SET = "the policy is no longer in the policy set"
RETIRED_RULE_CHANGED = ("the policy's rule changed since it last found this (its query or its "
                        "parameters differ) and no longer reports it; not counted as fixed")
# An evaluation's transitions (lifecycle.TRANSITIONS["evaluation:…"]): a standing finding not
# seen again is resolved (or retired, when its policy left the set); a gone one seen reopens.
_STANDING = sql_list(STANDING)
_GONE = sql_list(GONE)

RAN = ("alarm", "ok")
_MATCH = ("f.policy_id = s.policy_id AND f.resource_type = s.resource_type "
          "AND f.resource_id = s.resource_id")


@dataclass
class RecordSummary:
    evaluation_id: int
    changes: dict[str, int] = field(default_factory=dict)
    events: int = 0
    retirement_skipped: bool = False

    def line(self) -> str:
        parts = [f"{self.changes.get(k, 0)} {k}" for k in
                 ("opened", "reopened", "resolved", "retired", "seen_again", "not_rechecked",
                  "excepted", "exception_expired") if self.changes.get(k)]
        return (f"recorded evaluation {self.evaluation_id}: "
                + (", ".join(parts) if parts else "no changes") + f"; {self.events} events")


def git_blob_id(policy) -> str | None:
    """The git object id of the policy file's text (what ``git hash-object`` prints)."""
    if policy is None or not policy.abspath or not Path(policy.abspath).exists():
        return None
    body = Path(policy.abspath).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(body) + body, usedforsecurity=False).hexdigest()


def _temp_tables(conn: Connection) -> None:
    pg = conn.dialect.name == "postgresql"
    suffix = " ON COMMIT DROP" if pg else ""
    specs = {
        "dt_stage": "policy_id VARCHAR(200), resource_type VARCHAR(50), resource_id VARCHAR(300), "
                    "reason TEXT, evidence TEXT, savings DOUBLE PRECISION, savings_key VARCHAR(400), "
                    "currency VARCHAR(3), legal_entity VARCHAR(200), cost_center VARCHAR(200)",
        "dt_ran": "policy_id VARCHAR(200) PRIMARY KEY",
        "dt_set": "policy_id VARCHAR(200) PRIMARY KEY",
        "dt_changes": "finding_id INTEGER, kind VARCHAR(20), prev_seen INTEGER, note TEXT",
        "dt_held": "policy_id VARCHAR(200) PRIMARY KEY, note TEXT",
        "dt_gone": "finding_id INTEGER PRIMARY KEY, note TEXT",
        "dt_undecided": "policy_id VARCHAR(200), resource_id VARCHAR(300)",
    }
    for name, cols in specs.items():
        if not pg:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{name}")
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({cols}){suffix}")


def _due_case(store: Store, today) -> tuple[str, dict]:
    """SQL for the due date of a finding opening today, by its policy's severity."""
    params = {f"due_{sev}": (today + timedelta(days=days)).isoformat()
              for sev, days in store.sla_days.items()}
    whens = " ".join(f"WHEN '{sev}' THEN :due_{sev}" for sev in store.sla_days)
    return f"(SELECT CASE p.severity {whens} END FROM policies p WHERE p.id = {{alias}}.policy_id)", params


def _load_stage(conn: Connection, evaluation: Evaluation, attributes: pa.Table | None) -> dict[str, str]:
    """Stage every finding of the evaluation, with its resource's legal entity and cost centre
    (``attributes``); returns each policy's results digest."""
    # Without any attribute (an estate without legal entities or cost centres) the two columns
    # stay NULL and are not sent: a fifth wider insert for nothing.
    with_attributes = attributes is not None and attributes.num_rows > 0
    width = 10 if with_attributes else 8
    sql = ("INSERT INTO dt_stage (policy_id, resource_type, resource_id, reason, evidence, savings, "
           "savings_key, currency" + (", legal_entity, cost_center" if with_attributes else "")
           + ") VALUES (%s)")
    marks = ", ".join(["?" if conn.dialect.name == "sqlite" else "%s"] * width)
    with duckdb.connect() as staging, StagedFindings(
            [(o.policy_id, o.resource_type, o.evidence_names, o.rows)
             for o in evaluation.outcomes if o.status in RAN], attributes, con=staging) as staged:
        digests = staged.digests()
        for batch in staged.batches(with_attributes=with_attributes):
            conn.exec_driver_sql(sql % marks, batch)
    # Built once after loading (faster than maintaining it row by row); rows are unique per
    # policy and resource already (see staging).
    conn.exec_driver_sql("CREATE UNIQUE INDEX dt_stage_key ON dt_stage "
                         "(policy_id, resource_type, resource_id)")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE dt_stage")
    return digests


def _attributes(evaluation: Evaluation) -> pa.Table | None:
    """The legal entity and cost centre (what scoped access filters by, engine/access.py) of the
    resources the evaluation's findings name, read from its snapshot by ``resource_attributes``:
    one DuckDB query over the outcomes' resource ids, kept in Arrow (resource_type, resource_id,
    legal_entity, cost_center; only resources with either). None when there is nothing to
    look up."""
    keys = [pa.table({"resource_type": pa.repeat(pa.scalar(o.resource_type, pa.string()), o.rows.num_rows),
                      "resource_id": o.rows.column(0).cast(pa.string())})
            for o in evaluation.outcomes if o.status in RAN and o.rows is not None and o.rows.num_rows
            and o.resource_type in resource_attributes.ATTRIBUTE_SQL]
    if not keys:
        return None
    types = tuple(sorted({o.resource_type for o in evaluation.outcomes if o.status in RAN}))
    con = resource_attributes.connect(evaluation.snapshot)
    try:
        con.register("found", pa.concat_tables(keys))
        return con.sql(f"""
            SELECT a.resource_type, a.resource_id, any_value(a.legal_entity) AS legal_entity,
                   any_value(a.cost_center) AS cost_center
            FROM ({resource_attributes.attributes_sql(con, evaluation.snapshot, types, tolerant=True,
                                                      only="found")}) a
            WHERE a.legal_entity IS NOT NULL OR a.cost_center IS NOT NULL
            GROUP BY a.resource_type, a.resource_id""").to_arrow_table()
    finally:
        con.close()


def _register_policies(conn: Connection, loaded: LoadedPolicies, evaluation: Evaluation,
                       eid: int) -> None:
    ran = {o.policy_id: o.status for o in evaluation.outcomes}
    known = {row.id for row in conn.execute(select(policies.c.id))}
    for policy in loaded.policies:
        values = {"title": policy.title, "category": policy.category, "severity": policy.severity,
                  "resource_type": policy.resource, "policy_hash": policy.source_hash, "in_set": True}
        if policy.id in ran:
            values["last_run_evaluation"] = eid
            if ran[policy.id] in RAN:
                values["last_ok_evaluation"] = eid
        if policy.id in known:
            conn.execute(update(policies).where(policies.c.id == policy.id).values(**values))
        else:
            conn.execute(insert(policies).values(id=policy.id, **values))
        conn.execute(policy_requirements.delete().where(policy_requirements.c.policy_id == policy.id))
        reqs = [{"policy_id": policy.id, "framework": fw, "requirement": req}
                for fw, ids in policy.frameworks.items() for req in ids]
        if reqs:
            conn.execute(insert(policy_requirements), reqs)
    current = {p.id for p in loaded.policies}
    gone = known - current
    if gone and not loaded.failures:
        conn.execute(update(policies).where(policies.c.id.in_(gone)).values(in_set=False))


def record_evaluation(store: Store, evaluation: Evaluation, loaded: LoadedPolicies, *,
                      provenance: dict, actor: str = "system",
                      repository: list[ExceptionSpec] | None = None,
                      route: Callable[[Connection, int], object] | None = None) -> RecordSummary:
    """Record ``evaluation`` and sync the findings; one transaction, all or nothing.

    ``route(conn, evaluation_id)``, when given, runs in the same transaction after the
    findings' events are written: the notifications they call for are committed with them."""
    started = store.now_text()
    today = store.today()
    with store.write() as conn:
        _temp_tables(conn)
        eid = conn.execute(insert(evaluations).values(
            snapshot_id=evaluation.snapshot.id, snapshot_sha256=evaluation.snapshot.manifest_hash,
            snapshot_as_of=evaluation.snapshot.as_of.isoformat(),
            policies_version=provenance["version"], policies_source=provenance["source"],
            policies_dirty=provenance.get("dirty"), engine=evaluation.engine, started_at=started,
            actor=actor)).inserted_primary_key[0]
        digests = _load_stage(conn, evaluation, _attributes(evaluation))
        by_id = loaded.by_id()
        runs = [{"evaluation_id": eid, "policy_id": o.policy_id, "policy_hash": o.policy_hash,
                 "status": o.status, "evaluated": o.evaluated, "finding_count": o.finding_count,
                 "error": o.error, "skip_reason": o.skip_reason,
                 "params": json.dumps(o.params, sort_keys=True, default=str), "sql": o.sql,
                 "policy_blob": git_blob_id(by_id.get(o.policy_id)),
                 "result_sha256": digests.get(o.policy_id),
                 "incomplete_inputs": json.dumps(o.incomplete_inputs) if o.incomplete_inputs
                 else None,
                 "undecidable": o.undecidable_count if o.status in RAN else None}
                for o in evaluation.outcomes]
        if runs:
            conn.execute(insert(policy_runs), runs)
        # The policies' previous runs decide "seen again after a gap": read them before updating.
        ran = [{"p": o.policy_id} for o in evaluation.outcomes if o.status in RAN]
        if ran:
            conn.execute(text("INSERT INTO dt_ran (policy_id) VALUES (:p)"), ran)
        conn.execute(text("INSERT INTO dt_set (policy_id) VALUES (:p)"),
                     [{"p": p.id} for p in loaded.policies] or [{"p": ""}])
        held = [{"p": o.policy_id, "n": "not re-checked: " + "; ".join(o.incomplete_inputs)}
                for o in evaluation.outcomes if o.status in RAN and o.incomplete_inputs]
        if held:
            conn.execute(text("INSERT INTO dt_held (policy_id, note) VALUES (:p, :n)"), held)
        _load_undecided(conn, evaluation)
        changes = _classify(conn, eid, retire=not loaded.failures)
        unseen = _hold_unseen_resources(conn, evaluation.snapshot)
        changes["resolved"] -= unseen
        changes["not_rechecked"] += unseen
        superseded = _retire_rule_changes(conn, eid)
        changes["resolved"] -= superseded
        changes["retired"] = changes.get("retired", 0) + superseded
        _drop_repeated_notes(conn)
        _register_policies(conn, loaded, evaluation, eid)
        changes["opened"] = _apply(conn, store, eid, today)
        events = _events(conn, store, eid, evaluation.snapshot.id)
        exc = refresh_exceptions(conn, store, repository=repository)
        for kind, n in exc.items():
            changes[kind] = changes.get(kind, 0) + n
        summary = RecordSummary(eid, changes, events + exc.get("events", 0),
                                retirement_skipped=bool(loaded.failures))
        summary.changes.pop("events", None)
        if route is not None:
            route(conn, eid)
        # The dashboard's counts as this evaluation leaves the findings (the web application
        # starts from them rather than counting every finding on its first view after it),
        # and from them the posture after this evaluation, for the dashboard's trend.
        posture = dashboard.record_counts(conn, eid)
        conn.execute(update(evaluations).where(evaluations.c.id == eid).values(
            finished_at=store.now_text(),
            summary=json.dumps({**summary.changes, **posture}, sort_keys=True)))
    # After the commit, in its own transaction: the findings and their history do not wait
    # for the text-search index (searches scan until it is up to date).
    search_index.refresh(store)
    return summary


def _classify(conn: Connection, eid: int, *, retire: bool) -> dict[str, int]:
    """Decide every change before applying any: statuses are read as they were."""
    statements = {
        "reopened": f"""
            INSERT INTO dt_changes (finding_id, kind)
            SELECT f.id, 'reopened' FROM findings f JOIN dt_stage s ON {_MATCH}
            WHERE f.status IN {_GONE}""",
        # A run of the policy since this finding was last seen could not look (skip/error):
        # an OK run that did not see it would have resolved it.
        "seen_again": f"""
            INSERT INTO dt_changes (finding_id, kind, prev_seen)
            SELECT f.id, 'seen_again', f.last_seen_evaluation
            FROM findings f JOIN dt_stage s ON {_MATCH} JOIN policies p ON p.id = f.policy_id
            WHERE f.status NOT IN {_GONE}
              AND f.last_seen_evaluation < p.last_run_evaluation""",
        # Not seen, but the policy read rows carried from a failed source: not re-checked.
        "held": f"""
            INSERT INTO dt_changes (finding_id, kind, note)
            SELECT f.id, 'not_rechecked', h.note FROM findings f JOIN dt_held h ON h.policy_id = f.policy_id
            WHERE f.status IN {_STANDING}
              AND NOT EXISTS (SELECT 1 FROM dt_stage s WHERE {_MATCH})""",
        # Not seen because the policy could not decide the resource this time: not re-checked.
        "undecided": f"""
            INSERT INTO dt_changes (finding_id, kind, note)
            SELECT f.id, 'not_rechecked', '{UNDECIDED_NOTE}'
            FROM findings f JOIN dt_undecided u
              ON u.policy_id = f.policy_id AND u.resource_id = f.resource_id
            WHERE f.status IN {_STANDING}
              AND NOT EXISTS (SELECT 1 FROM dt_held h WHERE h.policy_id = f.policy_id)
              AND NOT EXISTS (SELECT 1 FROM dt_stage s WHERE {_MATCH})""",
        "resolved": f"""
            INSERT INTO dt_changes (finding_id, kind)
            SELECT f.id, 'resolved' FROM findings f JOIN dt_ran r ON r.policy_id = f.policy_id
            WHERE f.status IN {_STANDING}
              AND NOT EXISTS (SELECT 1 FROM dt_held h WHERE h.policy_id = f.policy_id)
              AND NOT EXISTS (SELECT 1 FROM dt_undecided u
                              WHERE u.policy_id = f.policy_id AND u.resource_id = f.resource_id)
              AND NOT EXISTS (SELECT 1 FROM dt_stage s WHERE {_MATCH})""",
    }
    if retire:
        statements["retired"] = f"""
            INSERT INTO dt_changes (finding_id, kind, note)
            SELECT f.id, 'retired', :left_set FROM findings f
            WHERE f.status IN {_STANDING}
              AND NOT EXISTS (SELECT 1 FROM dt_set p WHERE p.policy_id = f.policy_id)"""
    counts = {}
    for kind, sql in statements.items():
        params = {"left_set": RETIRED_LEFT_SET} if kind == "retired" else {}
        counts[kind] = conn.execute(text(sql), params).rowcount
    counts["not_rechecked"] = counts.pop("held") + counts.pop("undecided")
    return counts


def _load_undecided(conn: Connection, evaluation: Evaluation) -> None:
    """Stage the resources each policy that ran could not decide (``dt_undecided``)."""
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = f"INSERT INTO dt_undecided (policy_id, resource_id) VALUES ({mark}, {mark})"
    for o in evaluation.outcomes:
        if o.status in RAN and o.undecidable is not None and len(o.undecidable):
            conn.exec_driver_sql(sql, [(o.policy_id, rid) for rid in o.undecidable.to_pylist()
                                       if rid is not None])
    conn.exec_driver_sql("CREATE INDEX dt_undecided_key ON dt_undecided (policy_id, resource_id)")


def _hold_unseen_resources(conn: Connection, snapshot) -> int:
    """Findings about to be resolved whose resource is not in the snapshot at all: the
    policy did not see it fixed, it did not see it. They become ``not_rechecked``."""
    rows = conn.execute(text("""
        SELECT c.finding_id, f.resource_type, f.resource_id
        FROM dt_changes c JOIN findings f ON f.id = c.finding_id
        WHERE c.kind = 'resolved'""")).all()
    if not rows:
        return 0
    by_type: dict[str, list[tuple[int, str]]] = {}
    for finding_id, resource_type, resource_id in rows:
        by_type.setdefault(resource_type, []).append((finding_id, resource_id))
    gone: list[dict] = []
    model = load_model()
    con = duckdb.connect()
    try:
        for resource_type, items in sorted(by_type.items()):
            if resource_type not in model.entities or resource_type not in snapshot.entities:
                present: set[str] = set()
            else:
                entity = model.entity(resource_type)
                key = " || '/' || ".join(f'CAST("{k}" AS VARCHAR)' for k in entity.key)
                con.register("candidates", pa.table({"rid": [rid for _, rid in items]}))
                path = str(snapshot.parquet(resource_type)).replace("'", "''")
                present = set(con.sql(
                    f"SELECT rid FROM candidates SEMI JOIN (SELECT {key} AS rid FROM "
                    f"read_parquet('{path}')) r USING (rid)").to_arrow_table().column(0).to_pylist())
                con.unregister("candidates")
            gone += [{"f": fid, "n": f"not re-checked: {resource_type} {rid} is no longer in the "
                                    "collected data"}
                     for fid, rid in items if rid not in present]
    finally:
        con.close()
    if gone:
        # Set-based: dt_changes has no index, and a source that vanished can leave a hundred
        # thousand findings to hold; one UPDATE per finding would scan it once each.
        conn.execute(text("INSERT INTO dt_gone (finding_id, note) VALUES (:f, :n)"), gone)
        conn.execute(text("""
            UPDATE dt_changes
            SET kind = 'not_rechecked',
                note = (SELECT g.note FROM dt_gone g WHERE g.finding_id = dt_changes.finding_id)
            WHERE kind = 'resolved' AND finding_id IN (SELECT finding_id FROM dt_gone)"""))
    return len(gone)


def _retire_rule_changes(conn: Connection, eid: int) -> int:
    """Findings about to be resolved whose policy's rule changed since it last found them (its
    compiled query or its parameters differ): the new rule no longer reports them, nobody fixed
    them. They are retired, not resolved, so their savings are never counted as realised (an
    upgrade that stopped counting Slack's idle seats had "realised" their cost). A run without
    its query on record (a store older than the query column) keeps the old answer."""
    return conn.execute(text("""
        UPDATE dt_changes SET kind = 'retired', note = :note
        WHERE kind = 'resolved' AND finding_id IN (
            SELECT f.id FROM findings f
            JOIN policy_runs o ON o.evaluation_id = f.last_seen_evaluation AND o.policy_id = f.policy_id
            JOIN policy_runs n ON n.evaluation_id = :eid AND n.policy_id = f.policy_id
            WHERE f.id IN (SELECT finding_id FROM dt_changes WHERE kind = 'resolved')
              AND o.sql IS NOT NULL AND n.sql IS NOT NULL
              AND (o.sql <> n.sql OR coalesce(o.params, '') <> coalesce(n.params, '')))"""),
        {"eid": eid, "note": RETIRED_RULE_CHANGED}).rowcount


def _drop_repeated_notes(conn: Connection) -> None:
    """A finding already noted as not re-checked for the same reason gets no new event."""
    conn.execute(text("""
        DELETE FROM dt_changes WHERE kind = 'not_rechecked' AND EXISTS (
            SELECT 1 FROM findings f WHERE f.id = dt_changes.finding_id
              AND f.recheck_note = dt_changes.note)"""))


def _apply(conn: Connection, store: Store, eid: int, today) -> int:
    """Apply the classified changes and insert new findings; returns how many opened.

    New findings are numbered in (policy, resource) order, so the same evaluation recorded twice
    gives the same finding ids whatever order the policies finished in."""
    now = store.now_text()
    due_sql, due_params = _due_case(store, today)
    params = {"eid": eid, "now": now, **due_params}
    # These two run before the new findings go in: each probes the findings once per staged
    # finding, and a new one (every one, on a first evaluation) has nothing to refresh.
    # Still violating: refresh what the finding says and when it was last seen.
    conn.execute(text(f"""
        UPDATE findings SET reason = s.reason, evidence = s.evidence, savings = s.savings,
            savings_key = s.savings_key, currency = s.currency,
            last_seen_evaluation = :eid, last_seen_at = :now, recheck_note = NULL
        FROM dt_stage s
        WHERE {_MATCH.replace('f.', 'findings.')} AND findings.last_seen_evaluation <> :eid"""), params)
    # Their legal entity and cost centre only where they changed: assigning an indexed column
    # rewrites its index entries even to the same value (ix_findings_legal_entity, _cost_center).
    # Nothing can differ when neither the stage nor the findings have any (two index probes).
    if conn.execute(text("SELECT 1 WHERE EXISTS (SELECT 1 FROM dt_stage WHERE legal_entity IS NOT NULL "
                         "OR cost_center IS NOT NULL) OR EXISTS (SELECT 1 FROM findings WHERE "
                         "legal_entity IS NOT NULL) OR EXISTS (SELECT 1 FROM findings WHERE "
                         "cost_center IS NOT NULL)")).first():
        differs = "IS NOT" if conn.dialect.name == "sqlite" else "IS DISTINCT FROM"
        conn.execute(text(f"""
            UPDATE findings SET legal_entity = s.legal_entity, cost_center = s.cost_center
            FROM dt_stage s
            WHERE {_MATCH.replace('f.', 'findings.')}
              AND (findings.legal_entity {differs} s.legal_entity
                   OR findings.cost_center {differs} s.cost_center)"""))
    opened = conn.execute(text(f"""
        INSERT INTO findings (policy_id, resource_type, resource_id, status, reason, evidence,
            savings, savings_key, currency, legal_entity, cost_center, first_seen_evaluation,
            last_seen_evaluation, first_seen_at, last_seen_at, opened_at, due_on, reopen_count, updated_at)
        SELECT s.policy_id, s.resource_type, s.resource_id, 'open', s.reason, s.evidence, s.savings,
            s.savings_key, s.currency, s.legal_entity, s.cost_center, :eid, :eid, :now, :now, :now,
            {due_sql.format(alias='s')}, 0, :now
        FROM dt_stage s
        WHERE NOT EXISTS (SELECT 1 FROM findings f WHERE {_MATCH})
        ORDER BY s.policy_id, s.resource_type, s.resource_id"""), params)
    conn.execute(text("""
        INSERT INTO dt_changes (finding_id, kind)
        SELECT id, 'opened' FROM findings WHERE first_seen_evaluation = :eid"""), params)
    conn.execute(text(f"""
        UPDATE findings SET status = 'open', opened_at = :now, due_on = {due_sql.format(alias='findings')},
            resolved_at = NULL, resolved_evaluation = NULL, exception_id = NULL, review_note = NULL,
            reopen_count = reopen_count + 1, updated_at = :now
        WHERE id IN (SELECT finding_id FROM dt_changes WHERE kind = 'reopened')"""), params)
    conn.execute(text("""
        UPDATE findings SET recheck_note = (SELECT c.note FROM dt_changes c
            WHERE c.finding_id = findings.id AND c.kind = 'not_rechecked')
        WHERE id IN (SELECT finding_id FROM dt_changes WHERE kind = 'not_rechecked')"""))
    conn.execute(text("""
        UPDATE findings SET status = 'resolved', resolved_at = :now, resolved_evaluation = :eid,
            updated_at = :now, recheck_note = NULL
        WHERE id IN (SELECT finding_id FROM dt_changes WHERE kind = 'resolved')"""), params)
    conn.execute(text("""
        UPDATE findings SET status = 'retired', resolved_at = :now, resolved_evaluation = :eid,
            updated_at = :now
        WHERE id IN (SELECT finding_id FROM dt_changes WHERE kind = 'retired')"""), params)
    return opened.rowcount


#: Each kind's event data beside the evaluation and the snapshot: constant keys, and the keys
#: taken from the event's row (prev_seen, note, reason, due_on), by position.
_EVENT_DATA: dict[str, tuple[dict, dict[str, int]]] = {
    "opened": ({}, {"reason": 2, "due_on": 3}),
    "reopened": ({}, {"reason": 2, "due_on": 3}),
    "seen_again": ({}, {"last_seen_evaluation": 0}),
    "resolved": ({"how": "no longer found by the policy"}, {}),
    "retired": ({}, {"how": 1}),
    "not_rechecked": ({}, {"why": 1}),
}


def _event_writers(eid: int, snapshot_id: str) -> dict[str, Callable[..., str]]:
    """Per kind, a function of (prev_seen, note, reason, due_on) returning the event's data as
    ``chain.canonical_data`` writes it (canonical_json.canonical_template): an evaluation can
    write a million events of these few shapes."""
    return {kind: canonical_template({"evaluation": eid, "snapshot": snapshot_id, **fixed}, fields)
            for kind, (fixed, fields) in _EVENT_DATA.items()}


def _events(conn: Connection, store: Store, eid: int, snapshot_id: str) -> int:
    now = store.now_text()
    data = _event_writers(eid, snapshot_id)
    rows = _tuples(conn, """
        SELECT c.finding_id, c.kind, c.prev_seen, c.note, f.reason, f.due_on
        FROM dt_changes c JOIN findings f ON f.id = c.finding_id
        ORDER BY f.policy_id, f.resource_type, f.resource_id, c.kind""")
    # Closed inside the transaction whatever happens: a cursor left open past a rollback locks
    # the connection's temporary tables for its next user (SQLite) or its next transaction.
    with closing(rows):
        return chain.append(conn, (
            (now, "system", kind, finding_id, None, eid, data[kind](prev_seen, note, reason, due_on))
            for finding_id, kind, prev_seen, note, reason, due_on in rows))


def _tuples(conn: Connection, sql: str, size: int = 50_000) -> Iterator[tuple]:
    """The rows of ``sql`` as the driver's plain tuples, streamed, in the caller's transaction:
    no per-row objects of the SQL layer for a million rows. On PostgreSQL a server-side cursor,
    so they are not all held in memory at once (SQLite steps through them as they are read)."""
    dbapi = conn.connection.dbapi_connection
    cursor = dbapi.cursor(name="dt_rows") if conn.dialect.name == "postgresql" else dbapi.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(size):
            yield from rows
    finally:
        cursor.close()
