"""The estate's vocabulary: the canonical values of fields, and the words sources use for them.

``synonyms.yaml`` beside this module is the one place where ``In Service`` is said to mean
``active``. It is checked against the estate model when loaded (a canonical value an enum
does not allow, a word given two meanings or a field the model lacks is an error naming the
file), so a mistake in it fails every test rather than a collect.

Words are compared by their **key**: lower-cased, without spaces, ``_`` or ``-``. The same
key is computed in SQL (``key_sql``) over the distinct values of a batch, so Python and
DuckDB always agree on what matches.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

from ..errors import DialtoneError
from .model import EstateModel, Field, load_model

#: What a key leaves out of a word: whitespace (also no-break space), underscores and hyphens.
_SEPARATORS = "[ \t\n\r\f\v\u00a0_-]+"
_SEPARATORS_RE = re.compile(_SEPARATORS)
FILE = "synonyms.yaml"


def key(word: str) -> str:
    """The form in which two words are compared: ``In-Service`` and ``in service`` → ``inservice``."""
    return _SEPARATORS_RE.sub("", word).lower()


def key_sql(expr: str) -> str:
    """``key`` in DuckDB SQL, for an expression of type VARCHAR."""
    return f"lower(regexp_replace({expr}, '{_SEPARATORS}', '', 'g'))"


@dataclass(frozen=True)
class FieldVocabulary:
    """What one field's values may be called."""

    entity: str
    field: str
    #: Canonical values, in the order the enum (or the synonyms file) gives them.
    canonical: tuple[str, ...]
    #: key → canonical value (None: the word means empty). Canonical values map to themselves.
    words: dict[str, str | None]
    #: Words as written in the synonyms file, by canonical value (for the docs).
    written: dict[str | None, tuple[str, ...]] = field(default_factory=dict)
    #: An unmatched value of a field without an enum is kept as written (no closed vocabulary).
    open: bool = False
    #: Unmatched values are upper-cased (ISO codes).
    upper: bool = False

    def canonical_of(self, word: str) -> str | None | t.Literal[False]:
        """The canonical value ``word`` means, None when it means empty, False when unknown."""
        return self.words.get(key(word), False)


@dataclass(frozen=True)
class BooleanWords:
    """Extra words a boolean field accepts (after the source's own true/false values)."""

    true: tuple[str, ...]
    false: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    fields: dict[tuple[str, str], FieldVocabulary]
    booleans: dict[tuple[str, str], BooleanWords]

    def of(self, entity: str, fld: str) -> FieldVocabulary | None:
        return self.fields.get((entity, fld))

    def boolean_words(self, entity: str, fld: str) -> BooleanWords | None:
        return self.booleans.get((entity, fld))


def _targets(model: EstateModel, pattern: str, where: str) -> list[tuple[str, Field]]:
    """The (entity, field) pairs a name in the file stands for: ``entity.field`` or ``*.field``."""
    entity_name, _, field_name = pattern.partition(".")
    if not field_name:
        raise DialtoneError(f"{where}: '{pattern}' is not entity.field or *.field")
    if entity_name == "*":
        found = [(e.name, f) for e in model.entities.values() for f in e.fields if f.name == field_name]
        if not found:
            raise DialtoneError(f"{where}: no entity has a field '{field_name}'")
        return found
    return [(entity_name, model.entity(entity_name).field(field_name))]


def _words(values: t.Any, where: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise DialtoneError(f"{where}: expected a list of words (quote On, Off, Yes, No and numbers)")
    return values


def build(spec: dict, model: EstateModel, source: str = FILE) -> Vocabulary:
    """Check the synonyms ``spec`` against ``model`` and index it."""
    open_fields = {(e, f.name) for p in spec.get("open", []) for e, f in _targets(model, p, source)}
    upper_fields = {(e, f.name) for p in spec.get("upper", []) for e, f in _targets(model, p, source)}
    fields: dict[tuple[str, str], FieldVocabulary] = {}
    for pattern, by_canonical in (spec.get("fields") or {}).items():
        for entity_name, f in _targets(model, pattern, f"{source}: fields"):
            where = f"{source}: {entity_name}.{f.name}"
            allowed = f.item_enum if f.type == "list" else f.enum
            if f.type not in ("string", "list"):
                raise DialtoneError(f"{where}: only text fields and lists have a vocabulary")
            canonical = tuple(c for c in by_canonical if c is not None)
            if allowed:
                unknown = [c for c in canonical if c not in allowed]
                if unknown:
                    raise DialtoneError(f"{where}: {', '.join(unknown)} not allowed by the model "
                                        f"(allowed: {', '.join(allowed)})")
                canonical = tuple(allowed)
            words: dict[str, str | None] = {key(c): c for c in canonical}
            written: dict[str | None, tuple[str, ...]] = {}
            for target, synonyms in by_canonical.items():
                for word in _words(synonyms or [], f"{where}: {target}"):
                    k = key(word)
                    if k in words and words[k] != target:
                        raise DialtoneError(f"{where}: '{word}' would mean both {words[k]!r} "
                                            f"and {target!r}")
                    words[k] = target
                written[target] = tuple(synonyms or ())
            fields[(entity_name, f.name)] = FieldVocabulary(
                entity_name, f.name, canonical, words, written,
                open=(entity_name, f.name) in open_fields, upper=(entity_name, f.name) in upper_fields)
    for entity_name, name in upper_fields - set(fields):
        fields[(entity_name, name)] = FieldVocabulary(entity_name, name, (), {}, upper=True)
    # Every enum is matched ignoring case and spaces, whether the file lists words for it or not.
    for e in model.entities.values():
        for f in e.fields:
            allowed = f.item_enum if f.type == "list" else f.enum
            if allowed and (e.name, f.name) not in fields:
                fields[(e.name, f.name)] = FieldVocabulary(e.name, f.name, tuple(allowed),
                                                           {key(c): c for c in allowed})
    booleans: dict[tuple[str, str], BooleanWords] = {}
    every = (spec.get("booleans") or {}).get("*") or {}
    for e in model.entities.values():
        for f in e.fields:
            if f.type == "boolean":
                booleans[(e.name, f.name)] = BooleanWords(
                    tuple(_words(every.get(True, []), f"{source}: booleans.*")),
                    tuple(_words(every.get(False, []), f"{source}: booleans.*")))
    for pattern, spec_words in (spec.get("booleans") or {}).items():
        if pattern == "*":
            continue
        for entity_name, f in _targets(model, pattern, f"{source}: booleans"):
            if f.type != "boolean":
                raise DialtoneError(f"{source}: booleans: {entity_name}.{f.name} is not a boolean")
            base = booleans[(entity_name, f.name)]
            true = base.true + tuple(_words(spec_words.get(True, []), f"{source}: {pattern}"))
            false = base.false + tuple(_words(spec_words.get(False, []), f"{source}: {pattern}"))
            clash = {key(w) for w in true} & {key(w) for w in false}
            if clash:
                raise DialtoneError(f"{source}: {pattern}: {', '.join(sorted(clash))} both true and false")
            booleans[(entity_name, f.name)] = BooleanWords(true, false)
    return Vocabulary(fields, booleans)


@cache
def load_vocabulary() -> Vocabulary:
    """The vocabulary shipped with the engine (``engine/estate/synonyms.yaml``)."""
    text = (resources.files(__package__) / FILE).read_text(encoding="utf-8")
    return build(yaml.safe_load(text), load_model())
