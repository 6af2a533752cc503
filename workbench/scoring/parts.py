"""An append-only Parquet dataset in one folder: immutable part files, atomic appends, rare
rewrites (compaction, erasure) that readers never see half-done. The scores and ratings tables
live in such folders beside the catalogue's `runs/`.

It follows the catalogue's protocol (see workbench/catalogue.py): a part is written under a
dot-prefixed `.tmp` name and renamed into place; a rewrite takes a file lock, writes its new
part first with the names it `replaces` in the footer, then deletes those; readers drop
replaced parts and read again if a part vanished under them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from workbench.errors import CatalogueError
from workbench.layout import TMP_SUFFIX, remove_stale_temp_files

PART_PREFIX = "part-"
MERGED_PREFIX = "merged-"
PART_SUFFIX = ".parquet"
REPLACES_KEY = b"workbench.replaces"
LOCK_NAME = ".rewrite.lock"
READ_ATTEMPTS = 8
STALE_TMP_SECONDS = 3600.0


class _Retry(Exception):
    """A part vanished or a rewrite covered the parts just read; read again."""


class PartDataset:
    """Parquet parts of one schema under `folder`; `pd.read_parquet(folder)` reads them too."""

    def __init__(self, folder: str | os.PathLike[str], schema: pa.Schema):
        self.folder = Path(folder)
        self.schema = schema

    def __repr__(self) -> str:
        return f"PartDataset({str(self.folder)!r})"

    # --- writing ---

    def append(self, table: pa.Table) -> Path | None:
        """Add rows as one new immutable part (cost independent of the dataset's size)."""
        if table.num_rows == 0:
            return None
        return self._write_part(table.select(self.schema.names).cast(self.schema), PART_PREFIX)

    def remove_rows(self, predicate: pc.Expression) -> int:
        """Delete the rows matching `predicate`, rewriting only the parts holding any."""
        removed = 0
        with self._lock():
            self._clear_leftovers()
            for name in self._live():
                table = self._read([name])
                keep = table.filter(~predicate)
                gone = table.num_rows - keep.num_rows
                if not gone:
                    continue
                if keep.num_rows:
                    self._write_part(keep, MERGED_PREFIX, replaces=[name])
                (self.folder / name).unlink(missing_ok=True)
                removed += gone
        return removed

    def compact(self, min_parts: int = 2) -> int:
        """Merge every part into one when there are at least `min_parts`; returns parts merged.

        Appends keep landing as new parts meanwhile; only the parts listed here are replaced.
        """
        with self._lock():
            self._clear_leftovers()
            live = self._live()
            if len(live) < max(2, min_parts):
                return 0
            self._write_part(self._read(live), MERGED_PREFIX, replaces=live)
            for name in live:
                (self.folder / name).unlink(missing_ok=True)
            return len(live)

    # --- reading ---

    def table(
        self, columns: Sequence[str] | None = None, filter: pc.Expression | None = None
    ) -> pa.Table:
        """A consistent snapshot of the rows (all columns unless `columns`)."""
        for attempt in range(READ_ATTEMPTS):
            try:
                listed = self._list()
                live = self._live(listed)
                result = self._read(live, columns, filter)
                self._check_covered(set(live), set(listed))
                return result
            except _Retry:
                time.sleep(0.002 * attempt)
        with self._lock(shared=True):  # rewrites keep racing: wait them out
            live = self._live()
            return self._read(live, columns, filter)

    def parts(self) -> list[Path]:
        return [self.folder / name for name in self._live()]

    # --- internals ---

    def _write_part(self, table: pa.Table, prefix: str, replaces: Sequence[str] = ()) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{prefix}{stamp}-{os.getpid()}-{secrets.token_hex(4)}{PART_SUFFIX}"
        if replaces:
            metadata = dict(table.schema.metadata or {})
            metadata[REPLACES_KEY] = json.dumps(list(replaces)).encode()
            table = table.replace_schema_metadata(metadata)
        final = self.folder / name
        tmp = final.with_name(f".{name}{TMP_SUFFIX}")  # dot-files: pandas' reader skips them
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, final)  # the commit point
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def _list(self) -> list[str]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        return sorted(
            n
            for n in names
            if n.endswith(PART_SUFFIX) and n.startswith((PART_PREFIX, MERGED_PREFIX))
        )

    def _replaces(self, name: str) -> list[str]:
        try:
            metadata = pq.read_schema(self.folder / name).metadata or {}
        except FileNotFoundError:
            raise _Retry from None
        return json.loads(metadata.get(REPLACES_KEY, b"[]"))

    def _live(self, listed: list[str] | None = None) -> list[str]:
        listed = self._list() if listed is None else listed
        replaced: set[str] = set()
        for name in listed:
            if name.startswith(MERGED_PREFIX):
                replaced.update(self._replaces(name))
        return [name for name in listed if name not in replaced]

    def _check_covered(self, read: set[str], listed: set[str]) -> None:
        """A rewrite that appeared during the read must only replace parts we read."""
        for name in self._list():
            new_rewrite = name.startswith(MERGED_PREFIX) and name not in listed
            if new_rewrite and not set(self._replaces(name)) <= read:
                raise _Retry

    def _read(
        self,
        names: Sequence[str],
        columns: Sequence[str] | None = None,
        filter: pc.Expression | None = None,
    ) -> pa.Table:
        if not names:
            empty = self.schema.empty_table()
            return empty.select(list(columns)) if columns else empty
        try:
            dataset = ds.dataset(
                [str(self.folder / n) for n in names], schema=self.schema, format="parquet"
            )
            return dataset.to_table(columns=list(columns) if columns else None, filter=filter)
        except (FileNotFoundError, OSError, pa.ArrowInvalid) as exc:
            if any(not (self.folder / n).exists() for n in names):
                raise _Retry from None
            raise CatalogueError(f"reading {self.folder} failed: {exc}") from None

    @contextlib.contextmanager
    def _lock(self, shared: bool = False) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / LOCK_NAME, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _clear_leftovers(self) -> None:
        listed = self._list()
        for name in set(listed) - set(self._live(listed)):
            (self.folder / name).unlink(missing_ok=True)
        remove_stale_temp_files(self.folder, f"*{TMP_SUFFIX}", STALE_TMP_SECONDS)
