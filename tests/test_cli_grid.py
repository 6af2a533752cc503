"""`workbench grid` as a user runs it: from the catalogue, with --run against the embedded
simulator, and --restore of a saved PNG."""

from __future__ import annotations

import pytest
from cli_helpers import cli
from click.testing import CliRunner
from hostile_files import crafted_grid_pngs
from PIL import Image

from workbench.catalogue import Catalogue
from workbench.cli import main
from workbench.grids import restore_grid_params

pytest_plugins = ["sweep_fixtures"]


@pytest.mark.e2e
def test_grid_runs_the_missing_cells_draws_and_restores(panel_layout, tmp_path, no_backend_env):
    out = tmp_path / "grid.png"
    args = ["grid", "--prompt", "studio portrait", "--seed", "1-3", "--size", "512x512"]
    result = cli(panel_layout, *args, "--samples", "2", "--run", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "running: 6 requests to send" in result.output
    assert f"{out}: " in result.output and "2 faces × 3 seed columns; 12 images" in result.output
    with Image.open(out) as image:
        assert image.format == "PNG"
    assert len(Catalogue(panel_layout.catalogue).runs()) == 12

    printed = cli(panel_layout, "grid", "--restore", str(out))
    assert printed.exit_code == 0, printed.output
    assert 'prompts = ["studio portrait"]' in printed.output
    assert "seeds = [1, 2, 3]" in printed.output
    assert 'sizes = ["512x512"]' in printed.output

    again = tmp_path / "again.png"
    rerun = cli(panel_layout, "grid", "--restore", str(out), "--run", "--out", str(again))
    assert rerun.exit_code == 0, rerun.output
    assert "running: 0 requests to send, 6 stored" in rerun.output
    assert restore_grid_params(again).params["seeds"] == [1, 2, 3]


def test_grid_errors_are_one_line(panel_layout, tmp_path):
    out = str(tmp_path / "g.png")
    result = CliRunner().invoke(
        main, ["--data", str(panel_layout.root), "grid", "--prompt", "nothing", "--out", out]
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: prompt: no catalogue rows for 'nothing'")
    assert "Traceback" not in result.output
    bad_seed = CliRunner().invoke(
        main,
        ["--data", str(panel_layout.root), "grid", "--prompt", "x", "--seed", "0", "--out", out],
    )
    assert bad_seed.exit_code == 1 and "error: seed:" in bad_seed.output
    no_prompt = CliRunner().invoke(main, ["--data", str(panel_layout.root), "grid", "--out", out])
    assert no_prompt.exit_code == 1 and "error: prompt:" in no_prompt.output


@pytest.mark.parametrize("name", sorted(crafted_grid_pngs()))
def test_a_crafted_grid_png_gets_one_line_naming_it_never_a_traceback(layout, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(crafted_grid_pngs()[name])
    result = cli(layout, "grid", "--restore", str(path), "--run")
    assert result.exit_code == 1, result.output
    # A clean exit with one line, not an exception escaping the command.
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert result.output.count("\n") == 1 and f"{path}: " in result.output
    assert len(result.output) < len(str(path)) + 220, result.output
    assert not layout.catalogue.exists() or not any(layout.catalogue.rglob("*.parquet"))
