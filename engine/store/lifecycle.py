"""A finding's lifecycle, as data: its statuses, the named sets of them, the allowed transitions.

The store, the dashboard, the workflow, the exceptions, the CLI and the views read these
names instead of spelling statuses out, so that "which findings" means the same everywhere.

The sets are named for what they mean, because two meanings are both reasonable and both
needed:

- ``NEEDS_WORK`` (open, in progress): the violation is there and nobody has accepted it. These
  count toward the posture (the dashboard's open figures, a policy's open count), can be
  overdue, can be excepted, and can be reviewed as a false positive or not applicable.
- ``STANDING`` (open, in progress, excepted): the violation is still there, whether or not its
  risk was accepted. The findings list shows these by default (the CLI's ``active``), and
  they can be assigned or resolved by hand; an evaluation that no longer finds one resolves it.

An excepted finding stands but does not need work: it is not overdue and does not lower the
posture, and it returns to ``NEEDS_WORK`` when its exception ends.
"""

from __future__ import annotations

from types import MappingProxyType

#: Every status a finding can have, in the order the pages and the CLI offer them.
STATUSES = ("open", "in_progress", "excepted", "resolved", "retired", "false_positive",
            "not_applicable")

#: Awaiting remediation: counted toward the posture, can be overdue, can be excepted or reviewed.
NEEDS_WORK = ("open", "in_progress")
#: Accepted risk: an exception in force covers the finding.
EXCEPTED = ("excepted",)
#: Still a finding (fixed or not, accepted or not): the default list, assignable, resolvable.
STANDING = NEEDS_WORK + EXCEPTED
#: A person's reviewed outcome: not a violation after all, not an exception.
REVIEW_OUTCOMES = ("false_positive", "not_applicable")
#: No longer found by an evaluation: fixed (``resolved``) or its policy left the set (``retired``).
GONE = ("resolved", "retired")
#: Closed, for whatever reason.
CLOSED = GONE + REVIEW_OUTCOMES
#: Closed findings a person may reopen (a retired finding's policy is no longer evaluated).
REOPENABLE = ("resolved",) + REVIEW_OUTCOMES

assert set(STANDING + CLOSED) == set(STATUSES) and not set(STANDING) & set(CLOSED)


def released_status(assignee: str | None) -> str:
    """The status of an excepted finding whose exception ended (expired, revoked, changed)."""
    return "open" if assignee is None else "in_progress"


#: ``released_status`` in SQL, over the findings table's ``assignee``.
RELEASED_SQL = "CASE WHEN assignee IS NULL THEN 'open' ELSE 'in_progress' END"


def assigned_status(status: str) -> str:
    """The status after an assignment: open work becomes in progress; anything else stays."""
    return "in_progress" if status == "open" else status


#: action -> (the statuses it applies to, the statuses it can leave the finding in). The
#: workflow's human actions and the exceptions' system actions check against this table; an
#: evaluation's changes (``engine/store/sync.py``) are the ``evaluation:`` entries. A comment
#: changes no status and applies to every finding.
TRANSITIONS = MappingProxyType({
    "assign": (STANDING, ("in_progress", "excepted")),
    "resolve": (STANDING, ("resolved",)),
    "reopen": (REOPENABLE, ("open",)),
    "review": (NEEDS_WORK, REVIEW_OUTCOMES),
    "except": (NEEDS_WORK, EXCEPTED),
    "release": (EXCEPTED, NEEDS_WORK),
    "evaluation:resolved": (STANDING, ("resolved",)),
    "evaluation:retired": (STANDING, ("retired",)),
    "evaluation:reopened": (GONE, ("open",)),
})


def allowed_from(action: str) -> tuple[str, ...]:
    """The statuses ``action`` applies to."""
    return TRANSITIONS[action][0]


#: How a status reads in a sentence ("This finding is ..."), and as an adjective in a list.
STATUS_WORDS = MappingProxyType({
    "open": ("open", "open"), "in_progress": ("in progress", "in-progress"),
    "excepted": ("excepted", "excepted"), "resolved": ("resolved", "resolved"),
    "retired": ("retired (its policy is no longer evaluated, or its changed rule no longer "
                            "reports it)", "retired"),
    "false_positive": ("closed as a false positive", "false-positive"),
    "not_applicable": ("closed as not applicable", "not-applicable"),
})

#: What each person's action does, for its refusal ("... can be reopened").
_DOES = MappingProxyType({"assign": "assigned", "resolve": "resolved by hand", "reopen": "reopened",
                          "review": "closed as a false positive or not applicable"})


def refusal(action: str, status: str) -> str:
    """Why ``action`` does not apply to a finding in ``status``, in the user's words: "This
    finding is open already; only a resolved, false-positive or not-applicable finding can be
    reopened." (the pages, the API and the command line share it)."""
    allowed, leaves = TRANSITIONS[action]
    already = " already" if status in leaves or (action == "reopen" and status in NEEDS_WORK) else ""
    kinds = [STATUS_WORDS[s][1] for s in allowed]
    listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
    article = "an" if listed[0] in "aeiou" else "a"
    return (f"This finding is {STATUS_WORDS[status][0]}{already}; only {article} {listed} finding "
            f"can be {_DOES[action]}.")


def sql_list(statuses: tuple[str, ...]) -> str:
    """``statuses`` as an SQL list literal, ``('open', 'in_progress')`` (known names only)."""
    unknown = set(statuses) - set(STATUSES)
    if unknown:
        raise ValueError(f"not finding statuses: {sorted(unknown)}")
    return "(" + ", ".join(f"'{s}'" for s in statuses) + ")"
