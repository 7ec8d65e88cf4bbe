"""The Apache Spark backend, sandboxed: the same compiled policies, on a cluster.

Each evaluation gets its own Spark session (``newSession()`` of one
process-wide SparkContext: its own temp views, SQL settings and function
registry). The snapshot's Parquet files are mapped to temp views named after
the entities, with exactly the columns and types of the DuckDB views (NULL
columns for fields an older snapshot lacks, empty typed views for entities no
source provides). Then, before any policy SQL runs:

- only queries run: every statement is parsed with Spark's ``singleQuery``
  grammar first, so DDL, DML, ``SET``, ``CREATE FUNCTION``, ``ADD JAR``,
  ``CACHE``/``REFRESH`` and the like are refused without being executed;
- direct file queries (``SELECT * FROM parquet.`/etc/passwd```) are off
  (``spark.sql.runSQLOnFiles=false``);
- the session's function registry is cut down to the functions the compiler
  emits: ``reflect``/``java_method``, ``input_file_name``, ``current_date``,
  ``rand`` and every table-valued function (``range``, ``explode``...) are gone;
- the catalog is Spark's in-memory one (no Hive), and the session's tables are
  exactly the snapshot's temp views;
- ANSI SQL semantics (errors on overflow and bad casts, as DuckDB), UTC, and
  ``TIMESTAMP`` meaning ``TIMESTAMP_NTZ`` (DuckDB's ``TIMESTAMP``).

Results come back as Arrow with the same column names and types as DuckDB's
(the DuckDB rendering of the policy is typed against empty views and Spark's
result is cast to that schema), so findings and JSON are identical. See
docs/scale-out.md.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import typing as t
import uuid

import duckdb
import pyarrow as pa

from ..errors import DialtoneError
from ..estate.model import load_model
from ..limits import EvaluationLimits
from ..snapshots import Snapshot
from . import PolicyRunError

if t.TYPE_CHECKING:
    from . import Compiled

#: DuckDB type of a model field → the Spark SQL type of its view column.
SPARK_TYPES = {
    "VARCHAR": "STRING", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN",
    "DATE": "DATE", "TIMESTAMP": "TIMESTAMP_NTZ", "VARCHAR[]": "ARRAY<STRING>",
}

#: Settings the sandbox depends on: set by the backend, never by the config.
SANDBOX_CONF = {
    "spark.sql.catalogImplementation": "in-memory",   # no Hive metastore, no Hive SerDes
    "spark.sql.runSQLOnFiles": "false",                # no parquet.`/path` queries
    "spark.sql.ansi.enabled": "true",                  # errors, not NULLs, on overflow / bad casts
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",        # TIMESTAMP is DuckDB's (no time zone)
}
#: Config keys refused outright (they could loosen the sandbox or change semantics).
LOCKED_PREFIXES = ("spark.sql.legacy.", "spark.sql.catalog", "spark.sql.extensions",
                   "spark.sql.hive.", "spark.sql.ansi.", "spark.sql.runSQLOnFiles",
                   "spark.sql.session.timeZone", "spark.sql.timestampType")

#: Defaults for a local master (``local[*]``); a cluster's own spark-defaults apply otherwise.
LOCAL_DEFAULTS = {
    "spark.driver.memory": "4g",
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
}
COMMON_DEFAULTS = {
    "spark.app.name": "dialtone",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}

#: The only functions policy SQL can call on Spark: what the compiler's allow-list renders
#: to in Spark SQL (engine/compiler/allowlist.py), nothing else. Operators (+, =, LIKE,
#: RLIKE, CASE, CAST, TRY_CAST, IN, EXISTS, INTERVAL) are grammar, not functions.
ALLOWED_FUNCTIONS = frozenset({
    "coalesce", "nullif", "if", "concat", "lower", "upper", "length", "trim", "substring",
    "substr", "startswith", "rlike", "regexp_like", "replace", "locate", "chr", "abs", "round",
    "floor",
    "ceil", "ceiling",
    "greatest", "least", "extract", "date_part", "year", "month", "size", "array_contains",
    "count", "sum", "avg", "min", "max", "lag", "lead", "row_number",
    "between",  # x BETWEEN a AND b resolves through the registry
    "array",    # a list parameter is bound as array(...)
    "regexp_replace", "array_compact",  # emitted by engine/compiler/spark_semantics.py
    "convert_timezone",  # local_date(): a UTC timestamp's day in the organisation's time zone
})

INSTALL_HINT = ("the Spark backend needs PySpark and a Java 17+ runtime: "
                "pip install 'dialtone[spark]' and, on Debian, "
                "apt-get install -y --no-install-recommends default-jre-headless")

_lock = threading.Lock()
_root: t.Any = None  # the process-wide SparkSession; evaluations use newSession()s of it


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def spark_available() -> str | None:
    """None when the Spark backend can run here, else why not (with the install command)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return f"PySpark is not installed; {INSTALL_HINT}"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return f"no Java runtime (java not on PATH, JAVA_HOME unset); {INSTALL_HINT}"
    return None


def check_settings(settings: dict) -> None:
    for key in (settings.get("conf") or {}):
        if key.startswith(LOCKED_PREFIXES):
            raise DialtoneError(
                f"spark.conf.{key}: the Spark sandbox sets this itself; it cannot be configured "
                "(docs/scale-out.md)")


def _conf(settings: dict, limits: EvaluationLimits) -> dict[str, str]:
    master = settings.get("master") or (f"local[{limits.threads}]" if limits.threads else "local[*]")
    conf = {**COMMON_DEFAULTS, **(LOCAL_DEFAULTS if master.startswith("local") else {})}
    conf.update({k: str(v).lower() if isinstance(v, bool) else str(v)
                 for k, v in (settings.get("conf") or {}).items()})
    conf["spark.master"] = master
    conf.update(SANDBOX_CONF)
    return conf


def root_session(settings: dict | None = None, limits: EvaluationLimits | None = None):
    """The process's SparkSession, started on first use with the sandbox's static settings."""
    global _root
    settings = settings or {}
    check_settings(settings)
    reason = spark_available()
    if reason:
        raise DialtoneError(reason)
    with _lock:
        if _root is not None and _root._sc._jsc is not None:
            return _root
        from pyspark.sql import SparkSession

        builder = SparkSession.builder
        for key, value in _conf(settings, limits or EvaluationLimits()).items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        # A session started elsewhere in the process (with Hive, say) does not qualify.
        if spark.conf.get("spark.sql.catalogImplementation") != "in-memory":
            raise DialtoneError("the Spark session of this process uses a Hive catalog; "
                                "the Spark backend needs spark.sql.catalogImplementation=in-memory")
        # A refused or failed policy is an error result, not a page of JVM stack trace that
        # PySpark logs on stderr for every failed query.
        for logger in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            logging.getLogger(logger).setLevel(logging.CRITICAL + 1)
        _root = spark
        return spark


def _restrict_functions(spark) -> None:
    """Drop every function and table function the compiler never emits from this session."""
    state = spark._jsparkSession.sessionState()
    for registry, keep in ((state.functionRegistry(), ALLOWED_FUNCTIONS),
                           (state.tableFunctionRegistry(), frozenset())):
        it = registry.listFunction().iterator()
        doomed = []
        while it.hasNext():
            fid = it.next()
            if fid.funcName().lower() not in keep:
                doomed.append(fid)
        for fid in doomed:
            registry.dropFunction(fid)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "getMessage", lambda: None)() or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class SparkSession_:
    """One evaluation's sandboxed Spark session (the backend ``Session`` protocol)."""

    def __init__(self, spark, provided: frozenset[str], timeout: float, reference,
                 results_uri: str | None):
        self.spark = spark
        self.provided = provided
        self.timeout = timeout
        self.reference = reference  # DuckDB over empty typed views: the result schemas
        self.results_uri = results_uri
        self._counts: dict[str, int] = {}

    def _guarded(self, work: t.Callable[[], t.Any]) -> t.Any:
        """Run ``work`` under the time limit, turning Spark errors into PolicyRunError."""
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        sc = self.spark.sparkContext
        group = f"dialtone-{uuid.uuid4().hex}"
        sc.setJobGroup(group, "dialtone policy", interruptOnCancel=True)
        stopped = threading.Event()

        def cancel() -> None:
            stopped.set()
            sc.cancelJobGroup(group)

        timer = threading.Timer(self.timeout, cancel)
        timer.start()
        try:
            return work()
        except (PySparkException, Py4JError) as exc:
            if stopped.is_set():
                raise PolicyRunError(
                    f"stopped after the time limit of {self.timeout:g} s") from None
            raise PolicyRunError(_first_line(exc)) from None
        finally:
            timer.cancel()
            sc.setLocalProperty("spark.jobGroup.id", None)

    def _query(self, sql: str, args: dict | None = None):
        """A DataFrame for ``sql``, which must be one query: anything else is refused unrun."""
        # parseQuery uses Spark's singleQuery grammar: no DDL, DML, SET, ADD JAR, CACHE, ...
        self.spark._jsparkSession.sessionState().sqlParser().parseQuery(sql)
        return self.spark.sql(sql, args=args or None)

    def _execute(self, sql: str, params: dict | None = None) -> list[tuple]:
        return self._guarded(lambda: [tuple(r) for r in self._query(sql, params).collect()])

    def count(self, entity: str) -> int:
        if entity not in self._counts:
            self._counts[entity] = self._execute(load_model().entity(entity).count_sql(_q))[0][0]
        return self._counts[entity]

    def run(self, compiled: Compiled, params: dict[str, object]) -> pa.Table:
        bound = {k: params[k] for k in compiled.params}
        schema = self.reference.sql(compiled.sql["duckdb"], params=bound).to_arrow_table().schema
        table = self._guarded(lambda: self._collect(self._query(compiled.sql["spark"], bound)))
        if table.column_names != schema.names:
            raise PolicyRunError(f"Spark returned columns {table.column_names}, "
                                 f"expected {schema.names}")
        try:
            return table.cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise PolicyRunError(f"Spark's result does not fit DuckDB's types: {exc}") from None

    def _collect(self, df) -> pa.Table:
        """The findings as Arrow: streamed Arrow batches, or via Parquet at ``results_uri``."""
        if not self.results_uri:
            return df.toArrow()
        import pyarrow.dataset as ds

        where = f"{self.results_uri.rstrip('/')}/{uuid.uuid4().hex}"
        df.write.mode("errorifexists").parquet(where)
        table = ds.dataset(where, format="parquet").to_table()
        # Part files are read in name order, which is the query's order; keep it exact.
        table = table.sort_by("resource_id") if table.num_rows else table
        if "://" not in where:
            shutil.rmtree(where, ignore_errors=True)
        return table

    def close(self) -> None:
        try:
            for name in self.spark.catalog.listTables():
                if name.isTemporary:
                    self.spark.catalog.dropTempView(name.name)
        finally:
            self.reference.close()


class SparkBackend:
    dialect = "spark"
    dialects = ("duckdb", "spark")  # results are typed by the DuckDB rendering (see run)
    #: ``spark:`` in dialtone.yaml (docs/scale-out.md).
    settings_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "master": {"type": "string", "minLength": 1},
            "conf": {"type": "object", "propertyNames": {"pattern": "^spark\\."},
                     "additionalProperties": {"type": ["string", "number", "boolean"]}},
            "snapshot_uri": {"type": "string", "minLength": 1},
            "results_uri": {"type": "string", "minLength": 1},
        },
    }

    def __init__(self, limits: EvaluationLimits | None = None, settings: dict | None = None):
        self.limits = limits or EvaluationLimits()
        self.settings = dict(settings or {})
        check_settings(self.settings)

    def location(self, snapshot: Snapshot, entity: str) -> str:
        """Where the cluster reads an entity's Parquet file: a local path or a URI."""
        file = snapshot.entities[entity]["file"]
        base = self.settings.get("snapshot_uri")
        if base:  # the snapshots folder as the cluster sees it (s3a://, abfss://, hdfs://, file:)
            return f"{base.rstrip('/')}/{snapshot.id}/{file}"
        uri = getattr(snapshot, "uri", None)  # a snapshot store that hands out URIs
        if uri:
            return f"{str(uri).rstrip('/')}/{file}"
        return str(snapshot.parquet(entity).resolve())

    def open(self, snapshot: Snapshot) -> SparkSession_:
        model = load_model()
        spark = root_session(self.settings, self.limits).newSession()
        for key, value in SANDBOX_CONF.items():
            if key != "spark.sql.catalogImplementation":  # static: checked in root_session
                spark.conf.set(key, value)
        reference = duckdb.connect(":memory:")
        reference.execute("SET TimeZone = 'UTC'")
        try:
            for name, entity in model.entities.items():
                typed = [(f.name, SPARK_TYPES[f.sql_type]) for f in entity.fields]
                # The reference: DuckDB's views, empty, to type each policy's result.
                cols = ", ".join(f'CAST(NULL AS {f.sql_type}) AS "{f.name}"' for f in entity.fields)
                reference.execute(f'CREATE VIEW "{name}" AS SELECT {cols} WHERE false')
                if name not in snapshot.entities:
                    empty = ", ".join(f"CAST(NULL AS {typ}) AS {_q(col)}" for col, typ in typed)
                    spark.sql(f"SELECT {empty}").where("false").createOrReplaceTempView(name)
                    continue
                df = spark.read.parquet(self.location(snapshot, name))
                present = set(df.columns)
                df.selectExpr(*(
                    f"CAST({_q(col) if col in present else 'NULL'} AS {typ}) AS {_q(col)}"
                    for col, typ in typed
                )).createOrReplaceTempView(name)
            # The sandbox: from here on SQL reaches only these views and the allowed functions.
            _restrict_functions(spark)
            reference.execute("SET enable_external_access = false")
            reference.execute("SET lock_configuration = true")
        except BaseException:
            reference.close()
            raise
        return SparkSession_(spark, frozenset(snapshot.entities), self.limits.timeout_seconds,
                             reference, self.settings.get("results_uri"))
