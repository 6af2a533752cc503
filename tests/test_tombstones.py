"""Erase beats a running sweep: after the tombstone no cell of the person is sent, stored or
logged, what was journalled before is erased with the rest, and the clean-up of unlogged images
never takes another person's results that a live or resumed sweep is about to log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.catalogue import STATUS_OK, Catalogue
from workbench.client import HeadshotClient, RetryPolicy
from workbench.contract import SIMULATOR_BACKEND
from workbench.erase import erase_face
from workbench.journal import Journal, journalled_rows
from workbench.layout import DataLayout
from workbench.leases import Owner
from workbench.panel import Panel
from workbench.run import SweepRun
from workbench.simulator import SimulatorConfig, SimulatorServer
from workbench.simulator.server import SimulatorProcess
from workbench.store import ImageStore
from workbench.sweep import Sweep
from workbench.tombstones import ErasedFaces, Tombstones, tombstone_mark

pytest_plugins = ["sweep_fixtures"]

KEY = "tombstone-test-key-5be1"
RETRY = RetryPolicy(attempts=3, timeout=60.0, wait_initial=0.01, wait_max=0.05)


def every_file(root: Path) -> list[Path]:
    return [Path(d) / name for d, _, names in os.walk(root) for name in names]


def assert_no_trace(layout: DataLayout, face_hash: str) -> None:
    for path in every_file(layout.root):
        assert face_hash.encode() not in path.read_bytes(), f"{path} still names the face"


def assert_every_ok_row_has_its_file(layout: DataLayout) -> None:
    rows = Catalogue(layout.catalogue).runs().query("status == 'ok'")
    missing = [p for p in rows["image_path"] if not (layout.root / p).exists()]
    assert not missing, f"{len(missing)} ok rows whose image is gone"


def test_a_tombstone_binds_only_sweeps_planned_before_it(layout):
    early = ErasedFaces(layout)
    tombstones = Tombstones(layout)
    with tombstones.storing(exclusive=True):
        assert tombstones.lay(["a" * 64, "a" * 64]) == 1
    late = ErasedFaces(layout)
    assert early.erased("a" * 64) and not early.erased("b" * 64)
    assert not late.erased("a" * 64)  # the same photo added again later is swept normally
    # The tombstone holds a one-way mark, never the hash itself.
    (path,) = tombstones.paths()
    assert path.name.startswith(tombstone_mark("a" * 64)) and "a" * 64 not in path.name
    assert (path.stat().st_mode & 0o777) == 0o600


class EraseMidRequest:
    """A client that erases `face_id` while the `nth` request for it is in flight."""

    def __init__(self, inner: HeadshotClient, layout: DataLayout, face_id: str, nth: int):
        self.inner, self.layout, self.face_id, self.nth = inner, layout, face_id, nth
        self.face = Panel(layout).jpeg_bytes(face_id)
        self.seen = 0
        self.report = None

    async def generate(self, params, face):
        if face == self.face:
            self.seen += 1
            if self.seen == self.nth:
                # Other workers keep storing meanwhile; erase waits for them, then wins.
                self.report = await asyncio.to_thread(erase_face, self.layout, self.face_id)
        return await self.inner.generate(params, face)


async def test_an_erase_during_a_sweep_drops_the_face_and_keeps_the_others(panel_layout):
    layout = panel_layout
    hopper = Panel(layout).get("hopper")
    sweep = Sweep.build(
        prompts=["studio", "noir"], seeds="1-6", sizes=["512x512"], concurrency=4
    )  # 24 cells, 12 a face
    run = SweepRun.prepare(sweep, layout, backend=SIMULATOR_BACKEND)
    with SimulatorServer(SimulatorConfig(api_key=KEY, latency_ms=50)) as server:
        async with HeadshotClient(server.url, KEY, max_concurrency=4, retry=RETRY) as inner:
            api = EraseMidRequest(inner, layout, "hopper", nth=3)
            summary = await run.execute(api)
    assert api.report is not None and api.report.faces == 1
    assert summary.erased_after_sending >= 1  # the request in flight at the erase
    assert summary.erased_before_sending >= 12 - 3 - 4  # never sent
    rows = Catalogue(layout.catalogue).runs()
    assert set(rows["face_id"]) == {"astronaut"}
    assert (rows["status"] == STATUS_OK).sum() == 12  # every cell of the other face
    assert journalled_rows(layout) == []
    assert_every_ok_row_has_its_file(layout)
    assert len(ImageStore(layout).hashes()) == 12
    assert_no_trace(layout, hopper.hash)


def test_journalled_results_of_others_survive_an_erase_and_reach_the_catalogue(
    panel_layout,
):
    # A sweep killed before it logged its last results leaves them in its journal, with images
    # already stored (and, on a long run, older than the unlogged clean-up's minute).
    layout = panel_layout
    store = ImageStore(layout)
    panel = Panel(layout)
    hopper, astronaut = panel.get("hopper"), panel.get("astronaut")
    owner = Owner(layout)
    journal = Journal(layout, owner)
    made = {}
    for face in (hopper, astronaut):
        image = store.put(f"portrait of {face.id}".encode())
        os.utime(image.path, (time.time() - 7200, time.time() - 7200))
        made[face.id] = image
        journal.append([journal_row(face, image)])
    owner.close()  # the sweep died: its journal stays behind

    report = erase_face(layout, "hopper")

    assert report.journal_rows == 1 and report.images == 1 and report.unlogged == 0
    assert not made["hopper"].path.exists()
    assert made["astronaut"].path.exists()  # another person's result, about to be logged
    # The next sweep folds the journal in: an ok row whose file is there.
    SweepRun.prepare(
        Sweep.build(prompts=["x"], seeds=1, faces=["astronaut"]), layout, backend=SIMULATOR_BACKEND
    )
    rows = Catalogue(layout.catalogue).runs()
    assert list(rows["face_id"]) == ["astronaut"]
    assert_every_ok_row_has_its_file(layout)
    assert_no_trace(layout, hopper.hash)


def journal_row(face, image):
    from datetime import UTC, datetime

    from workbench.catalogue import CatalogueRow

    return CatalogueRow(
        sweep_id="killed",
        request_key=f"{face.id}-key",
        created_at=datetime.now(UTC),
        backend="simulator",
        prompt="p",
        seed=1,
        sample_number=1,
        identity_scale=0.8,
        width=512,
        height=512,
        face_id=face.id,
        face_hash=face.hash,
        status=STATUS_OK,
        attempts=1,
        latency_ms=1.0,
        sample_index=0,
        image_hash=image.hash,
        image_path=image.relative_path,
    )


@pytest.mark.e2e
def test_erase_while_a_real_sweep_process_runs(panel_layout, tmp_path):
    layout = panel_layout
    hopper = Panel(layout).get("hopper")
    spec = tmp_path / "long.toml"
    spec.write_text(
        'prompts = ["studio", "noir"]\nseeds = "1-30"\nsizes = ["512x512"]\nconcurrency = 4\n'
    )  # 120 cells, 60 a face: at least 9 s at 4 x 300 ms
    catalogue = Catalogue(layout.catalogue)
    with SimulatorProcess(SimulatorConfig(api_key=KEY, latency_ms=300)) as simulator:
        env = {**os.environ, "HEADSHOT_API_URL": simulator.url, "HEADSHOT_API_KEY": KEY}
        sweep = subprocess.Popen(
            [sys.executable, "-m", "workbench", "--data", str(layout.root), "sweep", str(spec)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 120
        while len(catalogue.stored_keys()) < 10:
            assert sweep.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        report = erase_face(layout, "hopper")
        assert sweep.poll() is None, "the sweep ended before the erase: nothing was tested"
        out, _ = sweep.communicate(timeout=180)
    assert sweep.returncode == 0
    assert report.faces == 1 and report.catalogue_rows + report.journal_rows >= 1
    assert "cells of a face erased during the sweep were dropped" in out
    rows = catalogue.runs()
    assert set(rows["face_id"]) == {"astronaut"}
    assert len(rows.query("status == 'ok'")) == 60  # nothing of the other person was lost
    assert_every_ok_row_has_its_file(layout)
    assert_no_trace(layout, hopper.hash)


def test_an_image_stored_again_is_young_again(layout, hopper_jpeg):
    # A resumed sweep re-requesting a cell gets the same bytes: its file must not look like
    # an hour-old orphan to erase's clean-up between storing and logging.
    store = ImageStore(layout)
    first = store.put(hopper_jpeg)
    os.utime(first.path, (time.time() - 3600, time.time() - 3600))
    store.put(hopper_jpeg)
    assert store.age_s(first.hash) < 60


def test_an_erase_with_no_sweep_running_lays_its_tombstone_and_leaves_no_trace(panel_layout):
    hopper = Panel(panel_layout).get("hopper")
    report = erase_face(panel_layout, "hopper")
    assert report.faces == 1 and report.journal_rows == 0
    assert len(Tombstones(panel_layout).paths()) == 1
    assert_no_trace(panel_layout, hopper.hash)
