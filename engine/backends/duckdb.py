"""The embedded DuckDB backend, sandboxed.

The snapshot's Parquet files are mapped to views named after the entities;
then file-system access is disabled except for exactly those files, extension
loading is switched off and the configuration is locked, before any policy SQL
runs; and a policy's SQL runs only when DuckDB's own parser reads it as one SELECT
(allowed_paths also lets the snapshot's files be written, and the database takes
DDL). A validator bug therefore still cannot read a file, write one, attach a
database, define a view or macro, or change a setting. All policies of a run
share one connection.
"""

from __future__ import annotations

import threading
import typing as t

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..estate.model import load_model
from ..limits import EvaluationLimits
from ..snapshots import Snapshot
from ..sqltext import ident, literal
from . import PolicyRunError

if t.TYPE_CHECKING:
    from . import Compiled


class DuckDBSession:
    def __init__(self, con: duckdb.DuckDBPyConnection, provided: frozenset[str],
                 timeout: float):
        self.con = con
        self.provided = provided
        self.timeout = timeout
        #: Further sessions on the same database, for policies evaluated at the same time.
        self.forks: list[DuckDBSession] = []

    def _execute(self, sql: str, params: dict | None = None) -> list[tuple]:
        return self._guarded(lambda: self.con.execute(sql, params or {}).fetchall())

    def _guarded(self, work: t.Callable[[], t.Any]) -> t.Any:
        """Run ``work`` under the time limit, turning DuckDB errors into PolicyRunError."""
        timer = threading.Timer(self.timeout, self.con.interrupt)
        timer.start()
        try:
            return work()
        except duckdb.InterruptException:
            raise PolicyRunError(f"stopped after the time limit of {self.timeout:g} s") from None
        except duckdb.OutOfMemoryException as exc:
            raise PolicyRunError(f"stopped at the memory limit: {_first_line(exc)}") from None
        except duckdb.Error as exc:
            raise PolicyRunError(_first_line(exc)) from None
        finally:
            timer.cancel()

    def count(self, entity: str) -> int:
        return self._execute(load_model().entity(entity).count_sql(ident))[0][0]

    def run(self, compiled: Compiled, params: dict[str, object]) -> pa.Table:
        sql = compiled.sql["duckdb"]
        self._check_select(sql)
        bound = {k: params[k] for k in compiled.params}
        return self._guarded(lambda: self.con.sql(sql, params=bound).to_arrow_table())

    def _check_select(self, sql: str) -> None:
        """PolicyRunError unless DuckDB's own parser reads ``sql`` as one SELECT. The sandbox
        leaves the snapshot's files writable (allowed_paths is read and write) and the
        in-memory database open to DDL, so this is what stops a statement that got past the
        validator from overwriting the evidence or redefining an entity for later policies."""
        if sql in _CHECKED:
            return
        try:
            found = self.con.extract_statements(sql)
        except duckdb.Error as exc:
            raise PolicyRunError(_first_line(exc)) from None
        if len(found) != 1 or found[0].type != duckdb.StatementType.SELECT:
            raise PolicyRunError("only a single SELECT runs as a policy; DuckDB reads this as "
                                 + (", ".join(s.type.name for s in found) or "nothing"))
        if len(_CHECKED) > 10_000:
            _CHECKED.clear()
        _CHECKED.add(sql)

    def close(self) -> None:
        self.con.close()


#: Policy SQL already read as a single SELECT (the compiled policies repeat at every evaluation).
_CHECKED: set[str] = set()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class DuckDBBackend:
    dialect = "duckdb"
    dialects = ("duckdb",)
    settings_schema = None  # everything it takes is under evaluation:

    def __init__(self, limits: EvaluationLimits | None = None, settings: dict | None = None):
        self.limits = limits or EvaluationLimits()

    def open(self, snapshot: Snapshot) -> DuckDBSession:
        model = load_model()
        con = duckdb.connect(":memory:")
        con.execute("SET TimeZone = 'UTC'")
        if self.limits.memory_limit:
            con.execute(f"SET memory_limit = {literal(self.limits.memory_limit)}")
        if self.limits.threads:
            con.execute(f"SET threads = {int(self.limits.threads)}")
        files = []
        for name, entity in model.entities.items():
            if name not in snapshot.entities:
                # Not provided: an empty, typed view, so evidence joins read NULL. Policies whose
                # condition needs the entity are skipped before they run.
                cols = ", ".join(f"CAST(NULL AS {f.sql_type}) AS {ident(f.name)}" for f in entity.fields)
                con.execute(f"CREATE VIEW {ident(name)} AS SELECT {cols} WHERE false")
                continue
            path = snapshot.parquet(name)
            files.append(str(path))
            present = set(pq.read_schema(path).names)
            cols = ", ".join(
                f"CAST({ident(f.name)} AS {f.sql_type}) AS {ident(f.name)}" if f.name in present
                else f"CAST(NULL AS {f.sql_type}) AS {ident(f.name)}"
                for f in entity.fields
            )
            con.execute(f"CREATE VIEW {ident(name)} AS SELECT {cols} "
                        f"FROM read_parquet({literal(str(path))})")
        # Sessions for policies run at the same time: connections to this one database, made
        # (and set to UTC) before the configuration is locked.
        forks = []
        for _ in range(max(1, self.limits.concurrency) - 1):
            fork = con.cursor()
            fork.execute("SET TimeZone = 'UTC'")
            forks.append(fork)
        # The sandbox: from here on only the snapshot's own files can be read.
        con.execute("SET allowed_paths = $paths", {"paths": files})
        con.execute("SET enable_external_access = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET lock_configuration = true")
        provided = frozenset(snapshot.entities)
        session = DuckDBSession(con, provided, self.limits.timeout_seconds)
        session.forks = [DuckDBSession(f, provided, self.limits.timeout_seconds) for f in forks]
        return session
