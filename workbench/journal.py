"""Every result a sweep receives is written down before the sweep moves on: an append-only
journal per running sweep, `<data>/state/journal/<owner id>.jsonl`, one line per request (all
its catalogue rows). The running sweep moves its journal into a catalogue part about once a
second; a sweep killed before that (kill -9, a power button) leaves the journal behind, and the
next start folds it into the catalogue. So no result that was paid for is bought twice.

A line is written with one `write` to a file opened for appending, so a killed writer leaves at
most one torn last line, which the reader skips (its images are re-requested). The promise is
surviving a killed process, not a power cut: nothing is fsynced.

`pending_image_hashes` and `drop_face` are for erase: what the journals are about to log, and
removing an erased person's rows from them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pyarrow.compute as pc

from workbench.catalogue import ROW_FIELDS, STATUS_OK, Catalogue, CatalogueRow
from workbench.layout import (
    PRIVATE_FILE_MODE,
    DataLayout,
    file_lock,
    make_private_dir,
    write_atomically,
)
from workbench.leases import Owner, owner_alive, owners_dir

JOURNAL_SUFFIX = ".jsonl"


def journal_dir(layout: DataLayout) -> Path:
    return layout.state / "journal"


class Journal:
    """One running sweep's journal. Appends and moves into the catalogue are thread-safe."""

    def __init__(self, layout: DataLayout, owner: Owner):
        self.folder = make_private_dir(journal_dir(layout))
        self.path = self.folder / f"{owner.id}{JOURNAL_SUFFIX}"

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    def append(self, rows: Sequence[CatalogueRow]) -> None:
        """Write one request's rows down; they survive a kill from the moment this returns."""
        line = (json.dumps([_encode(row) for row in rows], separators=(",", ":")) + "\n").encode()
        with _lock(self.path):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def move_into(self, catalogue: Catalogue) -> list[CatalogueRow]:
        """Append everything journalled to the catalogue as one part and empty the journal;
        returns the rows moved. (Killed in between, the next fold skips rows already there.)"""
        with _lock(self.path):
            rows = read_rows(self.path)
            if rows:
                catalogue.append(rows)
            if self.path.exists():
                os.truncate(self.path, 0)
        return rows

    def close(self, catalogue: Catalogue) -> list[CatalogueRow]:
        """Move what is left into the catalogue and remove the journal."""
        with _lock(self.path):
            rows = read_rows(self.path)
            if rows:
                catalogue.append(rows)
            self.path.unlink(missing_ok=True)
        _lock_path(self.path).unlink(missing_ok=True)
        return rows


def read_rows(path: Path) -> list[CatalogueRow]:
    """The rows of a journal; a torn or foreign line is skipped."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    rows: list[CatalogueRow] = []
    for line in text.splitlines():
        try:
            rows.extend(_decode(item) for item in json.loads(line))
        except (ValueError, TypeError, KeyError):
            continue
    return rows


def fold_orphans(layout: DataLayout, catalogue: Catalogue | None = None) -> int:
    """Fold the journals of sweeps that died into the catalogue; returns the rows added.

    Idempotent: rows a journal shares with the catalogue (a kill between writing the part and
    emptying the journal) are not added twice. A row whose image file is gone is left out.
    """
    folder = journal_dir(layout)
    if not folder.exists():
        return 0
    catalogue = catalogue or Catalogue(layout.catalogue)
    added = 0
    with file_lock(folder / ".fold.lock"):
        for path in sorted(folder.glob(f"*{JOURNAL_SUFFIX}")):
            if owner_alive(owners_dir(layout), path.name[: -len(JOURNAL_SUFFIX)]):
                continue
            with _lock(path):
                rows = _not_in(catalogue, _with_images(layout, read_rows(path)))
                if rows:
                    catalogue.append(rows)
                    added += len(rows)
                path.unlink(missing_ok=True)
            _lock_path(path).unlink(missing_ok=True)
    return added


def journalled_rows(layout: DataLayout) -> list[CatalogueRow]:
    """Every row in every journal (running or dead sweeps'): about to reach the catalogue."""
    return [row for path in _journals(layout) for row in read_rows(path)]


def pending_image_hashes(layout: DataLayout) -> set[str]:
    """Image hashes that journals (of running or dead sweeps) are about to log: files in the
    image store that no catalogue row names yet, and that must not be taken for debris."""
    return {
        row.image_hash
        for row in journalled_rows(layout)
        if row.status == STATUS_OK and row.image_hash
    }


def drop_face(
    layout: DataLayout, *, face_id: str | None = None, face_hash: str | None = None
) -> int:
    """Remove every journalled row of a face (by id or photo hash) from every journal, running
    sweeps' included; returns how many rows went. For erase."""

    def erased(row: CatalogueRow) -> bool:
        return (face_id is not None and row.face_id == face_id) or (
            face_hash is not None and row.face_hash == face_hash
        )

    dropped = 0
    for path in _journals(layout):
        with _lock(path):
            rows = read_rows(path)
            keep = [row for row in rows if not erased(row)]
            if len(keep) == len(rows):
                continue
            text = b"".join(
                (json.dumps([_encode(row)], separators=(",", ":")) + "\n").encode() for row in keep
            )
            write_atomically(path, text)
            dropped += len(rows) - len(keep)
    return dropped


def _with_images(layout: DataLayout, rows: list[CatalogueRow]) -> list[CatalogueRow]:
    """Rows whose image is still on disk (an erase may have removed it meanwhile): a row never
    names a missing file; the cell is simply requested again."""
    return [
        row
        for row in rows
        if row.status != STATUS_OK or (row.image_path and (layout.root / row.image_path).is_file())
    ]


def _journals(layout: DataLayout) -> list[Path]:
    folder = journal_dir(layout)
    return sorted(folder.glob(f"*{JOURNAL_SUFFIX}")) if folder.exists() else []


def _not_in(catalogue: Catalogue, rows: list[CatalogueRow]) -> list[CatalogueRow]:
    if not rows:
        return rows
    sweeps = sorted({row.sweep_id for row in rows})
    present = catalogue.table(
        ["sweep_id", "request_key", "created_at", "sample_index"],
        filter=pc.field("sweep_id").isin(sweeps),
    ).to_pylist()
    seen = {(r["sweep_id"], r["request_key"], r["created_at"], r["sample_index"]) for r in present}
    return [
        row
        for row in rows
        if (row.sweep_id, row.request_key, row.created_at, row.sample_index) not in seen
    ]


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def _lock(path: Path):
    # A lock file beside the journal, never renamed: the journal itself may be replaced.
    return file_lock(_lock_path(path))


def _encode(row: CatalogueRow) -> dict:
    # Flat fields: no need for asdict's recursive deep copy on every received image.
    data = {name: getattr(row, name) for name in ROW_FIELDS}
    data["created_at"] = row.created_at.isoformat()
    return data


def _decode(data: dict) -> CatalogueRow:
    data = dict(data)
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    return CatalogueRow(**data)
