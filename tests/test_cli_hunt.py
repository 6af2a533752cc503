"""`workbench hunt` as a user runs it: the dry run, a refused budget, the report and the CSV in
process; a real process killed mid-hunt and run again for the resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from cli_helpers import cli
from hunt_fixtures import demo_panel

from workbench.catalogue import Catalogue
from workbench.hunt import Hunt, HuntSpec
from workbench.scoring.leaderboard import LEADERBOARD_COLUMNS
from workbench.simulator import SimulatorConfig
from workbench.simulator.server import SimulatorProcess

SPEC = """
name = "cli hunt"
prompts = ["studio headshot, grey backdrop", "office portrait"]
seeds = "1-4"
sizes = ["512x512"]
concurrency = 8
top = 3
max_images = 24
price_per_image = 0.02
"""


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "hunt.toml"
    path.write_text(SPEC)
    return path


def test_dry_run_shows_the_rounds_and_their_cost_and_sends_nothing(
    layout, spec_file, no_backend_env
):
    demo_panel(layout, 4)
    result = cli(layout, "hunt", str(spec_file), "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "pool: 8 candidates; panel: 4 faces, tried in the order" in out
    assert "round 1: 8 candidate(s) on 2 face(s) (+2 each): 16 images" in out
    assert "the exhaustive sweep would use 32" in out
    assert "dry run: nothing sent." in out
    assert not layout.catalogue.exists() or Catalogue(layout.catalogue).runs().empty


def test_a_budget_too_small_is_one_line_and_sends_nothing(layout, spec_file, no_backend_env):
    demo_panel(layout, 4)
    result = cli(layout, "hunt", str(spec_file), "--max-images", "20")
    assert result.exit_code == 1
    # 8 candidates on 2 faces, then the top 3 on the other 2: 16 + 6.
    assert result.output.startswith("error: budget: 20 images cannot pay for one round")
    assert "raise max_images to 22" in result.output
    assert result.output.count("\n") == 1
    assert not layout.catalogue.exists() or Catalogue(layout.catalogue).runs().empty


# --- A real process, killed ------------------------------------------------------------------

KEY = "cli-hunt-key-3e9a"


def requests_seen(url: str) -> int:
    return httpx.get(url + "/_simulator/stats", timeout=5).json()["requests"]


def start_hunt(layout, spec: Path, url: str, *options: str) -> subprocess.Popen:
    env = {**os.environ, "HEADSHOT_API_URL": url, "HEADSHOT_API_KEY": KEY}
    command = ["-m", "workbench", "--data", str(layout.root), "hunt", str(spec), *options]
    return subprocess.Popen(
        [sys.executable, *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.e2e
def test_a_hunt_killed_mid_round_and_run_again_buys_nothing_twice_and_reports(layout, tmp_path):
    demo_panel(layout, 4)
    spec = tmp_path / "hunt.toml"
    spec.write_text(SPEC.replace("concurrency = 8", "concurrency = 2"))
    planned = Hunt(HuntSpec.load(spec), layout, top=2).plan().schedule.images
    catalogue = Catalogue(layout.catalogue)
    with SimulatorProcess(SimulatorConfig(api_key=KEY, latency_ms=150)) as simulator:
        process = start_hunt(layout, spec, simulator.url, "--top", "2")
        deadline = time.monotonic() + 300  # the process starts, orders the faces, then buys
        while len(catalogue.stored_keys()) < 4:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert len(catalogue.stored_keys()) < planned  # killed mid-hunt

        csv = tmp_path / "ranking.csv"
        rerun = start_hunt(layout, spec, simulator.url, "--top", "2", "--csv", str(csv))
        out, err = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, err
        # Every image received before the kill was kept (the engine's journal) and not bought
        # again; only the requests in flight at the kill (at most `concurrency`) never arrived.
        assert planned <= requests_seen(simulator.url) <= planned + 2
    ok = catalogue.runs().query("status == 'ok'")
    assert len(ok) == planned and ok["request_key"].is_unique
    # The report, the top K on the whole panel, and the ranking as CSV.
    assert "round 1: 8 candidate(s) on 2 face(s)" in out
    assert "the exhaustive sweep would use 32" in out
    assert "top 2 on all 4 faces:" in out
    ranking = pd.read_csv(csv)
    assert set(LEADERBOARD_COLUMNS) <= set(ranking.columns)
    assert len(ranking) == 8  # every candidate once, best first
    assert list(ranking["faces"].head(2)) == [4, 4]
    assert ranking["round"].is_monotonic_decreasing
