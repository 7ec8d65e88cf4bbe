"""A streaming reader of ANSI X12 interchanges, versions 004010 and 005010.

The delimiters come from the interchange header: the element separator is the character
after ``ISA``, the component separator is ISA16, the segment terminator is the character
after ISA16, and in 00402 and later ISA11 is the repetition separator. The file is read in
blocks, so memory does not grow with it; each segment comes with its 1-based position in
the file (counting every segment, envelopes included) and, inside a transaction set, its
position in that set (ST is 1), which is what SE01 counts.

The envelopes are checked as they close: ISA13 = IEA02 and IEA01 = the number of functional
groups, GS06 = GE02 and GE01 = the number of transaction sets, ST02 = SE02 and SE01 = the
number of segments from ST to SE. A file holding a bare transaction set (``ST`` … ``SE``, no
ISA) is read too, its delimiters taken from its ST segment; the reader says so.

PyPI has no well-kept X12 reader that streams (badx12 was last released in 2018 and reads
whole documents; pyx12 is built around 837/835 maps and validates against its own XML maps),
so this small one is written once here and kept generic: it knows envelopes, not the 811.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from dialtone.engine.errors import CollectError

#: Widths of ISA01…ISA16: the interchange header has a fixed length (106 characters).
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
ISA_LENGTH = 3 + sum(ISA_WIDTHS) + len(ISA_WIDTHS) + 1
#: Functional group versions read (GS08, the first six characters).
VERSIONS = ("004010", "005010")
#: Characters read at once.
BLOCK = 1 << 20
#: Longer than any segment of a bill: more text without a terminator means the terminator is not
#: what the file uses, and reading on would hold the whole file.
MAX_SEGMENT = 4 * BLOCK
ENVELOPE = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})
_BLANK = " \t\r\n"


@dataclass(frozen=True)
class Delimiters:
    element: str
    segment: str
    component: str | None = None
    repetition: str | None = None


@dataclass(frozen=True)
class Fault:
    """Something wrong at a position: ``field`` names the segment or element (``SE01``),
    ``value`` what the file says, ``reason`` what was expected."""

    position: int
    field: str
    value: str
    reason: str


class Listener(t.Protocol):
    """What the reader tells as it goes. Faults passed to an ``end_*`` call refuse what ends
    there (a transaction set, a functional group, an interchange); ``fault`` is told
    problems that refuse nothing."""

    def begin_set(self, position: int, st: list[str]) -> None: ...

    def segment(self, position: int, set_position: int, elements: list[str]) -> None: ...

    def end_set(self, position: int, faults: list[Fault]) -> None: ...

    def end_group(self, position: int, faults: list[Fault]) -> None: ...

    def end_interchange(self, position: int, faults: list[Fault]) -> None: ...

    def fault(self, fault: Fault) -> None: ...

    def notice(self, message: str) -> None: ...


def sniff(head: str, origin: str) -> Delimiters:
    """The delimiters of a file from its first characters."""
    text = head.lstrip("\ufeff" + _BLANK)
    if text.startswith("ISA"):
        element = text[3:4]
        parts = text.split(element, 16)
        if len(element) != 1 or element.isalnum() or len(parts) < 17 or len(parts[16]) < 2:
            raise CollectError(f"{origin}: segment 1: the ISA header is cut short: expected 16 "
                               "elements, a component separator and a segment terminator")
        isa16, terminator = parts[16][0], parts[16][1]
        version = parts[12]
        repetition = parts[11] if version >= "00402" and not parts[11].isalnum() else None
        return Delimiters(element, terminator, isa16, repetition)
    if text[:2] in ("ST", "GS") and len(text) > 3 and not text[2].isalnum():
        element = text[2]
        # The terminator is the first character after the tag that can be neither data
        # (letters, digits, spaces) nor the element separator.
        for ch in text[3:]:
            if not (ch.isalnum() or ch == " " or ch == element):
                return Delimiters(element, ch)
    raise CollectError(f"{origin}: not an X12 interchange: expected it to start with an ISA "
                       "segment (or a bare GS or ST segment)")


def isa_faults(position: int, el: list[str]) -> list[Fault]:
    """What is wrong with the widths of an ISA's elements (the header has a fixed length)."""
    if len(el) != len(ISA_WIDTHS) + 1:
        return [Fault(position, "ISA", "", f"the ISA has {len(el) - 1} elements, expected "
                      f"{len(ISA_WIDTHS)}")]
    return [Fault(position, f"ISA{i:02d}", el[i],
                  f"ISA{i:02d} is {len(el[i])} characters long, expected {w} (the ISA has a fixed "
                  f"length of {ISA_LENGTH} characters)")
            for i, w in enumerate(ISA_WIDTHS, start=1) if len(el[i]) != w]


def segments(path: Path, encoding: str = "utf-8", block: int = BLOCK,
             faults: list[Fault] | None = None) -> t.Iterator[tuple[int, list[str]]]:
    """Every segment of an X12 file as (position, elements), read in blocks. A last segment
    without its terminator is given too, with a fault in ``faults``."""
    origin = path.name
    try:
        fh = path.open(encoding=encoding, newline="")
    except OSError as exc:
        raise CollectError(f"{origin}: cannot read: {exc.strerror or exc}") from None
    with fh:
        position = 0
        try:
            buffer = fh.read(max(block, 4 * ISA_LENGTH))
            delimiters = sniff(buffer, origin)
            term, sep = delimiters.segment, delimiters.element
            while buffer:
                parts = buffer.split(term)
                buffer = parts.pop()
                for raw in parts:
                    raw = raw.strip(_BLANK)
                    if raw:
                        position += 1
                        yield position, raw.split(sep)
                if len(buffer) > MAX_SEGMENT:
                    raise CollectError(
                        f"{origin}: segment {position + 1} runs past {MAX_SEGMENT:,} characters without "
                        f"the segment terminator '{term}' the interchange header declares: is this an "
                        "X12 file, whole and uncorrupted?")
                more = fh.read(block)
                if not more:
                    break
                buffer += more
        except UnicodeDecodeError as exc:
            raise CollectError(f"{origin}: after segment {position}: not {encoding} text "
                               f"({exc.reason}); set the source's encoding") from None
        tail = buffer.strip(_BLANK)
        if tail:
            position += 1
            if faults is not None:
                faults.append(Fault(position, tail.split(sep)[0][:3], tail[:40],
                                    f"the file ends inside segment {position}: expected it to end "
                                    f"with the segment terminator '{term}' (is the file cut short?)"))
            yield position, tail.split(sep)


def _el(elements: list[str], i: int) -> str:
    return elements[i] if len(elements) > i else ""


@dataclass
class _Set:
    position: int
    control: str
    count: int = 1
    skip: bool = False          # not the transaction expected: refused at ST, counted to its SE


@dataclass
class _Group:
    position: int
    control: str
    version: str
    sets: int = 0
    faults: list[Fault] = field(default_factory=list)


@dataclass
class _Interchange:
    position: int
    control: str
    groups: int = 0
    faults: list[Fault] = field(default_factory=list)


class _Walker:
    """The envelope state of one file as its segments go by."""

    def __init__(self, listener: Listener, transaction: str | None):
        self.listener = listener
        self.transaction = transaction
        self.ix: _Interchange | None = None
        self.gs: _Group | None = None
        self.st: _Set | None = None
        self.bare_sets = 0          # sets read outside any interchange (a bare ST … SE file)

    # -- closing what was left open ------------------------------------------------------------
    def close_set(self, at: int, why: str) -> None:
        st, self.st = self.st, None
        if st is not None and not st.skip:
            self.listener.end_set(at, [Fault(st.position, "SE", "",
                                             f"the transaction set {st.control} begun at segment "
                                             f"{st.position} has no SE: {why}")])

    def close_group(self, at: int, why: str) -> None:
        gs, self.gs = self.gs, None
        if gs is not None:
            self.listener.end_group(at, gs.faults + [Fault(gs.position, "GE", "",
                                                           f"the functional group {gs.control} begun "
                                                           f"at segment {gs.position} has no GE: {why}")])

    def close_interchange(self, at: int, why: str) -> None:
        ix, self.ix = self.ix, None
        if ix is not None:
            self.listener.end_interchange(at, ix.faults + [Fault(
                ix.position, "IEA", "", f"the interchange {ix.control} begun at segment "
                f"{ix.position} has no IEA: {why}")])
        elif self.bare_sets:
            self.bare_sets = 0
            self.listener.end_interchange(at, [])

    # -- segments -------------------------------------------------------------------------------
    def body(self, position: int, el: list[str]) -> None:
        st = self.st
        if st is not None:
            st.count += 1
            if not st.skip:
                self.listener.segment(position, st.count, el)
        else:
            self.listener.fault(Fault(position, el[0], "", f"segment {el[0]} is outside any "
                                      "transaction set (expected it between ST and SE); not read"))

    def st_(self, position: int, el: list[str]) -> None:
        self.close_set(position, f"another ST begins at segment {position}")
        if self.gs is not None:
            self.gs.sets += 1
        elif self.ix is not None:
            self.listener.fault(Fault(position, "ST", "", "ST outside a functional group (expected "
                                      "a GS before it); the transaction set is read"))
        else:
            if not self.bare_sets:
                self.listener.notice(f"segment {position}: a transaction set without an interchange "
                                     "envelope (no ISA/GS): read without interchange checks")
            self.bare_sets += 1
        self.st = _Set(position, _el(el, 2))
        self.listener.begin_set(position, el)
        if self.transaction and _el(el, 1) != self.transaction:
            self.st.skip = True
            self.listener.end_set(position, [Fault(position, "ST01", _el(el, 1),
                                                   f"expected transaction set {self.transaction}; "
                                                   "this set is not read")])

    def se(self, position: int, el: list[str]) -> None:
        st, self.st = self.st, None
        if st is None:
            self.listener.fault(Fault(position, "SE", "", "SE without its ST; not read"))
            return
        st.count += 1
        if st.skip:
            return
        faults = []
        if _el(el, 1) != str(st.count):
            faults.append(Fault(position, "SE01", _el(el, 1),
                                f"SE01 says {_el(el, 1) or 'nothing'}, but the transaction set has "
                                f"{st.count} segments (ST at segment {st.position} to SE at segment "
                                f"{position})"))
        if _el(el, 2) != st.control:
            faults.append(Fault(position, "SE02", _el(el, 2),
                                f"expected SE02 to repeat ST02 '{st.control}' (segment {st.position})"))
        self.listener.end_set(position, faults)

    def gs_(self, position: int, el: list[str]) -> None:
        self.close_set(position, f"a GS begins at segment {position}")
        self.close_group(position, f"another GS begins at segment {position}")
        gs = self.gs = _Group(position, _el(el, 6), _el(el, 8))
        if not gs.version.startswith(VERSIONS):
            gs.faults.append(Fault(position, "GS08", gs.version,
                                   f"version {gs.version or '(none)'} is not read: expected "
                                   f"{' or '.join(VERSIONS)}; the group is refused"))
        if self.ix is not None:
            self.ix.groups += 1
        else:
            if not self.bare_sets:
                self.listener.notice(f"segment {position}: a functional group without an interchange "
                                     "envelope (no ISA): read without interchange checks")
            self.bare_sets += 1

    def ge(self, position: int, el: list[str]) -> None:
        self.close_set(position, f"the group ends (GE) at segment {position}")
        gs, self.gs = self.gs, None
        if gs is None:
            self.listener.fault(Fault(position, "GE", "", "GE without its GS; not read"))
            return
        faults = gs.faults
        if _el(el, 1) != str(gs.sets):
            faults.append(Fault(position, "GE01", _el(el, 1),
                                f"GE01 says {_el(el, 1) or 'nothing'}, but the group begun at segment "
                                f"{gs.position} has {gs.sets} transaction sets"))
        if _el(el, 2) != gs.control:
            faults.append(Fault(position, "GE02", _el(el, 2),
                                f"expected GE02 to repeat GS06 '{gs.control}' (segment {gs.position})"))
        self.listener.end_group(position, faults)

    def isa(self, position: int, el: list[str]) -> None:
        why = f"a new ISA begins at segment {position}"
        self.close_set(position, why)
        self.close_group(position, why)
        self.close_interchange(position, why)
        # A malformed header refuses its interchange, when the interchange closes.
        self.ix = _Interchange(position, _el(el, 13), faults=isa_faults(position, el))

    def iea(self, position: int, el: list[str]) -> None:
        why = f"the interchange ends (IEA) at segment {position}"
        self.close_set(position, why)
        self.close_group(position, why)
        ix, self.ix = self.ix, None
        if ix is None:
            self.listener.fault(Fault(position, "IEA", "", "IEA without its ISA; not read"))
            return
        faults = ix.faults
        if _el(el, 1) != str(ix.groups):
            faults.append(Fault(position, "IEA01", _el(el, 1),
                                f"IEA01 says {_el(el, 1) or 'nothing'}, but the interchange begun at "
                                f"segment {ix.position} has {ix.groups} functional groups"))
        if _el(el, 2) != ix.control:
            faults.append(Fault(position, "IEA02", _el(el, 2),
                                f"expected IEA02 to repeat ISA13 '{ix.control}' (segment {ix.position})"))
        self.listener.end_interchange(position, faults)


def walk(path: Path, listener: Listener, encoding: str = "utf-8", block: int = BLOCK,
         transaction: str | None = None) -> t.Iterator[int]:
    """Read one X12 file, telling ``listener`` its transaction sets' segments and how each
    envelope closed; ``transaction`` (e.g. "811") is the only set identifier read.

    A generator: it gives back control (the position reached) after each envelope segment
    and at the end, so that a caller can hand on what an envelope's closing released while
    the file is still being read."""
    read_faults: list[Fault] = []
    w = _Walker(listener, transaction)
    envelope = {"ST": w.st_, "SE": w.se, "GS": w.gs_, "GE": w.ge, "ISA": w.isa, "IEA": w.iea}
    body = w.body
    position = 0
    for position, el in segments(path, encoding, block, read_faults):
        if read_faults:
            for f in read_faults:
                listener.fault(f)
            read_faults.clear()
        handler = envelope.get(el[0])
        if handler is None:
            body(position, el)
        else:
            handler(position, el)
            yield position
    for f in read_faults:
        listener.fault(f)
    w.close_set(position, "the file ends")
    w.close_group(position, "the file ends")
    w.close_interchange(position, "the file ends")
    yield position
