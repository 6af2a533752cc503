"""The append-only Parquet dataset under scores/ and ratings/: atomic parts, rewrites that
readers never see half-done, and plain pandas reading the folder."""

from __future__ import annotations

import threading

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from workbench.errors import CatalogueError
from workbench.scoring.parts import PartDataset

SCHEMA = pa.schema([pa.field("key", pa.string()), pa.field("value", pa.int64())])


def _rows(start: int, count: int) -> pa.Table:
    keys = [f"k{i}" for i in range(start, start + count)]
    return pa.Table.from_pydict({"key": keys, "value": list(range(start, start + count))})


@pytest.fixture
def dataset(tmp_path) -> PartDataset:
    return PartDataset(tmp_path / "scores", SCHEMA)


def test_an_empty_folder_reads_as_an_empty_table_of_the_schema(dataset):
    table = dataset.table()
    assert table.num_rows == 0 and table.schema.names == ["key", "value"]
    assert dataset.append(_rows(0, 0)) is None


def test_appends_are_parts_that_pandas_reads_directly(dataset):
    dataset.append(_rows(0, 3))
    dataset.append(_rows(3, 2))
    assert len(dataset.parts()) == 2
    frame = pd.read_parquet(dataset.folder)
    assert sorted(frame["value"]) == [0, 1, 2, 3, 4]
    only = dataset.table(["value"], filter=pc.field("value") >= 3)
    assert sorted(only["value"].to_pylist()) == [3, 4]


def test_remove_rows_rewrites_only_the_parts_that_hold_them(dataset):
    first = dataset.append(_rows(0, 3))
    untouched = dataset.append(_rows(3, 3))
    assert dataset.remove_rows(pc.field("value").isin([1, 2])) == 2
    assert sorted(dataset.table()["value"].to_pylist()) == [0, 3, 4, 5]
    assert not first.exists() and untouched.exists()
    assert sorted(pd.read_parquet(dataset.folder)["value"]) == [0, 3, 4, 5]


def test_compact_merges_parts_without_losing_rows(dataset):
    for start in range(0, 20, 4):
        dataset.append(_rows(start, 4))
    assert dataset.compact() == 5
    assert len(dataset.parts()) == 1
    assert sorted(dataset.table()["value"].to_pylist()) == list(range(20))
    assert dataset.compact() == 0  # one part: nothing to merge


def test_readers_see_every_row_exactly_once_while_compaction_runs(dataset):
    for start in range(0, 200, 10):
        dataset.append(_rows(start, 10))
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(dataset.table().num_rows)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(5):
            dataset.compact()
            dataset.append(_rows(1000, 1))
            dataset.remove_rows(pc.field("key") == "k1000")
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) <= {200, 201}
    assert dataset.table().num_rows == 200


def test_a_damaged_part_is_a_one_line_error_naming_the_folder(dataset):
    dataset.append(_rows(0, 2))
    dataset.parts()[0].write_bytes(b"not parquet")
    with pytest.raises(CatalogueError, match="scores"):
        dataset.table()
