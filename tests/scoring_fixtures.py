"""Fixtures for the scoring tests (the data itself: scoring_data.py)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest
from scoring_data import BAD, FACES, GOOD, descriptor_length, write_faces, write_scored

from workbench.client import HeadshotClient
from workbench.contract import SIMULATOR_BACKEND
from workbench.layout import DataLayout


@pytest.fixture(scope="session")
def vector_length() -> int:
    return descriptor_length()


@pytest.fixture
def stored_catalogue(layout, vector_length) -> list[str]:
    """GOOD and BAD on six faces: GOOD's style never moves, BAD's jumps face by face.
    Returns GOOD's image hashes."""
    write_faces(layout)
    rng = np.random.default_rng(3)
    base = np.zeros(vector_length, dtype=np.float32)
    rows = write_scored(layout, GOOD, FACES, lambda i: base)
    write_scored(
        layout,
        BAD,
        FACES,
        lambda i: (base + rng.normal(0, 6, vector_length)).astype(np.float32),
        identity=0.5,
    )
    return [row.image_hash for row in rows]


REPO_FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
# Four committed demo faces (already normalised, so no detection is needed to set them up).
SWEPT_FACES = ("grace-hopper", "openpeople-p004", "openpeople-p005", "openpeople-p009")
SWEEP_SPEC = """
name = "scoring test"
prompts = ["studio headshot, soft light", "neon street portrait"]
seeds = [1]
sizes = ["512x512"]
identity_scales = [0.8]
sample_number = 1
concurrency = 8
price_per_image = 0.5
"""


@pytest.fixture(scope="session")
def swept_root(tmp_path_factory) -> Path:
    """A data root with four faces and a small sweep run on the simulator over loopback
    (2 candidates x 4 faces = 8 images), nothing scored. Copy it before changing it."""
    from sweep_fixtures import write_panel

    from workbench.run import SweepRun
    from workbench.simulator import SimulatorServer
    from workbench.sweep import Sweep

    layout = DataLayout(tmp_path_factory.mktemp("swept") / "data")
    write_panel(layout, {face: (REPO_FACES / f"{face}.jpg").read_bytes() for face in SWEPT_FACES})
    run = SweepRun.prepare(Sweep.from_toml(SWEEP_SPEC), layout, backend=SIMULATOR_BACKEND)

    async def go(url: str, key: str) -> None:
        async with HeadshotClient(url, key, max_concurrency=8) as client:
            await run.execute(client, backend=SIMULATOR_BACKEND)

    with SimulatorServer() as simulator:
        asyncio.run(go(simulator.url, simulator.api_key))
    return layout.root


@pytest.fixture
def swept(swept_root, tmp_path) -> DataLayout:
    """A private copy of `swept_root`."""
    target = tmp_path / "data"
    shutil.copytree(swept_root, target)
    return DataLayout(target)
