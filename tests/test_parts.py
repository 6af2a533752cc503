"""Part folders contain damage: a truncated, corrupt or foreign part is quarantined with one
warning line and reading goes on; stray files are ignored; `check` verifies every part and only
`repair` moves anything. Any dataset folder (scores, ratings) gets the same from `PartFolder`."""

from __future__ import annotations

import logging
import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from catalogue_fixtures import make_row

from workbench.catalogue import Catalogue
from workbench.errors import CatalogueError
from workbench.layout import DataLayout
from workbench.parts import PartFolder

SCORES = pa.schema(
    [
        pa.field("image_hash", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("note", pa.string()),
    ]
)


@pytest.fixture
def catalogue(layout: DataLayout) -> Catalogue:
    catalogue = Catalogue(layout.catalogue)
    for n in range(3):
        catalogue.append([make_row(2 * n), make_row(2 * n + 1)])
    return catalogue


def truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_a_truncated_part_is_quarantined_with_one_warning_and_reading_goes_on(
    catalogue, layout, caplog
):
    damaged = catalogue.parts()[1]
    truncate(damaged)
    with caplog.at_level(logging.WARNING, logger="workbench.parts"):
        rows = catalogue.runs()
    assert sorted(rows["request_key"]) == ["key-0", "key-1", "key-4", "key-5"]
    moved = layout.quarantine / "runs" / damaged.name
    assert moved.exists() and not damaged.exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert damaged.name in warnings[0] and "quarantine" in warnings[0]
    # Every other reader works too, and the damaged part is not met again.
    caplog.clear()
    assert catalogue.stats().rows == 4
    assert catalogue.stored_among(["key-0", "key-2"]) == {"key-0"}
    assert catalogue.compact().rows == 4
    assert catalogue.remove_rows(pc.field("request_key") == "key-0") == 1
    assert not caplog.records
    assert catalogue.quarantined() == [moved]


@pytest.mark.parametrize("read", ["query", "table", "stored_among", "compact", "remove_rows"])
def test_every_reader_quarantines_an_empty_part(catalogue, layout, read):
    damaged = catalogue.parts()[0]
    damaged.write_bytes(b"")
    if read == "query":
        assert catalogue.query("SELECT count(*) AS n FROM runs")["n"].iloc[0] == 4
    elif read == "table":
        assert catalogue.table().num_rows == 4
    elif read == "stored_among":
        assert catalogue.stored_among(["key-0", "key-2"]) == {"key-2"}
    elif read == "compact":
        assert catalogue.compact().rows == 4
    else:
        assert catalogue.remove_rows(pc.field("request_key") == "key-2") == 1
    assert (layout.quarantine / "runs" / damaged.name).exists()


def test_a_part_with_corrupt_pages_but_a_good_footer_is_found_on_read(layout):
    folder = PartFolder(layout.catalogue / "scores", SCORES, quarantine=layout.quarantine)
    folder.append(pa.table({"image_hash": ["a"], "score": [0.5], "note": [None]}))
    big = pa.table(
        {
            "image_hash": [f"h{n:06d}" for n in range(20_000)],
            "score": [n / 7 for n in range(20_000)],
            "note": ["x" * 20] * 20_000,
        }
    )
    part = folder.append(big)
    data = bytearray(part.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for i in range(100, len(data) - footer - 100):  # every data page, never the footer
        data[i] ^= 0x5A
    part.write_bytes(bytes(data))
    pq.read_schema(part)  # the footer still reads: the cheap check passes
    assert folder.table()["image_hash"].to_pylist() == ["a"]
    assert (layout.quarantine / "scores" / part.name).exists()


def test_a_foreign_part_is_quarantined_not_read_as_nulls(catalogue, layout, caplog):
    foreign = catalogue.runs_dir / "part-20990101T000000000000Z-1-beef.parquet"
    pq.write_table(pa.table({"colour": ["red"], "size": [3]}), foreign)
    wrong_type = catalogue.runs_dir / "part-20990101T000000000001Z-1-beef.parquet"
    table = catalogue.table().slice(0, 1)
    seed = table.schema.get_field_index("seed")
    pq.write_table(table.set_column(seed, "seed", pa.array(["one"])), wrong_type)
    with caplog.at_level(logging.WARNING):
        assert len(catalogue.runs()) == 6
    assert sorted(p.name for p in catalogue.quarantined()) == sorted(
        [foreign.name, wrong_type.name]
    )
    text = caplog.text
    assert "no column schema_version" in text and "column seed is string" in text
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in catalogue.quarantined())


def test_stray_files_are_ignored_by_readers(catalogue):
    runs = catalogue.runs_dir
    (runs / "notes.txt").write_text("my notes")
    (runs / "part-but-a-folder.parquet").mkdir()
    (runs / "copy.parquet").write_bytes(catalogue.parts()[0].read_bytes())
    (runs / ".part-x.parquet.tmp").write_bytes(b"PAR1")
    assert len(catalogue.runs()) == 6
    assert catalogue.quarantined() == []


def test_check_reports_without_moving_and_repair_moves(catalogue, layout):
    damaged = catalogue.parts()[0]
    truncate(damaged, 0.3)
    stray = catalogue.runs_dir / "notes.txt"
    stray.write_text("mine")
    old_tmp = catalogue.runs_dir / ".part-dead.parquet.tmp"
    old_tmp.write_bytes(b"PAR1")
    os.utime(old_tmp, (1, 1))
    report = catalogue.check()
    assert not report.ok and report.parts == 2 and report.rows == 4
    kinds = {problem.name: problem.kind for problem in report.problems}
    assert kinds == {damaged.name: "damaged", "notes.txt": "stray", old_tmp.name: "leftover"}
    assert damaged.exists() and stray.exists() and old_tmp.exists()  # a check moves nothing

    repaired = catalogue.check(repair=True)
    assert repaired.repaired and not damaged.exists() and not old_tmp.exists()
    assert {p.name for p in catalogue.quarantined()} == {damaged.name, "notes.txt"}
    assert catalogue.check().ok


def test_check_reports_rows_of_a_newer_schema_version(catalogue):
    newer = catalogue.table().slice(0, 1)
    index = newer.schema.get_field_index("schema_version")
    newer = newer.set_column(index, "schema_version", pa.array([99], pa.int16()))
    catalogue.parts_folder.write_part(newer, "part-")
    problems = catalogue.check().problems
    assert [p.kind for p in problems] == ["newer"]
    assert "schema version 99" in problems[0].detail
    assert len(catalogue.runs()) == 7  # readable: not quarantined


def test_a_disk_error_is_an_error_not_a_quarantine(catalogue, monkeypatch):
    def failing(path, *args, **kwargs):
        raise OSError(5, "Input/output error", str(path))

    monkeypatch.setattr(pq, "read_schema", failing)
    with pytest.raises(CatalogueError, match="Input/output error"):
        catalogue.runs()
    assert catalogue.quarantined() == []


def test_another_dataset_folder_gets_the_same_reading_and_quarantine(layout):
    scores = PartFolder(layout.catalogue / "scores", SCORES, quarantine=layout.quarantine)
    scores.append(pa.table({"image_hash": ["a", "b"], "score": [0.1, 0.9], "note": [None, "x"]}))
    second = scores.append(pa.table({"image_hash": ["c"], "score": [0.5], "note": ["y"]}))
    truncate(second)
    assert scores.table(["image_hash"])["image_hash"].to_pylist() == ["a", "b"]
    assert [p.name for p in scores.quarantined()] == [second.name]
    assert (layout.quarantine / "scores" / second.name).exists()
    assert scores.check().ok
    # Its parts and its quarantine are private, like everything else the workbench writes.
    assert (scores.parts()[0].stat().st_mode & 0o777) == 0o600
    assert (scores.quarantine_dir.stat().st_mode & 0o777) == 0o700
