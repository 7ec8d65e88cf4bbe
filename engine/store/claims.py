"""The findings store's savings: the rule of engine/savings.py (one claim per billable object,
per currency, never added across currencies) over recorded findings.

Per billable object, one finding carries its money, chosen in this order: a finding awaiting
work (the largest claim; in progress before open on a tie), else a resolved one, else an
excepted one. The object's money is then in the state of that finding:

- *not started* (open) and *in progress*: together, the *identified* savings;
- *realised*: every finding on the object is resolved, because an evaluation no longer found
  the problem or an officer marked it resolved by hand (nothing here reads the next invoice);
- *excepted*: the only findings left on it are excepted (accepted risk: the organisation chose
  to keep paying), so it is neither identified nor realised.

``savings_by_state`` is the one function that totals them: the dashboard, the savings page
(whose cost centre, vendor and policy rows, engine/finance.py, split the same carriers), the
evaluation page (the figures its evaluation left, recorded by ``record_counts``) and the CLI's
summaries of ``run``, ``evaluate`` and ``demo`` all read it, so they agree to the cent.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from ..access import Access
from ..savings import UNKNOWN_CURRENCY, _round
from .lifecycle import EXCEPTED, NEEDS_WORK, sql_list

#: Finding statuses whose savings are still to be had (awaiting work).
PENDING = NEEDS_WORK
#: The states a billable object's money can be in, in the order pages show them.
STATES = ("open", "in_progress", "excepted", "realised")
#: Statuses that claim money at all (retired, false positive, not applicable claim nothing).
CLAIMING = PENDING + ("resolved",) + EXCEPTED

#: One row per billable object claimed in the store: its currency and the largest claim of
#: each kind. Findings recorded before savings keys existed claim their own resource.
CLAIMS_SQL = f"""
    SELECT coalesce(savings_key, resource_type || ':' || resource_id) AS claim_key,
           coalesce(currency, '{UNKNOWN_CURRENCY}') AS currency,
           max(CASE WHEN status = 'open' THEN savings END) AS open_claim,
           max(CASE WHEN status = 'in_progress' THEN savings END) AS progress_claim,
           max(CASE WHEN status = 'resolved' THEN savings END) AS resolved_claim,
           max(CASE WHEN status IN {sql_list(EXCEPTED)} THEN savings END) AS excepted_claim
    FROM findings
    WHERE savings IS NOT NULL AND status IN {sql_list(CLAIMING)}
    GROUP BY coalesce(savings_key, resource_type || ':' || resource_id),
             coalesce(currency, '{UNKNOWN_CURRENCY}')"""

#: Each object's money and its state (the carrier rule above), one row per object.
_STATE_SQL = f"""
    SELECT currency,
           CASE WHEN progress_claim IS NOT NULL
                     AND progress_claim >= coalesce(open_claim, progress_claim) THEN 'in_progress'
                WHEN open_claim IS NOT NULL THEN 'open'
                WHEN resolved_claim IS NOT NULL THEN 'realised'
                ELSE 'excepted' END AS state,
           coalesce(CASE WHEN coalesce(open_claim, progress_claim) IS NOT NULL
                         THEN CASE WHEN progress_claim IS NULL OR open_claim > progress_claim
                                   THEN open_claim ELSE progress_claim END END,
                    resolved_claim, excepted_claim) AS amount
    FROM ({CLAIMS_SQL}) c"""


def savings_by_state(conn: Connection, access=None) -> dict[str, dict[str, float]]:
    """Per state (``STATES``, plus ``identified`` = open + in progress), the money of the
    billable objects in that state, per currency, rounded to the cent; no currency is ever
    added to another. States without money are empty dicts. ``access`` (engine/access.py):
    of the findings a scoped caller may read only."""
    raw: dict[str, dict[str, float]] = {s: {} for s in (*STATES, "identified")}
    state_sql = _STATE_SQL
    if access is not None and access.restricted:
        state_sql = state_sql.replace("WHERE savings IS NOT NULL",
                                      f"WHERE {access.sql('findings', conn.dialect)} AND savings IS NOT NULL")
    for currency, state, amount in conn.execute(text(
            f"SELECT currency, state, sum(amount) FROM ({state_sql}) s GROUP BY currency, state")):
        raw[state][currency] = amount or 0.0
        if state in PENDING:
            raw["identified"][currency] = raw["identified"].get(currency, 0.0) + (amount or 0.0)
    return {state: _round(values) for state, values in raw.items()}


def store_totals(conn: Connection) -> dict[str, dict[str, float]]:
    """``{"identified": {currency: amount}, "realised": {currency: amount}}`` over the store
    (``savings_by_state``, its two headline figures)."""
    money = savings_by_state(conn)
    return {"identified": money["identified"], "realised": money["realised"]}


def store_savings(store, access=None) -> dict[str, dict[str, float]]:
    """``savings_by_state`` over ``store`` (a read of its own), for pages."""
    with store.read() as conn:
        return savings_by_state(conn, access)


#: Which finding carries each object's money (the rule above, as engine/finance.py applies it):
#: awaiting work first, then resolved, then excepted; the largest claim; in progress before open;
#: then by policy, resource and id, so every reader picks the same one.
CARRIER_ORDER = f"""
    CASE WHEN f.status IN {sql_list(PENDING)} THEN 0 WHEN f.status = 'resolved' THEN 1 ELSE 2 END,
    f.savings DESC, CASE WHEN f.status = 'in_progress' THEN 0 ELSE 1 END,
    f.policy_id, f.resource_id, f.id"""


#: Above this many findings asked about, one pass over every claim beats restricting it to theirs.
ONE_PASS_ABOVE = 5_000


def carriers_among(conn: Connection, finding_ids: list[int], access: Access | None = None) -> set[int]:
    """Of ``finding_ids``, those that carry their object's money in the totals
    (``savings_by_state``): a download's ``savings_counted`` column. The others on the same
    object are "also reported" and add nothing. ``access`` (engine/access.py): the carrier is
    chosen among the findings a scoped caller may read, as its totals count them."""
    if not finding_ids:
        return set()
    claim = "coalesce(savings_key, resource_type || ':' || resource_id)"
    money = f"coalesce(currency, '{UNKNOWN_CURRENCY}')"
    scope = access.sql("findings", conn.dialect) if access is not None and access.restricted else "1 = 1"
    ranked = f"""
        SELECT f.id, row_number() OVER (PARTITION BY f.claim_key, f.money
                                        ORDER BY {CARRIER_ORDER}) AS pick
        FROM (SELECT id, status, savings, policy_id, resource_id, {claim} AS claim_key,
                     {money} AS money
              FROM findings WHERE {scope} AND savings IS NOT NULL
                AND status IN {sql_list(CLAIMING)}) f"""
    if len(finding_ids) > ONE_PASS_ABOVE:
        # A whole download: rank every claim once (a slice at a time would rank them all again).
        every = {r[0] for r in conn.execute(text(f"SELECT id FROM ({ranked}) c WHERE pick = 1"))}
        return every & {int(i) for i in finding_ids}
    ids = [int(i) for i in finding_ids]
    marks = ", ".join(f":i{n}" for n in range(len(ids)))
    params: dict = {f"i{n}": v for n, v in enumerate(ids)}
    # The objects these findings claim (by primary key), then only the claims on those objects
    # are ranked (no index on the claim key: one scan that filters, not one that ranks).
    keys = conn.execute(text(f"SELECT DISTINCT {claim} FROM findings WHERE id IN ({marks}) "
                             "AND savings IS NOT NULL"), params).scalars().all()
    if not keys:
        return set()
    key_marks = ", ".join(f":k{n}" for n in range(len(keys)))
    params.update({f"k{n}": k for n, k in enumerate(keys)})
    return {r[0] for r in conn.execute(text(f"""
        SELECT id FROM ({ranked} WHERE f.claim_key IN ({key_marks})) c
        WHERE pick = 1 AND id IN ({marks})"""), params)}
