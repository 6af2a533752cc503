"""The demo: the public-domain demo panel and the demo sweeps on the embedded simulator, for a data
root that has nothing yet (`workbench demo`, the companion notebooks), and `run_demo` — panel,
demo sweep, scoring, leaderboard in one call (the app's first start).

Everything here runs against the embedded simulator whatever the environment says: a demo must
never spend on the real API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from workbench.backend import Backend
from workbench.catalogue import STATUS_OK, Catalogue
from workbench.client import RetryPolicy
from workbench.contract import SIMULATOR_MODEL_VERSION
from workbench.errors import InputError
from workbench.hunt.schedule import face_order
from workbench.layout import DataLayout, make_private_dir, write_atomically
from workbench.panel import MANIFEST_NAME, Panel, build_demo_panel
from workbench.run import ProgressCallback, SweepSummary, run_sweep
from workbench.simulator import Faults, SimulatorConfig, SimulatorServer
from workbench.sweep import Sweep

if TYPE_CHECKING:
    from workbench.scoring.runner import ScoreSummary
    from workbench.templates import DriftReport

# The repository's own data folder: the demo panel and example sweeps ship there.
REPO_DATA = Path(__file__).resolve().parents[1] / "data"
DEMO_SWEEP = "demo.toml"
# Real-looking conditions: a quarter-second per request and a few faults, so the demo shows
# retries healing most failures and the rest logged as data.
DEMO_SIMULATOR = SimulatorConfig(
    latency_ms=250,
    faults=Faults(error_rate=0.05, rate_limit_rate=0.05, malformed_rate=0.02, retry_after_s=0.2),
)
DEMO_RETRY = RetryPolicy(attempts=4, timeout=30.0, wait_initial=0.1, wait_max=1.0)
DEMO_TIMEOUT_S = 10.0
# The small demo seeds an empty catalogue in seconds (2 prompts x 2 seeds x 2 scales x 6 faces =
# 48 images; scoring them takes longer than making them) yet has what the analysis needs: several
# faces per candidate for a confidence interval, two identity scales, faces from several
# skin-tone and age groups.
SMALL_DEMO_PROMPTS = 2
SMALL_DEMO_SEEDS = "1-2"
SMALL_DEMO_FACES = 6
# The provider publishes no price; the small demo uses this one so that cost figures have
# something to show. It is written on every row it makes, like any sweep's price.
SMALL_DEMO_PRICE = 0.02


def demo_sweep_path(layout: DataLayout) -> Path:
    """The demo sweep file: `<data>/sweeps/demo.toml` if the user keeps one, else the repository's."""
    for candidate in (layout.sweeps / DEMO_SWEEP, REPO_DATA / "sweeps" / DEMO_SWEEP):
        if candidate.exists():
            return candidate
    raise InputError(f"no {DEMO_SWEEP} in {layout.sweeps} or {REPO_DATA / 'sweeps'}")


def ensure_demo_panel(layout: DataLayout) -> str | None:
    """Give a data root without faces the demo panel (public domain and synthetic people): a copy
    of the repository's `data/faces/`, else built from the packaged photos. Says what it did, or
    None when the panel already had faces."""
    if Panel(layout).faces():
        return None
    source = REPO_DATA / "faces"
    if (source / MANIFEST_NAME).exists() and source.resolve() != layout.faces.resolve():
        make_private_dir(layout.faces)
        for face in Panel(DataLayout(REPO_DATA)).faces():
            _copy_private(source / f"{face.id}.jpg", layout.faces / f"{face.id}.jpg")
        _copy_private(source / MANIFEST_NAME, layout.faces / MANIFEST_NAME)
        done = f"copied the demo panel into {layout.faces}"
    else:
        build_demo_panel(layout)
        done = f"built the demo panel in {layout.faces}"
    if not Panel(layout).faces():
        raise InputError(
            f"no faces in {layout.faces}: add some with `workbench faces add PHOTO...` "
            "or `workbench faces demo`"
        )
    return done


def small_demo_sweep(layout: DataLayout) -> Sweep:
    """The demo sweep cut down to seed an empty catalogue: its first prompts, seeds 1-3, both
    identity scales, on the panel's most varied faces (farthest-point order over attributes)."""
    demo = Sweep.load(demo_sweep_path(layout))
    faces = [face.id for face in face_order(Panel(layout).faces())[:SMALL_DEMO_FACES]]
    return Sweep.build(
        name="small demo",
        prompts=demo.prompts[:SMALL_DEMO_PROMPTS],
        seeds=SMALL_DEMO_SEEDS,
        identity_scales=demo.identity_scales,
        sizes=demo.sizes,
        sample_number=1,
        faces=faces,
        concurrency=demo.concurrency,
        max_images=demo.max_images,
        price_per_image=SMALL_DEMO_PRICE,
    )


@contextmanager
def quiet_retries() -> Iterator[None]:
    """stamina logs each retry at WARNING, which would fill a cell's output; the catalogue
    records attempts per request anyway."""
    logger = logging.getLogger("stamina")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


async def run_on_simulator(
    sweep: Sweep,
    layout: DataLayout,
    *,
    simulator: SimulatorConfig = DEMO_SIMULATOR,
    on_progress: ProgressCallback | None = None,
) -> SweepSummary:
    """Run `sweep` against a fresh embedded simulator (never the real API), with the demo's
    retry policy, storing and cataloguing like any sweep."""
    with quiet_retries(), SimulatorServer(simulator) as server:
        backend = Backend.of_simulator(server)
        async with backend.client(
            max_concurrency=sweep.concurrency, retry=DEMO_RETRY, timeout=DEMO_TIMEOUT_S
        ) as client:
            return await run_sweep(
                sweep, layout, client, backend=backend.identity, on_progress=on_progress
            )


def has_images(layout: DataLayout) -> bool:
    """Whether the catalogue holds at least one stored image."""
    found = Catalogue(layout.catalogue).query(
        f"SELECT count(*) AS n FROM runs WHERE status = '{STATUS_OK}'"
    )
    return bool(int(found["n"].iloc[0]))


async def seed_empty_catalogue(
    layout: DataLayout, *, on_progress: ProgressCallback | None = None
) -> SweepSummary | None:
    """If the catalogue has no image yet: the demo panel (when there are no faces) and the small
    demo sweep on the embedded simulator. None when there was something already."""
    if has_images(layout):
        return None
    ensure_demo_panel(layout)
    return await run_on_simulator(small_demo_sweep(layout), layout, on_progress=on_progress)


def _copy_private(source: Path, target: Path) -> None:
    """A copy readable by its owner only, like every face file the workbench writes."""
    write_atomically(target, source.read_bytes(), durable=True)


LEADERBOARD_TOP = 5


@dataclass(frozen=True)
class DemoProgress:
    """Where `run_demo` is: `stage` is "panel", "sweep" or "score"; `done` of `total` units
    (images, for the sweep and scoring)."""

    stage: str
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class DemoResult:
    panel_note: str | None  # what happened to the panel; None when it had faces already
    sweep: SweepSummary
    scoring: ScoreSummary
    leaderboard: pd.DataFrame  # the top candidates


def run_demo(
    layout: DataLayout,
    *,
    spec: Path | None = None,
    on_progress: Callable[[DemoProgress], None] | None = None,
    top: int = LEADERBOARD_TOP,
) -> DemoResult:
    """Make sure the demo panel exists, the demo sweep (or `spec`) has run on the embedded
    simulator and its images are scored; return the top of the leaderboard. Running it again
    only does what is missing (failed cells, new images). Synchronous: call it from a worker
    thread (the app) or a script, not from inside a running event loop."""
    from workbench.scoring.leaderboard import leaderboard  # the scoring stack loads lazily
    from workbench.scoring.runner import score_catalogue

    report = on_progress or (lambda progress: None)
    report(DemoProgress("panel", 0, 1, "checking the demo panel"))
    note = ensure_demo_panel(layout)
    report(DemoProgress("panel", 1, 1, note or "the panel has faces"))
    sweep = Sweep.load(spec or demo_sweep_path(layout))
    summary = asyncio.run(
        run_on_simulator(
            sweep,
            layout,
            on_progress=lambda p: report(DemoProgress("sweep", p.images_done, p.images_total)),
        )
    )
    scoring = score_catalogue(
        layout, on_progress=lambda done, total: report(DemoProgress("score", done, total))
    )
    return DemoResult(note, summary, scoring, leaderboard(layout, top=top))


async def check_drift_on_simulator(
    layout: DataLayout, *, model_version: int = SIMULATOR_MODEL_VERSION, **options
) -> DriftReport:
    """The templates' drift check (`workbench.templates.check_drift`) against a fresh embedded
    simulator. A later `model_version` than the default renders other styles for the same
    request, as a model update at the provider would: the check should catch it."""
    from workbench.templates import check_drift  # the scoring stack loads lazily

    config = SimulatorConfig(model_version=model_version)
    with quiet_retries(), SimulatorServer(config) as server:
        backend = Backend.of_simulator(server)
        async with backend.client(retry=DEMO_RETRY, timeout=DEMO_TIMEOUT_S) as client:
            return await check_drift(layout, client, backend=backend.identity, **options)
