"""The catalogue: every image generated and every cell that failed, one row each, as a Parquet
dataset that pandas and DuckDB read directly. It is the workbench's log (llm's `logs`, in Parquet).

Layout under `<data>/catalogue/`:
    runs/part-<time>-<pid>-<random>.parquet    appended rows; immutable once renamed into place
    runs/merged-<time>-<pid>-<random>.parquet  rows of parts it replaces (compaction, removal)
    sweeps/<sweep id>.toml                     the resolved spec of each sweep run
Scores and ratings will be their own tables beside `runs/`, keyed by image hash / request key.

    quarantine/runs/                           damaged or foreign parts, moved out of the way
Concurrency, atomic parts and damage containment are `workbench.parts.PartFolder`'s: appends
never lock, rewrites (compaction, removal) lock among themselves, readers retry when a rewrite
raced them, and a truncated or foreign part is quarantined with a one-line warning.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.errors import CatalogueError, InputError
from workbench.layout import make_private_dir, write_atomically
from workbench.parts import MERGED_PREFIX, SMALL_PART_ROWS, CheckReport, PartFolder, is_part_name
from workbench.sweep import wire_request_key

SCHEMA_VERSION = 2
RUNS = "runs"
SWEEPS = "sweeps"
QUARANTINE = "quarantine"
LOCK_NAME = ".rewrite.lock"
# Compaction sorts merged rows so that one prompt+seed's rows sit together (row-group pruning).
CLUSTER_BY = [("prompt", "ascending"), ("seed", "ascending"), ("created_at", "ascending")]

STATUS_OK = "ok"
STATUS_FAILED = "failed"


def _column(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


# THE catalogue schema. docs/catalogue.md describes it; a test checks the two agree.
SCHEMA = pa.schema(
    [
        _column("schema_version", pa.int16(), "Schema version the row was written with."),
        _column("sweep_id", pa.string(), "The sweep run that wrote the row."),
        _column(
            "request_key", pa.string(), "SHA-256 of the request to this backend, minus the API key."
        ),
        _column("created_at", pa.timestamp("us", tz="UTC"), "When the row was recorded (UTC)."),
        _column(
            "backend",
            pa.string(),
            'Backend that made the row: the simulator\'s model ("simulator@2"; "simulator" for '
            'model 1), or the real API\'s base URL (no credentials); "remote" in rows from '
            "schema version 1.",
        ),
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
# Every part written since schema version 1 has these; a part without them is not a catalogue
# part (columns added by later versions are nullable and read as null in older parts).
REQUIRED_COLUMNS = [
    "schema_version",
    "sweep_id",
    "request_key",
    "created_at",
    "prompt",
    "seed",
    "face_id",
    "face_hash",
    "status",
]


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


class Catalogue:
    """The Parquet dataset under one folder (normally `DataLayout.catalogue`)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.runs_dir = self.path / RUNS
        self.parts_folder = PartFolder(
            self.runs_dir,
            SCHEMA,
            quarantine=self.path / QUARANTINE,
            required=REQUIRED_COLUMNS,
            lock=self.path / LOCK_NAME,
            version_column="schema_version",
            version=SCHEMA_VERSION,
        )
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
        return self.parts_folder.append(table)

    def record_sweep(self, sweep_id: str, spec_toml: str) -> Path:
        """Keep the resolved spec of a sweep run, so its seeds and settings can be repeated."""
        path = self.path / SWEEPS / f"{sweep_id}.toml"
        make_private_dir(path.parent)
        write_atomically(path, spec_toml.encode("utf-8"))
        return path

    def sweep_records(self) -> list[Path]:
        """The recorded specs of past sweep runs (`<sweep id>.toml`)."""
        folder = self.path / SWEEPS
        return sorted(folder.glob("*.toml")) if folder.exists() else []

    def compact(self, small_part_rows: int = SMALL_PART_ROWS) -> CompactResult:
        """Merge small parts into one, atomically; safe beside readers and appending writers."""
        before, after, rows = self.parts_folder.compact(small_part_rows, sort_by=CLUSTER_BY)
        return CompactResult(before, after, rows)

    def migrate(self) -> int:
        """Bring parts written with an older schema up to `SCHEMA_VERSION`, through the same
        write-then-replace path as compaction; returns how many rows were migrated.

        Reads only part footers when there is nothing to do, so a sweep calls it before every
        plan. Version 1 to 2: the request key gains the backend that made the row (rows keep
        their backend, "simulator" or "remote"), so simulator results still count as stored for
        the simulator, and old "remote" results, whose URL nobody recorded, for no real API
        (they stay in the log; a real-API sweep requests those cells again).
        """
        folder = self.parts_folder
        if not any(self._part_version(path) < SCHEMA_VERSION for path in folder.parts()):
            return 0
        migrated = 0
        with folder.rewrite_lock():
            folder.clear_leftovers()
            for path in folder.parts():
                if self._part_version(path) >= SCHEMA_VERSION:
                    continue
                try:
                    table = folder.read([path.name])
                except (OSError, pa.ArrowException, ValueError):
                    continue  # damaged: the next read quarantines it, `check` reports it
                folder.write_part(migrate_table(table), MERGED_PREFIX, replaces=[path.name])
                path.unlink(missing_ok=True)
                migrated += table.num_rows
        return migrated

    @staticmethod
    def _part_version(path: Path) -> int:
        """The oldest schema version of a part's rows, from its footer's column statistics."""
        try:
            metadata = pq.read_metadata(path)
        except FileNotFoundError:
            return SCHEMA_VERSION  # replaced meanwhile
        except (OSError, pa.ArrowException, ValueError):
            return SCHEMA_VERSION  # damaged: not for migration to judge
        names = metadata.schema.names
        if "schema_version" not in names:
            return SCHEMA_VERSION
        column = names.index("schema_version")
        oldest = SCHEMA_VERSION
        for group in range(metadata.num_row_groups):
            stats = metadata.row_group(group).column(column).statistics
            if stats is None or not stats.has_min_max:
                return 1  # no statistics: read the rows to be sure
            oldest = min(oldest, int(stats.min))
        return oldest

    def remove_rows(self, predicate: pc.Expression) -> int:
        """Delete the rows matching `predicate` (e.g. `pc.field("face_id") == "ann"`), rewriting
        only the parts that hold any; returns how many rows went."""
        return self.parts_folder.remove_rows(predicate)

    def check(self, *, repair: bool = False) -> CheckReport:
        """Verify every part in full against the schema (`workbench catalogue check`); with
        `repair`, quarantine damaged and foreign parts and stray files, clear leftovers."""
        return self.parts_folder.check(repair=repair)

    def quarantined(self) -> list[Path]:
        """Parts moved out of the catalogue because they were damaged or foreign."""
        return self.parts_folder.quarantined()

    # --- Reading ---------------------------------------------------------------------------

    def table(self, columns: Sequence[str] | None = None, filter: pc.Expression | None = None):
        """A consistent Arrow table of the rows (all columns unless `columns`)."""
        return self.parts_folder.table(columns, filter)

    def runs(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Every row as a pandas DataFrame (nullable integer columns stay integers)."""
        return self.table(columns).to_pandas(types_mapper=_PANDAS_TYPES.get)

    def stored_keys(self, *, parts: Iterable[str] | None = None) -> set[str]:
        """Request keys with stored images: a sweep does not request these again.

        `parts` (file names, as `part_names()` lists them) limits the look to those parts: a
        running sweep reads only what other processes added since it last looked."""
        only = None if parts is None else set(parts)

        def read(names: list[str]) -> pa.Table:
            if only is not None:
                names = [name for name in names if name in only]
            return self.parts_folder.read(
                names, columns=["request_key"], filter=pc.field("status") == STATUS_OK
            )

        table = self.parts_folder.consistently(read)
        return set(pc.unique(table["request_key"]).to_pylist())

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run DuckDB SQL over the view `runs` (every row), e.g.
        `query("SELECT prompt, count(*) FROM runs GROUP BY prompt")`."""

        def run(names: list[str]) -> pd.DataFrame:
            # A cursor per query: its temp view `runs` is its own, so threads never clash.
            with self._database().cursor() as con:
                self.parts_folder.create_view(con, "runs", names)
                return con.execute(sql, params or []).df()

        return self.parts_folder.consistently(run)

    def stored_among(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` have stored images: the dedupe check for a plan, done in DuckDB so it
        costs little more than reading the key column, whatever the catalogue's size."""
        wanted = pa.table({"request_key": pa.array(list(dict.fromkeys(keys)), pa.string())})
        if not wanted.num_rows:
            return set()

        def run(names: list[str]) -> set[str]:
            if not names:
                return set()
            with self._database().cursor() as con:
                self.parts_folder.create_view(con, "runs", names)
                con.register("wanted", wanted)
                found = con.execute(
                    "SELECT DISTINCT runs.request_key FROM runs "
                    "SEMI JOIN wanted ON runs.request_key = wanted.request_key "
                    "WHERE runs.status = ?",
                    [STATUS_OK],
                ).fetchall()
            return {key for (key,) in found}

        return self.parts_folder.consistently(run)

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
        if count < 0:
            raise InputError(f"count must be 0 (every row) or more, not {count}")
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
        return self.parts_folder.parts()

    def part_names(self) -> set[str]:
        """Names of every part file in the folder now: a cheap listing (no footer read) whose
        changes mean new rows."""
        try:
            return {name for name in os.listdir(self.runs_dir) if is_part_name(name)}
        except FileNotFoundError:
            return set()

    # --- Internals -------------------------------------------------------------------------

    def _database(self) -> duckdb.DuckDBPyConnection:
        # Opening DuckDB costs ~20 ms; one in-memory database per catalogue, cursors per query.
        with self._duckdb_lock:
            if self._duckdb is None:
                self._duckdb = duckdb.connect()
            return self._duckdb


def migrate_table(table: pa.Table) -> pa.Table:
    """Rows of any older schema version, brought up to `SCHEMA_VERSION` (numbered steps)."""
    for version, step in sorted(_MIGRATIONS.items()):
        if table.num_rows and pc.min(table["schema_version"]).as_py() <= version:
            table = step(table)
    return table


def _migrate_1_to_2(table: pa.Table) -> pa.Table:
    """Version 2 keys a request to the backend that answered it (see `sweep.request_key`)."""
    wire = {
        "prompt": "prompt",
        "seed": "seed",
        "sampleNumber": "sample_number",
        "identityScale": "identity_scale",
        "outputImageWidth": "width",
        "outputImageHeight": "height",
    }
    old = table.select([*wire.values(), "face_hash", "backend", "schema_version"]).to_pylist()
    keys = table["request_key"].to_pylist()
    made: dict[tuple, str] = {}
    for index, row in enumerate(old):
        if row["schema_version"] >= 2:
            continue
        request = tuple(row.values())
        if request not in made:
            fields = {name: row[column] for name, column in wire.items()}
            made[request] = wire_request_key(fields, row["face_hash"], row["backend"])
        keys[index] = made[request]
    versions = pc.max_element_wise(table["schema_version"], pa.scalar(2, pa.int16()))
    table = table.set_column(
        table.schema.get_field_index("request_key"), SCHEMA.field("request_key"), pa.array(keys)
    )
    return table.set_column(
        table.schema.get_field_index("schema_version"), SCHEMA.field("schema_version"), versions
    )


_MIGRATIONS = {1: _migrate_1_to_2}

_PANDAS_TYPES = {
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}
