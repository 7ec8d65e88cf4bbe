"""Rows held until the envelope around them is known to be good.

X12's rules decide late: a transaction set is good only at its SE, a functional group at
its GE, an interchange at its IEA. Rows read before then are held here, tagged with their
transaction set, and spilled to an Arrow IPC file in the temporary folder once more than
``limit`` rows are held, so memory stays bounded however large the interchange. When the
interchange closes, the rows of the sets not refused are given back in the order read, each
with its set's tag.
"""

from __future__ import annotations

import os
import tempfile
import typing as t

import pyarrow as pa

#: Rows kept in memory before they are written to the spill file.
LIMIT = 200_000


class Pending:
    def __init__(self, schema: pa.Schema, limit: int = LIMIT):
        self.schema = schema
        self.limit = limit
        self.held: list[tuple[int, pa.Table]] = []
        self.rows = 0
        self.refused: set[int] = set()
        self.spilled: list[int] = []           # the set of each record batch in the file
        self.path: str | None = None
        self.writer: pa.ipc.RecordBatchFileWriter | None = None

    def add(self, tag: int, table: pa.Table) -> None:
        if tag in self.refused or not table.num_rows:
            return
        self.held.append((tag, table))
        self.rows += table.num_rows
        if self.rows > self.limit:
            self._spill()

    def refuse(self, tags: t.Iterable[int]) -> None:
        """The rows of these transaction sets are not to be given back."""
        self.refused.update(tags)
        self.held = [(tag, table) for tag, table in self.held if tag not in self.refused]
        self.rows = sum(table.num_rows for _, table in self.held)

    def _spill(self) -> None:
        if self.writer is None:
            fd, self.path = tempfile.mkstemp(prefix="dialtone-x12-", suffix=".arrow")
            os.close(fd)
            self.writer = pa.ipc.new_file(self.path, self.schema)
        for tag, table in self.held:
            for batch in table.to_batches():
                self.writer.write_batch(batch)
                self.spilled.append(tag)
        self.held, self.rows = [], 0

    def release(self) -> t.Iterator[tuple[int, pa.Table]]:
        """The rows of the sets not refused, with their set's tag, in the order they were
        added; the spill file is removed once they are read."""
        held, refused = self.held, set(self.refused)
        self.held, self.rows = [], 0
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            path, spilled = self.path, self.spilled
            try:
                # Read, not mapped: mapped pages would count in the resident set as they are read.
                with pa.OSFile(path) as source:
                    reader = pa.ipc.open_file(source)
                    for i, tag in enumerate(spilled):
                        if tag not in refused:
                            yield tag, pa.Table.from_batches([reader.get_batch(i)], self.schema)
            finally:
                os.unlink(path)
        for tag, table in held:
            if tag not in refused:
                yield tag, table

    def discard(self) -> None:
        """Nothing held is to be given back (a refused interchange)."""
        self.held, self.rows = [], 0
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            os.unlink(self.path)
