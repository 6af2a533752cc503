"""The one definition of the data folder: where faces, images, thumbnails and the catalogue live.

Everything the workbench writes goes under one root: `--data DIR`, else `$WORKBENCH_DATA`,
else `./data`. Only `faces/` of the demo panel and `sweeps/` examples are committed.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Every temp file the workbench writes ends so; cleanups of crashed writers look for it.
TMP_SUFFIX = ".tmp"
DATA_ENV = "WORKBENCH_DATA"
DEFAULT_DATA = Path("data")


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @classmethod
    def resolve(cls, data: str | os.PathLike[str] | None = None) -> DataLayout:
        """The data root from an explicit path, else `$WORKBENCH_DATA`, else `./data`."""
        chosen = data if data is not None else os.environ.get(DATA_ENV) or DEFAULT_DATA
        return cls(Path(chosen).expanduser().resolve())

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
    def sweeps(self) -> Path:
        """Sweep specifications (TOML)."""
        return self.root / "sweeps"


def write_atomically(target: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `data` to `target` so that no reader ever sees half of it.

    A unique temp file beside the target (the rename stays on one disk), then a rename; on any
    failure the temp file goes. `durable` also fsyncs first, for small files whose loss would
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
