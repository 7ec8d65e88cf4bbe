"""Scoped access: what part of the findings a user or an API token may read (docs/access.md).

A scope (``access.scopes`` in the configuration) names legal entities, cost centres and
frameworks. A finding is in a scope when it passes every list the scope gives: its resource's
legal entity is one of ``legal_entities``, its cost centre one of ``cost_centers``, its policy is
mapped to one of ``frameworks`` (lists the scope leaves out do not restrict). A finding whose
legal entity or cost centre is unknown (NULL) is outside every scope that restricts by it: a
scoped reader never sees what cannot be shown to be theirs.

A caller reads through an :class:`Access`: the scopes that apply to them all at once (their
account's, and their API token's when it has a narrower one). The filter is one SQL predicate on
``findings`` (:meth:`Access.predicate`), which every read of the store applies in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, column, false, select, table, true
from sqlalchemy.sql.elements import ColumnElement

from .errors import ConfigError

#: A scope's name: what ``dialtone accounts scope`` and ``tokens create --scope`` take.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
_LIST = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200},
         "minItems": 1, "uniqueItems": True}

#: The ``access:`` block's JSON schema (engine/config.py).
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "scopes": {
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "properties": {"legal_entities": _LIST, "cost_centers": _LIST, "frameworks": _LIST},
            },
        },
    },
}


#: The columns the predicate reads, as lightweight constructs (this module is below the store in
#: the import layers: engine/store reads scopes, not the other way round). The callers pass the
#: store's own ``findings`` table (or an alias of it) to ``predicate``.
_POLICY_REQUIREMENTS = table("policy_requirements", column("policy_id"), column("framework"))
_FINDING_COLUMNS = ("id", "policy_id", "legal_entity", "cost_center")


class ScopeError(ConfigError):
    """A scope name the configuration does not define, or a token scope wider than its user's."""


@dataclass(frozen=True)
class Scope:
    """One entry of ``access.scopes``; an empty tuple does not restrict by that attribute."""
    name: str
    legal_entities: tuple[str, ...] = ()
    cost_centers: tuple[str, ...] = ()
    frameworks: tuple[str, ...] = ()
    #: A scope the configuration no longer defines: nothing is in it (fail closed).
    reads_nothing: bool = False

    def predicate(self, table) -> ColumnElement:
        """Findings (``table``: the findings table or an alias of it) in this scope."""
        if self.reads_nothing:
            return false()
        policy_requirements = _POLICY_REQUIREMENTS
        terms = []
        if self.legal_entities:
            terms.append(table.c.legal_entity.in_(self.legal_entities))
        if self.cost_centers:
            terms.append(table.c.cost_center.in_(self.cost_centers))
        if self.frameworks:
            terms.append(table.c.policy_id.in_(
                select(policy_requirements.c.policy_id)
                .where(policy_requirements.c.framework.in_(self.frameworks)).scalar_subquery()))
        return and_(*terms) if terms else true()


@dataclass(frozen=True)
class Access:
    """What a caller may read: the findings in every one of ``scopes`` (none: everything)."""
    scopes: tuple[Scope, ...] = field(default=())

    @property
    def restricted(self) -> bool:
        return bool(self.scopes)

    def predicate(self, findings) -> ColumnElement:
        """A predicate on ``findings`` (the store's findings table or an alias of it): true for
        the findings the caller may read."""
        if not self.scopes:
            return true()
        return and_(*(s.predicate(findings) for s in self.scopes))

    def sql(self, alias: str, dialect) -> str:
        """The predicate as SQL text on the findings aliased ``alias``, for the store's reads
        written in SQL text; the values are quoted by SQLAlchemy's literal rendering."""
        if not self.scopes:
            return "1 = 1"
        clause = self.predicate(table(alias, *(column(c) for c in _FINDING_COLUMNS)))
        return str(clause.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    def names(self) -> list[str]:
        return [s.name for s in self.scopes]


EVERYTHING = Access()
#: Reads nothing: for a caller whose scope the configuration no longer defines.
NOTHING_SCOPE = Scope("(undefined)", reads_nothing=True)


def parse(raw: dict | None) -> dict[str, Scope]:
    """``access.scopes`` (already checked against SCHEMA) → name → Scope."""
    scopes = (raw or {}).get("scopes") or {}
    return {name: Scope(name, tuple(body.get("legal_entities", ())), tuple(body.get("cost_centers", ())),
                        tuple(body.get("frameworks", ())))
            for name, body in scopes.items()}


def resolve(defined: dict[str, Scope], names: Iterable[str | None]) -> Access:
    """The Access of a caller whose account and token name ``names`` (None: no restriction).
    A name the configuration does not define reads nothing (fail closed): the scope was
    removed from the configuration while an account still named it."""
    out = []
    for name in names:
        if name is None:
            continue
        scope = defined.get(name)
        out.append(scope if scope is not None else NOTHING_SCOPE)
    # The same scope twice (a token with its user's scope) is one restriction.
    return Access(tuple(dict.fromkeys(out)))


def check_name(defined: dict[str, Scope], name: str) -> Scope:
    """The scope ``name``; a ScopeError naming the defined ones otherwise."""
    if name not in defined:
        known = ", ".join(sorted(defined)) or "none: the configuration has no access.scopes"
        raise ScopeError(f"unknown scope {name!r}; defined scopes: {known}")
    return defined[name]
