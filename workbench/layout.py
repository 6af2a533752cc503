"""The one definition of the data folder: where faces, images, thumbnails and the catalogue live.

Everything the workbench writes goes under one root: `--data DIR`, else `$WORKBENCH_DATA`,
else `./data`. Only `faces/` of the demo panel and `sweeps/` examples are committed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import InputError

# Every temp file the workbench writes ends so; cleanups of crashed writers look for it.
TMP_SUFFIX = ".tmp"
DATA_ENV = "WORKBENCH_DATA"
DEFAULT_DATA = Path("data")
# Face photos and the portraits made from them are personal data: every folder the workbench
# creates is its owner's alone, and so is every file it writes (whatever the umask says).
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @classmethod
    def resolve(cls, data: str | os.PathLike[str] | None = None) -> DataLayout:
        """The data root from an explicit path, else `$WORKBENCH_DATA`, else `./data`."""
        chosen = data if data is not None else os.environ.get(DATA_ENV) or DEFAULT_DATA
        return cls(Path(chosen).expanduser().resolve())

    @classmethod
    def for_notebooks(cls) -> DataLayout:
        """`$WORKBENCH_DATA`, else the repository's `data/` when the workbench runs from its
        checkout, else `./data`. A notebook's working folder is `notebooks/`, where `./data`
        would leave a stray, untracked `notebooks/data/` beside the real one."""
        if os.environ.get(DATA_ENV):
            return cls.resolve()
        checkout = Path(__file__).resolve().parents[1]
        if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
            return cls.resolve(checkout / DEFAULT_DATA)
        return cls.resolve()

    @property
    def faces(self) -> Path:
        """Normalised reference faces and their manifest (the panel)."""
        return self.root / "faces"

    @property
    def images(self) -> Path:
        """Generated JPEGs, content-addressed by SHA-256."""
        return self.root / "images"

    @property
    def thumbnails(self) -> Path:
        """Thumbnails cached on demand, named after the image they shrink."""
        return self.root / "thumbnails"

    @property
    def catalogue(self) -> Path:
        """The Parquet dataset: immutable part files, one row per image or failed cell."""
        return self.root / "catalogue"

    @property
    def templates(self) -> Path:
        """The template library (one JSON file, see workbench/templates.py)."""
        return self.root / "templates.json"

    @property
    def scores(self) -> Path:
        """Parquet parts of per-image scores (identity, style descriptor), beside `runs/`."""
        return self.catalogue / "scores"

    @property
    def ratings(self) -> Path:
        """Parquet parts of human ratings and winner marks, beside `runs/`."""
        return self.catalogue / "ratings"

    @property
    def sweeps(self) -> Path:
        """Sweep specifications (TOML)."""
        return self.root / "sweeps"

    @property
    def kept(self) -> Path:
        """Images `generate` was paid for but could not write where `--out` said: the user's
        to move or delete (they are not in the catalogue, so erase cannot attribute them)."""
        return self.root / "kept"

    @property
    def quarantine(self) -> Path:
        """Damaged or foreign catalogue parts, moved out of the way (one folder per dataset)."""
        return self.catalogue / "quarantine"

    @property
    def state(self) -> Path:
        """Small coordination files shared by processes (tombstones of erased faces, ...)."""
        return self.root / "state"

    def inside(self, path: str | os.PathLike[str]) -> Path:
        """`path` (relative to the root, or absolute) resolved, if it stays under the root.

        Paths read from files (a manifest, a catalogue row) pass through here before anything
        opens or deletes them: `../../victim/keep` or a symlink out of the root is refused.
        """
        candidate = (self.root / path).resolve()
        if not candidate.is_relative_to(self.root.resolve()):
            raise InputError(f"{path!s} points outside the data folder {self.root}; refused")
        return candidate


def make_private_dir(path: Path) -> Path:
    """Create `path` and any missing parents as owner-only folders (PRIVATE_DIR_MODE)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask
    return path


def read_regular_file(path: str | os.PathLike[str], *, limit: int, what: str) -> bytes:
    """The bytes of `path` if it is a regular file of at most `limit` bytes; else InputError.

    Untrusted paths (a face photo, a sweep file) can name a device (`/dev/zero` never ends), a
    FIFO (opening one blocks until a writer comes) or a folder. The file is opened without
    blocking and checked on the open descriptor, so nothing can swap it in between.
    """
    shown = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{shown}: no such {what}") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {shown}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{shown} is a folder; give the {what} files in it")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{shown} is not a regular file (a device, pipe or socket)")
        if info.st_size > limit:
            raise InputError(
                f"{shown} is {info.st_size:,} bytes, over the {limit:,}-byte limit for a {what}"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} {shown}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew after the check
        raise InputError(f"{shown} is over the {limit:,}-byte limit for a {what}")
    return data


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold an advisory lock on `path` (created if missing) across processes.

    flock is released by the kernel when a process dies, so a crash never leaves it held.
    `shared` lets several holders in at once (readers), never beside an exclusive one.
    """
    make_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def write_atomically(target: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `data` to `target` so that no reader ever sees half of it.

    A unique temp file beside the target (the rename stays on one disk), then a rename; on any
    failure the temp file goes. The file is the owner's alone (PRIVATE_FILE_MODE, mkstemp's). `durable` also fsyncs first, for small files whose loss would
    hurt (the panel); images skip it, being re-requestable and many.
    """
    handle, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=TMP_SUFFIX
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temp_files(folder: Path, pattern: str, older_than_s: float) -> int:
    """Delete temp files matching `pattern` under `folder` that are older than `older_than_s`.

    A live write holds its temp file for milliseconds, so an old one is a crashed writer's
    leftover. Returns how many went.
    """
    if not folder.exists():
        return 0
    removed = 0
    cutoff = time.time() - older_than_s
    for path in folder.glob(pattern):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another cleaner, or the rename, got there first
            pass
    return removed
