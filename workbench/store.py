"""The image store: every generated JPEG exactly as the API returned it, named by its SHA-256,
with thumbnails cached on demand beside it (on disk, and decoded in memory for grids).

Files are written to a temporary name and renamed into place, so a crash never leaves half an
image under a real name. Images are sharded by the first two hex digits of their hash, so no
folder grows past a few thousand files.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from workbench.errors import InputError
from workbench.layout import (
    TMP_SUFFIX,
    DataLayout,
    make_private_dir,
    remove_stale_temp_files,
    write_atomically,
)

THUMBNAIL_SIZE = 256
THUMBNAIL_CACHE_BYTES = 320 * 2**20


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
        self._thumb_shards: set[str] = set()

    def put(self, data: bytes) -> StoredImage:
        """Store the bytes untouched (no re-encode) and return where they are. Idempotent."""
        digest = hashlib.sha256(data).hexdigest()
        shard = digest[:2]
        path = self.root / shard / f"{digest}.jpg"
        try:
            # Already there (the same request again): its age restarts now, so a clean-up of
            # old unlogged images never takes it for a killed run's debris.
            os.utime(path)
        except FileNotFoundError:
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
        path = self._thumbnail_path(image_hash, size)
        if not path.exists():
            self._make_thumbnail(image_hash, size, path)
        return path

    def thumbnail_image(self, image_hash: str, size: int = THUMBNAIL_SIZE) -> Image.Image:
        """The thumbnail decoded (RGB), for grids: kept in memory while its file exists on disk.

        Checking the file on every hit costs a stat, and means an erased image's pixels are
        never served from memory after the erase removed its thumbnails. Treat it as read-only.
        """
        path = self._thumbnail_path(image_hash, size)
        key = (str(path), size)
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            _DECODED.drop(key)
            image = self._make_thumbnail(image_hash, size, path)
            _DECODED.put(key, path.stat().st_mtime_ns, image)
            return image
        cached = _DECODED.get(key, stamp)
        if cached is not None:
            return cached
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        _DECODED.put(key, stamp, image)
        return image

    def _thumbnail_path(self, image_hash: str, size: int) -> Path:
        _check_hash(image_hash)
        return self.thumbnails / image_hash[:2] / f"{image_hash}-{size}.jpg"

    def _make_thumbnail(self, image_hash: str, size: int, path: Path) -> Image.Image:
        with Image.open(io.BytesIO(self.read(image_hash))) as image:
            target = fit_within(image.size, size)
            # libjpeg decodes at 1/2, 1/4 or 1/8 scale directly: asking for the exact target
            # lets a 768x1024 image decode straight at 192x256 for a 256 px thumbnail.
            image.draft("RGB", target)
            image = image.convert("RGB")
            if image.size != target:
                image = image.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        shard = path.parent.name
        try:
            _write_atomic(path, buffer.getvalue(), mkdir=shard not in self._thumb_shards)
        except FileNotFoundError:  # the shard folder was removed meanwhile (an erase)
            _write_atomic(path, buffer.getvalue())
        self._thumb_shards.add(shard)
        return image

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


def fit_within(size: tuple[int, int], box: int) -> tuple[int, int]:
    """(width, height) scaled to at most `box` on the longer side, aspect kept, never enlarged."""
    width, height = size
    scale = min(1.0, box / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


class _DecodedThumbnails:
    """Decoded thumbnails by (path, size), bounded in bytes, valid while the file's mtime holds."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int], tuple[int, Image.Image]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int], stamp: int) -> Image.Image | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] != stamp:
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: tuple[str, int], stamp: int, image: Image.Image) -> None:
        with self._lock:
            self._remove(key)
            self._items[key] = (stamp, image)
            self._bytes += _weight(image)
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= _weight(dropped)

    def drop(self, key: tuple[str, int]) -> None:
        with self._lock:
            self._remove(key)

    def _remove(self, key: tuple[str, int]) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= _weight(old[1])


def _weight(image: Image.Image) -> int:
    return image.width * image.height * 4


# About 1,700 thumbnails of 192x256: a few big grids, warm.
_DECODED = _DecodedThumbnails(THUMBNAIL_CACHE_BYTES)


def _check_hash(image_hash: str) -> None:
    # The hash becomes a path: refuse anything that could climb out of the store.
    if len(image_hash) != 64 or any(c not in "0123456789abcdef" for c in image_hash):
        raise InputError(f"{image_hash!r} is not a SHA-256 image hash (64 lowercase hex digits)")


def _write_atomic(path: Path, data: bytes, *, mkdir: bool = True) -> None:
    if mkdir:
        make_private_dir(path.parent)
    write_atomically(path, data)
