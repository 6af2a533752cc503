"""Scoring the catalogue: only new work, a changed scorer version re-scores only with that
scorer, failures to score are recorded outcomes, and the results are what the scorers say."""

from __future__ import annotations

import shutil

import pytest

from workbench.catalogue import Catalogue
from workbench.errors import InputError
from workbench.layout import DataLayout
from workbench.panel import Panel
from workbench.scoring import runner
from workbench.scoring.identity import IDENTITY_SCORER, IDENTITY_VERSION, identity_similarity
from workbench.scoring.leaderboard import leaderboard
from workbench.scoring.runner import score_catalogue
from workbench.scoring.store import ScoreStore
from workbench.scoring.style import STYLE_SCORER, STYLE_VERSION, describe_style

pytest_plugins = ["scoring_fixtures"]

pytestmark = pytest.mark.e2e


def test_score_only_new_work_then_rank(swept):
    sweep_id = Catalogue(swept.catalogue).runs()["sweep_id"].iloc[0]
    progress = []
    first = score_catalogue(
        swept, sweep_id=sweep_id, on_progress=lambda done, total: progress.append((done, total))
    )
    assert (first.images, first.scored, first.already_scored, first.errors) == (8, 8, 0, 0)
    assert progress[-1] == (8, 8)
    again = score_catalogue(swept)
    assert (again.scored, again.already_scored) == (0, 8)
    with pytest.raises(InputError, match="no sweep 'nope'"):
        score_catalogue(swept, sweep_id="nope")

    board = leaderboard(swept)
    assert len(board) == 2 and set(board["faces"]) == {4}
    assert board["consistency"].between(0, 1).all() and board["identity"].between(0, 1).all()
    assert (board["unscored"] == 0).all()

    # What is stored is what the public scorers say about the file.
    runs = Catalogue(swept.catalogue).runs()
    row = runs[runs["status"] == "ok"].iloc[0]
    image = swept.root / row["image_path"]
    reference = Panel(swept).jpeg_bytes(row["face_id"])
    store = ScoreStore(swept)
    identity = store.latest(IDENTITY_SCORER, IDENTITY_VERSION, vectors=False)
    style = store.latest(STYLE_SCORER, STYLE_VERSION).set_index("image_hash")
    mine = identity.set_index("image_hash").loc[row["image_hash"]]
    assert mine["identity"] == pytest.approx(identity_similarity(reference, image))
    assert list(style.loc[row["image_hash"], "vector"]) == pytest.approx(
        list(describe_style(image).vector), nan_ok=True
    )


def test_a_new_scorer_version_rescores_with_that_scorer_only(swept, monkeypatch):
    score_catalogue(swept, workers=1)
    monkeypatch.setattr(runner, "STYLE_VERSION", STYLE_VERSION + 1)
    summary = score_catalogue(swept, workers=1)
    assert summary.scored == 8
    table = ScoreStore(swept).dataset.table().to_pandas()
    assert (table["scorer"] == IDENTITY_SCORER).sum() == 8  # identity not redone
    assert (table["scorer_version"] == STYLE_VERSION + 1).sum() == 8

    # --rescore does everything again; the new rows win.
    assert score_catalogue(swept, rescore=True, workers=1).scored == 8
    assert len(ScoreStore(swept).latest(IDENTITY_SCORER, IDENTITY_VERSION)) == 8
    assert (ScoreStore(swept).dataset.table()["scorer"].to_pylist()).count(IDENTITY_SCORER) == 16


def test_an_unreadable_image_is_recorded_once_not_retried(swept):
    runs = Catalogue(swept.catalogue).runs()
    victim = runs[runs["status"] == "ok"].iloc[0]
    (swept.root / victim["image_path"]).write_bytes(b"not a jpeg")
    summary = score_catalogue(swept, workers=1)
    assert summary.errors == 1 and summary.scored == 8
    assert score_catalogue(swept).scored == 0
    errors = ScoreStore(swept).latest(STYLE_SCORER, STYLE_VERSION).dropna(subset=["error"])
    assert errors["image_hash"].tolist() == [victim["image_hash"]]
    assert "not a readable image" in errors["error"].iloc[0]
    board = leaderboard(swept)
    assert board["images"].sum() == 8 and board["unscored"].sum() == 1


def test_both_cores_give_the_same_scores(swept, swept_root, tmp_path):
    pooled = score_catalogue(swept, workers=2)
    assert pooled.workers == 2 and pooled.scored == 8
    inline = DataLayout(tmp_path / "inline")
    shutil.copytree(swept_root, inline.root)
    assert score_catalogue(inline, workers=1).scored == 8

    def identities(layout: DataLayout) -> dict[str, float]:
        frame = ScoreStore(layout).latest(IDENTITY_SCORER, IDENTITY_VERSION, vectors=False)
        return dict(zip(frame["image_hash"], frame["identity"], strict=True))

    assert identities(swept) == pytest.approx(identities(inline))


def test_a_large_output_is_described_as_describe_style_does(tmp_path):
    """Above 1024 px the two scorers decode at different sizes; the runner follows each."""
    from PIL import Image

    path = tmp_path / "big.jpg"
    Image.new("RGB", (1100, 1400), (120, 90, 60)).save(path)
    item = runner._Work("i" * 64, "f" * 64, str(path), True, True, None, "no reference")
    style_row, identity_row = runner.score_batch([item])
    assert list(style_row.vector) == pytest.approx(list(describe_style(path).vector), nan_ok=True)
    assert identity_row.error == "no reference"
