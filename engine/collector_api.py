"""What a collector is, and the registry that finds collectors by name.

A collector reads one configured source and returns raw records per estate
entity, as Arrow tables of text (list fields may already be lists). The engine
validates and types them set-based, so every collector gets the same checks.
Collectors register through the ``dialtone.collectors`` entry-point group; the
built-in ones too.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .completeness import Watched
from .errors import ConfigError
from .registry import Registry

#: Columns every raw batch carries beside the canonical fields.
ROW_COLUMN = "__row"


@dataclass(frozen=True)
class ParseOptions:
    """How to read text values of a source."""

    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    datetime_formats: tuple[str, ...] = ()  # empty: ISO 8601, naive times are UTC
    decimal: str = "."
    thousands: str = ""
    list_separator: str = ";"
    true_values: tuple[str, ...] = ("true", "t", "yes", "y", "1")
    false_values: tuple[str, ...] = ("false", "f", "no", "n", "0")


@dataclass
class RawBatch:
    """Records of one entity read from one file (or API call).

    A batch either holds its ``table`` in memory or, for sources too large for
    memory (call detail records), is *streamed*: ``chunks`` is a function that
    yields its tables piece by piece, each with the same columns as ``table``
    would have. The engine validates a streamed batch chunk by chunk and keeps
    the validated rows on disk, so memory stays bounded whatever the size of
    the source. ``RawBatch.streamed`` builds one.
    """

    entity: str
    table: pa.Table | None  # canonical field columns (text or list of text) + __row
    origin: str      # file name or URL, as shown in rejects
    options: ParseOptions = field(default_factory=ParseOptions)
    chunks: t.Callable[[], t.Iterable[pa.Table]] | None = None

    @classmethod
    def streamed(cls, entity: str, origin: str, chunks: t.Callable[[], t.Iterable[pa.Table]],
                 options: ParseOptions | None = None) -> RawBatch:
        return cls(entity, None, origin, options or ParseOptions(), chunks)

    def tables(self) -> t.Iterator[pa.Table]:
        """The batch's tables: the one in memory, or the streamed chunks."""
        if self.chunks is None:
            if self.table is not None:
                yield self.table
            return
        yield from self.chunks()


@dataclass
class RawReject:
    origin: str
    row: int | None
    field: str
    value: str
    reason: str
    entity: str = ""


@dataclass
class SourceData:
    batches: list[RawBatch] = field(default_factory=list)
    rejects: list[RawReject] = field(default_factory=list)
    #: origin → sha256 of what was read. A streamed batch may add its input's digest while its
    #: chunks are read (by its last chunk): the engine takes ``inputs`` once the source is read.
    inputs: dict[str, str] = field(default_factory=dict)
    #: What the source could not give; kept in the snapshot's manifest with the source, so never
    #: a secret or a person's data, only what is missing and why.
    warnings: list[str] = field(default_factory=list)
    #: Input files as they were when opened; the engine checks after reading the source's
    #: last row that none changed or vanished (engine/completeness.py).
    watched: list[Watched] = field(default_factory=list)
    #: entity → the fields whose columns the source's input declares (a CSV file's header):
    #: a column it declared in the previous snapshot and no longer does fails the source
    #: (engine/completeness.py). Sources whose records may leave out empty fields (JSON) and
    #: collectors that build every column themselves say nothing here.
    columns: dict[str, set[str]] = field(default_factory=dict)

    def watch(self, path: Path, growing: bool = False) -> None:
        """Note an input file before reading it. ``growing``: a log that may be appended to
        while it is read (but not shrink or be replaced)."""
        try:
            self.watched.append(Watched.of(path, growing))
        except OSError as exc:
            from .errors import CollectError

            raise CollectError(f"{path}: cannot read: {exc.strerror or exc}") from None


class Collector(t.Protocol):
    """A collector class: constructed with the source's settings, then ``collect()``.

    A collector that keeps state between runs (the position it read a growing
    log up to, the rows it already parsed) sets ``stateful = True``: it is then
    constructed with a ``state_dir`` keyword argument, a folder of its own under
    the data directory (``<data_dir>/collector-state/<source>``) that it creates
    when needed and that survives between runs.

    A collector may say what it can fill: ``fills``, a class attribute mapping
    each entity to the fields it writes (``("*",)`` for every field of the
    entity). The policy pages (``docs/policies/``) and the collector pages'
    "What it feeds" sections (``engine/collector_coverage.py``) are generated
    from it; a collector without it is left out of them.
    """

    #: JSON Schema (2020-12) of the source's settings, ``collector`` key excluded.
    config_schema: t.ClassVar[dict]
    #: Setting names whose values are secrets: never logged or fingerprinted.
    secret_settings: t.ClassVar[tuple[str, ...]]

    def __init__(self, source: str, settings: dict, base_dir: Path) -> None: ...

    def collect(self) -> SourceData: ...


collectors: Registry[type[Collector]] = Registry("collector", "dialtone.collectors")


def settings_schema(properties: dict, *, required: t.Sequence[str] = (), **keywords: t.Any) -> dict:
    """A collector's ``config_schema``: a JSON Schema (2020-12) object of exactly ``properties``
    (``keywords`` adds others, e.g. ``dependentRequired``); an unknown setting is an error."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "additionalProperties": False, "required": list(required), **keywords,
            "properties": properties}


def check_settings(collector: type[Collector], source: str, settings: dict,
                   position: t.Callable[[list], int | None] | None = None,
                   file: str | None = None) -> None:
    """Validate a source's settings against its collector's schema; ``position`` gives the
    configuration line of a path (for the message), ``file`` the configuration file."""
    schema = collector.config_schema
    v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    err = best_match(v.iter_errors(settings))
    if err is not None:
        where = ".".join(str(p) for p in err.absolute_path)
        at = f"sources.{source}" + (f".{where}" if where else "")
        line = position(["sources", source, *err.absolute_path]) if position else None
        prefix = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        raise ConfigError(f"{prefix}{at}: {err.message}")


def text_value(value: t.Any, is_list: bool) -> t.Any:
    """A JSON/YAML value as raw text for validation; list fields stay lists of text."""
    import json

    if value is None:
        return None
    if is_list:
        items = value if isinstance(value, list) else [value]
        return [None if v is None else text_value(v, False) for v in items]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)
