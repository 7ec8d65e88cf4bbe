"""The canonical JSON text the history chain hashes, and the templates that write it faster.

An evaluation writes its events' data through ``canonical_template`` (a template per kind of
event) instead of ``canonical_data``; anyone verifying the chain recomputes hashes over the
stored text, and a later writer must produce the same text for the same document, so the two
must agree to the byte for every value: text JSON escapes, text it must not escape (UTF-8 as
is), None, integers, and the values the template leaves to ``canonical_data``.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
from decimal import Decimal

import pytest

from dialtone.engine.canonical_json import canonical_data, canonical_template
from dialtone.engine.store import chain
from dialtone.engine.store.sync import _EVENT_DATA, _event_writers


class Text(str):
    pass


class Level(enum.IntEnum):
    HIGH = 3


TEXTS = ["", "plain", 'a "quoted" word', "back\\slash", "naïve — café ☎ 日本 😀",
         "".join(chr(c) for c in range(32)) + "\x7f", "line\u2028para\u2029", "\ud800 lone surrogate",
         "</script>", "{\"not\": json}", "trailing space ", "null", "0"]
INTEGERS = [0, -1, 17, 2**63, -(2**70)]
# Written by json.dumps its own way (floats, bools) or through default=str (the rest).
OTHERS = [1.5, -0.0, float("nan"), float("inf"), 1e16, True, False, dt.date(2026, 12, 31),
          dt.datetime(2026, 1, 2, 3, 4, 5), Decimal("1.10"), Text("a subclass"), Level.HIGH,
          ["a", 1], {"b": None, "a": "x"}]
VALUES = [*TEXTS, *INTEGERS, None, *OTHERS]

SHAPES = [
    ({"evaluation": 7, "snapshot": "snap-1"}, {"reason": 0, "due_on": 1}),
    ({"evaluation": 7, "snapshot": "snap-1"}, {"last_seen_evaluation": 0}),
    ({"evaluation": 7, "snapshot": "snap-1", "how": "no longer found"}, {}),
    ({}, {"b": 1, "a": 0}),
    # Keys that sort by code point: capitals before small letters, non-ASCII last, quotes escaped.
    ({"Zed": "ü", "é": [1, {"y": 2, "x": None}], 'q"uote': "\n"}, {"a": 0, "Ab": 1}),
    ({"nested": {"z": 1, "a": [True, None]}}, {"zz": 1, "\x00": 0}),
]


@pytest.mark.parametrize(("fixed", "fields"), SHAPES)
def test_a_template_writes_the_canonical_text_for_every_value(fixed, fields):
    write = canonical_template(fixed, fields)
    for values in itertools.product(VALUES, repeat=2) if len(fields) > 1 else ((v, None) for v in VALUES):
        document = {**fixed, **{key: values[i] for key, i in fields.items()}}
        assert write(*values) == canonical_data(document), values


def test_a_template_of_fixed_values_only_or_of_nothing():
    assert canonical_template({}, {})() == canonical_data({}) == "{}"
    assert canonical_template({"how": "é\"x"}, {})() == canonical_data({"how": "é\"x"})


def test_a_key_given_twice_or_not_as_text_is_refused():
    with pytest.raises(ValueError):
        canonical_template({"a": 1}, {"a": 0})
    with pytest.raises(ValueError):
        canonical_template({1: "x"}, {"a": 0})


EVALUATION, SNAPSHOT = 42, "20261201T030000Z-ab\"c"


def _documented(kind: str, prev_seen, note, reason, due_on) -> dict:
    """Each kind of evaluation event's data as the history documents it (docs/findings.md)."""
    base = {"evaluation": EVALUATION, "snapshot": SNAPSHOT}
    return {"opened": {**base, "reason": reason, "due_on": due_on},
            "reopened": {**base, "reason": reason, "due_on": due_on},
            "seen_again": {**base, "last_seen_evaluation": prev_seen},
            "resolved": {**base, "how": "no longer found by the policy"},
            "retired": {**base, "how": note},
            "not_rechecked": {**base, "why": note}}[kind]


def test_every_kind_of_evaluation_event_writes_its_documented_data_as_canonical_data_does():
    writers = _event_writers(EVALUATION, SNAPSHOT)
    assert set(writers) == set(_EVENT_DATA) == {"opened", "reopened", "seen_again", "resolved",
                                                 "retired", "not_rechecked"}
    rows = [(prev_seen, note, reason, due_on)
            for prev_seen in (None, 3, True)
            for note in (None, "not re-checked: lines \"x\" é\n")
            for reason in (None, "idle — 90 “days”\t", "\x00")
            for due_on in (None, "2026-12-31", dt.date(2026, 12, 31))]
    for kind, row in itertools.product(writers, rows):
        assert writers[kind](*row) == canonical_data(_documented(kind, *row)), (kind, row)
        assert writers[kind](*row) == chain.canonical_data(_documented(kind, *row))
