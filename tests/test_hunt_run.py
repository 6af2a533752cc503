"""Hunts through the real sweep engine and the real simulator on loopback: rounds are ordinary
catalogue rows, a hunt run again buys nothing twice, and a hunt that cannot be paid for is
refused before anything is sent. (A hunt killed mid-round: tests/test_cli_hunt.py.)"""

from __future__ import annotations

import pandas as pd
import pytest
from hunt_fixtures import demo_panel

from workbench.catalogue import Catalogue
from workbench.client import HeadshotClient, RetryPolicy
from workbench.contract import SIMULATOR_BACKEND
from workbench.errors import InputError
from workbench.hunt import BudgetTooSmall, Hunt, HuntSpec
from workbench.scoring.leaderboard import LEADERBOARD_COLUMNS
from workbench.simulator import SimulatorConfig, SimulatorServer

KEY = "hunt-test-key-51c0"
# Generous timeouts: a busy CI machine must not turn a slow answer into a failed request.
RETRY = RetryPolicy(attempts=3, timeout=120.0, wait_initial=0.01, wait_max=0.05)

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
    return HeadshotClient(server.url, KEY, max_concurrency=concurrency, retry=RETRY, timeout=60.0)


async def run_hunt(hunt: Hunt, server, **kwargs):
    async with client(server) as api:
        return await hunt.run(api, **{"backend": SIMULATOR_BACKEND, **kwargs})


async def test_a_hunt_promotes_by_rounds_and_a_rerun_buys_nothing(layout, simulator):
    demo_panel(layout, 4)
    hunt = Hunt(spec(seeds="1-6", max_images=20), layout)
    plan = hunt.plan()
    # 6 candidates on 2 faces, then the 4 best on all 4: 20 images of the exhaustive 24.
    assert [(r.candidates, r.faces) for r in plan.schedule.rounds] == [(6, 2), (4, 4)]
    seen: list[tuple[int, str]] = []
    before = simulator.stats.requests

    result = await run_hunt(
        hunt, simulator, on_progress=lambda p: seen.append((p.round.number, p.phase))
    )

    assert result.images_bought == plan.schedule.images
    assert sum(report.requests_failed for report in result.rounds) == 0
    bought = simulator.stats.requests - before
    assert [report.candidates for report in result.rounds] == [
        r.candidates for r in plan.schedule.rounds
    ]
    assert {number for number, _ in seen} == {1, 2}
    assert {"requests", "scoring"} <= {phase for _, phase in seen}
    # The winners are scored on every face of the panel, with the leaderboard's columns.
    assert len(result.top) == 2
    assert set(result.top["faces"]) == {4}
    assert set(LEADERBOARD_COLUMNS) <= set(result.top.columns)
    assert list(result.standings.head(2)["seed"]) == list(result.top["seed"])
    assert len(result.standings) == 6  # every candidate once, with the round it reached
    assert list(result.standings["round"]) == [2, 2, 2, 2, 1, 1]
    # Ordinary catalogue rows: one per image, for the hunt's faces only.
    rows = Catalogue(layout.catalogue).runs()
    assert len(rows) == plan.schedule.images

    again = await run_hunt(Hunt(spec(seeds="1-6", max_images=20), layout), simulator)
    assert simulator.stats.requests - before == bought  # not one request more
    assert again.images_bought == 0
    pd.testing.assert_frame_equal(again.top, result.top)


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


async def test_the_asynchronous_schedule_buys_what_the_rounds_buy(tmp_path, simulator):
    """The same pool hunted both ways, each on a fresh data root: the same rounds, the same
    number of images (never more than the schedule states), the winners scored on every face.
    Whether the winners are the same is the benchmark's question (bench_hunt.py --timing)."""
    from workbench.layout import DataLayout

    results = {}
    for schedule in ("rounds", "async"):
        layout = DataLayout(tmp_path / schedule)
        demo_panel(layout, 4)
        hunt = Hunt(spec(max_images=24), layout)  # 8 candidates on 2 faces, the best 4 on all 4
        plan = hunt.plan()
        assert [(r.candidates, r.faces) for r in plan.schedule.rounds] == [(8, 2), (4, 4)]
        seen = []
        results[schedule] = await run_hunt(
            hunt, simulator, schedule=schedule, on_progress=seen.append
        )
        rows = Catalogue(layout.catalogue).runs()
        assert len(rows) == plan.schedule.images == 24
        assert results[schedule].images_bought == 24
        assert seen and seen[-1].round.number == 2

    rounds, asynchronous = results["rounds"], results["async"]
    shape = [(r.candidates, r.kept, r.images_bought) for r in rounds.rounds]
    assert [(r.candidates, r.kept, r.images_bought) for r in asynchronous.rounds] == shape
    assert len(asynchronous.top) == 2 and set(asynchronous.top["faces"]) == {4}
    # Every image of the async hunt is scored by both scorers, identity included.
    assert asynchronous.top["identity"].notna().all()


async def test_an_unknown_schedule_is_refused(layout, simulator):
    demo_panel(layout, 2)
    with pytest.raises(ValueError, match="schedule must be one of async, rounds"):
        await run_hunt(Hunt(spec(seeds=[1]), layout), simulator, schedule="barrier")


async def test_a_small_hunt_starts_no_scoring_process(layout, simulator, monkeypatch):
    """Issue 21, item 5: a 33-image hunt peaked at ~1.1 GB on two cores (3 GB on more): every
    round started a pool of one scoring process per core, each loading dlib and the scoring
    stack. A small hunt now scores in a thread of its own process, which has dlib loaded for the
    face order already (the peak itself: bench_hunt.py --timing, "memory")."""
    from workbench.scoring import pipeline, runner

    def no_process(*args, **kwargs):
        raise AssertionError("a small hunt started a scoring process")

    monkeypatch.setattr(pipeline.ScoringPipeline, "_start_workers", no_process)
    monkeypatch.setattr(runner, "_in_pool", no_process)
    demo_panel(layout, 11)
    hunt = Hunt(spec(seeds=[11, 22, 33], top=3), layout)  # 3 candidates on all 11 faces
    result = await run_hunt(hunt, simulator)
    assert result.images_bought == 33
    assert result.top["identity"].notna().all() and len(result.top) == 3
