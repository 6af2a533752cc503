"""Erase wins over a running sweep: erase leaves a tombstone for each photo it erases, and every
sweep checks the tombstones before it sends a cell and before it stores a result, dropping the
cells of a face erased after the sweep was planned.

A tombstone is an empty file `<data>/state/tombstones/<mark>-<erased at, ns>`, where the mark
is a SHA-256 of the face's photo hash (never the hash or the id themselves: after an erase no
file may hold them). Cells carry the photo hash they were planned with, so the mark is enough
whatever the face was called. A tombstone only binds sweeps planned before it, so the same
photo added again later is swept normally.

Checking and storing must not interleave with an erase: a sweep holds `Tombstones.storing()`
(a shared file lock) from its check until the result is in its journal, and erase holds the
same lock exclusively while it lays tombstones and while it clears unlogged images. So a result
is either journalled before the erase looks (and erased with the rest) or dropped.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

from workbench.layout import PRIVATE_FILE_MODE, DataLayout, file_lock, make_private_dir

LOCK_NAME = ".storing.lock"
_DOMAIN = b"headshot-workbench tombstone\0"


def tombstone_mark(face_hash: str) -> str:
    """What a tombstone records of a face: a one-way mark of its photo hash."""
    return hashlib.sha256(_DOMAIN + face_hash.encode("ascii", "replace")).hexdigest()


class Tombstones:
    """The tombstones of one data folder."""

    def __init__(self, layout: DataLayout):
        self.folder = layout.state / "tombstones"

    def storing(self, *, exclusive: bool = False):
        """Held (shared) by a sweep from its tombstone check until its result is journalled;
        held exclusively by erase. Cheap: one flock on a small file."""
        return file_lock(self.folder / LOCK_NAME, shared=not exclusive)

    def lay(self, face_hashes: Iterable[str]) -> int:
        """Lay a tombstone for each photo hash, now. The caller holds `storing(exclusive=True)`."""
        make_private_dir(self.folder)
        now = time.time_ns()
        laid = 0
        for face_hash in sorted(set(face_hashes)):
            path = self.folder / f"{tombstone_mark(face_hash)}-{now}"
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
            laid += 1
        return laid

    def erased_since(self, since_ns: int) -> set[str]:
        """Marks of photos erased after `since_ns` (time.time_ns() when a sweep was planned)."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return set()
        marks = set()
        for name in names:
            mark, _, stamp = name.partition("-")
            if stamp.isdigit() and int(stamp) >= since_ns:
                marks.add(mark)
        return marks

    def paths(self) -> list[Path]:
        if not self.folder.exists():
            return []
        return sorted(p for p in self.folder.iterdir() if not p.name.startswith("."))


class ErasedFaces:
    """A running sweep's view of the tombstones: which of its faces were erased since it was
    planned. `erased(face_hash)` lists the folder (a few microseconds), so it is exact at the
    moment it is called; call it under `Tombstones.storing()` before storing."""

    def __init__(self, layout: DataLayout, *, since_ns: int | None = None):
        self.tombstones = Tombstones(layout)
        self.since_ns = time.time_ns() if since_ns is None else since_ns
        self._marks: dict[str, str] = {}

    def erased(self, face_hash: str) -> bool:
        mark = self._marks.get(face_hash)
        if mark is None:
            mark = self._marks[face_hash] = tombstone_mark(face_hash)
        return mark in self.tombstones.erased_since(self.since_ns)

    def storing(self):
        return self.tombstones.storing()
