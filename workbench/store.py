"""The image store: every generated JPEG exactly as the API returned it, named by its SHA-256,
with thumbnails cached on demand beside it.

Files are written to a temporary name and renamed into place, so a crash never leaves half an
image under a real name. Images are sharded by the first two hex digits of their hash, so no
folder grows past a few thousand files.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from workbench.errors import InputError
from workbench.layout import TMP_SUFFIX, DataLayout, remove_stale_temp_files, write_atomically

THUMBNAIL_SIZE = 256


@dataclass(frozen=True)
class StoredImage:
    """Where one image lives: `relative_path` is relative to the data root (what the catalogue
    records, so the data folder can move)."""

    hash: str
    path: Path
    relative_path: str
    size_bytes: int


class ImageStore:
    """Content-addressed JPEGs under `<data>/images/`, thumbnails under `<data>/thumbnails/`."""

    def __init__(self, layout: DataLayout):
        self.layout = layout
        self.root = layout.images
        self.thumbnails = layout.thumbnails
        self._relative_root = self.root.relative_to(layout.root).as_posix()
        self._shards: set[str] = set()  # shard folders known to exist: no mkdir per image

    def put(self, data: bytes) -> StoredImage:
        """Store the bytes untouched (no re-encode) and return where they are. Idempotent."""
        digest = hashlib.sha256(data).hexdigest()
        shard = digest[:2]
        path = self.root / shard / f"{digest}.jpg"
        if not path.exists():
            try:
                _write_atomic(path, data, mkdir=shard not in self._shards)
            except FileNotFoundError:  # the shard folder was removed meanwhile (an erase)
                _write_atomic(path, data)
            self._shards.add(shard)
        relative = f"{self._relative_root}/{shard}/{digest}.jpg"
        return StoredImage(digest, path, relative, len(data))

    def path(self, image_hash: str) -> Path:
        _check_hash(image_hash)
        return self.root / image_hash[:2] / f"{image_hash}.jpg"

    def relative_path(self, image_hash: str) -> str:
        _check_hash(image_hash)
        return f"{self._relative_root}/{image_hash[:2]}/{image_hash}.jpg"

    def has(self, image_hash: str) -> bool:
        return self.path(image_hash).exists()

    def read(self, image_hash: str) -> bytes:
        try:
            return self.path(image_hash).read_bytes()
        except FileNotFoundError:
            raise InputError(f"image {image_hash} is not in {self.root}") from None

    def hashes(self) -> list[str]:
        """Every stored image's hash (temp files excluded)."""
        if not self.root.exists():
            return []
        return sorted(
            path.stem
            for shard in self.root.iterdir()
            if shard.is_dir()
            for path in shard.glob("*.jpg")
        )

    def age_s(self, image_hash: str) -> float:
        """Seconds since the image was written."""
        return time.time() - self.path(image_hash).stat().st_mtime

    def remove_stale_temp_files(self, older_than_s: float) -> int:
        """Delete temp files a killed writer left in the store or thumbnails; returns the count."""
        pattern = f"*/*{TMP_SUFFIX}"
        return sum(
            remove_stale_temp_files(root, pattern, older_than_s)
            for root in (self.root, self.thumbnails)
        )

    def thumbnail(self, image_hash: str, size: int = THUMBNAIL_SIZE) -> Path:
        """A JPEG at most `size` pixels on its longer side, made once and then served from disk."""
        _check_hash(image_hash)
        path = self.thumbnails / image_hash[:2] / f"{image_hash}-{size}.jpg"
        if path.exists():
            return path
        with Image.open(io.BytesIO(self.read(image_hash))) as image:
            image.draft("RGB", (size, size))  # let libjpeg decode at a reduced scale first
            image = image.convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=85)
        _write_atomic(path, buffer.getvalue())
        return path

    def delete(self, image_hash: str) -> bool:
        """Remove an image and all its cached thumbnails; True if the image was there."""
        self.delete_thumbnails(image_hash)
        try:
            self.path(image_hash).unlink()
        except FileNotFoundError:
            return False
        return True

    def delete_thumbnails(self, image_hash: str) -> int:
        """Remove every cached thumbnail of an image; returns how many there were."""
        _check_hash(image_hash)
        shard = self.thumbnails / image_hash[:2]
        removed = 0
        for thumb in shard.glob(f"{image_hash}-*.jpg") if shard.exists() else ():
            thumb.unlink(missing_ok=True)
            removed += 1
        return removed


def _check_hash(image_hash: str) -> None:
    # The hash becomes a path: refuse anything that could climb out of the store.
    if len(image_hash) != 64 or any(c not in "0123456789abcdef" for c in image_hash):
        raise InputError(f"{image_hash!r} is not a SHA-256 image hash (64 lowercase hex digits)")


def _write_atomic(path: Path, data: bytes, *, mkdir: bool = True) -> None:
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data)
