"""The demo: a data root with nothing gets the demo panel and, when its catalogue has no image,
the small demo sweep on the embedded simulator (never the real API)."""

from __future__ import annotations

import pytest

from workbench.catalogue import Catalogue
from workbench.contract import SIMULATOR_BACKEND
from workbench.demo import (
    REPO_DATA,
    SMALL_DEMO_FACES,
    DemoProgress,
    demo_sweep_path,
    ensure_demo_panel,
    has_images,
    run_demo,
    seed_empty_catalogue,
    small_demo_sweep,
)
from workbench.layout import DataLayout
from workbench.panel import Panel
from workbench.sweep import Sweep, plan


def test_an_empty_root_gets_the_demo_panel_once(layout):
    assert "demo panel" in ensure_demo_panel(layout)
    faces = Panel(layout).faces()
    assert len(faces) >= SMALL_DEMO_FACES
    assert ensure_demo_panel(layout) is None  # already has faces: left alone
    assert len(Panel(layout).faces()) == len(faces)


def test_the_small_demo_spans_skin_tones_and_ages(layout):
    ensure_demo_panel(layout)
    sweep = small_demo_sweep(layout)
    assert len(sweep.faces) == SMALL_DEMO_FACES
    chosen = Panel(layout).to_frame().set_index("id").loc[list(sweep.faces)]
    assert chosen["monk_skin_tone"].nunique() >= 2
    assert chosen["age_band"].nunique() >= 2
    assert len(sweep.identity_scales) >= 2  # identity against identityScale needs two
    assert (
        plan(sweep, Panel(layout).faces(), backend=SIMULATOR_BACKEND).images <= 100
    )  # small: seconds, not minutes


@pytest.mark.e2e
async def test_seeding_fills_an_empty_catalogue_and_only_that(layout, monkeypatch):
    monkeypatch.setattr("workbench.demo.SMALL_DEMO_SEEDS", "1")  # 12 images are enough here
    # Even with a real API configured, the demo goes to the embedded simulator.
    monkeypatch.setenv("HEADSHOT_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HEADSHOT_API_KEY", "not-a-real-key")
    assert not has_images(layout)
    summary = await seed_empty_catalogue(layout)
    assert summary is not None and summary.backend == SIMULATOR_BACKEND
    assert summary.images_stored + summary.requests_failed == summary.planned_requests
    assert has_images(layout)
    rows = Catalogue(layout.catalogue).runs()
    assert set(rows["face_id"]) == set(small_demo_sweep(layout).faces)
    assert await seed_empty_catalogue(layout) is None  # it has images now
    assert len(Catalogue(layout.catalogue).runs()) == len(rows)


SMALL = """
name = "small demo"
prompts = ["studio headshot", "film noir portrait"]
seeds = [1]
sizes = ["512x512"]
faces = ["grace-hopper", "openpeople-p004", "openpeople-p007"]
"""


@pytest.mark.e2e
def test_run_demo_builds_sweeps_scores_and_ranks_then_only_tops_up(layout, tmp_path):
    spec = tmp_path / "small.toml"
    spec.write_text(SMALL)
    seen: list[DemoProgress] = []
    result = run_demo(layout, spec=spec, on_progress=seen.append)
    assert "demo panel" in result.panel_note and len(Panel(layout).faces()) == 11
    assert result.sweep.images_stored + result.sweep.requests_failed == 6
    assert result.scoring.scored == result.sweep.images_stored
    assert {p.stage for p in seen} == {"panel", "sweep", "score"}
    assert not result.leaderboard.empty and result.leaderboard["faces"].max() <= 3

    again = run_demo(layout, spec=spec)
    assert again.panel_note is None and again.scoring.scored == 0
    assert again.sweep.images_stored <= result.sweep.requests_failed  # only retried failures


def test_the_repository_demo_sweep_fits_its_budget_on_the_demo_panel(layout):
    sweep = Sweep.load(demo_sweep_path(layout))  # no sweeps of its own: the repository's
    faces = Panel(DataLayout(REPO_DATA)).faces()
    assert len(faces) == 11
    assert plan(sweep, faces, backend=SIMULATOR_BACKEND).images <= sweep.max_images
