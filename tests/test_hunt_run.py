"""Hunts through the real sweep engine and the real simulator on loopback: rounds are ordinary
catalogue rows, a resumed hunt buys nothing twice, and a hunt that cannot be paid for is refused
before anything is sent."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from hunt_fixtures import demo_panel

from workbench.catalogue import Catalogue
from workbench.client import HeadshotClient, RetryPolicy
from workbench.errors import InputError
from workbench.hunt import BudgetTooSmall, Hunt, HuntProgress, HuntSpec
from workbench.simulator import SimulatorConfig, SimulatorServer

KEY = "hunt-test-key-51c0"
FAST_RETRY = RetryPolicy(attempts=2, timeout=20.0, wait_initial=0.01, wait_max=0.05)
LEADERBOARD_COLUMNS = [
    "prompt",
    "seed",
    "identity_scale",
    "width",
    "height",
    "faces",
    "identity",
    "consistency",
    "worst_face_consistency",
    "worst_face",
    "ci_low",
    "ci_high",
]

pytestmark = pytest.mark.e2e


def spec(**fields) -> HuntSpec:
    base = {
        "name": "test hunt",
        "prompts": ["studio headshot, grey backdrop"],
        "seeds": "1-8",
        "sizes": ["512x512"],
        "concurrency": 8,
        "top": 2,
    }
    return HuntSpec.build(source="hunt", **{**base, **fields})


@pytest.fixture(scope="module")
def simulator():
    with SimulatorServer(SimulatorConfig(api_key=KEY)) as server:
        yield server


def client(server, concurrency: int = 8) -> HeadshotClient:
    return HeadshotClient(
        server.url, KEY, max_concurrency=concurrency, retry=FAST_RETRY, timeout=20.0
    )


async def run_hunt(hunt: Hunt, server, **kwargs):
    async with client(server) as api:
        return await hunt.run(api, **kwargs)


async def test_a_hunt_promotes_by_rounds_and_a_rerun_buys_nothing(layout, simulator):
    demo_panel(layout, 5)
    hunt = Hunt(spec(max_images=40), layout)
    plan = hunt.plan()
    assert [r.faces for r in plan.schedule.rounds] == [2, 4, 5]
    assert plan.schedule.images <= 40
    seen: list[HuntProgress] = []
    before = simulator.stats.requests

    result = await run_hunt(hunt, simulator, on_progress=seen.append)

    assert simulator.stats.requests - before == plan.schedule.images == result.images_bought
    assert [report.candidates for report in result.rounds] == [
        r.candidates for r in plan.schedule.rounds
    ]
    assert {p.round.number for p in seen} == {1, 2, 3}
    assert {"requests", "scoring"} <= {p.phase for p in seen}
    # The winners are scored on every face of the panel, with the leaderboard's columns.
    assert len(result.top) == 2
    assert set(result.top["faces"]) == {5}
    assert set(LEADERBOARD_COLUMNS) <= set(result.top.columns)
    assert list(result.standings.head(2)["seed"]) == list(result.top["seed"])
    assert len(result.standings) == 8  # every candidate once, with the round it reached
    # Ordinary catalogue rows: one per image, for the hunt's faces only.
    rows = Catalogue(layout.catalogue).runs()
    assert len(rows) == plan.schedule.images

    again = await run_hunt(Hunt(spec(max_images=40), layout), simulator)
    assert simulator.stats.requests - before == plan.schedule.images
    assert again.images_bought == 0
    pd.testing.assert_frame_equal(again.top, result.top)


async def test_a_hunt_stopped_mid_round_resumes_without_buying_anything_twice(layout):
    demo_panel(layout, 4)
    with SimulatorServer(SimulatorConfig(api_key=KEY, latency_ms=150)) as slow:
        hunt = Hunt(spec(seeds="1-12", max_images=60), layout)
        total = hunt.plan().schedule.images
        started = asyncio.Event()

        def on_progress(progress: HuntProgress) -> None:
            if progress.images_done >= 5:
                started.set()

        async with client(slow, concurrency=2) as api:
            task = asyncio.create_task(hunt.run(api, on_progress=on_progress))
            await asyncio.wait_for(started.wait(), timeout=60)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        bought_first = slow.stats.requests
        assert 5 <= bought_first < total

        result = await run_hunt(Hunt(spec(seeds="1-12", max_images=60), layout), slow)
        assert slow.stats.requests == total  # the first run's images were not bought again
        assert result.images_bought == total - bought_first
        keys = Catalogue(layout.catalogue).runs()["request_key"]
        assert keys.is_unique


async def test_a_budget_too_small_for_one_round_is_refused_before_spending(layout, simulator):
    demo_panel(layout, 4)
    before = simulator.stats.requests
    hunt = Hunt(spec(), layout, max_images=10)  # 8 candidates x 2 faces alone need 16
    with pytest.raises(BudgetTooSmall, match=r"budget: 10 images cannot pay for one round"):
        await run_hunt(hunt, simulator)
    assert simulator.stats.requests == before
    assert not layout.catalogue.exists() or Catalogue(layout.catalogue).runs().empty


async def test_one_candidate_runs_once_on_the_whole_panel(layout, simulator):
    demo_panel(layout, 3)
    result = await run_hunt(Hunt(spec(seeds=[7], top=5), layout), simulator)
    assert [(r.round.candidates, r.round.faces) for r in result.rounds] == [(1, 3)]
    assert list(result.top["seed"]) == [7]
    assert int(result.top["faces"].iloc[0]) == 3


def test_a_panel_of_one_face_is_refused_with_what_to_do(layout):
    demo_panel(layout, 1)
    with pytest.raises(InputError, match="needs at least 2 faces; the panel has 1"):
        Hunt(spec(), layout).plan()
