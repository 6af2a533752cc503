"""The Sweep tab's Hunt control as plain functions over the library: the form becomes the hunt a
TOML file would, and a hunt run from the app reports its rounds and ends with the winners."""

from __future__ import annotations

import pytest

from workbench.app import hunt as hunt_controls
from workbench.app.context import AppContext
from workbench.backend import Backend
from workbench.hunt import HuntSpec
from workbench.simulator import SimulatorConfig, SimulatorServer

pytest_plugins = ["sweep_fixtures"]

KEY = "app-hunt-key-2b8d"
FORM = dict(
    prompts="studio headshot\nfilm noir portrait\n",
    seeds="1-2",
    scales="0.8",
    size="custom",
    custom_size="512x512",
    samples=1,
    faces=None,
    max_images=None,
    price_per_image=0.02,
)


def test_the_form_builds_the_hunt_a_toml_file_would():
    from_form = hunt_controls.hunt_from_form(*FORM.values(), top=3, concurrency=4)
    from_file = HuntSpec.from_toml(
        'name = "app hunt"\nprompts = ["studio headshot", "film noir portrait"]\n'
        'seeds = ["1-2"]\nsizes = ["512x512"]\nprice_per_image = 0.02\nconcurrency = 4\n'
        "top = 3\n"
    )
    assert from_form == from_file


def test_random_seeds_from_the_form_are_the_same_each_time_so_hunt_resumes():
    form = {**FORM, "seeds": "random:5"}
    first = hunt_controls.hunt_from_form(*form.values(), top=3, concurrency=4)
    again = hunt_controls.hunt_from_form(*form.values(), top=3, concurrency=4)
    assert first.seed_values() == again.seed_values()


@pytest.mark.e2e
async def test_a_hunt_from_the_app_shows_progress_then_the_winners(panel_layout, tmp_path):
    with SimulatorServer(SimulatorConfig(api_key=KEY)) as simulator:
        backend = Backend(url=simulator.url, api_key=KEY, kind="simulator")
        ctx = AppContext(layout=panel_layout, backend=backend, api_concurrency=4, exports=tmp_path)
        spec = hunt_controls.hunt_from_form(*FORM.values(), top=2, concurrency=4)
        updates = [update async for update in hunt_controls.run_hunt(ctx, spec)]
    first_progress, _ = updates[0]
    assert "Hunt: 8 images, cost 0.16" in first_progress
    last_progress, table = updates[-1]
    assert "done: rounds 4→2" in last_progress
    assert len(table) == 2 and set(table["faces"]) == {2}
    assert {"prompt", "seed", "worst_face_consistency", "consistency"} <= set(table.columns)
