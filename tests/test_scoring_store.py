"""The scores table: keyed by image, face and scorer version; the latest row wins; erasable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.scoring.store import SCORES_SCHEMA, ScoreRow, ScoreStore, rows_to_table


@pytest.fixture
def store(layout) -> ScoreStore:
    return ScoreStore(layout)


def _style(image: str, face: str, value: float, version: int = 1) -> ScoreRow:
    return ScoreRow(image, face, "style", version, vector=np.full(4, value, dtype=np.float32))


def test_rows_land_beside_the_catalogue_and_pandas_reads_them(store, layout):
    store.append([_style("i1", "f1", 0.5), ScoreRow("i1", "f1", "dlib-resnet", 1, 0.8, True)])
    assert store.dataset.folder == layout.catalogue / "scores"
    frame = pd.read_parquet(layout.catalogue / "scores")
    assert list(frame.columns) == SCORES_SCHEMA.names
    assert set(frame["scorer"]) == {"style", "dlib-resnet"}


def test_scored_keys_are_per_scorer_version(store):
    store.append([_style("i1", "f1", 0.1), _style("i2", "f1", 0.2, version=2)])
    assert store.scored_keys("style", 1) == {("i1", "f1")}
    assert store.scored_keys("style", 2) == {("i2", "f1")}
    assert store.scored_keys("dlib-resnet", 1) == set()


def test_the_latest_row_per_image_wins_and_vectors_come_back_intact(store):
    store.append([_style("i1", "f1", 0.1)])
    store.append([_style("i1", "f1", 0.9), _style("i2", "f2", 0.3)])
    latest = store.latest("style", 1).set_index("image_hash")
    assert len(latest) == 2
    assert np.allclose(latest.loc["i1", "vector"], 0.9)
    assert latest.loc["i2", "vector"].dtype == np.float32


def test_no_face_and_errors_are_recorded_outcomes(store):
    store.append(
        [
            ScoreRow("i1", "f1", "dlib-resnet", 1, identity=None, face_found=False),
            ScoreRow("i2", "f1", "style", 1, error="images/i2.jpg: not a readable image"),
        ]
    )
    identity = store.latest("dlib-resnet", 1, vectors=False)
    assert identity["face_found"].tolist() == [False] and identity["identity"].isna().all()
    assert store.latest("style", 1)["error"].tolist() == ["images/i2.jpg: not a readable image"]


def test_remove_erases_by_image_or_by_reference_face(store):
    store.append([_style("i1", "f1", 0.1), _style("i2", "f2", 0.2), _style("i3", "f3", 0.3)])
    assert store.remove(image_hashes={"i1"}, face_hashes={"f3"}) == 2
    assert set(store.latest("style", 1)["image_hash"]) == {"i2"}
    assert store.remove() == 0


def test_a_damaged_part_is_quarantined_and_the_rest_still_reads(store, layout):
    store.append([_style("i1", "f1", 0.1)])
    damaged = store.dataset.append(rows_to_table([_style("i2", "f2", 0.2)]))
    damaged.write_bytes(damaged.read_bytes()[:80])
    assert set(store.latest("style", 1)["image_hash"]) == {"i1"}
    assert [p.parent for p in store.dataset.quarantined()] == [layout.quarantine / "scores"]
