"""A folder of immutable Parquet parts that several processes append to, read and rewrite at
once, without a server: the catalogue's `runs/`, and any dataset beside it (scores, ratings)
built as `PartFolder(folder, schema, quarantine=...)`.

Appends write a part under a temp name and rename it, so readers never see half a file and
writers never clash (unique names). Rewrites (compaction, removal) take a file lock among
themselves, write the new part first — its footer lists the parts it `replaces` — then delete
those parts. Readers list the folder, drop replaced parts, read, and start over if a part
vanished or a new rewrite covered what they read.

Damage is contained: a part that cannot be read (truncated, corrupt) or does not fit the schema
(a foreign file under a part's name) is moved to the quarantine folder with a one-line warning
naming it, and the read goes on without it. Files that are not named like parts (temp files,
notes, folders) are ignored. `check()` verifies every part in full and, with `repair`, clears
what it finds.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from workbench.errors import CatalogueError
from workbench.layout import (
    PRIVATE_FILE_MODE,
    TMP_SUFFIX,
    file_lock,
    make_private_dir,
    remove_stale_temp_files,
)

PART_PREFIX = "part-"
MERGED_PREFIX = "merged-"
PART_SUFFIX = ".parquet"
REPLACES_KEY = b"workbench.replaces"
OPTIMISTIC_READS = 5
# A temp file this old belongs to a writer that died; rewrites and repairs clear it.
STALE_TMP_SECONDS = 3600.0
# Parts smaller than this are merged by compaction; bigger ones are left as they are.
SMALL_PART_ROWS = 250_000
ROW_GROUP_ROWS = 64 * 1024

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Parts are immutable and their names unique, so a part that passed the footer check once (and
# the parts it replaces) is remembered for the life of the process: each new part costs one
# footer read per process, not one per query.
_INSPECTED: dict[str, tuple[str, ...]] = {}
# DuckDB errors that say the SQL is wrong, not the files: no point in checking the parts.
_SQL_ERRORS = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)

ProblemKind = Literal["damaged", "foreign", "newer", "stray", "leftover"]


@dataclass(frozen=True)
class PartProblem:
    """One thing `check` found: a `damaged` or `foreign` part (quarantined by a repair), rows of
    a `newer` schema version (reported only), a `stray` file (ignored by readers, moved to
    quarantine by a repair) or a `leftover` of a crashed writer (deleted by a repair)."""

    name: str
    kind: ProblemKind
    detail: str

    def line(self) -> str:
        return f"{self.kind:<8} {self.name}: {self.detail}"


@dataclass(frozen=True)
class CheckReport:
    """What `PartFolder.check` verified and found."""

    folder: Path
    parts: int
    rows: int
    problems: list[PartProblem] = field(default_factory=list)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Snapshot:
    """The live parts at one moment (replaced ones dropped), and every name that was listed."""

    live: list[str]
    listed: frozenset[str]


class Retry(Exception):
    """The folder changed under a reader, or a damaged part was moved away; read again."""


class _Unfit(Exception):
    """A part is damaged or foreign; `kind` says which."""

    def __init__(self, kind: ProblemKind, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = " ".join(detail.split())  # Arrow's messages run over several lines


class PartFolder:
    """One dataset: immutable Parquet parts of one schema under `folder`.

    `required` are the columns every part must have (default: the schema's non-nullable ones);
    columns added later must be nullable, and read as null from older parts. `version_column`
    names a column holding the schema version rows were written with, so `check` can report
    rows of a newer version than `version`.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        schema: pa.Schema,
        *,
        quarantine: str | os.PathLike[str],
        required: Sequence[str] | None = None,
        lock: str | os.PathLike[str] | None = None,
        version_column: str | None = None,
        version: int | None = None,
    ):
        self.folder = Path(folder)
        self.schema = schema
        self.quarantine_dir = Path(quarantine) / self.folder.name
        self.required = (
            list(required) if required is not None else [f.name for f in schema if not f.nullable]
        )
        self.lock_path = (
            Path(lock) if lock is not None else self.folder.parent / f".{self.folder.name}.lock"
        )
        self.version_column = version_column
        self.version = version

    def __repr__(self) -> str:
        return f"PartFolder({str(self.folder)!r})"

    # --- Writing ---------------------------------------------------------------------------

    def append(self, table: pa.Table) -> Path | None:
        """Add a table of the schema as one new immutable part; O(its rows), whatever the size."""
        if table.num_rows == 0:
            return None
        return self.write_part(table.select(self.schema.names).cast(self.schema), PART_PREFIX)

    def write_part(self, table: pa.Table, prefix: str, replaces: Sequence[str] = ()) -> Path:
        make_private_dir(self.folder)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{prefix}{stamp}-{os.getpid()}-{secrets.token_hex(4)}{PART_SUFFIX}"
        if replaces:
            metadata = dict(table.schema.metadata or {})
            metadata[REPLACES_KEY] = json.dumps(list(replaces)).encode()
            table = table.replace_schema_metadata(metadata)
        final = self.folder / name
        # A leading dot as well as the suffix: pandas' and pyarrow's own folder readers skip
        # dot-files, so `pd.read_parquet(<folder>)` never trips over a part in progress.
        tmp = final.with_name(f".{name}{TMP_SUFFIX}")
        try:
            # Row groups small enough that min/max statistics let DuckDB skip most of a big
            # part when looking up one key.
            pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
            os.chmod(tmp, PRIVATE_FILE_MODE)
            # Rename is the commit point: readers list only finished names. (No fsync: the
            # promise is surviving a killed process, not a power cut.)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def compact(
        self,
        small_part_rows: int = SMALL_PART_ROWS,
        sort_by: Sequence[tuple[str, str]] = (),
    ) -> tuple[int, int, int]:
        """Merge small parts into one, atomically; safe beside readers and appending writers.

        Returns (parts before, parts after, rows merged)."""
        with self.rewrite_lock():
            self.clear_leftovers()
            for _ in range(OPTIMISTIC_READS):
                try:
                    return self._compact_once(small_part_rows, sort_by)
                except Retry:  # a damaged part went to quarantine: plan again without it
                    continue
        raise CatalogueError(f"{self.folder}: compaction kept meeting damaged parts; run check")

    def _compact_once(
        self, small_part_rows: int, sort_by: Sequence[tuple[str, str]]
    ) -> tuple[int, int, int]:
        live = self.snapshot().live
        small = []
        for name in live:
            rows = self._row_count(name)
            if rows is not None and rows < small_part_rows:
                small.append(name)
        if len(small) < 2:
            return len(live), len(live), 0
        table = self._read_each(small)
        if sort_by:
            table = table.sort_by(list(sort_by))
        self.write_part(table, MERGED_PREFIX, replaces=small)
        for name in small:
            (self.folder / name).unlink(missing_ok=True)
        return len(live), len(live) - len(small) + 1, table.num_rows

    def remove_rows(self, predicate: pc.Expression) -> int:
        """Delete the rows matching `predicate`, rewriting only the parts that hold any."""
        removed = 0
        with self.rewrite_lock():
            # A rewrite that crashed earlier may have left a replaced part (still holding the
            # rows being removed) on disk; readers skip it, but it must not linger.
            self.clear_leftovers()
            for name in self.snapshot().live:
                try:
                    table = self._read_each([name])
                except Retry:  # quarantined just now: the erase looks there too
                    continue
                keep = table.filter(~predicate)
                gone = table.num_rows - keep.num_rows
                if not gone:
                    continue
                if keep.num_rows:
                    self.write_part(keep, MERGED_PREFIX, replaces=[name])
                (self.folder / name).unlink(missing_ok=True)
                removed += gone
        return removed

    def rewrite_lock(self, shared: bool = False):
        """Rewriters hold it exclusively; a reader that keeps losing races holds it shared."""
        return file_lock(self.lock_path, shared=shared)

    def clear_leftovers(self) -> int:
        """Remove what crashed writers left: replaced parts still present, stale temp files."""
        snapshot = self.snapshot()
        removed = 0
        for name in snapshot.listed - set(snapshot.live):
            if (self.folder / name).exists():
                (self.folder / name).unlink(missing_ok=True)
                removed += 1
        return removed + remove_stale_temp_files(self.folder, f"*{TMP_SUFFIX}", STALE_TMP_SECONDS)

    # --- Reading ---------------------------------------------------------------------------

    def parts(self) -> list[Path]:
        """The live part files right now."""
        return [self.folder / name for name in self.snapshot().live]

    def table(self, columns: Sequence[str] | None = None, filter: pc.Expression | None = None):
        """A consistent Arrow table of the rows (all columns unless `columns`)."""
        return self.consistently(lambda names: self.read(names, columns=columns, filter=filter))

    def read(
        self,
        names: Sequence[str],
        columns: Sequence[str] | None = None,
        filter: pc.Expression | None = None,
    ) -> pa.Table:
        """The rows of the named parts, in the schema (columns newer than a part read as null).

        Use inside `consistently`, which handles parts vanishing or turning out damaged."""
        if not names:
            empty = self.schema.empty_table()
            return empty.select(list(columns)) if columns else empty
        dataset = ds.dataset([str(self.folder / n) for n in names], schema=self.schema)
        return dataset.to_table(columns=list(columns) if columns else None, filter=filter)

    def create_view(self, con: duckdb.DuckDBPyConnection, view: str, names: Sequence[str]) -> None:
        """A DuckDB temp view `view` over the named parts (for `consistently`)."""
        if not names:
            con.register(f"_empty_{view}", self.schema.empty_table())
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM _empty_{view}")
            return
        files = ", ".join(_sql_string(str(self.folder / name)) for name in names)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS "
            f"SELECT * FROM read_parquet([{files}], union_by_name = true)"
        )

    def consistently(self, read: Callable[[list[str]], _T]) -> _T:
        """Run `read` over the live parts until no rewrite interfered and no part was damaged.

        Optimistic first (no lock: appends never interfere, rewrites are rare); if rewrites
        keep racing the read, hold the rewrite lock shared, which waits out rewriters.
        """
        for attempt in range(OPTIMISTIC_READS):
            try:
                return self._read_once(read)
            except Retry:
                time.sleep(0.002 * attempt)
        with self.rewrite_lock(shared=True):
            for _ in range(OPTIMISTIC_READS):
                try:
                    return self._read_once(read)
                except Retry:
                    continue
        raise CatalogueError(f"{self.folder} kept changing while being read; try again")

    def snapshot(self) -> Snapshot:
        """The parts now, replaced ones dropped; damaged or foreign parts go to quarantine."""
        listed = self._list()
        replaced: set[str] = set()
        good: list[str] = []
        for name in listed:
            try:
                replaced.update(self._inspect(name))
            except _Unfit as unfit:
                self.quarantine(name, unfit.detail)
                continue
            good.append(name)
        return Snapshot([n for n in good if n not in replaced], frozenset(listed))

    # --- Damage ----------------------------------------------------------------------------

    def quarantine(self, name: str, reason: str) -> Path | None:
        """Move a part out of the dataset into the quarantine folder, with a one-line warning.

        Returns where it went, or None if another process moved or removed it first."""
        source = self.folder / name
        target = self.quarantine_dir / name
        try:
            make_private_dir(self.quarantine_dir)
            os.replace(source, target)
            os.chmod(target, PRIVATE_FILE_MODE)  # it may hold rows naming people, whoever wrote it
        except FileNotFoundError:
            return None
        except OSError as exc:  # a read-only folder: leave it, but still read around it
            log.warning("skipping %s (%s); cannot move it to %s: %s", source, reason, target, exc)
            return None
        _INSPECTED.pop(str(source), None)
        log.warning("moved %s to %s: %s", source, target, " ".join(reason.split()))
        return target

    def quarantined(self) -> list[Path]:
        """Files moved to quarantine from this folder."""
        if not self.quarantine_dir.exists():
            return []
        return sorted(path for path in self.quarantine_dir.iterdir() if path.is_file())

    def check(self, *, repair: bool = False) -> CheckReport:
        """Read every part in full and compare it with the schema; `repair` quarantines
        damaged and foreign parts and stray files, and deletes crashed writers' leftovers.

        Without `repair` nothing is moved or deleted."""
        problems: list[PartProblem] = []
        names = self._list()
        replaced: set[str] = set()
        good: dict[str, int] = {}
        for name in names:
            try:
                replaced.update(self._inspect(name, cached=False))
                table = self.read([name])
            except (FileNotFoundError, Retry):
                continue  # removed by a rewrite meanwhile
            except (_Unfit, *_READ_ERRORS) as exc:
                if isinstance(exc, OSError) and exc.errno is not None:
                    raise CatalogueError(f"cannot read {self.folder / name}: {exc}") from None
                unfit = exc if isinstance(exc, _Unfit) else _Unfit("damaged", str(exc))
                problems.append(PartProblem(name, unfit.kind, unfit.detail))
                if repair:
                    self.quarantine(name, unfit.detail)
                continue
            good[name] = table.num_rows
            newest = self._newest_version(table)
            if newest is not None:
                problems.append(
                    PartProblem(
                        name,
                        "newer",
                        f"rows of schema version {newest} (this workbench writes "
                        f"{self.version}); upgrade the workbench",
                    )
                )
        for name in sorted(set(good) & replaced):
            problems.append(PartProblem(name, "leftover", "replaced by a merged part"))
        for path in self._strays():
            if path.name.endswith(TMP_SUFFIX):
                if time.time() - path.stat().st_mtime > STALE_TMP_SECONDS:
                    problems.append(
                        PartProblem(path.name, "leftover", "temp file of a dead writer")
                    )
            else:
                problems.append(PartProblem(path.name, "stray", "not a part; readers ignore it"))
        if repair:
            with self.rewrite_lock():
                self.clear_leftovers()
            for path in self._strays():
                if not path.name.endswith(TMP_SUFFIX) and path.is_file():
                    self.quarantine(path.name, "not a part (stray file)")
        rows = sum(rows for name, rows in good.items() if name not in replaced)
        return CheckReport(
            folder=self.folder,
            parts=len(set(good) - replaced),
            rows=rows,
            problems=problems,
            repaired=repair,
        )

    # --- Internals -------------------------------------------------------------------------

    def _list(self) -> list[str]:
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        # Temp files end in .tmp, so they never match: a half-written part is never read.
        return sorted(
            entry.name
            for entry in entries
            if is_part_name(entry.name) and entry.is_file(follow_symlinks=False)
        )

    def _strays(self) -> list[Path]:
        """Entries of the folder readers ignore (temp files included)."""
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        return sorted(
            Path(entry.path)
            for entry in entries
            if not (is_part_name(entry.name) and entry.is_file(follow_symlinks=False))
        )

    def _inspect(self, name: str, *, cached: bool = True) -> tuple[str, ...]:
        """The footer check: raises _Unfit for a damaged or foreign part, Retry if it vanished;
        returns the parts it replaces."""
        path = str(self.folder / name)
        if cached and path in _INSPECTED:
            return _INSPECTED[path]
        try:
            schema = pq.read_schema(path)
        except FileNotFoundError:
            raise Retry from None
        except OSError as exc:
            if exc.errno is not None:  # the disk, not the file: never quarantine for that
                raise CatalogueError(f"cannot read {path}: {exc}") from None
            raise _Unfit("damaged", f"unreadable ({exc})") from None
        except (pa.ArrowException, ValueError) as exc:
            raise _Unfit("damaged", f"unreadable ({exc})") from None
        missing = [column for column in self.required if column not in schema.names]
        if missing:
            raise _Unfit("foreign", f"not a part of this dataset: no column {', '.join(missing)}")
        for column in self.schema:
            if column.name in schema.names and not _castable(
                schema.field(column.name).type, column.type
            ):
                raise _Unfit(
                    "foreign",
                    f"column {column.name} is {schema.field(column.name).type}, not {column.type}",
                )
        replaces: tuple[str, ...] = ()
        if name.startswith(MERGED_PREFIX):
            try:
                raw = json.loads((schema.metadata or {}).get(REPLACES_KEY, b"[]"))
                replaces = tuple(str(n) for n in raw)
            except (ValueError, TypeError) as exc:
                raise _Unfit(
                    "damaged", f"its list of replaced parts is unreadable ({exc})"
                ) from None
        _INSPECTED[path] = replaces
        return replaces

    def _read_once(self, read: Callable[[list[str]], _T]) -> _T:
        snapshot = self.snapshot()
        try:
            result = read(snapshot.live)
        except _SQL_ERRORS:
            raise
        except (*_READ_ERRORS, duckdb.Error) as exc:
            if self._vanished(snapshot.live):
                raise Retry from None
            if isinstance(exc, OSError) and exc.errno is not None:
                raise CatalogueError(f"reading {self.folder} failed: {exc}") from None
            if self._salvage(snapshot.live):
                raise Retry from None
            raise CatalogueError(f"reading {self.folder} failed: {exc}") from None
        self._check_still_covered(snapshot)
        return result

    def _salvage(self, names: Iterable[str]) -> bool:
        """After a failed read: read each part alone and quarantine those that fail. True if
        any went (the read is then worth retrying)."""
        moved = False
        for name in names:
            try:
                self.read([name])
            except FileNotFoundError:
                continue
            except _READ_ERRORS as exc:
                if isinstance(exc, OSError) and exc.errno is not None:
                    continue
                moved = self.quarantine(name, f"unreadable ({exc})") is not None or moved
        return moved

    def _read_each(self, names: Sequence[str]) -> pa.Table:
        """Read parts a rewriter holds the lock for; a damaged one is quarantined (Retry)."""
        try:
            return self.read(names)
        except _READ_ERRORS as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise CatalogueError(f"reading {self.folder} failed: {exc}") from None
            if self._salvage(names):
                raise Retry from None
            raise CatalogueError(f"reading {self.folder} failed: {exc}") from None

    def _row_count(self, name: str) -> int | None:
        """Rows in a part per its footer; None if it is gone or damaged (then quarantined)."""
        try:
            return pq.read_metadata(self.folder / name).num_rows
        except FileNotFoundError:
            return None
        except _READ_ERRORS as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise CatalogueError(f"cannot read {self.folder / name}: {exc}") from None
            self.quarantine(name, f"unreadable ({exc})")
            return None

    def _check_still_covered(self, snapshot: Snapshot) -> None:
        """After a read: a rewrite that appeared meanwhile must not cover parts we did not read
        (a listing taken mid-rename can miss both a new merged part and the parts it replaced)."""
        read = set(snapshot.live)
        for name in self._list():
            if name.startswith(MERGED_PREFIX) and name not in snapshot.listed:
                try:
                    replaced = set(self._inspect(name))
                except _Unfit:
                    continue  # the next snapshot quarantines it
                if not replaced <= read:
                    raise Retry

    def _vanished(self, names: Sequence[str]) -> bool:
        return any(not (self.folder / name).exists() for name in names)

    def _newest_version(self, table: pa.Table) -> int | None:
        if self.version_column is None or self.version is None or not table.num_rows:
            return None
        newest = pc.max(table[self.version_column]).as_py()
        return newest if newest is not None and newest > self.version else None


# Errors a read of damaged Parquet raises (pyarrow's own are OSError or ArrowException).
_READ_ERRORS = (OSError, pa.ArrowException, ValueError)


def is_part_name(name: str) -> bool:
    """Whether a file name is a part's (readers skip every other file)."""
    return name.endswith(PART_SUFFIX) and name.startswith((PART_PREFIX, MERGED_PREFIX))


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    if source == target or pa.types.is_null(source):
        return True
    try:
        pa.array([], type=source).cast(target)
    except (pa.ArrowException, ValueError):
        return False
    # Every number casts to a string and a string "casts" to a number when empty; a real part
    # never changes kind, so a change of kind means a foreign file.
    return _kind(source) == _kind(target)


def _kind(type_: pa.DataType) -> str:
    for name, test in (
        ("number", lambda t: pa.types.is_integer(t) or pa.types.is_floating(t)),
        ("string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
        ("timestamp", pa.types.is_timestamp),
        ("bool", pa.types.is_boolean),
    ):
        if test(type_):
            return name
    return str(type_)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
