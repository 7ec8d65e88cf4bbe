"""A one-line progress display for long commands: on a terminal only, quiet otherwise.

Progress goes to standard error and rewrites one line in place (carriage
return), at most a few times a second, so a collect of ten million rows costs
nothing measurable. When standard error is not a terminal (cron, CI, a pipe),
nothing is written: logs stay clean.
"""

from __future__ import annotations

import shutil
import sys
import time
import typing as t


class TerminalProgress:
    def __init__(self, stream: t.TextIO | None = None, *, force: bool | None = None,
                 interval: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.enabled = force if force is not None else self.stream.isatty()
        self.interval = interval
        self._last = 0.0
        self._shown = False

    def show(self, text: str, *, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self._last < self.interval:
            return
        self._last = now
        width = max(20, shutil.get_terminal_size((80, 20)).columns - 1)
        self.stream.write("\r" + text[:width].ljust(width))
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        """Clear the line, so what is printed next starts clean."""
        if self.enabled and self._shown:
            width = max(20, shutil.get_terminal_size((80, 20)).columns - 1)
            self.stream.write("\r" + " " * width + "\r")
            self.stream.flush()
            self._shown = False

    # Callbacks in the shapes the engine calls.
    def source(self, source: str, event: str, rows: int) -> None:
        """``collect(progress=...)``: a source's rows read so far, or its end."""
        self.show(f"collect: {source} {event}" + (f", {rows:,} rows read" if rows else ""),
                  final=event in ("done", "failed"))

    def stage(self, stage: str, message: str) -> None:
        """``run_once(progress=...)``: the stage of a run and where it is."""
        self.show(f"{stage}: {message}")
