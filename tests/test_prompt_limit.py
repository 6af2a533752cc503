"""One prompt limit (contract.PROMPT_MAX_CHARS), checked by every path before it spends: a sweep,
a hunt, a grid's --run, a restored grid's --run (issue 21: a crafted PNG with a 10 MB prompt),
`generate`, templates and the app's forms. Each refusal is one line that never quotes the prompt;
nothing is sent and nothing is stored."""

from __future__ import annotations

import json

import pytest
from cli_helpers import cli
from hostile_files import grid_metadata, png_with_text

from workbench.app.hunt import hunt_from_form
from workbench.app.sweep import sweep_from_form
from workbench.app.templates import save_template
from workbench.contract import PROMPT_MAX_CHARS
from workbench.errors import InputError
from workbench.simulator import SimulatorConfig, SimulatorServer

pytest_plugins = ["sweep_fixtures"]

KEY = "prompt-limit-key-UNIQUE-77e1"
LONG = "studio portrait, " + "x" * PROMPT_MAX_CHARS  # one past the limit, and then some
HUGE = "x" * 10 * 2**20  # the crafted grid's 10 MB prompt
LIMIT = f"the limit is {PROMPT_MAX_CHARS:,}"


@pytest.fixture
def simulator(monkeypatch):
    """The API the commands would spend on, counting every request it gets."""
    with SimulatorServer(SimulatorConfig(api_key=KEY)) as server:
        monkeypatch.setenv("HEADSHOT_API_URL", server.url)
        monkeypatch.setenv("HEADSHOT_API_KEY", KEY)
        yield server


def sweep_toml(path, prompt: str) -> str:
    path.write_text(f'prompts = [{json.dumps(prompt)}]\nseeds = "1-3"\nsizes = "512x512"\n')
    return str(path)


def commands(tmp_path, sample_faces) -> dict[str, list[str]]:
    face = tmp_path / "face.jpg"
    face.write_bytes(sample_faces["hopper"])
    crafted = tmp_path / "crafted.png"
    crafted.write_bytes(png_with_text(grid_metadata(prompts=[HUGE])))
    out = str(tmp_path / "out")
    grid_out = str(tmp_path / "grid.png")
    return {
        "sweep": ["sweep", sweep_toml(tmp_path / "sweep.toml", LONG)],
        "hunt": ["hunt", sweep_toml(tmp_path / "hunt.toml", LONG)],
        "grid --run": ["grid", "--prompt", LONG, "--seed", "1-3", "--run", "--out", grid_out],
        "grid --restore --run": ["grid", "--restore", str(crafted), "--run", "--out", grid_out],
        "generate": ["generate", "--face", str(face), "--prompt", LONG, "--out", out],
        "templates save": ["templates", "save", "long", "--prompt", LONG, "--seed", "7"],
    }


@pytest.mark.e2e
@pytest.mark.parametrize(
    "path",
    ["sweep", "hunt", "grid --run", "grid --restore --run", "generate", "templates save"],
)
def test_every_command_refuses_an_over_long_prompt_before_it_spends(
    path, panel_layout, tmp_path, sample_faces, simulator
):
    result = cli(panel_layout, *commands(tmp_path, sample_faces)[path])
    assert result.exit_code == 1, result.output[-500:]
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert LIMIT in result.output and "characters long" in result.output
    assert len(result.output) < 400  # the prompt is never quoted back
    assert simulator.stats.requests == 0  # nothing spent
    catalogue = panel_layout.catalogue
    assert not catalogue.exists() or not any(catalogue.rglob("*.parquet"))  # nothing stored
    assert not (tmp_path / "out").exists() and not (tmp_path / "grid.png").exists()
    assert not panel_layout.templates.exists()


def test_a_restored_grid_with_a_10mb_prompt_names_the_file_and_the_limit(layout, tmp_path):
    crafted = tmp_path / "crafted.png"
    crafted.write_bytes(png_with_text(grid_metadata(prompts=["studio", HUGE])))
    result = cli(layout, "grid", "--restore", str(crafted))
    assert result.exit_code == 1
    assert result.output == (
        f"error: {crafted}: grid metadata prompts.1: is 10,485,760 characters long; {LIMIT}\n"
    )


def form(prompts: str) -> list:
    # The Sweep tab's fields, in order: prompts, seeds, scales, size, custom size, samples,
    # faces, max images, price.
    return [prompts, "1-3", "0.8", "3:4", "", 1, None, None, 0.0]


def test_the_apps_sweep_and_hunt_forms_refuse_an_over_long_prompt():
    for build in (
        lambda values: sweep_from_form(*values, concurrency=4),
        lambda values: hunt_from_form(*values, top=3, concurrency=4),
    ):
        with pytest.raises(
            InputError, match=f"prompts: prompt 2 is 4,017 characters long; {LIMIT}"
        ):
            build(form(f"office\n{LONG}"))
        assert build(form("office\n" + "y" * PROMPT_MAX_CHARS))  # the limit itself is fine


def test_templates_share_the_contracts_limit(panel_layout):
    with pytest.raises(InputError, match=LIMIT):
        save_template(panel_layout, "long", LONG, 7, 0.8, "768x1024", "", "", by="tester")
    assert not panel_layout.templates.exists()
