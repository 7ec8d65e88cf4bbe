"""What the pages and the API accept from a request: ids, repeated filters and text, each with
a limit. Anything outside them is a FieldError (a DialtoneError: a 400 with its message on a
page, in the API's error shape on the API) before it reaches the store, where it could not be
stored (PostgreSQL text cannot hold NUL; an id above 2^63 - 1 overflows the driver) or would
cost far more than it is worth (a filter repeated thousands of times)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from werkzeug.datastructures import MultiDict
from werkzeug.routing import IntegerConverter

from dialtone.engine.errors import DialtoneError
from dialtone.engine.store.accounts import MAX_PASSWORD, MAX_USERNAME
from dialtone.engine.store.queries import MAX_SEARCH_LENGTH

#: Ids are 64-bit integers in the store: anything larger names nothing.
MAX_ID = 2**63 - 1
#: Values one filter takes (status=…&status=…); repeats of one value are read once.
MAX_FILTER_VALUES = 20
#: Comments, notes and justifications (they show on every view of the finding).
MAX_TEXT = 10_000
#: Assignee and exception ticket (stored in 200 characters).
MAX_NAME = 200
#: A policy id in a filter (policy ids are stored in 200 characters).
MAX_POLICY = 200
#: A framework name in a filter or an evidence request.
MAX_FRAMEWORK = 100
#: Text search (queries.MAX_SEARCH_LENGTH).
MAX_SEARCH = MAX_SEARCH_LENGTH
#: The login form.
MAX_LOGIN_USERNAME = MAX_USERNAME
MAX_LOGIN_PASSWORD = MAX_PASSWORD

#: Every limit, for the templates (maxlength) and the docs.
LIMITS = {"text": MAX_TEXT, "name": MAX_NAME, "policy": MAX_POLICY, "framework": MAX_FRAMEWORK,
          "search": MAX_SEARCH, "username": MAX_LOGIN_USERNAME, "password": MAX_LOGIN_PASSWORD}

#: JSON bodies are flat objects; nesting deeper than this is refused.
MAX_JSON_DEPTH = 20

_ID = re.compile(r"[0-9]{1,19}")
_SIGNED_ID = re.compile(r"-?[0-9]{1,19}")
#: Lone surrogates: JSON can spell them ("\ud800"), UTF-8 cannot encode them.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Control characters (C0, DEL, C1); multi-line text may hold tabs and line breaks.
_CONTROL_LINE = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class IdConverter(IntegerConverter):
    """``<id:name>`` in a route: a store id, 1 to 2^63 - 1. Anything else (more digits, 0, a
    larger number) matches no route: 404, as for an id that names nothing."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map, *args, **kwargs) -> None:
        super().__init__(map, min=1, max=MAX_ID)


class FieldError(DialtoneError):
    """A request field that is out of its limits; the message names the field."""


def id_value(raw: str | None, name: str) -> int:
    """A store id (1 to 2^63 - 1) given as decimal digits."""
    if raw is None or not _ID.fullmatch(raw) or not 1 <= int(raw) <= MAX_ID:
        raise FieldError(f"{name}: give an id, a whole number from 1 to {MAX_ID}")
    return int(raw)


def cursor_value(raw: str | None, name: str) -> int | None:
    """A keyset cursor (the last id of the previous page): absent, or a whole number of at most
    2^63 - 1 either side of zero."""
    if raw is None:
        return None
    if not _SIGNED_ID.fullmatch(raw) or abs(int(raw)) > MAX_ID:
        raise FieldError(f"{name}: give a whole number from {-MAX_ID} to {MAX_ID}")
    return int(raw)


def text_value(raw: str, name: str, limit: int, *, multiline: bool = False) -> str:
    """Text within ``limit`` characters, valid Unicode, without control characters (tabs and
    line breaks allowed in ``multiline`` text; NUL never)."""
    if len(raw) > limit:
        raise FieldError(f"{name}: at most {limit:,} characters (this has {len(raw):,})")
    bad = _SURROGATE.search(raw)
    if bad:
        raise FieldError(f"{name}: not valid Unicode (a lone surrogate, U+{ord(bad.group()):04X})")
    bad = (_CONTROL_TEXT if multiline else _CONTROL_LINE).search(raw)
    if bad:
        raise FieldError(f"{name}: control characters such as U+{ord(bad.group()):04X} are not allowed"
                         + ("" if multiline else " (it is one line of text)"))
    return raw


def filter_values(args: MultiDict, name: str, limit: int, allowed: Iterable[str] | None = None,
                  *, strict: bool = True) -> tuple[str, ...]:
    """The values of a repeatable filter, each read once, in the order given.

    More than MAX_FILTER_VALUES values (repeats included) are refused. Values not in
    ``allowed`` are refused when ``strict`` (the API), left out otherwise (the pages' links
    and forms only ever send known ones)."""
    raw = args.getlist(name)
    if len(raw) > MAX_FILTER_VALUES:
        raise FieldError(f"{name}: at most {MAX_FILTER_VALUES} values (this request has {len(raw):,})")
    known = None if allowed is None else tuple(allowed)
    out: list[str] = []
    for value in raw:
        text_value(value, name, limit)
        if known is not None and value not in known:
            if strict:
                raise FieldError(f"{name}: '{value}' is not one of {', '.join(known)}")
            continue
        if value and value not in out:
            out.append(value)
    return tuple(out)


def json_text(body: dict, name: str, limit: int, *, multiline: bool = False) -> str | None:
    """A string member of a JSON body checked as ``text_value``; None when it is missing or not
    a string (the caller says what it needs)."""
    value = body.get(name)
    if not isinstance(value, str):
        return None
    return text_value(value, name, limit, multiline=multiline)


def check_json(value: object, depth: int = 0) -> None:
    """A parsed JSON body nests at most MAX_JSON_DEPTH deep, and every string in it (keys
    included) is valid Unicode."""
    if depth > MAX_JSON_DEPTH:
        raise FieldError(f"the JSON body nests more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise FieldError("the JSON body holds text that is not valid Unicode (a lone surrogate)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(key, depth + 1)
            check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, depth + 1)
