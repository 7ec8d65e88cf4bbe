"""Do the findings say what their history says? Part of ``dialtone audit verify``.

The chain proves the events were not edited; this proves the findings table was not
edited around them (``UPDATE findings SET status = 'resolved'`` leaves the chain intact).
Each finding's status, assignee and exception are recomputed from its events and
compared with the row, for every finding at once in one SQL statement.

What each event kind sets (sync.py, workflow.py and exceptions.py write them; blank: unchanged):

| event (with the finding's id) | status | assignee | exception |
|---|---|---|---|
| ``opened`` | open | none | none |
| ``reopened`` by an evaluation | open | | none |
| ``reopened`` by hand (``"manual": true``) | open | | |
| ``resolved``, ``retired`` | the kind | | |
| ``status_changed`` | its ``to`` | | |
| ``assigned`` | in_progress when it says ``from`` (it was open) | its ``assignee`` | |
| ``excepted`` | excepted | | the event's exception |
| ``exception_expired``/``_revoked``/``_updated`` | in_progress if ever assigned, else open | | none |
| ``seen_again``, ``commented``, ``not_rechecked`` | | | |

A kind this table does not name changes none of the three; a new kind that does must be
added here. So the status is set by the last status event, the assignee by the last
``assigned`` and the exception by the last of ``opened``, evaluation ``reopened``, ``excepted`` and
the exception releases. A finding without events has no history to agree with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text

#: Events that give a finding its exception back to none.
RELEASES = ("exception_expired", "exception_revoked", "exception_updated")
STATUS_KINDS = ("opened", "reopened", "resolved", "retired", "status_changed", "excepted") + RELEASES
#: How many disagreeing findings a report names.
SAMPLE = 10


@dataclass(frozen=True)
class Disagreement:
    finding_id: int
    field: str
    recorded: object
    history: object

    def __str__(self) -> str:
        if self.history is None and self.field == "status":
            said = "nothing (no event sets it)"
        else:
            said = "none" if self.history is None else repr(self.history)
        recorded = "none" if self.recorded is None else repr(self.recorded)
        return f"finding {self.finding_id}: {self.field} is {recorded}, its history says {said}"


@dataclass(frozen=True)
class StateReport:
    findings: int
    disagreeing: int
    sample: list[Disagreement] = field(default_factory=list)
    #: The store holds findings but no event at all (the history was emptied).
    empty_history: bool = False

    @property
    def ok(self) -> bool:
        return not self.disagreeing and not self.empty_history


def _field(dialect: str, alias: str, key: str) -> str:
    """SQL for one key of an event's JSON data (text, or NULL when absent)."""
    if dialect == "postgresql":
        return f"(CAST({alias}.data AS json) ->> '{key}')"
    return f"json_extract({alias}.data, '$.{key}')"


def _quoted(kinds: tuple[str, ...]) -> str:
    return ", ".join(f"'{k}'" for k in kinds)


def _sql(dialect: str) -> str:
    differs = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    return f"""
        WITH last AS (
            SELECT finding_id,
                MAX(CASE WHEN kind IN ({_quoted(STATUS_KINDS)})
                          OR (kind = 'assigned' AND {_field(dialect, 'events', 'from')} IS NOT NULL)
                    THEN seq END) AS status_seq,
                MAX(CASE WHEN kind = 'assigned' THEN seq END) AS assigned_seq,
                MAX(CASE WHEN kind IN ('opened', 'excepted', {_quoted(RELEASES)})
                          OR (kind = 'reopened' AND {_field(dialect, 'events', 'manual')} IS NULL)
                    THEN seq END) AS exception_seq
            FROM events WHERE finding_id IS NOT NULL
            GROUP BY finding_id),
        expected AS (
            SELECT f.id, f.status, f.assignee, f.exception_id,
                CASE WHEN s.kind IN ('opened', 'reopened') THEN 'open'
                     WHEN s.kind IN ('resolved', 'retired', 'excepted') THEN s.kind
                     WHEN s.kind = 'assigned' THEN 'in_progress'
                     WHEN s.kind = 'status_changed' THEN {_field(dialect, 's', 'to')}
                     WHEN s.kind IN ({_quoted(RELEASES)}) THEN
                         CASE WHEN l.assigned_seq < s.seq THEN 'in_progress' ELSE 'open' END
                END AS history_status,
                {_field(dialect, 'a', 'assignee')} AS history_assignee,
                CASE WHEN x.kind = 'excepted' THEN x.exception_id END AS history_exception
            FROM findings f
            LEFT JOIN last l ON l.finding_id = f.id
            LEFT JOIN events s ON s.seq = l.status_seq
            LEFT JOIN events a ON a.seq = l.assigned_seq
            LEFT JOIN events x ON x.seq = l.exception_seq)
        SELECT id, status, history_status, assignee, history_assignee, exception_id,
               history_exception, COUNT(*) OVER () AS disagreeing
        FROM expected
        WHERE status {differs} history_status OR assignee {differs} history_assignee
           OR exception_id {differs} history_exception
        ORDER BY id
        LIMIT :sample"""


def check(conn: Connection, sample: int = SAMPLE) -> StateReport:
    """Compare every finding with its history; name the first ``sample`` that disagree."""
    total = conn.execute(text("SELECT COUNT(*) FROM findings")).scalar_one()
    if not total:
        return StateReport(0, 0)
    empty = conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM events)")).scalar_one()
    rows = conn.execute(text(_sql(conn.dialect.name)), {"sample": sample}).all()
    found: list[Disagreement] = []
    for r in rows:
        for name, recorded, history in (("status", r.status, r.history_status),
                                        ("assignee", r.assignee, r.history_assignee),
                                        ("exception", r.exception_id, r.history_exception)):
            if recorded != history:
                found.append(Disagreement(r.id, name, recorded, history))
                break
    return StateReport(total, rows[0].disagreeing if rows else 0, found, bool(empty))
