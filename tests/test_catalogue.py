"""The Parquet catalogue: atomic parts, consistent reads under compaction and removal, concurrent
appenders, the DuckDB helper, and the documented schema."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pyarrow.compute as pc
import pytest
from catalogue_fixtures import make_row

from workbench.catalogue import (
    COLUMNS,
    ROW_FIELDS,
    SCHEMA,
    SCHEMA_VERSION,
    STATUS_FAILED,
    Catalogue,
    CatalogueRow,
    rows_to_table,
)
from workbench.errors import CatalogueError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "catalogue.md"


@pytest.fixture
def catalogue(tmp_path) -> Catalogue:
    return Catalogue(tmp_path / "catalogue")


def test_rows_round_trip_with_nullable_columns_as_integers(catalogue):
    catalogue.append([make_row(0), make_row(1, status=STATUS_FAILED)])
    df = catalogue.runs()
    assert list(df.columns) == COLUMNS
    assert len(df) == 2
    ok, failed = df.iloc[0], df.iloc[1]
    assert ok["sample_index"] == 0 and str(df["sample_index"].dtype) == "Int32"
    assert ok["schema_version"] == SCHEMA_VERSION == 2
    assert failed["status"] == "failed" and failed["error_class"] == "TransientError"
    assert df["sample_index"].isna().tolist() == [False, True]
    assert df["created_at"].dt.tz is not None


def test_an_empty_catalogue_reads_as_empty(catalogue):
    assert list(catalogue.runs().columns) == COLUMNS
    assert catalogue.runs().empty
    assert catalogue.stored_keys() == set()
    assert catalogue.query("SELECT count(*) AS n FROM runs")["n"].iloc[0] == 0
    assert catalogue.rows_for("p", 1).empty


def test_each_append_is_one_new_part_and_temp_files_are_never_read(catalogue):
    for n in range(3):
        catalogue.append([make_row(n)])
    assert len(catalogue.parts()) == 3
    runs = catalogue.runs_dir
    # What a killed writer leaves behind: half-written files under temp names.
    (runs / ".part-20990101T000000000000Z-1-dead.parquet.tmp").write_bytes(b"PAR1 half")
    (runs / "part-20990101T000000000000Z-1-dead.parquet.tmp").write_bytes(b"garbage")
    assert len(catalogue.runs()) == 3
    assert catalogue.query("SELECT count(*) AS n FROM runs")["n"].iloc[0] == 3
    assert len(catalogue.parts()) == 3


def test_stored_keys_are_the_ok_ones(catalogue):
    assert catalogue.stored_among(["key-0"]) == set()
    catalogue.append([make_row(0), make_row(1, status=STATUS_FAILED), make_row(2)])
    assert catalogue.stored_keys() == {"key-0", "key-2"}
    assert catalogue.stored_among(["key-0", "key-1", "key-9", "key-0"]) == {"key-0"}
    assert catalogue.stored_among([]) == set()


def test_duckdb_query_and_rows_for_one_prompt_and_seed(catalogue):
    catalogue.append([make_row(n, prompt="a") for n in range(5)])
    catalogue.append([make_row(n, prompt="b", face="bob") for n in range(5)])
    rows = catalogue.rows_for("b", 3)
    assert rows["face_id"].tolist() == ["bob"] and rows["seed"].tolist() == [3]
    counts = catalogue.query("SELECT prompt, count(*) AS n FROM runs GROUP BY prompt ORDER BY 1")
    assert counts.to_dict("list") == {"prompt": ["a", "b"], "n": [5, 5]}
    with_params = catalogue.query("SELECT count(*) AS n FROM runs WHERE seed > ?", [3])
    assert with_params["n"].iloc[0] == 4


def test_compact_merges_small_parts_and_keeps_every_row(catalogue):
    for n in range(10):
        catalogue.append([make_row(n)])
    big = catalogue.append([make_row(100 + n) for n in range(50)])
    result = catalogue.compact(small_part_rows=20)
    assert (result.parts_before, result.parts_after, result.rows) == (11, 2, 10)
    assert big in catalogue.parts()  # parts that are already big are left alone
    assert sorted(catalogue.runs()["request_key"]) == sorted(
        [f"key-{n}" for n in range(10)] + [f"key-{100 + n}" for n in range(50)]
    )
    assert catalogue.compact(small_part_rows=20).rows == 0  # nothing left to merge


def test_a_compaction_killed_before_deleting_never_doubles_rows(catalogue):
    for n in range(4):
        catalogue.append([make_row(n)])
    names = [part.name for part in catalogue.parts()]
    # The merged part is in place but the old parts were not deleted (the process died).
    catalogue.parts_folder.write_part(catalogue.table(), "merged-", replaces=names)
    assert len(list(catalogue.runs_dir.glob("*.parquet"))) == 5
    assert len(catalogue.runs()) == 4
    assert catalogue.query("SELECT count(*) AS n FROM runs")["n"].iloc[0] == 4
    catalogue.compact()  # clears the leftovers
    assert len(list(catalogue.runs_dir.glob("*.parquet"))) == 1
    assert len(catalogue.runs()) == 4


def test_readers_see_every_row_once_while_parts_are_compacted(catalogue):
    appended = 0
    for n in range(20):
        catalogue.append([make_row(n)])
        appended += 1
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        nonlocal appended
        n = 1000
        try:
            while not stop.is_set():
                catalogue.append([make_row(n), make_row(n + 1)])
                appended += 2
                n += 2
                catalogue.compact()
                time.sleep(0.005)  # the other thread needs the GIL to read at all
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        previous = 0
        for _ in range(15):
            before = appended
            keys = catalogue.runs(["request_key"])["request_key"]
            assert keys.is_unique
            assert len(keys) >= max(before, previous)
            previous = len(keys)
            sql_keys = catalogue.query("SELECT request_key FROM runs")["request_key"]
            assert sql_keys.is_unique
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert len(catalogue.runs()) == appended


def test_remove_rows_rewrites_only_the_parts_that_hold_them(catalogue):
    mixed = catalogue.append([make_row(0, face="ann"), make_row(1, face="bob")])
    only_ann = catalogue.append([make_row(2, face="ann")])
    only_bob = catalogue.append([make_row(3, face="bob")])
    removed = catalogue.remove_rows(pc.field("face_id") == "ann")
    assert removed == 2
    parts = catalogue.parts()
    assert only_bob in parts  # untouched
    assert mixed not in parts and only_ann not in parts
    assert not mixed.exists() and not only_ann.exists()
    assert sorted(catalogue.runs()["face_id"]) == ["bob", "bob"]
    # Nothing of the removed rows is left in any file of the dataset.
    assert not any(b"annannann" in path.read_bytes() for path in catalogue.runs_dir.iterdir())
    assert catalogue.remove_rows(pc.field("face_id") == "ann") == 0


def test_remove_rows_clears_a_replaced_part_left_by_a_crash(catalogue):
    part = catalogue.append([make_row(0, face="ann"), make_row(1, face="bob")])
    # A rewrite died after writing its replacement but before deleting the old part, which
    # still holds ann's row: readers skip it, and the next removal must delete it.
    kept = catalogue.table().filter(pc.field("face_id") == "bob")
    catalogue.parts_folder.write_part(kept, "merged-", replaces=[part.name])
    assert part.exists() and sorted(catalogue.runs()["face_id"]) == ["bob"]
    assert catalogue.remove_rows(pc.field("face_id") == "ann") == 0
    assert not part.exists()
    assert not any(b"annannann" in path.read_bytes() for path in catalogue.runs_dir.iterdir())


def test_the_schema_is_documented_and_matches_the_row_record():
    text = DOCS.read_text()
    for field in SCHEMA:
        assert f"| `{field.name}` | {field.type} |" in text, field.name
    assert sorted(ROW_FIELDS) == sorted(COLUMNS)
    assert not any("api" in name.lower() for name in COLUMNS)


def test_every_field_lands_in_its_own_column_with_its_value(catalogue):
    # Names alone would pass if two same-typed fields were swapped on the way to Parquet (say
    # image_hash and image_path, or seed and seed_used): every field gets a distinct value.
    from datetime import UTC, datetime

    row = CatalogueRow(
        sweep_id="sweep-x",
        request_key="key-x",
        created_at=datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
        backend="http://api.example",
        prompt="prompt-x",
        seed=11,
        sample_number=3,
        identity_scale=0.25,
        width=640,
        height=896,
        face_id="face-x",
        face_hash="facehash-x",
        status="ok",
        attempts=4,
        latency_ms=123.5,
        seed_used=12,
        sample_index=2,
        image_hash="imagehash-x",
        image_path="images/im/path-x.jpg",
        error_class="error-class-x",
        error="error-x",
        cost=0.75,
    )
    catalogue.append([row])
    (back,) = catalogue.table().to_pylist()
    assert back == {name: getattr(row, name) for name in COLUMNS}


APPENDER = """
import sys
from datetime import UTC, datetime
from workbench.catalogue import Catalogue, CatalogueRow
catalogue = Catalogue(sys.argv[1])
writer = sys.argv[2]
for batch in range(40):
    rows = [
        CatalogueRow(sweep_id=writer, request_key=f"{writer}-{batch}-{i}",
            created_at=datetime.now(UTC), backend="simulator", prompt="p", seed=1,
            sample_number=1, identity_scale=0.8, width=768, height=1024, face_id="f",
            face_hash="h", status="ok", attempts=1, latency_ms=1.0, sample_index=0)
        for i in range(25)
    ]
    catalogue.append(rows)
"""


@pytest.mark.e2e
def test_three_processes_appending_at_once_lose_nothing(catalogue):
    processes = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(catalogue.path), f"w{n}"])
        for n in range(3)
    ]
    seen = 0
    while any(process.poll() is None for process in processes):
        keys = catalogue.runs(["request_key"])["request_key"]  # readable at every moment
        assert keys.is_unique and len(keys) >= seen
        seen = len(keys)
    assert [process.wait(timeout=60) for process in processes] == [0, 0, 0]
    df = catalogue.runs()
    assert len(df) == 3 * 40 * 25
    assert df["request_key"].is_unique
    assert df.groupby("sweep_id").size().to_dict() == {"w0": 1000, "w1": 1000, "w2": 1000}
    assert len(catalogue.parts()) == 120
    assert catalogue.compact().parts_after == 1
    assert len(catalogue.runs()) == 3000


def test_recent_stats_and_sweep_totals_read_back_the_log(catalogue):
    catalogue.append([make_row(n, prompt="studio") for n in range(3)])
    catalogue.append([make_row(3, status=STATUS_FAILED), make_row(4, status=STATUS_FAILED)])
    catalogue.append([replace(make_row(4), sweep_id="s2")])  # the failed cell healed later

    latest = catalogue.recent(2)
    assert list(latest["request_key"]) == ["key-4", "key-4"]
    assert list(latest["status"]) == ["failed", "ok"]  # oldest first, as a log reads
    newest = catalogue.recent(0, status="failed")
    assert list(newest["request_key"]) == ["key-3", "key-4"]
    assert list(catalogue.recent(0, prompt="studio")["request_key"]) == ["key-0", "key-1", "key-2"]
    with pytest.raises(CatalogueError, match="no catalogue column colour"):
        catalogue.recent(colour="red")

    stats = catalogue.stats()
    assert (stats.rows, stats.images, stats.failed_rows) == (6, 4, 2)
    assert stats.cells_still_failing == 1 and stats.sweeps == 2 and stats.prompts == 2
    assert stats.parts == 3 and stats.size_bytes > 0

    totals = catalogue.sweep_totals().set_index("sweep_id")
    assert (totals.loc["s1", "images"], totals.loc["s1", "failed"]) == (3, 2)
    assert totals.loc["s2", "images"] == 1


def test_version_1_parts_migrate_to_backend_scoped_keys(catalogue):
    import dataclasses

    import pyarrow.parquet as pq

    from workbench.contract import PortraitParams
    from workbench.sweep import request_key

    # A part as version 1 wrote it: no version in its footer, keys without the backend.
    old = [
        dataclasses.replace(make_row(0), schema_version=1),
        dataclasses.replace(make_row(1), schema_version=1, backend="remote"),
        dataclasses.replace(make_row(2, status=STATUS_FAILED), schema_version=1),
    ]
    catalogue.runs_dir.mkdir(parents=True)
    pq.write_table(rows_to_table(old), catalogue.runs_dir / "part-20250101T000000Z-1-ab.parquet")
    catalogue.append([make_row(3)])  # written by this version: left as it is

    assert catalogue.migrate() == 3
    assert catalogue.migrate() == 0
    df = catalogue.runs().sort_values("seed").reset_index(drop=True)
    assert (df["schema_version"] == 2).all()
    assert list(df["backend"]) == ["simulator", "remote", "simulator", "simulator"]

    def key(row, backend):
        params = PortraitParams(
            prompt=row.prompt,
            seed=row.seed,
            sample_number=1,
            identity_scale=0.8,
            width=768,
            height=1024,
        )
        return request_key(params, row.face_hash, backend)

    assert df["request_key"][0] == key(old[0], "simulator")
    assert df["request_key"][1] == key(old[1], "remote")
    assert df["request_key"][2] == key(old[2], "simulator")
    assert df["request_key"][3] == "key-3"
    assert catalogue.stored_among([key(old[0], "simulator")]) == {key(old[0], "simulator")}
