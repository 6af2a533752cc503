"""The catalogue: every image generated and every cell that failed, one row each, as a Parquet
dataset that pandas and DuckDB read directly. It is the workbench's log (llm's `logs`, in Parquet).

Layout under `<data>/catalogue/`:
    runs/part-<time>-<pid>-<random>.parquet    appended rows; immutable once renamed into place
    runs/merged-<time>-<pid>-<random>.parquet  rows of parts it replaces (compaction, removal)
    sweeps/<sweep id>.toml                     the resolved spec of each sweep run
Scores and ratings will be their own tables beside `runs/`, keyed by image hash / request key.

Concurrency, without a server or a lock for appends: a part is written under a `.tmp` name and
renamed, so readers never see half a file and writers never clash (unique names). Rewrites
(compaction, removal) take a file lock among themselves, write the new part first — its footer
lists the parts it `replaces` — then delete those parts. Readers list the folder, drop replaced
parts, read, and start over if a part vanished or a new rewrite covered what they read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from workbench.errors import CatalogueError
from workbench.layout import TMP_SUFFIX, remove_stale_temp_files, write_atomically

SCHEMA_VERSION = 1
RUNS = "runs"
SWEEPS = "sweeps"
PART_PREFIX = "part-"
MERGED_PREFIX = "merged-"
PART_SUFFIX = ".parquet"
REPLACES_KEY = b"workbench.replaces"
LOCK_NAME = ".rewrite.lock"
OPTIMISTIC_READS = 5
# A temp file this old belongs to a writer that died; compaction clears it.
STALE_TMP_SECONDS = 3600.0
# Parts smaller than this are merged by compaction; bigger ones are left as they are.
SMALL_PART_ROWS = 250_000
ROW_GROUP_ROWS = 64 * 1024
# Compaction sorts merged rows so that one prompt+seed's rows sit together (row-group pruning).
CLUSTER_BY = [("prompt", "ascending"), ("seed", "ascending"), ("created_at", "ascending")]

_T = TypeVar("_T")

STATUS_OK = "ok"
STATUS_FAILED = "failed"


def _column(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


# THE catalogue schema. docs/catalogue.md describes it; a test checks the two agree.
SCHEMA = pa.schema(
    [
        _column("schema_version", pa.int16(), "Schema version the row was written with."),
        _column("sweep_id", pa.string(), "The sweep run that wrote the row."),
        _column("request_key", pa.string(), "SHA-256 of the request minus the API key."),
        _column("created_at", pa.timestamp("us", tz="UTC"), "When the row was recorded (UTC)."),
        _column("backend", pa.string(), '"simulator" or "remote".'),
        _column("prompt", pa.string(), "Prompt as sent."),
        _column("seed", pa.int64(), "Seed as requested (-1: server picks)."),
        _column("seed_used", pa.int64(), "Seed the run actually had, where known.", True),
        _column("sample_number", pa.int32(), "Images asked for in the request."),
        _column("sample_index", pa.int32(), "0-based index of this image; null if failed.", True),
        _column("identity_scale", pa.float64(), "identityScale as sent."),
        _column("width", pa.int32(), "outputImageWidth as sent."),
        _column("height", pa.int32(), "outputImageHeight as sent."),
        _column("face_id", pa.string(), "Panel face id."),
        _column("face_hash", pa.string(), "SHA-256 of the face JPEG sent."),
        _column("image_hash", pa.string(), "SHA-256 of the image bytes; null if failed.", True),
        _column("image_path", pa.string(), "Image path relative to the data root.", True),
        _column("status", pa.string(), '"ok" (an image) or "failed" (a cell).'),
        _column("error_class", pa.string(), "Error type, e.g. TransientError.", True),
        _column("error", pa.string(), "Short reason (at most 300 characters).", True),
        _column("attempts", pa.int32(), "HTTP attempts the request took."),
        _column("latency_ms", pa.float64(), "Wall time of the request, retries included."),
        _column("cost", pa.float64(), "price_per_image for an ok row, else 0."),
    ]
)
COLUMNS = SCHEMA.names


@dataclass(frozen=True)
class CatalogueRow:
    """One catalogue row: a generated image (`status="ok"`) or a failed cell."""

    sweep_id: str
    request_key: str
    created_at: datetime
    backend: str
    prompt: str
    seed: int
    sample_number: int
    identity_scale: float
    width: int
    height: int
    face_id: str
    face_hash: str
    status: str
    attempts: int
    latency_ms: float
    seed_used: int | None = None
    sample_index: int | None = None
    image_hash: str | None = None
    image_path: str | None = None
    error_class: str | None = None
    error: str | None = None
    cost: float = 0.0
    schema_version: int = SCHEMA_VERSION


ROW_FIELDS = [f.name for f in fields(CatalogueRow)]


def rows_to_table(rows: Sequence[CatalogueRow]) -> pa.Table:
    """Rows as an Arrow table of the catalogue schema (column-wise: no dict per row)."""
    columns = {name: [getattr(row, name) for row in rows] for name in COLUMNS}
    return pa.Table.from_pydict(columns, schema=SCHEMA)


@dataclass(frozen=True)
class CompactResult:
    parts_before: int
    parts_after: int
    rows: int


@dataclass(frozen=True)
class CatalogueStats:
    """Totals over the whole catalogue (what `workbench catalogue stats` prints)."""

    parts: int
    size_bytes: int
    rows: int
    images: int
    failed_rows: int
    cells_still_failing: int  # logged as failed and never stored since (seed -1 excluded)
    sweeps: int
    prompts: int
    cost: float


@dataclass(frozen=True)
class _Snapshot:
    """The live parts at one moment (replaced ones dropped), and every name that was listed."""

    live: list[str]
    listed: frozenset[str]


class _Retry(Exception):
    """The folder changed under a reader; read again."""


class Catalogue:
    """The Parquet dataset under one folder (normally `DataLayout.catalogue`)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.runs_dir = self.path / RUNS
        self._duckdb: duckdb.DuckDBPyConnection | None = None
        self._duckdb_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Catalogue({str(self.path)!r})"

    # --- Writing ---------------------------------------------------------------------------

    def append(self, rows: Sequence[CatalogueRow]) -> Path | None:
        """Add rows as one new immutable part; costs O(len(rows)), whatever the catalogue's size."""
        if not rows:
            return None
        return self.append_table(rows_to_table(rows))

    def append_table(self, table: pa.Table) -> Path | None:
        """Add an Arrow table of the catalogue schema (bulk imports, benchmarks)."""
        if table.num_rows == 0:
            return None
        table = table.select(COLUMNS).cast(SCHEMA)
        return self._write_part(table, PART_PREFIX)

    def record_sweep(self, sweep_id: str, spec_toml: str) -> Path:
        """Keep the resolved spec of a sweep run, so its seeds and settings can be repeated."""
        path = self.path / SWEEPS / f"{sweep_id}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, spec_toml.encode("utf-8"))
        return path

    def sweep_records(self) -> list[Path]:
        """The recorded specs of past sweep runs (`<sweep id>.toml`)."""
        folder = self.path / SWEEPS
        return sorted(folder.glob("*.toml")) if folder.exists() else []

    def compact(self, small_part_rows: int = SMALL_PART_ROWS) -> CompactResult:
        """Merge small parts into one, atomically; safe beside readers and appending writers."""
        with self._rewrite_lock():
            self._clear_leftovers()
            snapshot = self._snapshot()
            small = [
                name
                for name in snapshot.live
                if pq.read_metadata(self.runs_dir / name).num_rows < small_part_rows
            ]
            if len(small) < 2:
                return CompactResult(len(snapshot.live), len(snapshot.live), 0)
            table = self._read_parts(small).sort_by(CLUSTER_BY)
            self._write_part(table, MERGED_PREFIX, replaces=small)
            for name in small:
                (self.runs_dir / name).unlink(missing_ok=True)
            after = len(snapshot.live) - len(small) + 1
            return CompactResult(len(snapshot.live), after, table.num_rows)

    def remove_rows(self, predicate: pc.Expression) -> int:
        """Delete the rows matching `predicate` (e.g. `pc.field("face_id") == "ann"`), rewriting
        only the parts that hold any; returns how many rows went."""
        removed = 0
        with self._rewrite_lock():
            # A rewrite that crashed earlier may have left a replaced part (still holding the
            # rows an erase wants gone) on disk; readers skip it, but it must not linger.
            self._clear_leftovers()
            for name in self._snapshot().live:
                table = self._read_parts([name])
                keep = table.filter(~predicate)
                gone = table.num_rows - keep.num_rows
                if not gone:
                    continue
                if keep.num_rows:
                    self._write_part(keep, MERGED_PREFIX, replaces=[name])
                (self.runs_dir / name).unlink(missing_ok=True)
                removed += gone
        return removed

    # --- Reading ---------------------------------------------------------------------------

    def table(self, columns: Sequence[str] | None = None, filter: pc.Expression | None = None):
        """A consistent Arrow table of the rows (all columns unless `columns`)."""
        return self._consistently(
            lambda names: self._read_parts(names, columns=columns, filter=filter)
        )

    def runs(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Every row as a pandas DataFrame (nullable integer columns stay integers)."""
        return self.table(columns).to_pandas(types_mapper=_PANDAS_TYPES.get)

    def stored_keys(self) -> set[str]:
        """Request keys with stored images: a sweep does not request these again."""
        table = self.table(["request_key"], filter=pc.field("status") == STATUS_OK)
        return set(pc.unique(table["request_key"]).to_pylist())

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run DuckDB SQL over the view `runs` (every row), e.g.
        `query("SELECT prompt, count(*) FROM runs GROUP BY prompt")`."""

        def run(names: list[str]) -> pd.DataFrame:
            try:
                # A cursor per query: its temp view `runs` is its own, so threads never clash.
                with self._database().cursor() as con:
                    self._create_view(con, names)
                    return con.execute(sql, params or []).df()
            except duckdb.IOException as exc:
                if self._vanished(names):
                    raise _Retry from None
                raise CatalogueError(f"reading {self.runs_dir} failed: {exc}") from None

        return self._consistently(run)

    def stored_among(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` have stored images: the dedupe check for a plan, done in DuckDB so it
        costs little more than reading the key column, whatever the catalogue's size."""
        wanted = pa.table({"request_key": pa.array(list(dict.fromkeys(keys)), pa.string())})
        if not wanted.num_rows:
            return set()

        def run(names: list[str]) -> set[str]:
            if not names:
                return set()
            try:
                with self._database().cursor() as con:
                    self._create_view(con, names)
                    con.register("wanted", wanted)
                    found = con.execute(
                        "SELECT DISTINCT runs.request_key FROM runs "
                        "SEMI JOIN wanted ON runs.request_key = wanted.request_key "
                        "WHERE runs.status = ?",
                        [STATUS_OK],
                    ).fetchall()
            except duckdb.IOException as exc:
                if self._vanished(names):
                    raise _Retry from None
                raise CatalogueError(f"reading {self.runs_dir} failed: {exc}") from None
            return {key for (key,) in found}

        return self._consistently(run)

    def rows_for(self, prompt: str, seed: int) -> pd.DataFrame:
        """Every row of one prompt+seed (all faces, scales, sizes), via DuckDB."""
        return self.query(
            "SELECT * FROM runs WHERE prompt = ? AND seed = ? "
            "ORDER BY face_id, identity_scale, width, height, sample_index",
            [prompt, seed],
        )

    def recent(self, count: int = 20, **equal: object) -> pd.DataFrame:
        """The newest `count` rows (0: all) whose columns equal the given values, oldest first.

        `recent(5, prompt="studio", status="failed")`; None values are ignored.
        """
        filters = {column: value for column, value in equal.items() if value is not None}
        unknown = set(filters) - set(COLUMNS)
        if unknown:
            raise CatalogueError(f"no catalogue column {', '.join(sorted(unknown))}")
        sql = "SELECT * FROM runs"
        if filters:
            sql += " WHERE " + " AND ".join(f"{column} = ?" for column in filters)
        sql += " ORDER BY created_at DESC"
        if count:
            sql += f" LIMIT {int(count)}"
        return self.query(sql, list(filters.values())).iloc[::-1].reset_index(drop=True)

    def stats(self) -> CatalogueStats:
        parts = self.parts()
        totals = self.query(
            """
            SELECT count(*) AS rows,
                   count(*) FILTER (WHERE status = 'ok') AS images,
                   count(*) FILTER (WHERE status = 'failed') AS failed_rows,
                   count(DISTINCT sweep_id) AS sweeps,
                   count(DISTINCT prompt) AS prompts,
                   coalesce(sum(cost), 0) AS cost,
                   count(DISTINCT request_key) FILTER (
                       WHERE status = 'failed' AND seed <> -1 AND request_key NOT IN
                             (SELECT request_key FROM runs WHERE status = 'ok')
                   ) AS still_failing
            FROM runs
            """
        ).iloc[0]
        return CatalogueStats(
            parts=len(parts),
            size_bytes=sum(part.stat().st_size for part in parts if part.exists()),
            rows=int(totals["rows"]),
            images=int(totals["images"]),
            failed_rows=int(totals["failed_rows"]),
            cells_still_failing=int(totals["still_failing"]),
            sweeps=int(totals["sweeps"]),
            prompts=int(totals["prompts"]),
            cost=float(totals["cost"]),
        )

    def sweep_totals(self) -> pd.DataFrame:
        """One row per sweep run: backend, start, images stored, cells failed, cost."""
        return self.query(
            """
            SELECT sweep_id, any_value(backend) AS backend, min(created_at) AS started,
                   count(*) FILTER (WHERE status = 'ok') AS images,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   round(sum(cost), 2) AS cost
            FROM runs GROUP BY sweep_id ORDER BY started
            """
        )

    def parts(self) -> list[Path]:
        """The live part files right now (for tools and tests)."""
        return [self.runs_dir / name for name in self._snapshot().live]

    # --- Internals -------------------------------------------------------------------------

    def _write_part(self, table: pa.Table, prefix: str, replaces: Sequence[str] = ()) -> Path:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{prefix}{stamp}-{os.getpid()}-{secrets.token_hex(4)}{PART_SUFFIX}"
        if replaces:
            metadata = dict(table.schema.metadata or {})
            metadata[REPLACES_KEY] = json.dumps(list(replaces)).encode()
            table = table.replace_schema_metadata(metadata)
        final = self.runs_dir / name
        # A leading dot as well as the suffix: pandas' and pyarrow's own folder readers skip
        # dot-files, so `pd.read_parquet(<catalogue>/runs)` never trips over a part in progress.
        tmp = final.with_name(f".{name}{TMP_SUFFIX}")
        try:
            # Row groups small enough that min/max statistics let DuckDB skip most of a big
            # part when looking up one prompt+seed.
            pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
            # Rename is the commit point: readers list only finished names. (No fsync: the
            # promise is surviving a killed process, not a power cut.)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def _list(self) -> list[str]:
        try:
            names = os.listdir(self.runs_dir)
        except FileNotFoundError:
            return []
        # Temp files end in .tmp, so they never match: a half-written part is never read.
        return sorted(
            name
            for name in names
            if name.endswith(PART_SUFFIX) and name.startswith((PART_PREFIX, MERGED_PREFIX))
        )

    def _replaces(self, name: str) -> list[str]:
        try:
            metadata = pq.read_schema(self.runs_dir / name).metadata or {}
        except FileNotFoundError:
            raise _Retry from None
        return json.loads(metadata.get(REPLACES_KEY, b"[]"))

    def _snapshot(self) -> _Snapshot:
        listed = self._list()
        replaced: set[str] = set()
        for name in listed:
            if name.startswith(MERGED_PREFIX):
                replaced.update(self._replaces(name))
        return _Snapshot([n for n in listed if n not in replaced], frozenset(listed))

    def _consistently(self, read: Callable[[list[str]], _T]) -> _T:
        """Run `read` over the live parts until no rewrite interfered.

        Optimistic first (no lock: appends never interfere, rewrites are rare); if rewrites
        keep racing the read, hold the rewrite lock shared, which waits out rewriters.
        """
        for attempt in range(OPTIMISTIC_READS):
            try:
                return self._read_once(read)
            except _Retry:
                time.sleep(0.002 * attempt)
        with self._rewrite_lock(shared=True):
            for _ in range(OPTIMISTIC_READS):
                try:
                    return self._read_once(read)
                except _Retry:
                    continue
        raise CatalogueError(f"{self.runs_dir} kept changing while being read; try again")

    def _read_once(self, read: Callable[[list[str]], _T]) -> _T:
        snapshot = self._snapshot()
        result = read(snapshot.live)
        self._check_still_covered(snapshot)
        return result

    def _check_still_covered(self, snapshot: _Snapshot) -> None:
        """After a read: a rewrite that appeared meanwhile must not cover parts we did not read
        (a listing taken mid-rename can miss both a new merged part and the parts it replaced)."""
        read = set(snapshot.live)
        for name in self._list():
            if name.startswith(MERGED_PREFIX) and name not in snapshot.listed:
                replaced = set(self._replaces(name))
                if not replaced <= read:
                    raise _Retry

    def _read_parts(
        self,
        names: Sequence[str],
        columns: Sequence[str] | None = None,
        filter: pc.Expression | None = None,
    ) -> pa.Table:
        if not names:
            empty = SCHEMA.empty_table()
            return empty.select(list(columns)) if columns else empty
        paths = [str(self.runs_dir / name) for name in names]
        try:
            # The current schema over every part: columns added by later versions read as null
            # in older parts.
            dataset = ds.dataset(paths, schema=SCHEMA, format="parquet")
            return dataset.to_table(columns=list(columns) if columns else None, filter=filter)
        except (FileNotFoundError, OSError, pa.ArrowInvalid) as exc:
            if self._vanished(names):
                raise _Retry from None
            raise CatalogueError(f"reading {self.runs_dir} failed: {exc}") from None

    def _vanished(self, names: Sequence[str]) -> bool:
        return any(not (self.runs_dir / name).exists() for name in names)

    def _database(self) -> duckdb.DuckDBPyConnection:
        # Opening DuckDB costs ~20 ms; one in-memory database per catalogue, cursors per query.
        with self._duckdb_lock:
            if self._duckdb is None:
                self._duckdb = duckdb.connect()
            return self._duckdb

    def _create_view(self, con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> None:
        if not names:
            con.register("_empty_runs", SCHEMA.empty_table())
            con.execute("CREATE OR REPLACE TEMP VIEW runs AS SELECT * FROM _empty_runs")
            return
        files = ", ".join(_sql_string(str(self.runs_dir / name)) for name in names)
        con.execute(
            "CREATE OR REPLACE TEMP VIEW runs AS "
            f"SELECT * FROM read_parquet([{files}], union_by_name = true)"
        )

    @contextlib.contextmanager
    def _rewrite_lock(self, shared: bool = False) -> Iterator[None]:
        # flock is released by the kernel when a process dies, so a crash never leaves it held.
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK_NAME, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _clear_leftovers(self) -> None:
        """Remove what crashed writers left: replaced parts still present, stale temp files."""
        snapshot = self._snapshot()
        for name in snapshot.listed - set(snapshot.live):
            (self.runs_dir / name).unlink(missing_ok=True)
        remove_stale_temp_files(self.runs_dir, f"*{TMP_SUFFIX}", STALE_TMP_SECONDS)


_PANDAS_TYPES = {
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
