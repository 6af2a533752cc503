"""The data folder's shared file habits: atomic writes and clearing crashed writers' temp files."""

from __future__ import annotations

import os
import time

import pytest
from catalogue_fixtures import make_row

from workbench.catalogue import Catalogue
from workbench.errors import InputError
from workbench.layout import (
    DataLayout,
    read_regular_file,
    remove_stale_temp_files,
    write_atomically,
)
from workbench.panel import Panel
from workbench.store import ImageStore


def test_the_data_root_comes_from_the_option_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "env"))
    assert DataLayout.resolve().root == tmp_path / "env"
    assert DataLayout.resolve(tmp_path / "given").catalogue == tmp_path / "given" / "catalogue"


def test_write_atomically_replaces_whole_files_and_leaves_no_temp(tmp_path):
    target = tmp_path / "manifest.csv"
    write_atomically(target, b"old")
    write_atomically(target, b"new", durable=True)
    assert target.read_bytes() == b"new"
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.csv"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp(tmp_path):
    target = tmp_path / "manifest.csv"
    write_atomically(target, b"old")
    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.csv"]


def test_only_old_temp_files_are_removed(tmp_path):
    old, fresh, kept = tmp_path / ".a.jpg.x.tmp", tmp_path / ".b.jpg.y.tmp", tmp_path / "c.jpg"
    for path in (old, fresh, kept):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(kept, (an_hour_ago, an_hour_ago))
    assert remove_stale_temp_files(tmp_path, "*.tmp", older_than_s=60) == 1
    assert not old.exists() and fresh.exists() and kept.exists()
    assert remove_stale_temp_files(tmp_path / "missing", "*.tmp", older_than_s=60) == 0


def test_paths_read_from_files_must_stay_inside_the_root(tmp_path):
    layout = DataLayout(tmp_path / "data")
    assert layout.inside("faces/ann.jpg") == (tmp_path / "data" / "faces" / "ann.jpg").resolve()
    with pytest.raises(InputError, match="outside the data folder"):
        layout.inside("../../victim/keep")
    with pytest.raises(InputError, match="outside the data folder"):
        layout.inside("/etc/passwd")


def test_everything_the_workbench_writes_is_private(tmp_path, hopper_jpeg):
    # Face photos and portraits are personal data: folders 0700, files 0600, whatever the umask.
    previous = os.umask(0o022)
    try:
        layout = DataLayout(tmp_path / "fresh" / "data")
        source = tmp_path / "hopper.jpg"
        source.write_bytes(hopper_jpeg)
        face = Panel(layout).add(source)
        store = ImageStore(layout)
        stored = store.put(hopper_jpeg)
        store.thumbnail(stored.hash)
        catalogue = Catalogue(layout.catalogue)
        catalogue.append([make_row(0, face=face.id)])
        catalogue.record_sweep("s1", 'prompts = ["p"]\n')
        catalogue.compact()
    finally:
        os.umask(previous)
    modes = {
        path: path.stat().st_mode & 0o777
        for path in [layout.root.parent, *layout.root.parent.rglob("*")]
    }
    assert {m for p, m in modes.items() if p.is_dir()} == {0o700}
    assert {m for p, m in modes.items() if p.is_file()} == {0o600}
    assert len(modes) > 12


def test_read_regular_file_reads_small_regular_files_only(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"12345")
    assert read_regular_file(path, limit=5, what="note") == b"12345"
    with pytest.raises(InputError, match="over the 4-byte limit for a note"):
        read_regular_file(path, limit=4, what="note")
    with pytest.raises(InputError, match="no such note"):
        read_regular_file(tmp_path / "missing", limit=4, what="note")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_regular_file(fifo, limit=4, what="note")
