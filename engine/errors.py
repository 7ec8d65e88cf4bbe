"""One hierarchy of user-facing errors.

Every error a user can cause derives from :class:`DialtoneError`; the CLI prints
its message and exits without a traceback. Errors that point into a file carry
the file, line and column so editors and CI logs can jump to them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


class DialtoneError(Exception):
    """An error caused by input or configuration, reported without a traceback."""


class ConfigError(DialtoneError):
    """The configuration file is missing, unreadable or invalid."""


class SnapshotError(DialtoneError):
    """A snapshot is missing or unreadable."""


class CollectError(DialtoneError):
    """A collector could not read its source."""


class RegistryError(DialtoneError):
    """A plugin name is unknown."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a file: where it is and what was expected."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file or "<policy>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


class PolicyError(DialtoneError):
    """A policy is invalid; carries every problem found, each with its position."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean X?' suffix for a near-miss name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def wrapped(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps, each once (requests → urllib3 → socket: the socket's
    own reason, without the URL the outer messages put in their text)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [c for c in (e.__cause__, e.__context__, getattr(e, "reason", None))
                  if isinstance(c, BaseException)]
        stack += [a for a in e.args if isinstance(a, BaseException)]
