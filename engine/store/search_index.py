"""The SQLite text-search index of the findings list, brought up to date after each evaluation.

``findings_fts`` (migration 0006, made case-insensitive and given the evidence in 0009) is an
FTS5 table with the case-insensitive trigram tokenizer over each finding's ``resource_id``,
``reason`` and ``evidence`` (its JSON text), rowid = the finding's id. It keeps its own
copy of the text it indexed, so a row can be re-indexed whatever the finding says now.

Why it is not kept in step by triggers inside the evaluation's transaction: many built-in
reasons count days ("no activity for 134 days"), so a daily evaluation rewords most findings,
and re-indexing a million reworded reasons costs seconds that the recording of findings (their
statuses and history) should not wait for. So:

- ``record_evaluation`` commits the findings, then calls ``refresh``, which re-indexes, in
  its own transaction, exactly the findings whose text differs from what was indexed (and
  indexes new ones), and notes the evaluation the index now reflects;
- a search uses the index only when that evaluation is the latest one (``is_current``);
  otherwise, for the few seconds of a refresh or after one failed, it scans, which is slower
  and gives the same answer. The next refresh repairs whatever a failed one left.

Only an evaluation changes a finding's resource id, reason or evidence; every human action leaves both.
PostgreSQL does not need any of this: its trigram GIN indexes are kept by the database.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from . import Store

log = logging.getLogger(__name__)

TABLE = "findings_fts"
STATE = "findings_fts_state"


@dataclass(frozen=True)
class Refresh:
    removed: int        # rows whose text had changed (or whose finding is gone), taken out
    added: int          # rows indexed: the changed ones again, and new findings


def available(conn: Connection) -> bool:
    """Whether this database has the index (SQLite with FTS5 trigrams, migrated to 0006)."""
    if conn.dialect.name != "sqlite":
        return False
    return conn.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :t"),
                        {"t": STATE}).first() is not None


def is_current(conn: Connection) -> bool:
    """Whether the index reflects the latest evaluation (always read in one transaction with
    the findings it is about, so both are of the same moment)."""
    return bool(conn.execute(text(
        f"SELECT (SELECT evaluation_id FROM {STATE}) IS (SELECT MAX(id) FROM evaluations)")).scalar())


def refresh(store: Store) -> Refresh | None:
    """Re-index what changed since the index was last brought up to date; None where there is
    no index. A failure is logged, not raised: the findings are recorded, searches scan."""
    try:
        with store.write() as conn:
            if not available(conn):
                return None
            return bring_up_to_date(conn)
    except Exception as exc:   # noqa: BLE001 - the evaluation is already committed; searches scan
        log.warning("the findings search index was not brought up to date (%s); searches scan "
                    "until the next evaluation", exc)
        return None


#: The table's definition (migration 0009 creates the same): the case-insensitive trigram
#: tokenizer, as the search is case-insensitive; no positions (detail=none) and no column sizes,
#: as a search looks its text up as the set of its trigrams and checks the candidates with
#: its own condition (queries.search_clause), which needs neither.
CREATE_TABLE = (f"CREATE VIRTUAL TABLE {TABLE} USING fts5(resource_id, reason, evidence, "
                "tokenize='trigram case_sensitive 0', detail=none, columnsize=0)")
#: Re-index row by row up to this share of the findings; above it, build the index afresh
#: (taking a row out costs about as much as indexing it, and dropping the index almost nothing).
REBUILD_SHARE = 0.25
#: Pending index terms FTS5 holds in memory before it writes them out (see bring_up_to_date).
HASH_BYTES = 64 << 20


def bring_up_to_date(conn: Connection) -> Refresh:
    """Set-based, inside the caller's write transaction."""
    # What was indexed is compared with what the findings say now: an indexed row is stale
    # when its text changed or its finding is gone.
    conn.exec_driver_sql("DROP TABLE IF EXISTS temp.dt_fts_stale")
    conn.execute(text(f"""
        CREATE TEMPORARY TABLE dt_fts_stale AS
        SELECT t.rowid AS id FROM {TABLE} t LEFT JOIN findings f ON f.id = t.rowid
        WHERE f.id IS NULL OR f.resource_id IS NOT t.resource_id OR f.reason IS NOT t.reason
           OR f.evidence IS NOT t.evidence"""))
    stale = conn.execute(text("SELECT COUNT(*) FROM dt_fts_stale")).scalar()
    indexed = conn.execute(text(f"SELECT COUNT(*) FROM {TABLE}")).scalar()
    total = conn.execute(text("SELECT COUNT(*) FROM findings")).scalar()
    if stale + (total - (indexed - stale)) > REBUILD_SHARE * total:
        conn.exec_driver_sql(f"DROP TABLE {TABLE}")
        conn.exec_driver_sql(CREATE_TABLE)
        removed = indexed
    else:
        removed = conn.execute(text(f"DELETE FROM {TABLE} WHERE rowid IN (SELECT id FROM dt_fts_stale)")
                               ).rowcount
    conn.exec_driver_sql("DROP TABLE temp.dt_fts_stale")
    # FTS5 writes its pending terms out as a new segment (to be merged later) whenever they
    # pass ``hashsize`` bytes, 1 MiB by default: a trigram index of 270,000 findings is tens of
    # millions of terms, so larger batches mean far fewer segments and merges (6.8 -> 4.6 s
    # CPU for that index). Kept in the table's own configuration; a SQLite that does not take
    # it costs speed only (a failed statement leaves SQLite's transaction as it was).
    with contextlib.suppress(DBAPIError):
        conn.exec_driver_sql(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('hashsize', {HASH_BYTES})")
    # Every finding without an index row: new, or just taken out.
    added = conn.execute(text(f"""
        INSERT INTO {TABLE} (rowid, resource_id, reason, evidence)
        SELECT id, resource_id, reason, evidence FROM findings
        WHERE id NOT IN (SELECT rowid FROM {TABLE})""")).rowcount
    conn.execute(text(f"UPDATE {STATE} SET evaluation_id = (SELECT MAX(id) FROM evaluations)"))
    return Refresh(removed, added)
