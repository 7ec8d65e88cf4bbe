"""Who and what a resource belongs to, read from a snapshot: its cost centre, vendor, currency
and owner (the person its ``owner`` relation names, their e-mail address and their manager's).

One definition for the savings page's breakdowns (``finance.py``) and for routing findings to
people (``notify/routing.py``): a finding about a charge belongs to the charged line's cost centre
and owner, a recording to its line's, and so on. Resource types with no such attributes are
left out, and so is a type whose entities are missing from the snapshot: its findings have no
cost centre, vendor or owner (never a guess).
"""

from __future__ import annotations

import duckdb

from .snapshots import Snapshot
from .sqltext import ident

#: resource type → (the entities its query reads, the first being the type's own, which the query
#: reads as ``{base}``; the query: id, cost_center, vendor, currency, owner_id, legal_entity).
#: ``{l}``, ``{p}``, ``{a}`` stand for the legal_entity column of lines, people and accounts
#: (``NULL`` in a snapshot collected before estates had one, see ``_legal``); ``lp`` is a line's
#: holder. A line's legal entity is its own, else its holder's; a charge's its line's, else its
#: invoice's account's; a licence's or device's its holder's (a device's line's when it has no
#: holder).
ATTRIBUTE_SQL: dict[str, tuple[tuple[str, ...], str]] = {
    "lines": (("lines",), """
        SELECT l.id, l.cost_center, l.vendor, l.currency, l.assigned_to, coalesce({l}, {lp})
        FROM {base} l LEFT JOIN people lp ON lp.id = l.assigned_to"""),
    "charges": (("charges", "lines", "invoices", "accounts"), """
        SELECT c.id, l.cost_center, a.vendor, c.currency, l.assigned_to, coalesce({l}, {lp}, {a})
        FROM {base} c
        LEFT JOIN lines l ON l.id = c.line_id LEFT JOIN invoices i ON i.id = c.invoice_id
        LEFT JOIN accounts a ON a.id = i.account_id LEFT JOIN people lp ON lp.id = l.assigned_to"""),
    "invoices": (("invoices", "accounts"), """
        SELECT i.id, NULL, a.vendor, i.currency, NULL, {a} FROM {base} i
        LEFT JOIN accounts a ON a.id = i.account_id"""),
    "licenses": (("licenses", "people"), """
        SELECT x.id, p.cost_center, x.product, x.currency, x.assigned_to, {p} FROM {base} x
        LEFT JOIN people p ON p.id = x.assigned_to"""),
    "devices": (("devices", "lines", "people"), """
        SELECT d.id, coalesce(l.cost_center, p.cost_center), l.vendor, l.currency,
               coalesce(d.assigned_to, l.assigned_to), coalesce({p}, {l}, {lp}) FROM {base} d
        LEFT JOIN lines l ON l.id = d.line_id LEFT JOIN people p ON p.id = d.assigned_to
        LEFT JOIN people lp ON lp.id = l.assigned_to"""),
    "subscriptions": (("subscriptions",),
                      "SELECT id, NULL, product, currency, NULL, NULL FROM {base}"),
    "contracts": (("contracts",), "SELECT id, NULL, vendor, currency, NULL, NULL FROM {base}"),
    "accounts": (("accounts",), "SELECT a.id, NULL, a.vendor, a.currency, NULL, {a} FROM {base} a"),
    "people": (("people",), "SELECT p.id, p.cost_center, NULL, NULL, p.id, {p} FROM {base} p"),
    "recordings": (("recordings", "lines"), """
        SELECT r.id, l.cost_center, l.vendor, l.currency, l.assigned_to, coalesce({l}, {lp})
        FROM {base} r
        LEFT JOIN lines l ON l.id = r.line_id LEFT JOIN people lp ON lp.id = l.assigned_to"""),
    "calls": (("calls", "lines"), """
        SELECT c.id, l.cost_center, l.vendor, l.currency, l.assigned_to, coalesce({l}, {lp})
        FROM {base} c
        LEFT JOIN lines l ON l.id = c.line_id LEFT JOIN people lp ON lp.id = l.assigned_to"""),
}

#: The placeholders of ATTRIBUTE_SQL: (alias, entity).
_LEGAL = {"l": ("l", "lines"), "lp": ("lp", "people"), "p": ("p", "people"), "a": ("a", "accounts")}


def _legal(con: duckdb.DuckDBPyConnection, snapshot: Snapshot) -> dict[str, str]:
    """The SQL for each placeholder: the alias's legal_entity, or NULL where the snapshot's
    entity has no such column (collected before it existed: no legal entity, not an error)."""
    has = {}
    for entity in ("lines", "people", "accounts"):
        has[entity] = entity in snapshot.entities and "legal_entity" in {
            r[0] for r in con.execute(f'DESCRIBE "{entity}"').fetchall()}
    return {k: (f"CAST({alias}.legal_entity AS VARCHAR)" if has[entity] else "NULL::VARCHAR")
            for k, (alias, entity) in _LEGAL.items()}


#: The resource types whose savings the savings page breaks down (finance.py).
MONEY_TYPES = ("lines", "charges", "invoices", "licenses", "devices", "subscriptions", "contracts",
               "accounts")


def connect(snapshot: Snapshot) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per entity of ``snapshot``."""
    con = duckdb.connect()
    for entity in snapshot.entities:
        path = str(snapshot.parquet(entity)).replace("'", "''")
        con.execute(f'CREATE VIEW "{entity}" AS SELECT * FROM read_parquet(\'{path}\')')
    return con


def create_view(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, name: str, *,
                types: tuple[str, ...] | None = None) -> None:
    """``name`` (resource_type, resource_id, cost_center, vendor, currency, owner_id,
    legal_entity, owner_email, manager_email) over the entity views of ``con``, for ``types``
    (default: all)."""
    union = attributes_sql(con, snapshot, types)
    if "people" not in snapshot.entities:
        con.execute(f'CREATE TEMP VIEW "{name}" AS SELECT a.*, NULL::VARCHAR AS owner_email, '
                    f'NULL::VARCHAR AS manager_email FROM ({union}) a')
        return
    columns = {r[0] for r in con.execute("DESCRIBE people").fetchall()}
    # Snapshots written before people had a manager have no such column: no manager, not an error.
    manager = ("(SELECT lower(CAST(m.email AS VARCHAR)) FROM people m "
               "WHERE CAST(m.id AS VARCHAR) = CAST(o.manager_id AS VARCHAR))"
               if "manager_id" in columns else "NULL::VARCHAR")
    con.execute(f"""CREATE TEMP VIEW "{name}" AS
        SELECT a.*, lower(CAST(o.email AS VARCHAR)) AS owner_email, {manager} AS manager_email
        FROM ({union}) a LEFT JOIN people o ON CAST(o.id AS VARCHAR) = a.owner_id""")


def attributes_sql(con: duckdb.DuckDBPyConnection, snapshot: Snapshot,
                   types: tuple[str, ...] | None = None, *, tolerant: bool = False,
                   only: str | None = None) -> str:
    """A query of (resource_type, resource_id, cost_center, vendor, currency, owner_id,
    legal_entity) over the entity views of ``con``, for ``types`` (default: all). ``tolerant``:
    a type whose entities lack a column the query reads (a partial estate) is left out, its
    resources without attributes, rather than failing the whole query. ``only`` names a relation
    of (resource_type, resource_id): each type's own rows are narrowed to those before its joins
    (a few findings' calls need not join all five million calls to their lines)."""
    usable = [t for t, (reads, _) in ATTRIBUTE_SQL.items()
              if (types is None or t in types) and all(e in snapshot.entities for e in reads)]
    legal = _legal(con, snapshot)
    parts = []
    for t in usable:
        base = ATTRIBUTE_SQL[t][0][0]
        if only is not None:
            base = (f"(SELECT * FROM {base} WHERE CAST(id AS VARCHAR) IN "
                    f"(SELECT resource_id FROM {ident(only)} WHERE resource_type = '{t}'))")
        sql, fill = ATTRIBUTE_SQL[t][1], {**legal, "base": base}
        if "people" not in snapshot.entities:
            # A line's holder is read for its legal entity only: without people it is unknown.
            sql = sql.replace("LEFT JOIN people lp ON lp.id = l.assigned_to", "")
            fill = {**fill, "lp": "NULL::VARCHAR"}
        part = (f"SELECT '{t}' AS resource_type, CAST(q.id AS VARCHAR) AS resource_id, "
                "CAST(q.cc AS VARCHAR) AS cost_center, CAST(q.vendor AS VARCHAR) AS vendor, "
                "CAST(q.currency AS VARCHAR) AS currency, CAST(q.owner AS VARCHAR) AS owner_id, "
                "CAST(q.le AS VARCHAR) AS legal_entity "
                f"FROM ({sql.format(**fill)}) AS q(id, cc, vendor, currency, owner, le)")
        if tolerant:
            try:
                con.execute(f"SELECT * FROM ({part}) LIMIT 0")
            except duckdb.BinderException:
                continue
        parts.append(part)
    if not parts:
        return ("SELECT NULL::VARCHAR AS resource_type, NULL::VARCHAR AS resource_id, "
                "NULL::VARCHAR AS cost_center, NULL::VARCHAR AS vendor, NULL::VARCHAR AS currency, "
                "NULL::VARCHAR AS owner_id, NULL::VARCHAR AS legal_entity WHERE false")
    return " UNION ALL ".join(parts)
