"""The data folder's shared file habits: atomic writes and clearing crashed writers' temp files."""

from __future__ import annotations

import os
import time

import pytest

from workbench.layout import DataLayout, remove_stale_temp_files, write_atomically


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
