"""Scoring while images arrive (`workbench.scoring.pipeline`): a sweep's images are scored as
they are stored, the verdicts are the ones `workbench score` would write, and a caller that
decides on style alone gets every style verdict before any identity one."""

from __future__ import annotations

import pytest

from workbench.catalogue import STATUS_OK, Catalogue
from workbench.client import HeadshotClient, RetryPolicy
from workbench.run import SweepRun
from workbench.scoring.identity import IDENTITY_SCORER, IDENTITY_VERSION
from workbench.scoring.pipeline import (
    INLINE_MAX_IMAGES,
    ScoringPipeline,
    StoredImage,
    pipeline_workers,
    score_while_sweeping,
)
from workbench.scoring.runner import score_catalogue
from workbench.scoring.store import ScoreStore
from workbench.scoring.style import STYLE_SCORER, STYLE_VERSION
from workbench.simulator import SimulatorConfig, SimulatorServer
from workbench.sweep import Sweep

pytest_plugins = ["sweep_fixtures"]

KEY = "pipeline-test-key"
RETRY = RetryPolicy(attempts=3, timeout=120.0, wait_initial=0.01, wait_max=0.05)


def test_a_few_images_are_scored_in_a_thread_and_many_on_every_core():
    assert pipeline_workers(33, cores=8) == 0  # a small hunt starts no worker process
    assert pipeline_workers(INLINE_MAX_IMAGES, cores=8) == 0
    assert pipeline_workers(175, cores=2) == 2
    assert pipeline_workers(175, cores=8) == 3  # one per INLINE_MAX_IMAGES images
    assert pipeline_workers(10_000, cores=8) == 8
    assert pipeline_workers(10_000, cores=1) == 1


def sweep(**fields) -> Sweep:
    base = {
        "name": "pipeline",
        "prompts": ["studio headshot, grey backdrop"],
        "seeds": "1-4",
        "sizes": ["512x512"],
        "concurrency": 4,
    }
    return Sweep.build(source="test", **{**base, **fields})


@pytest.fixture(scope="module")
def simulator():
    with SimulatorServer(SimulatorConfig(api_key=KEY)) as server:
        yield server


def stored(layout) -> set[tuple[str, str]]:
    table = Catalogue(layout.catalogue).runs(["image_hash", "face_hash", "status"])
    table = table[table["status"] == STATUS_OK]
    return set(zip(table["image_hash"], table["face_hash"], strict=True))


@pytest.mark.e2e
async def test_a_sweep_scored_while_it_runs_leaves_nothing_for_workbench_score(
    panel_layout, simulator
):
    run = SweepRun.prepare(sweep(), panel_layout, backend="simulator")
    seen: list[tuple[int, int]] = []
    async with HeadshotClient(simulator.url, KEY, max_concurrency=4, retry=RETRY) as client:
        summary, pipeline = await score_while_sweeping(
            run,
            client,
            backend="simulator",
            on_scored=lambda done, submitted: seen.append((done, submitted)),
            workers=1,  # a worker process, as the app uses
        )
    assert summary.images_stored == 8 and summary.stopped is None
    assert pipeline.done == pipeline.submitted == 8
    assert seen[-1] == (8, 8)
    images = stored(panel_layout)
    store = ScoreStore(panel_layout)
    assert store.scored_keys(STYLE_SCORER, STYLE_VERSION) == images
    assert store.scored_keys(IDENTITY_SCORER, IDENTITY_VERSION) == images
    # The verdicts are the ones `workbench score` writes: it finds nothing left to do.
    assert score_catalogue(panel_layout).scored == 0


@pytest.mark.e2e
async def test_style_comes_first_when_identity_is_deferred(panel_layout, simulator):
    run = SweepRun.prepare(sweep(seeds="1-3"), panel_layout, backend="simulator")
    async with HeadshotClient(simulator.url, KEY, max_concurrency=4, retry=RETRY) as client:
        await run.execute(client)
    rows = Catalogue(panel_layout.catalogue).runs(["image_hash", "face_hash", "image_path"])
    images = [StoredImage(*row) for row in rows.itertuples(index=False)]
    order: list[str] = []
    async with ScoringPipeline(
        panel_layout,
        workers=0,
        defer_identity=True,
        on_scored=lambda scored: order.extend(row.scorer for row in scored),
    ) as pipeline:
        needs = pipeline.add(images)
        assert needs == [(True, True)] * len(images)
        assert pipeline.add(images[:1]) == [(False, False)]  # queued already: not twice
    assert order == [STYLE_SCORER] * len(images) + [IDENTITY_SCORER] * len(images)
    assert score_catalogue(panel_layout).scored == 0


OWNER = """
import asyncio, sys
from pathlib import Path
from workbench.layout import DataLayout
from workbench.scoring.pipeline import ScoringPipeline

async def main():
    async with ScoringPipeline(DataLayout(Path(sys.argv[1])), workers=1):
        print("started", flush=True)
        await asyncio.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


@pytest.mark.e2e
def test_scoring_workers_end_when_their_owner_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    script = tmp_path / "owner.py"
    script.write_text(OWNER, encoding="utf-8")
    owner = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert owner.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the worker is spawned by then, or soon after
            children = psutil.Process(owner.pid).children(recursive=True)
            if any("spawn_main" in " ".join(c.cmdline()) for c in children):
                break
            time.sleep(0.2)
        workers = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
        assert workers
    finally:
        owner.send_signal(signal.SIGKILL)  # no chance to stop its pool
        owner.wait()
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, f"workers outlived their owner: {alive}"
