"""Immutable estate snapshots: one Parquet file per entity plus ``manifest.json``.

A snapshot is written into a temporary folder beside the store and renamed
into place, so readers see either the whole snapshot or none of it, and a
failed collect leaves the previous snapshot untouched.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .csvsafe import write_arrow
from .errors import SnapshotError, did_you_mean
from .estate.model import EstateModel, load_model

MANIFEST = "manifest.json"
REJECTS = "rejects.csv"
UNRESOLVED = "unresolved.csv"
#: The Parquet codec of snapshot files. LZ4 decodes faster than zstd (every policy reads
#: these files on every evaluation: the full packs at 1 M lines are CPU-bound on decoding)
#: at the cost of larger files (about 1.6x zstd's).
SNAPSHOT_COMPRESSION = "lz4"
FORMAT_VERSION = 1
#: Column stored beside the model's fields: the source each row came from.
SOURCE_COLUMN = "_source"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    id: str
    path: Path
    manifest: dict

    @property
    def as_of(self) -> dt.date:
        return dt.date.fromisoformat(self.manifest["as_of"])

    @property
    def timezone(self) -> str:
        """The organisation's time zone when the snapshot was made (``local_date`` uses it)."""
        return self.manifest.get("timezone") or "UTC"

    @property
    def entities(self) -> dict[str, dict]:
        return self.manifest["entities"]

    def parquet(self, entity: str) -> Path:
        return self.path / self.entities[entity]["file"]

    @property
    def manifest_hash(self) -> str:
        return "sha256:" + sha256_file(self.path / MANIFEST)

    def verify(self) -> list[str]:
        """Files whose content no longer matches the manifest."""
        bad = []
        for name, digest in sorted(self.manifest["files"].items()):
            f = self.path / name
            if not f.exists() or sha256_file(f) != digest:
                bad.append(name)
        return bad


def iter_parquet(path: Path, rows: int = 262_144, columns: list[str] | None = None):
    """A Parquet file as tables of about ``rows`` rows (whole row groups), in order.

    Memory stays that of one piece (``ParquetFile.iter_batches`` keeps what it
    read until the end of the file, so it is not used).
    """
    pf = pq.ParquetFile(path)
    group: list[int] = []
    n = 0
    for i in range(pf.metadata.num_row_groups):
        group.append(i)
        n += pf.metadata.row_group(i).num_rows
        if n >= rows:
            yield pf.read_row_groups(group, columns=columns, use_threads=False)
            group, n = [], 0
    if group:
        yield pf.read_row_groups(group, columns=columns, use_threads=False)


def _rows_and_sources(path: Path) -> tuple[int, set[str]]:
    """Row count and distinct sources of a Parquet file, read piece by piece."""
    pf = pq.ParquetFile(path)
    found: set[str] = set()
    if SOURCE_COLUMN in pf.schema_arrow.names:
        for table in iter_parquet(path, columns=[SOURCE_COLUMN]):
            found.update(table.column(0).unique().to_pylist())
    return pf.metadata.num_rows, found


#: Scratch folders (a collect's working files, a snapshot being written) are named
#: ``.<kind>-<pid>@<host>-<random>`` so a later collect can tell an abandoned one (its process
#: is gone) from one in use, and remove it.
_SCRATCH = re.compile(r"^\.(work|tmp|spill)-(\d+)@(.+)-[0-9a-f]{8,}$")
#: A scratch folder of another machine is taken to be abandoned after this long.
SCRATCH_STALE_SECONDS = 24 * 3600


class SnapshotStore:
    def __init__(self, data_dir: Path):
        self.root = Path(data_dir) / "snapshots"

    def scratch_dir(self, kind: str) -> Path:
        """A new private scratch folder under the store, named so it can be cleaned if left.
        The store's folders (and the data directory, when missing) are created 0700: snapshots
        hold the estate's personal data."""
        from .private_files import make_private_dir

        make_private_dir(self.root)
        return new_scratch_dir(self.root, kind)

    def clean_abandoned(self) -> list[Path]:
        """Remove scratch folders left by collects that were killed; returns what it removed."""
        return clean_abandoned(self.root)

    def ids(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(
            p.name for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists()
        )

    def list(self) -> list[Snapshot]:
        return [self.get(i) for i in self.ids()]

    def latest(self) -> Snapshot | None:
        ids = self.ids()
        return self.get(ids[-1]) if ids else None

    def get(self, snapshot_id: str | None = None) -> Snapshot:
        """A snapshot by id; ``None`` or ``latest`` means the newest one."""
        ids = self.ids()
        if snapshot_id in (None, "latest"):
            if not ids:
                raise SnapshotError(
                    f"No snapshot yet in {self.root}. Run 'dialtone collect' first.")
            snapshot_id = ids[-1]
        if snapshot_id not in ids:
            raise SnapshotError(
                f"No snapshot '{snapshot_id}'.{did_you_mean(snapshot_id, ids)}"
                " 'dialtone snapshots list' shows them.")
        path = self.root / snapshot_id
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"Snapshot '{snapshot_id}' has an unreadable manifest: {exc}") from None
        return Snapshot(snapshot_id, path, manifest)

    def _new_id(self, now: dt.datetime) -> str:
        base = now.strftime("%Y%m%dT%H%M%SZ")
        existing = set(self.ids())
        candidate, n = base, 1
        while candidate in existing:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _publish(self, tmp: Path, manifest: dict, now: dt.datetime) -> str:
        """Name the written folder and move it into place; returns its id. The id is chosen at
        the move: another collect finishing within the same second takes the next one
        (``-2``…) instead of failing this one."""
        for _ in range(100):
            snapshot_id = self._new_id(now)
            with (tmp / MANIFEST).open("w", encoding="utf-8") as fh:
                fh.write(json.dumps({**manifest, "id": snapshot_id}, indent=2, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.rename(tmp, self.root / snapshot_id)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue      # taken meanwhile: the next id
                raise
            return snapshot_id
        raise OSError(errno.EEXIST, f"no free snapshot id for {now:%Y%m%dT%H%M%SZ}")

    def write(
        self,
        tables: dict[str, pa.Table | Path],
        *,
        as_of: dt.date,
        sources: dict[str, dict],
        rejects: pa.Table | None = None,
        now: dt.datetime | None = None,
        model: EstateModel | None = None,
        unresolved: pa.Table | None = None,
        timezone: str = "UTC",
    ) -> Snapshot:
        """Write a snapshot atomically and return it.

        ``tables`` maps entity → typed Arrow table (model columns plus ``_source``),
        or the path of a Parquet file of such rows already written (a streamed
        entity), which is moved into the snapshot; ``sources`` is the
        per-source part of the manifest; ``unresolved`` lists the references
        identity resolution could not resolve (``unresolved.csv``).
        """
        model = model or load_model()
        now = now or dt.datetime.now(dt.UTC)
        tmp = self.scratch_dir("tmp")
        try:
            entities = {}
            files = {}
            for name in sorted(tables):
                table = tables[name]
                fname = f"{name}.parquet"
                if isinstance(table, pa.Table):
                    pq.write_table(table, tmp / fname, compression=SNAPSHOT_COMPRESSION)
                    num_rows = table.num_rows
                    found = (set(table.column(SOURCE_COLUMN).unique().to_pylist())
                             if SOURCE_COLUMN in table.column_names else set())
                else:
                    shutil.move(table, tmp / fname)
                    num_rows, found = _rows_and_sources(tmp / fname)
                files[fname] = sha256_file(tmp / fname)
                entities[name] = {
                    "file": fname,
                    "rows": num_rows,
                    "sources": sorted(s for s in found if s),
                    "sha256": files[fname],
                }
            # Rejects hold source text as it was: written so a spreadsheet shows it as text.
            if rejects is not None and rejects.num_rows:
                write_arrow(rejects, tmp / REJECTS)
                files[REJECTS] = sha256_file(tmp / REJECTS)
            if unresolved is not None and unresolved.num_rows:
                write_arrow(unresolved, tmp / UNRESOLVED)
                files[UNRESOLVED] = sha256_file(tmp / UNRESOLVED)
            manifest = {
                "format": FORMAT_VERSION,
                "as_of": as_of.isoformat(),
                "timezone": timezone,
                "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "model": sorted(model.entities),
                "entities": entities,
                "sources": sources,
                "rejects": rejects.num_rows if rejects is not None else 0,
                "unresolved": unresolved.num_rows if unresolved is not None else 0,
                "files": files,
            }
            for f in tmp.iterdir():
                with f.open("rb") as fh:
                    os.fsync(fh.fileno())
            snapshot_id = self._publish(tmp, manifest, now)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SnapshotError(
                f"cannot write the snapshot in {self.root}: {exc.strerror or exc}; nothing was "
                "written and the latest snapshot is unchanged") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.get(snapshot_id)


def new_scratch_dir(folder: Path, kind: str) -> Path:
    """A new private folder in ``folder`` named after this process and machine, so that
    ``clean_abandoned`` can tell when it was left behind."""
    path = folder / f".{kind}-{os.getpid()}@{socket.gethostname()}-{uuid.uuid4().hex[:12]}"
    path.mkdir(mode=0o700)
    return path


def clean_abandoned(folder: Path) -> list[Path]:
    """Remove the scratch folders in ``folder`` left by processes that were killed; returns what
    it removed. A folder of this machine is abandoned when its process is gone; one of another
    machine (a shared folder) after ``SCRATCH_STALE_SECONDS``."""
    if not folder.exists():
        return []
    removed = []
    host = socket.gethostname()
    now = dt.datetime.now().timestamp()
    for path in folder.iterdir():
        m = _SCRATCH.match(path.name)
        if not m or not path.is_dir():
            continue
        pid, owner = int(m.group(2)), m.group(3)
        if owner == host:
            if pid == os.getpid() or _alive(pid):
                continue
        else:
            try:
                if now - path.stat().st_mtime < SCRATCH_STALE_SECONDS:
                    continue
            except OSError:
                continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
