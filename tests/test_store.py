"""The content-addressed image store: bytes kept exactly, thumbnails on demand, deletion."""

from __future__ import annotations

import hashlib

import pytest
from PIL import Image

from workbench.errors import InputError
from workbench.store import ImageStore


def test_put_keeps_the_bytes_exactly_under_their_sha256(layout, hopper_jpeg):
    store = ImageStore(layout)
    stored = store.put(hopper_jpeg)
    digest = hashlib.sha256(hopper_jpeg).hexdigest()
    assert stored.hash == digest
    assert stored.path == layout.images / digest[:2] / f"{digest}.jpg"
    assert stored.path.read_bytes() == hopper_jpeg  # no re-encode
    assert stored.relative_path == f"images/{digest[:2]}/{digest}.jpg"
    assert (layout.root / stored.relative_path).exists()
    assert store.hashes() == [digest]


def test_put_is_idempotent_and_leaves_no_temp_files(layout, hopper_jpeg, astronaut_jpeg):
    store = ImageStore(layout)
    for _ in range(3):
        store.put(hopper_jpeg)
    store.put(astronaut_jpeg)
    files = sorted(p.name for p in layout.images.rglob("*") if p.is_file())
    assert len(files) == 2
    assert all(name.endswith(".jpg") for name in files)


def test_thumbnail_is_small_made_once_and_reused(layout, hopper_jpeg):
    store = ImageStore(layout)
    digest = store.put(hopper_jpeg).hash
    thumb = store.thumbnail(digest, size=128)
    assert thumb.is_relative_to(layout.thumbnails)
    with Image.open(thumb) as image:
        assert max(image.size) <= 128
    made = thumb.stat().st_mtime_ns
    assert store.thumbnail(digest, size=128) == thumb
    assert thumb.stat().st_mtime_ns == made


def test_delete_removes_the_image_and_every_thumbnail(layout, hopper_jpeg, astronaut_jpeg):
    store = ImageStore(layout)
    digest = store.put(hopper_jpeg).hash
    other = store.put(astronaut_jpeg).hash
    store.thumbnail(digest, size=64)
    store.thumbnail(digest, size=256)
    assert store.delete(digest) is True
    assert not store.has(digest)
    assert not any(digest in p.name for p in layout.root.rglob("*"))
    assert store.has(other)
    assert store.delete(digest) is False


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABC", "g" * 64])
def test_hashes_that_are_not_sha256_are_refused(layout, bad):
    with pytest.raises(InputError, match="SHA-256"):
        ImageStore(layout).path(bad)
    with pytest.raises(InputError):
        ImageStore(layout).delete(bad)


def test_reading_a_missing_image_says_which(layout):
    with pytest.raises(InputError, match="0" * 64):
        ImageStore(layout).read("0" * 64)


def test_thumbnails_decode_at_reduced_scale_to_the_exact_size(layout):
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (768, 1024), (10, 120, 200)).save(buffer, format="JPEG")
    store = ImageStore(layout)
    digest = store.put(buffer.getvalue()).hash
    image = store.thumbnail_image(digest, 256)
    assert image.size == (192, 256) and image.mode == "RGB"
    assert store.thumbnail_image(digest, 256) is image, "served from memory while the file is there"
    with Image.open(store.thumbnail(digest, 256)) as on_disk:
        assert on_disk.size == (192, 256)


def test_a_deleted_image_is_never_served_from_the_thumbnail_memory(layout, hopper_jpeg):
    store = ImageStore(layout)
    digest = store.put(hopper_jpeg).hash
    store.thumbnail_image(digest, 128)
    store.delete(digest)
    with pytest.raises(InputError, match=digest):
        store.thumbnail_image(digest, 128)
