"""The demo: a data root with nothing gets the demo panel and, when its catalogue has no image,
the small demo sweep on the embedded simulator (never the real API)."""

from __future__ import annotations

import pytest

from workbench.catalogue import Catalogue
from workbench.demo import (
    SMALL_DEMO_FACES,
    ensure_demo_panel,
    has_images,
    seed_empty_catalogue,
    small_demo_sweep,
)
from workbench.panel import Panel
from workbench.sweep import plan


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
    assert plan(sweep, Panel(layout).faces()).images <= 100  # small: seconds, not minutes


@pytest.mark.e2e
async def test_seeding_fills_an_empty_catalogue_and_only_that(layout, monkeypatch):
    monkeypatch.setattr("workbench.demo.SMALL_DEMO_SEEDS", "1")  # 12 images are enough here
    # Even with a real API configured, the demo goes to the embedded simulator.
    monkeypatch.setenv("HEADSHOT_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HEADSHOT_API_KEY", "not-a-real-key")
    assert not has_images(layout)
    summary = await seed_empty_catalogue(layout)
    assert summary is not None and summary.backend == "simulator"
    assert summary.images_stored + summary.requests_failed == summary.planned_requests
    assert has_images(layout)
    rows = Catalogue(layout.catalogue).runs()
    assert set(rows["face_id"]) == set(small_demo_sweep(layout).faces)
    assert await seed_empty_catalogue(layout) is None  # it has images now
    assert len(Catalogue(layout.catalogue).runs()) == len(rows)
