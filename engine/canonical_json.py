"""The one canonical JSON text of a document: what the history chain and content hashes hash.

Sorted keys, no spaces, UTF-8 as is: the same document always gives the same text, on every
machine and database, so a hash of it can be recomputed by anyone who has the document.

``canonical_template`` writes that same text for many documents of one shape (an evaluation's
events) without going through ``json.dumps`` for each: the keys and constant values are written
once, and only the values that vary are encoded per document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring  # how json.dumps(ensure_ascii=False) writes a str


def canonical_data(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_template(fixed: dict, fields: dict[str, int]) -> Callable[..., str]:
    """A function of values returning ``canonical_data({**fixed, key: values[i] for key, i in
    fields.items()})``, exactly: the text between the varying values is cut once from the
    canonical text of the whole shape, and a value that is a plain ``str``, ``int`` or None is
    written as ``json.dumps`` writes it; any other (a float, a bool, a date…) takes
    ``canonical_data``. ``fields`` maps each varying key to the position of its value."""
    names = [*fixed, *fields]
    if len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"each key once, as text: fixed {list(fixed)}, varying {list(fields)}")
    names.sort()
    # The text between two varying values is constant: the keys, and the fixed values as
    # canonical_data writes them (in the order json.dumps sorts the keys).
    pieces, slots, text = [], [], ""
    for i, name in enumerate(names):
        text += ("{" if i == 0 else ",") + encode_basestring(name) + ":"
        if name in fixed:
            text += canonical_data({"": fixed[name]})[len('{"":'):-1]
        else:
            pieces.append(text)
            slots.append(fields[name])
            text = ""
    pieces.append(text + "}" if names else "{}")
    first, rest = pieces[0], list(zip(pieces[1:], slots, strict=True))

    def write(*values) -> str:
        text = first
        for piece, slot in rest:
            value = values[slot]
            kind = type(value)
            if kind is str:
                text += encode_basestring(value) + piece
            elif value is None:
                text += "null" + piece
            elif kind is int:
                text += int.__repr__(value) + piece
            else:   # what json.dumps writes its own way (float, bool) or through default=str
                return canonical_data({**fixed, **{key: values[i] for key, i in fields.items()}})
        return text
    return write
