"""Read models over the store: filtered finding lists, a finding with its history, exceptions.

Nothing here writes (see ``reads`` for the other read models)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, and_, case, exists, func, literal, or_, select, text, tuple_

from ..access import EVERYTHING, Access
from ..errors import DialtoneError
from . import Store, search_index
from .exceptions import ACTIVE_SQL, orphaned_sql
from .lifecycle import EXCEPTED, NEEDS_WORK, STATUSES, sql_list
from .tables import evaluations, events, findings, policies, policy_requirements, policy_runs

#: Findings of these statuses are overdue past their due date (awaiting work: lifecycle.NEEDS_WORK).
OVERDUE_STATUSES = NEEDS_WORK
#: The longest text a search takes: long enough for any resource id or phrase of a reason, short
#: enough that no database finds the pattern too complex (SQLite refuses LIKE patterns of more
#: than 50,000 bytes) and a scan stays cheap.
MAX_SEARCH_LENGTH = 200


class SearchError(DialtoneError):
    """A search text that cannot be searched for as given."""


def check_search(search: str) -> None:
    """Refuse what a LIKE pattern cannot hold literally: NUL ends the pattern on SQLite (the
    rest would be ignored and everything match) and PostgreSQL text cannot hold it; and text
    longer than MAX_SEARCH_LENGTH."""
    if "\x00" in search:
        raise SearchError("the search text cannot contain a NUL character")
    if len(search) > MAX_SEARCH_LENGTH:
        raise SearchError(f"the search text can have at most {MAX_SEARCH_LENGTH} characters "
                          f"(this one has {len(search):,})")

def chain_position(conn: Connection) -> tuple[int, str]:
    """The event chain head (sequence number, hash): it moves whenever findings or exceptions
    change, and the hash tells two databases apart that happen to be at the same length."""
    from .chain import head

    return head(conn)


#: The orders of a findings list: the finding id (the default), due date, severity (critical
#: highest), savings, first seen, policy id. Ties go by id, in the same direction.
SORTS = ("id", "due", "severity", "savings", "first_seen", "policy")
#: The sorts on a column of the finding itself, and that column. Empty due dates and savings
#: come last whichever the direction.
COLUMN_SORTS = {"due": "due_on", "savings": "savings", "first_seen": "first_seen_at"}
#: Severities in rising order (engine.policy.model.SEVERITIES): the sort key of "severity".
SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")
#: A count stops here: counting further would read every matching finding (seconds at a million)
#: to print a figure nobody pages through; the page says "more than 10,000".
COUNT_CAP = 10_000
#: A search whose trigrams this many findings or fewer hold is answered from those candidates,
#: sorted (a few milliseconds per thousand); a more common one by walking the ranges in order.
RARE_TEXT = 20_000


class SortError(DialtoneError):
    """A sort the findings list does not have, or a page cursor that does not fit it."""


@dataclass(frozen=True)
class FindingFilter:
    """What a findings list shows.

    ``policy``: parts of policy ids (case-insensitive; ``leaver`` matches every policy whose id
    holds it). ``framework`` and ``assignee``: names, compared case-insensitively.
    ``opened_in``: findings first seen by that evaluation. ``search``: see ``search_clause``.
    Paging is by keyset: ``after_id`` (and, for a sort other than id, ``after_key``, the sort
    value of the previous page's last row; None for an empty due date or saving) starts a page
    after that row."""

    status: tuple[str, ...] = ()
    policy: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    framework: str | None = None
    overdue: bool = False
    assignee: str | None = None
    search: str | None = None
    limit: int | None = None
    after_id: int | None = None
    opened_in: int | None = None
    sort: str = "id"
    descending: bool = False
    after_key: str | float | None = None
    #: The caller's scope (engine/access.py): only the findings it allows.
    access: Access = EVERYTHING


def _finding_dict(row, today: str) -> dict:
    return {
        "id": row.id, "policy_id": row.policy_id, "title": row.title, "severity": row.severity,
        "category": row.category, "resource_type": row.resource_type, "resource_id": row.resource_id,
        "status": row.status, "reason": row.reason,
        "evidence": json.loads(row.evidence) if row.evidence else {}, "savings": row.savings,
        "savings_key": row.savings_key, "currency": row.currency, "recheck_note": row.recheck_note,
        "first_seen_at": row.first_seen_at, "last_seen_at": row.last_seen_at,
        "first_seen_evaluation": row.first_seen_evaluation,
        "last_seen_evaluation": row.last_seen_evaluation, "opened_at": row.opened_at,
        "due_on": row.due_on,
        "overdue": bool(row.status in OVERDUE_STATUSES and row.due_on and row.due_on < today),
        "assignee": row.assignee, "exception_id": row.exception_id, "resolved_at": row.resolved_at,
        "review_note": row.review_note, "reopen_count": row.reopen_count,
    }


def _columns():
    return (findings, policies.c.title, policies.c.severity, policies.c.category)


def list_findings(store: Store, flt: FindingFilter) -> list[dict]:
    """Findings matching ``flt`` in its sort order; a page (``limit``) costs about the same
    wherever it is.

    In id order, a page is read set-based through the index on (policy_id, status, id): one
    ordered range per (policy, status) the filter allows, each cut at ``limit`` rows after
    ``after_id``, merged by id. Every range starts where the page starts, so the first
    page, a page a million rows deep and a filter on a rare severity each read a few
    thousand index entries at most, whatever the planner knows about the data (SQLite
    keeps no statistics unless ANALYZE runs; left to itself it reads every active
    finding through the status index and sorts them to return fifty).

    The overdue filter and the text search are tested on the rows themselves: each range
    is walked for a bounded number of rows, which fills the page when they are common,
    and what is still missing is read through an index (see ``_page_ids``).

    Sorted otherwise, the same ranges are read in the sort's order (``_sorted_page_ids``).
    One assignee's findings, one evaluation's new findings and downloads are one statement.
    """
    if flt.search:
        check_search(flt.search)
    if flt.sort not in SORTS:
        raise SortError(f"sort must be one of {', '.join(SORTS)}")
    today = store.today().isoformat()
    with store.read() as conn:
        if flt.after_id is not None and flt.after_key is None and flt.sort in ("severity", "policy",
                                                                              "first_seen"):
            # A cursor of an id alone (the API's ``after`` without ``after_key``): after that
            # finding's place in the order; a finding that does not exist has none, nothing follows.
            found = conn.execute(select(*_columns()).join(policies, policies.c.id == findings.c.policy_id)
                                 .where(findings.c.id == flt.after_id,
                                        flt.access.predicate(findings))).first()
            if found is None:
                return []
            flt = FindingFilter(**{**flt.__dict__, "after_key": cursor(flt, _finding_dict(found, today))[0]})
        if flt.assignee:
            names = _assignee_names(conn, flt.assignee)
            if not names:
                return []
        else:
            names = ()
        # A scoped caller's list is one statement with the scope's predicate (the ranges below
        # walk every finding of a policy; its legal entity and cost centre have their own indexes).
        plain = (not flt.limit or flt.assignee or flt.opened_in is not None or flt.access.restricted
                 or (flt.sort == "id" and not flt.descending and not (_needs_ranges(flt) or flt.search)))
        rare = None
        if flt.limit and flt.search and not plain and _search_index(conn, flt.search) == "fts":
            # A text with few candidates in the trigram index (up to RARE_TEXT): the page is the
            # sorted candidates, whatever the order; a common one is found by walking the ranges.
            rare = _fts_query(flt.search)
            found = conn.execute(text("SELECT COUNT(*) FROM (SELECT rowid FROM findings_fts WHERE "
                                      "findings_fts MATCH :m LIMIT :cap) AS c"),
                                 {"m": rare, "cap": RARE_TEXT + 1}).scalar()
            plain = found <= RARE_TEXT
            if not plain:
                rare = None
        if not plain:
            ids = (_page_ids(conn, flt, today) if flt.sort == "id" and not flt.descending
                   else _sorted_page_ids(conn, flt, today))
            if not ids:
                return []
            rows = {r.id: r for r in conn.execute(
                select(*_columns()).join(policies, policies.c.id == findings.c.policy_id)
                .where(findings.c.id.in_(ids)))}
            return [_finding_dict(rows[i], today) for i in ids]
        # everything (a download), one assignee's (its own index), one evaluation's new findings,
        # or no filter at all
        query = (select(*_columns()).join(policies, policies.c.id == findings.c.policy_id)
                 .where(*_policy_conds(flt), *_row_conds(flt, today, conn.dialect.name, names),
                        *_keyset(flt), flt.access.predicate(findings)).order_by(*_order(flt)))
        status = findings.c.status
        if rare is not None:
            query = query.where(findings.c.id.in_(
                select(text("rowid")).select_from(text("findings_fts"))
                .where(text("findings_fts MATCH :rare").bindparams(rare=rare))))
            # status || '': tested on the candidates' rows, not read through the status index
            # (SQLite would otherwise walk every standing finding and probe the candidates).
            status = status.concat("")
        if flt.status:
            query = query.where(status.in_(flt.status))
        if flt.limit:
            query = query.limit(flt.limit)
        return [_finding_dict(r, today) for r in conn.execute(query)]


def count_findings(store: Store, flt: FindingFilter) -> tuple[int, bool]:
    """How many findings match ``flt`` (its paging and sort aside): (count, exact). Counting stops
    after COUNT_CAP + 1: (COUNT_CAP, False) means "more than COUNT_CAP"."""
    if flt.search:
        check_search(flt.search)
    today = store.today().isoformat()
    with store.read() as conn:
        names = _assignee_names(conn, flt.assignee) if flt.assignee else ()
        if flt.assignee and not names:
            return 0, True
        unpaged = FindingFilter(**{**flt.__dict__, "after_id": None, "after_key": None})
        query = select(findings.c.id).where(flt.access.predicate(findings))
        policy_conds = _policy_conds(unpaged)
        if policy_conds:
            # The policies first (a few hundred rows), then their findings through the index on
            # (policy_id, status, id): not every finding read to test its policy.
            pids = [r[0] for r in conn.execute(select(policies.c.id).where(*policy_conds))]
            if not pids:
                return 0, True
            query = query.where(findings.c.policy_id.in_(pids))
        if flt.status:
            query = query.where(findings.c.status.in_(flt.status))
        # The text last: SQLite tests the cheap policy and status terms first, in the order written.
        query = query.where(*_row_conds(unpaged, today, conn.dialect.name, names)).limit(COUNT_CAP + 1)
        if flt.search and _search_index(conn, flt.search) == "fts":
            # Driven by the trigram index: a rare text is counted from its few candidates.
            query = query.join(text("findings_fts"), text("findings_fts.rowid = findings.id")).where(
                text("findings_fts MATCH :match").bindparams(match=_fts_query(flt.search)))
        n = conn.execute(select(func.count()).select_from(query.subquery())).scalar()
    return (COUNT_CAP, False) if n > COUNT_CAP else (n, True)


def _assignee_names(conn: Connection, assignee: str) -> list[str]:
    """The assignees spelt as ``assignee`` in any case, from the index of assigned findings
    (few), so that the list itself still reads one assignee's findings through that index."""
    return [r[0] for r in conn.execute(
        select(findings.c.assignee).where(findings.c.assignee.is_not(None),
                                          func.lower(findings.c.assignee) == ascii_lower(assignee))
        .distinct())]


def _sort_key(flt: FindingFilter):
    if flt.sort in COLUMN_SORTS:
        return findings.c[COLUMN_SORTS[flt.sort]]
    if flt.sort == "severity":
        return case({s: i for i, s in enumerate(SEVERITY_ORDER)}, value=policies.c.severity, else_=-1)
    if flt.sort == "policy":
        return findings.c.policy_id
    return findings.c.id


def _order(flt: FindingFilter) -> list:
    key, idc = _sort_key(flt), findings.c.id
    if flt.sort == "id":
        return [idc.desc() if flt.descending else idc]
    nulls = [key.is_(None)] if flt.sort in ("due", "savings") else []   # false (0) first: NULLs last
    return [*nulls, *((key.desc(), idc.desc()) if flt.descending else (key, idc))]


def sort_value(flt: FindingFilter, value):
    """The cursor value of a sort as the store compares it (severity: its rank)."""
    if flt.sort == "severity":
        if value not in SEVERITY_ORDER:
            raise SortError(f"a page of the severity order starts after a severity, not {value!r}")
        return SEVERITY_ORDER.index(value)
    if flt.sort == "savings" and value is not None:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise SortError(f"a page of the savings order starts after an amount, not {value!r}") from None
    return value


def cursor(flt: FindingFilter, row: dict) -> tuple[str | float | None, int]:
    """(after_key, after_id) of the page after ``row`` (the last of a page) in ``flt``'s sort."""
    key = {"id": None, "due": "due_on", "savings": "savings", "first_seen": "first_seen_at",
           "severity": "severity", "policy": "policy_id"}[flt.sort]
    return (row[key] if key else None), row["id"]


def _keyset(flt: FindingFilter) -> list:
    """The plain statement's page start: after (after_key, after_id) in the sort's order."""
    if flt.after_id is None:
        return []
    idc = findings.c.id
    after = idc < flt.after_id if flt.descending else idc > flt.after_id
    if flt.sort == "id":
        return [after]
    key = _sort_key(flt)
    value = sort_value(flt, flt.after_key)
    nullable = flt.sort in ("due", "savings")
    if value is None:
        if not nullable:
            raise SortError("this order has no empty values to start a page after")
        return [key.is_(None), after]
    pair = tuple_(key, idc) < tuple_(literal(value), literal(flt.after_id)) if flt.descending \
        else tuple_(key, idc) > tuple_(literal(value), literal(flt.after_id))
    return [or_(and_(key.is_not(None), pair), key.is_(None))] if nullable else [pair]


def _policy_conds(flt: FindingFilter) -> list:
    """The filters that select policies (applied to the policies table, a few hundred rows)."""
    conds = []
    if flt.policy:
        conds.append(or_(*(func.lower(policies.c.id).like(search_pattern(ascii_lower(p)), escape="\\")
                           for p in flt.policy)))
    if flt.severity:
        conds.append(policies.c.severity.in_(flt.severity))
    if flt.category:
        conds.append(policies.c.category.in_(flt.category))
    if flt.framework:
        conds.append(exists().where(and_(policy_requirements.c.policy_id == policies.c.id,
                                         func.lower(policy_requirements.c.framework)
                                         == ascii_lower(flt.framework))))
    return conds


def _row_conds(flt: FindingFilter, today: str, dialect: str, assignees=()) -> list:
    """The filters on the finding's own columns, besides status, policy and the page start."""
    conds = []
    if flt.overdue:
        conds += [findings.c.status.in_(OVERDUE_STATUSES), findings.c.due_on < today]
    if flt.assignee:
        conds.append(findings.c.assignee.in_(assignees))
    if flt.opened_in is not None:
        conds.append(findings.c.first_seen_evaluation == flt.opened_in)
    if flt.search:
        params: dict = {}
        conds.append(text(search_clause(flt.search, dialect, params, "findings")).bindparams(**params))
    return conds


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(value: str) -> str:
    """``value`` with A-Z in lower case, as SQLite's lower() does (other letters unchanged)."""
    return value.translate(_ASCII_LOWER)


def _word_start(search: str) -> bool:
    return search[:1].isascii() and search[:1].isalnum()


#: The text a search looks in: the resource id, the reason and the evidence (its JSON text).
SEARCH_COLUMNS = ("resource_id", "reason", "evidence")


def search_clause(search: str, dialect: str, params: dict, alias: str = "", *,
                  unindexed: bool = False) -> str:
    """SQL: the finding holds ``search`` in its resource id, reason or evidence, case-insensitively
    (A-Z on SQLite), at the start of a word when the text starts with a letter or digit (``liam``
    finds "Liam Moreau", not "Williams"; ``0026`` finds CHG-0026), anywhere otherwise (``-0026``);
    every character literal. Adds its parameters to ``params``.

    SQLite: ``' ' || lower(column) GLOB '*[^a-z0-9]text*'`` (the space makes the start of the
    text a word start); PostgreSQL: a case-insensitive regular expression (``~*``), which
    pg_trgm's indexes answer. ``unindexed`` (PostgreSQL): matched on ``column || ''`` (see
    ``_residual``)."""
    a = f"{alias}." if alias else ""
    if dialect == "postgresql":
        body = re.sub(r"([\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e])", r"\\\1", search)
        params["search_rx"] = ("(^|[^a-zA-Z0-9])" if _word_start(search) else "") + body
        cols = [f"({a}{c} || '')" if unindexed else f"{a}{c}" for c in SEARCH_COLUMNS]
        return "(" + " OR ".join(f"{c} ~* :search_rx" for c in cols) + ")"
    glob = "".join({"*": "[*]", "?": "[?]", "[": "[[]"}.get(ch, ch) for ch in ascii_lower(search))
    params["search_glob"] = ("*[^a-z0-9]" if _word_start(search) else "*") + glob + "*"
    return "(" + " OR ".join(f"(' ' || lower({a}{c})) GLOB :search_glob" for c in SEARCH_COLUMNS) + ")"


def search_pattern(search: str) -> str:
    """The LIKE pattern of ``search`` anywhere, every character literal (``%``, ``_`` and ``\\``
    included; escape character ``\\``)."""
    return "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


#: Ranges per statement (SQLite allows 500 terms in a compound SELECT; a range takes two).
_BRANCHES_PER_QUERY = 100
#: How far a range is walked in id order for the overdue filter or a text search: this
#: many rows per row of the page, before the rest is read through an index.
WALK_PER_ROW = 8


def _needs_ranges(flt: FindingFilter) -> bool:
    """Whether the filter restricts status or policy: without either, every finding is a candidate
    and the plain walk along the primary key is already the cheapest plan."""
    return bool(flt.status or flt.policy or flt.severity or flt.category or flt.framework or flt.overdue)


def _residual(flt: FindingFilter, today: str, params: dict, alias: str = "", *,
              unindexed: bool = False, dialect: str = "sqlite") -> str:
    """SQL for the filters a range cannot express (overdue, text); adds their parameters.

    ``unindexed`` (PostgreSQL, except when the trigram indexes are meant to answer): the text
    is matched on ``column || ''``, the same value (NULL stays NULL) that no index covers, so
    the planner cannot answer the search from a trigram index in every range's walk, or scan
    a whole trigram index for a text too short to have a trigram."""
    a = f"{alias}." if alias else ""
    conds = []
    if flt.overdue:
        conds.append(f"{a}status IN {sql_list(OVERDUE_STATUSES)} AND {a}due_on < :today")
        params["today"] = today
    if flt.search:
        conds.append(search_clause(flt.search, dialect, params, alias, unindexed=unindexed))
    return " AND ".join(conds)


def _sorted_page_ids(conn: Connection, flt: FindingFilter, today: str) -> list[int]:
    """The ids of one page in a sort other than ascending id: the same (policy, status) ranges
    as ``_page_ids``, each read in the sort's order after the cursor, merged.

    A column sort (due, savings, first seen) reads each range through the index on
    (policy_id, status, column, id) from the cursor on: its non-empty values, then its empty
    ones (last whichever the direction). Severity, policy and id sorts have one key per range
    (its policy's severity or id): ranges before the cursor's key are skipped, the cursor's own
    ranges start after its id, and each range is read along (policy_id, status, id). The
    overdue filter and the text search are tested on the rows as each range is read."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
    n, desc = flt.limit, flt.descending
    pols = conn.execute(select(policies.c.id, policies.c.severity).where(*_policy_conds(flt))
                        .order_by(policies.c.id)).all()
    statuses = [s for s in (flt.status or STATUSES) if not flt.overdue or s in OVERDUE_STATUSES]
    branches = [(pid, sev, st) for pid, sev in pols for st in statuses]
    params: dict = {"n": n}
    pg = conn.dialect.name == "postgresql"
    residual = _residual(flt, today, params, unindexed=pg, dialect=conn.dialect.name)
    extra = f" AND {residual}" if residual else ""
    order, op = ("DESC", "<") if desc else ("ASC", ">")
    has_cursor = flt.after_id is not None
    if has_cursor:
        params["aid"] = flt.after_id
    key_value = sort_value(flt, flt.after_key) if has_cursor and flt.sort != "id" else None
    terms: list[str] = []
    keys: dict[int, object] = {}
    for i, (pid, sev, st) in enumerate(branches):
        params[f"p{i}"], params[f"s{i}"] = pid, st
        base = f"policy_id = :p{i} AND status = :s{i}{extra}"
        if flt.sort in COLUMN_SORTS:
            col = COLUMN_SORTS[flt.sort]
            if not has_cursor:
                filled, empty = f"{col} IS NOT NULL", f"{col} IS NULL"
            elif key_value is None:
                filled, empty = None, f"{col} IS NULL AND id {op} :aid"
            else:
                params["ak"] = key_value
                filled, empty = f"{col} IS NOT NULL AND ({col}, id) {op} (:ak, :aid)", f"{col} IS NULL"
            if filled:
                terms.append(f"SELECT {i} AS b, 0 AS z, k, id FROM (SELECT {col} AS k, id FROM findings "
                             f"WHERE {base} AND {filled} ORDER BY {col} {order}, id {order} "
                             f"LIMIT :n) AS r{i}")
            terms.append(f"SELECT {i} AS b, 1 AS z, NULL AS k, id FROM (SELECT id FROM findings "
                         f"WHERE {base} AND {empty} ORDER BY id {order} LIMIT :n) AS q{i}")
            continue
        key = {"severity": SEVERITY_ORDER.index(sev) if sev in SEVERITY_ORDER else -1,
               "policy": pid}.get(flt.sort, 0)
        keys[i] = key
        start = ""
        if has_cursor:
            if flt.sort != "id" and key != key_value:
                if (key < key_value) != desc:       # the whole range comes before the cursor
                    continue
            else:
                start = f" AND id {op} :aid"
        terms.append(f"SELECT {i} AS b, 0 AS z, NULL AS k, id FROM (SELECT id FROM findings "
                     f"WHERE {base}{start} ORDER BY id {order} LIMIT :n) AS r{i}")
    found: list[tuple] = []
    for at in range(0, len(terms), _BRANCHES_PER_QUERY):
        found += conn.execute(text(" UNION ALL ".join(terms[at:at + _BRANCHES_PER_QUERY])), params).all()
    if flt.sort in COLUMN_SORTS:
        filled_rows = sorted(((k, fid) for _, z, k, fid in found if z == 0), reverse=desc)
        empty_rows = sorted((fid for _, z, _, fid in found if z == 1), reverse=desc)
        ids = [fid for _, fid in filled_rows] + empty_rows
    else:
        ids = [fid for _, fid in sorted(((keys[b], fid) for b, _, _, fid in found), reverse=desc)]
    return ids[:n]


def _branch_sql(branch, i: int, params: dict, alias: str = "", prefix: str = "") -> str:
    """SQL selecting one range: a (policy, status) pair, or None for every finding."""
    if branch is None:
        return "1 = 1"
    a = f"{alias}." if alias else ""
    params[f"{prefix}p{i}"], params[f"{prefix}s{i}"] = branch
    return f"{a}policy_id = :{prefix}p{i} AND {a}status = :{prefix}s{i}"


def _page_ids(conn: Connection, flt: FindingFilter, today: str) -> list[int]:
    """The ids of one page: at most ``flt.limit`` after ``flt.after_id``, in id order.

    Without the overdue filter or a text search, each range's first ``limit`` ids are
    its share of the page. With them, it is done in two steps, so that a page costs
    little whether the matching findings are common or rare:

    1. each range is walked in id order for at most ``WALK_PER_ROW`` x ``limit`` rows,
       testing the rows; a range that yields ``limit`` matches, or ends, is complete;
    2. for the ranges left short, the matches after the rows already walked (and before
       the last id the page has so far) come from an index: the text search from the
       trigram index (an FTS5 table on SQLite, pg_trgm on PostgreSQL) when the text has
       enough characters for one, else the overdue filter from the index on
       (policy_id, status, due_on, id), where a range's overdue findings are contiguous;
       else (a search of one or two characters, or a database without trigrams) the
       range is walked to the end, as every range was before.
    """
    if conn.dialect.name == "postgresql":
        # PostgreSQL guesses how many rows a text filter keeps; guessing few, it prices a page
        # high enough to compile it (JIT), which takes most of a second for a few milliseconds'
        # work. For this transaction only.
        conn.exec_driver_sql("SET LOCAL jit = off")
    n = flt.limit
    if _needs_ranges(flt):
        pids = [r[0] for r in conn.execute(select(policies.c.id).where(*_policy_conds(flt))
                                           .order_by(policies.c.id))]
        statuses = [s for s in (flt.status or STATUSES) if not flt.overdue or s in OVERDUE_STATUSES]
        branches: list = [(pid, status) for pid in pids for status in statuses]
    else:
        branches = [None]       # a text search over every finding: the primary key's order
    after = ""
    params: dict = {"n": n}
    if flt.after_id is not None:
        after = " AND id > :after"
        params["after"] = flt.after_id
    residual = _residual(flt, today, params, unindexed=conn.dialect.name == "postgresql",
                         dialect=conn.dialect.name)
    hits: dict[int, list[int]] = {}
    ends: dict[int, int] = {}
    if residual:
        # Where each range's walk stops: its WALK_PER_ROW x limit-th row (none: the range ends first).
        params["w1"] = n * WALK_PER_ROW - 1
        for start in range(0, len(branches), _BRANCHES_PER_QUERY):
            terms = [f"SELECT {i} AS b, (SELECT id FROM findings WHERE {_branch_sql(branches[i], i, params)}"
                     f"{after} ORDER BY id LIMIT 1 OFFSET :w1) AS e"
                     for i in range(start, min(start + _BRANCHES_PER_QUERY, len(branches)))]
            ends.update((b, e) for b, e in conn.execute(text(" UNION ALL ".join(terms)), params)
                        if e is not None)
    for start in range(0, len(branches), _BRANCHES_PER_QUERY):
        terms = []
        for i in range(start, min(start + _BRANCHES_PER_QUERY, len(branches))):
            where = _branch_sql(branches[i], i, params) + after
            if residual:
                where += f" AND {residual}"
                if i in ends:
                    where += f" AND id <= :end{i}"
                    params[f"end{i}"] = ends[i]
            terms.append(f"SELECT {i} AS b, id FROM (SELECT id FROM findings WHERE {where} "
                         f"ORDER BY id LIMIT :n) AS r{i}")
        for b, fid in conn.execute(text(" UNION ALL ".join(terms)), params):
            hits.setdefault(b, []).append(fid)
    found = sorted(fid for ids in hits.values() for fid in ids)
    # Ranges whose walk stopped short of `limit` matches, and the page not yet settled below them.
    bound = found[n - 1] if len(found) >= n else None
    short = {b: end for b, end in ends.items()
             if len(hits.get(b, ())) < n and (bound is None or end < bound)}
    if short:
        found = sorted(set(found) | set(_rest(conn, flt, today, branches, short, bound)))
    return found[:n]


def _rest(conn: Connection, flt: FindingFilter, today: str, branches: list, short: dict[int, int],
          bound: int | None) -> list[int]:
    """Step 2 of ``_page_ids``: up to ``limit`` matches, in id order, of the ranges in ``short``
    (range -> last id walked), after their walk and before ``bound``."""
    params: dict = {"n": flt.limit}
    below = ""
    if bound is not None:
        below = " AND f.id < :bound"
        params["bound"] = bound
    index = _search_index(conn, flt.search) if flt.search else None
    if index is not None:
        # One stream in id order from the trigram index, for every short range at once.
        ranges = []
        for j, (b, end) in enumerate(sorted(short.items())):
            params[f"e{j}"] = end
            ranges.append(f"({_branch_sql(branches[b], j, params, 'f', 'r')} AND f.id > :e{j})")
        residual = _residual(flt, today, params, "f", dialect=conn.dialect.name)
        params["lo"] = min(short.values())
        if index == "fts":
            params["match"] = _fts_query(flt.search)
            sql = (f"SELECT f.id FROM findings_fts JOIN findings f ON f.id = findings_fts.rowid "
                   f"WHERE findings_fts MATCH :match AND findings_fts.rowid > :lo{below} "
                   f"AND ({' OR '.join(ranges)}) AND {residual} ORDER BY findings_fts.rowid LIMIT :n")
        else:  # pg_trgm: the search's expression through the GIN indexes, sorted (not along the primary key)
            sql = (f"SELECT f.id FROM findings f WHERE f.id > :lo{below} AND {residual} "
                   f"AND ({' OR '.join(ranges)}) ORDER BY f.id + 0 LIMIT :n")
        return [r[0] for r in conn.execute(text(sql), params)]
    residual = _residual(flt, today, params, "f", unindexed=conn.dialect.name == "postgresql",
                         dialect=conn.dialect.name)
    terms = []
    for j, (b, end) in enumerate(sorted(short.items())):
        params[f"e{j}"] = end
        where = f"{_branch_sql(branches[b], j, params, 'f')} AND {residual}{below}"
        if flt.overdue:
            # The range's overdue findings are one range of (policy_id, status, due_on, id): read
            # them all (id + 0: not along the id index) and keep the first after the walk.
            terms.append(f"SELECT id FROM (SELECT f.id FROM findings f WHERE {where} "
                         f"AND f.id + 0 > :e{j} ORDER BY f.id + 0 LIMIT :n) AS t{j}")
        else:
            terms.append(f"SELECT id FROM (SELECT f.id FROM findings f WHERE {where} AND f.id > :e{j} "
                         f"ORDER BY f.id LIMIT :n) AS t{j}")
    out = []
    for start in range(0, len(terms), _BRANCHES_PER_QUERY):
        out += [r[0] for r in conn.execute(text(" UNION ALL ".join(terms[start:start + _BRANCHES_PER_QUERY])),
                                           params)]
    return out


def _search_index(conn: Connection, search: str) -> str | None:
    """Which trigram index can find ``search``: "fts" (SQLite), "trgm" (PostgreSQL) or None
    (too short to hold a trigram, or the database had none to offer when migrated)."""
    if conn.dialect.name == "sqlite":
        if len(search) < 3 or "\x00" in search:
            return None
        # Brought up to date after each evaluation: until then (seconds), the search scans.
        return "fts" if search_index.available(conn) and search_index.is_current(conn) else None
    if conn.dialect.name == "postgresql":
        if not _PG_TRIGRAM.search(search):
            return None
        found = conn.execute(text("SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'findings' "
                                  "AND indexname IN ('ix_findings_resource_id_trgm', "
                                  "'ix_findings_reason_trgm', 'ix_findings_evidence_trgm') "
                                  "AND schemaname = current_schema()")).scalar()
        return "trgm" if found == 3 else None
    return None


def _fts_query(search: str) -> str:
    """An FTS5 query for the rows holding every trigram of ``search`` (in either column): a
    superset of the rows holding the text, which LIKE then checks. Each trigram is quoted (a
    literal, whatever its characters); a long text is looked up by 32 of them, spread over it."""
    grams = list(dict.fromkeys(search[i:i + 3] for i in range(len(search) - 2)))
    if len(grams) > 32:
        grams = [grams[round(k * (len(grams) - 1) / 31)] for k in range(32)]
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


#: pg_trgm reads trigrams of the runs of letters and digits in a LIKE pattern; a run of three,
#: or a run bounded by another character inside the text (padded), gives it one to look up.
_PG_TRIGRAM = re.compile(r"[A-Za-z0-9]{3}|[^A-Za-z0-9][A-Za-z0-9]|[A-Za-z0-9]{2}[^A-Za-z0-9]")


def resource_findings(store: Store, resource_type: str, resource_id: str, *, exclude: int | None = None,
                      limit: int = 20, access: Access = EVERYTHING) -> list[dict]:
    """The other findings on the same resource that ``access`` allows (uses the identity index)."""
    today = store.today().isoformat()
    query = (select(*_columns()).join(policies, policies.c.id == findings.c.policy_id)
             .where(findings.c.resource_type == resource_type, findings.c.resource_id == resource_id,
                    access.predicate(findings))
             .order_by(findings.c.id).limit(limit))
    if exclude is not None:
        query = query.where(findings.c.id != exclude)
    with store.read() as conn:
        return [_finding_dict(r, today) for r in conn.execute(query)]


def _event_dict(row) -> dict:
    return {"seq": row.seq, "at": row.at, "actor": row.actor, "kind": row.kind,
            "finding_id": row.finding_id, "exception_id": row.exception_id,
            "evaluation_id": row.evaluation_id, "data": json.loads(row.data), "hash": row.hash}


def finding_detail(store: Store, finding_id: int, access: Access = EVERYTHING) -> dict | None:
    """A finding with its history; None when there is none, or ``access`` does not allow it
    (the same answer: a scoped caller does not learn that it exists)."""
    today = store.today().isoformat()
    with store.read() as conn:
        row = conn.execute(select(*_columns()).join(policies, policies.c.id == findings.c.policy_id)
                           .where(findings.c.id == finding_id, access.predicate(findings))).first()
        if row is None:
            return None
        detail = _finding_dict(row, today)
        history = conn.execute(select(events).where(events.c.finding_id == finding_id)
                               .order_by(events.c.seq)).all()
        exception_ids = {e.exception_id for e in history if e.exception_id is not None}
        if access.restricted and exception_ids:
            # An exception's own events (its request names every resource it covers) only when
            # the scope allows all it covers: the finding's own events stay.
            visible = visible_exceptions_sql(conn, access)
            exception_ids = {r[0] for r in conn.execute(text(
                f"SELECT e.id FROM exceptions e WHERE {visible}"))} & exception_ids
        trail = conn.execute(select(events).where(events.c.exception_id.in_(exception_ids),
                                                  events.c.finding_id.is_(None))
                             .order_by(events.c.seq)).all() if exception_ids else []
        detail["history"] = [_event_dict(e) for e in sorted([*history, *trail], key=lambda e: e.seq)]
        if access.restricted:
            # A dispute's events sit in each disputed finding's history: one the scope cannot
            # read (it claims on another entity's findings too) shows that it happened, not what.
            from .disputes import unseen_events, withhold

            unseen = unseen_events(conn, detail["history"], access)
            detail["history"] = [withhold(e) if e["seq"] in unseen else e for e in detail["history"]]
        detail["frameworks"] = _frameworks(conn, row.policy_id)
        detail["policy_version"] = _policy_version(conn, row.policy_id, row.last_seen_evaluation)
    return detail


def _policy_version(conn: Connection, policy_id: str, evaluation_id: int) -> dict | None:
    """Which policy text found it: the run of its last sighting."""
    row = conn.execute(
        select(policy_runs.c.policy_hash, policy_runs.c.policy_blob, evaluations.c.policies_version,
               evaluations.c.policies_source, evaluations.c.policies_dirty)
        .join(evaluations, evaluations.c.id == policy_runs.c.evaluation_id)
        .where(policy_runs.c.policy_id == policy_id, policy_runs.c.evaluation_id == evaluation_id)).first()
    if row is None:
        return None
    return {"evaluation": evaluation_id, "policy_hash": row.policy_hash, "git_blob": row.policy_blob,
            "policies_version": row.policies_version, "policies_source": row.policies_source,
            "dirty": row.policies_dirty}


def _frameworks(conn: Connection, policy_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in conn.execute(select(policy_requirements).where(policy_requirements.c.policy_id == policy_id)
                          .order_by(policy_requirements.c.framework, policy_requirements.c.requirement)):
        out.setdefault(r.framework, []).append(r.requirement)
    return out


EXCEPTION_VIEWS = ("requested", "active", "expiring", "expired", "orphaned", "rejected", "revoked", "all")


def visible_exceptions_sql(conn: Connection, access: Access) -> str:
    """SQL condition on ``exceptions e``: the exceptions ``access`` may see, those whose covered
    findings it all allows (``1 = 1`` for everything). An exception also covering another
    scope's findings, or none yet, is outside every restricted scope: its targets and counts
    would tell of them, and deciding it would decide for them."""
    if not access.restricted:
        return "1 = 1"
    from .exceptions import coverage_sql

    scope = access.sql("f", conn.dialect)
    ids = [r[0] for r in conn.execute(text(
        coverage_sql("1 = 1") + " SELECT c.exception_id FROM covered c JOIN findings f ON f.id = c.finding_id"
        f" GROUP BY c.exception_id HAVING MIN(CASE WHEN {scope} THEN 1 ELSE 0 END) = 1"))]
    return f"e.id IN ({', '.join(str(int(i)) for i in ids)})" if ids else "1 = 0"


def scope_selectors(conn: Connection, found: list[dict], access: Access) -> None:
    """For a scoped caller (``access``), each exception's ``selector`` names only the resources
    with a finding of its policy in the scope; ``resources_hidden`` says how many others it
    names, without naming them (another entity's, or with no finding yet and so no legal entity
    to judge them by). Its patterns are kept: they are the rule the exception applies. Nothing is
    hidden from an unrestricted caller. ``found``: dicts with ``id`` and the parsed ``selector``,
    changed in place."""
    for e in found:
        e["resources_hidden"] = 0
    if not access.restricted or not any(e["selector"].get("resources") for e in found):
        return
    from .exceptions import types_cte

    ids = ", ".join(str(int(e["id"])) for e in found)
    # Each name looked up in the findings' identity index (policy, resource type, resource id),
    # once per resource type of the policy, as exceptions are applied (exceptions.coverage_sql).
    # CROSS JOIN keeps SQLite's order: the exceptions' few targets drive the lookups. The name is
    # matched as a range of one value, which only the identity index serves: PostgreSQL plans an
    # equality through the trigram index on resource_id (ix_findings_resource_id_trgm), about a
    # millisecond a name (measured: 150 exceptions, 300,000 findings: 6 ms this way, 880 ms so).
    shown = {tuple(r) for r in conn.execute(text(f"""
        WITH RECURSIVE {types_cte(f"e.id IN ({ids})")}
        SELECT DISTINCT e.id, t.resource_id
        FROM exceptions e CROSS JOIN exception_targets t CROSS JOIN types y
        WHERE e.id IN ({ids}) AND t.exception_id = e.id AND t.resource_id IS NOT NULL
          AND y.policy_id = e.policy_id AND y.resource_type IS NOT NULL
          AND EXISTS (SELECT 1 FROM findings f WHERE f.policy_id = y.policy_id
                        AND f.resource_type = y.resource_type
                        AND f.resource_id >= t.resource_id AND f.resource_id <= t.resource_id
                        AND {access.sql("f", conn.dialect)})"""))}
    for e in found:
        named = e["selector"].get("resources") or []
        kept = [r for r in named if (e["id"], r) in shown]
        e["selector"] = {**e["selector"], "resources": kept}
        e["resources_hidden"] = len(named) - len(kept)


def list_exceptions(store: Store, view: str = "all", expiring_days: int = 14,
                    access: Access = EVERYTHING) -> list[dict]:
    today = store.today()
    params = {"today": today.isoformat(), "soon": (today + timedelta(days=expiring_days)).isoformat()}
    where = {
        "requested": "e.status = 'requested'",
        "active": ACTIVE_SQL,
        "expiring": f"{ACTIVE_SQL} AND e.expires_on <= :soon",
        "expired": "e.status = 'expired'",
        "rejected": "e.status = 'rejected'",
        "revoked": "e.status = 'revoked'",
        "orphaned": f"e.id IN ({orphaned_sql()})",
        "all": "1 = 1",
    }[view]
    with store.read() as conn:
        orphans = {r.id for r in conn.execute(text(orphaned_sql()), params)}
        visible = visible_exceptions_sql(conn, access)
        rows = conn.execute(text(f"""
            SELECT e.*, (SELECT COUNT(*) FROM findings f WHERE f.exception_id = e.id
                         AND f.status IN {sql_list(EXCEPTED)} AND {access.sql("f", conn.dialect)})
                         AS excepted_findings
            FROM exceptions e WHERE ({where}) AND {visible} ORDER BY e.id"""), params).all()
        out = [{
            "id": r.id, "source": r.source, "key": r.key, "policy_id": r.policy_id,
            "selector": json.loads(r.selector), "justification": r.justification, "ticket": r.ticket,
            "requested_by": r.requested_by, "requested_at": r.requested_at, "approver": r.approver,
            "decided_at": r.decided_at, "status": r.status, "expires_on": r.expires_on,
            "in_force": r.status == "approved" and r.expires_on >= params["today"],
            "orphaned": r.id in orphans, "excepted_findings": r.excepted_findings,
        } for r in rows]
        scope_selectors(conn, out, access)
    return out


def policy_frameworks(store: Store) -> dict[str, list[tuple[str, str]]]:
    """Each policy's (framework, requirement) pairs, in order: one read for a whole download."""
    out: dict[str, list[tuple[str, str]]] = {}
    with store.read() as conn:
        for r in conn.execute(select(policy_requirements).order_by(
                policy_requirements.c.policy_id, policy_requirements.c.framework,
                policy_requirements.c.requirement)):
            out.setdefault(r.policy_id, []).append((r.framework, r.requirement))
    return out


def counted_savings(store: Store, ids: list[int], access: Access = EVERYTHING) -> set[int]:
    """Which of ``ids`` carry their billable object's money in the store's totals: the rule of
    ``claims.carriers_among`` (the one the dashboard, the savings page and the CLI count by), so
    summing a download's counted savings per currency gives their figures; for a scoped caller
    (``access``), the totals of its scope."""
    from .claims import carriers_among

    with store.read() as conn:
        return carriers_among(conn, list(ids), access)


def latest_evaluation_id(store: Store) -> int | None:
    with store.read() as conn:
        return conn.execute(select(func.max(evaluations.c.id))).scalar()
