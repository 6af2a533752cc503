"""`workbench sweep`, `workbench catalogue` and `workbench demo` as a user runs them: the CLI in
process for the quick checks, real processes (killed, interrupted) for the crash ones."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cli_helpers import cli
from click.testing import CliRunner

from workbench.catalogue import Catalogue
from workbench.cli import main
from workbench.contract import SIMULATOR_BACKEND
from workbench.simulator import SimulatorConfig
from workbench.simulator.server import SimulatorProcess

# The `panel_layout` fixture: a data root with a two-face panel.
pytest_plugins = ["sweep_fixtures"]

SPEC = """
name = "cli test"
prompts = ["studio", "noir"]
seeds = "1-3"
sizes = ["512x512"]
sample_number = 2
concurrency = 8
price_per_image = 0.5
"""


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(SPEC)
    return path


def test_dry_run_shows_the_cost_and_sends_nothing(panel_layout, spec_file, no_backend_env):
    result = cli(panel_layout, "sweep", str(spec_file), "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "planned: 12 requests (24 images); 0 already stored" in out
    assert "to send: 12 requests, 24 images" in out
    assert "estimated cost: 12.00" in out
    assert "estimated time:" in out
    assert "dry run: nothing sent" in out
    assert not (panel_layout.catalogue / "runs").exists()
    assert not panel_layout.images.exists()


def test_sweep_runs_summarises_and_resumes(panel_layout, spec_file, no_backend_env):
    result = cli(panel_layout, "sweep", str(spec_file))
    assert result.exit_code == 0, result.output
    assert "sent 12 requests (0 already stored); stored 24 images" in result.output
    assert "cost 12.00" in result.output
    assert len(Catalogue(panel_layout.catalogue).runs()) == 24

    again = cli(panel_layout, "sweep", str(spec_file))
    assert "12 already stored, skipped" in again.output
    assert "to send: 0 requests" in again.output
    assert "median of 12 past requests" in again.output  # the estimate learns from the log

    show = cli(panel_layout, "catalogue", "show", "-n", "3", "--prompt", "noir")
    assert show.exit_code == 0 and show.output.count("noir") == 3
    assert "backend" in show.output.splitlines()[0] and "simulator" in show.output
    as_json = cli(panel_layout, "catalogue", "show", "--json", "--seed", "2", "--face", "hopper")
    assert as_json.output.count('"request_key"') == 4  # 2 prompts x 2 samples

    stats = cli(panel_layout, "catalogue", "stats")
    assert "24 rows: 24 images, 0 failures (0 cells still failing)" in stats.output
    assert "1 sweeps" in stats.output

    compact = cli(panel_layout, "catalogue", "compact")
    assert compact.exit_code == 0 and "parts" in compact.output
    assert len(Catalogue(panel_layout.catalogue).parts()) == 1
    assert len(Catalogue(panel_layout.catalogue).runs()) == 24


@pytest.mark.e2e
def test_sweep_score_scores_the_images_while_they_arrive(panel_layout, spec_file, no_backend_env):
    from workbench.scoring.runner import score_catalogue

    result = cli(panel_layout, "sweep", str(spec_file), "--score")
    assert result.exit_code == 0, result.output
    assert "stored 24 images" in result.output
    assert "scored 24 new images while they arrived" in result.output
    assert score_catalogue(panel_layout).scored == 0  # nothing left for `workbench score`


def test_a_bad_spec_is_one_line_naming_the_field(panel_layout, tmp_path, no_backend_env):
    path = tmp_path / "bad.toml"
    path.write_text('prompts = ["a"]\nseeds = "1-50 (+0)"\n')
    result = cli(panel_layout, "sweep", str(path))
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert "seeds (line 2)" in result.output and "Traceback" not in result.output


def test_unknown_face_is_reported_before_anything_is_sent(panel_layout, tmp_path, no_backend_env):
    path = tmp_path / "faces.toml"
    path.write_text('prompts = ["a"]\nseeds = 1\nfaces = ["nobody"]\n')
    result = cli(panel_layout, "sweep", str(path), "--dry-run")
    assert result.exit_code == 1
    assert "faces: no face with id nobody (known: hopper, astronaut)" in result.output


# --- Real processes ----------------------------------------------------------------------

KEY = "cli-sweep-key-77d1"


@pytest.fixture(scope="module")
def slow_simulator():
    """`workbench simulate` in its own process, 150 ms per request."""
    with SimulatorProcess(SimulatorConfig(api_key=KEY, latency_ms=150)) as simulator:
        yield simulator.url


def requests_seen(url: str) -> int:
    return httpx.get(url + "/_simulator/stats", timeout=5).json()["requests"]


def _sigint_as_at_a_terminal() -> None:
    # A suite started in the background (`cmd &` without job control, as CI runners may) has
    # SIGINT ignored, and children inherit that: Python then leaves Ctrl-C ignored too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_sweep(layout, spec: Path, url: str) -> subprocess.Popen:
    env = {**os.environ, "HEADSHOT_API_URL": url, "HEADSHOT_API_KEY": KEY}
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", "--data", str(layout.root), "sweep", str(spec)],
        env=env,
        preexec_fn=_sigint_as_at_a_terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_stored(catalogue: Catalogue, count: int, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    while (stored := len(catalogue.stored_keys())) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return stored


LONG_SPEC = SPEC.replace('seeds = "1-3"', 'seeds = "1-20"').replace(
    "concurrency = 8", "concurrency = 4"
)


@pytest.mark.e2e
def test_killed_mid_run_then_rerun_pays_for_nothing_twice(panel_layout, tmp_path, slow_simulator):
    spec = tmp_path / "long.toml"
    spec.write_text(LONG_SPEC)  # 80 cells, ~3 s at 4 x 150 ms
    catalogue = Catalogue(panel_layout.catalogue)
    before = requests_seen(slow_simulator)
    process = start_sweep(panel_layout, spec, slow_simulator)
    wait_for_stored(catalogue, 12, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    # A writer killed mid-write leaves a temp file; it must never be read.
    (catalogue.runs_dir / ".part-20990101T000000000000Z-1-dead.parquet.tmp").write_bytes(b"PAR1")
    assert 12 <= len(catalogue.stored_keys()) < 80  # reads cleanly

    rerun = start_sweep(panel_layout, spec, slow_simulator)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    # Every result received before the kill was journalled: only requests in flight at the
    # kill (at most `concurrency` = 4) are bought twice.
    assert requests_seen(slow_simulator) - before <= 80 + 4
    assert len(catalogue.stored_keys()) == 80
    ok = catalogue.runs().query("status == 'ok'")
    assert len(ok) == 160 and not ok.duplicated(["request_key", "sample_index"]).any()
    assert not list((panel_layout.state / "journal").glob("*.jsonl"))


@pytest.mark.e2e
def test_two_sweeps_into_one_data_folder_buy_each_cell_once(panel_layout, tmp_path, slow_simulator):
    spec = tmp_path / "long.toml"
    spec.write_text(LONG_SPEC)  # 80 cells
    before = requests_seen(slow_simulator)
    first, second = (start_sweep(panel_layout, spec, slow_simulator) for _ in range(2))
    outputs = [process.communicate(timeout=180) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert requests_seen(slow_simulator) - before == 80
    catalogue = Catalogue(panel_layout.catalogue)
    ok = catalogue.runs().query("status == 'ok'")
    assert len(ok) == 160 and not ok.duplicated(["request_key", "sample_index"]).any()
    assert set(ok["backend"]) == {SIMULATOR_BACKEND}  # reached by URL: the simulator's model


def closed_port_url() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.e2e
def test_a_dead_api_stops_the_sweep_early_with_one_line(panel_layout, spec_file, monkeypatch):
    monkeypatch.setenv("HEADSHOT_API_URL", closed_port_url())
    monkeypatch.setenv("HEADSHOT_API_KEY", "k")
    started = time.monotonic()
    result = cli(panel_layout, "sweep", str(spec_file))
    assert result.exit_code == 4
    assert time.monotonic() - started < 40  # one wave of retries, not every cell's
    stopped = [line for line in result.stderr.splitlines() if line.startswith("STOPPED")]
    assert len(stopped) == 1 and "could not reach the API" in stopped[0]
    assert "Traceback" not in result.output


def test_a_run_where_every_request_failed_does_not_exit_0(panel_layout, spec_file, monkeypatch):
    from workbench.simulator import Faults

    config = SimulatorConfig(api_key=KEY, faults=Faults(malformed_rate=1.0))
    with SimulatorProcess(config) as broken:
        monkeypatch.setenv("HEADSHOT_API_URL", broken.url)
        monkeypatch.setenv("HEADSHOT_API_KEY", KEY)
        result = cli(panel_layout, "sweep", str(spec_file))
        assert result.exit_code == 5, result.output
        assert "FAILED: no request gave an image (12 failed)" in result.stderr
        monkeypatch.setenv("HEADSHOT_API_KEY", "wrong")
        assert cli(panel_layout, "sweep", str(spec_file)).exit_code == 3


@pytest.mark.e2e
def test_ctrl_c_stops_cleanly_and_keeps_what_arrived(panel_layout, tmp_path, slow_simulator):
    spec = tmp_path / "long.toml"
    spec.write_text(LONG_SPEC)
    catalogue = Catalogue(panel_layout.catalogue)
    process = start_sweep(panel_layout, spec, slow_simulator)
    wait_for_stored(catalogue, 4, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    stored = len(catalogue.stored_keys())
    match = re.search(r"stored (\d+) images", out)
    assert match and int(match.group(1)) == 2 * stored  # everything received was kept
    assert "re-run to resume" in out


@pytest.mark.e2e
def test_demo_runs_and_its_pandas_one_liner_works(tmp_path, no_backend_env):
    root = tmp_path / "data"
    # The demo's flow on a smaller sweep (the full one is 264 images: minutes to score here).
    spec = tmp_path / "small-demo.toml"
    spec.write_text(
        'name = "small demo"\nprompts = ["studio headshot", "film noir portrait"]\nseeds = [1]\n'
        'sizes = ["512x512"]\nfaces = ["grace-hopper", "openpeople-p004", "openpeople-p007"]\n'
    )
    result = CliRunner().invoke(
        main, ["--data", str(root), "demo", "--sweep", str(spec)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "simulator" in out and "not real portraits" in out
    assert "copied the demo panel" in out
    assert re.search(r"stored \d+ images", out)
    assert re.search(r"scored \d+ images", out)
    assert "top 5 candidates" in out and "consistency" in out and "worst face" in out
    assert f"images:    {root / 'images'}" in out
    one_liner = out.strip().splitlines()[-1].strip()
    args = shlex.split(one_liner)
    # The interpreter that has pandas (the project's venv), runnable as printed.
    assert Path(args[0]).resolve() == Path(sys.executable).resolve()
    assert args[1] == "-c" and "pd.read_parquet" in args[2]
    check = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert "ok" in check.stdout


@pytest.mark.e2e
def test_a_sweep_starts_without_loading_the_other_commands():
    """`workbench sweep` loads its own module only: not the scoring stack, the demo or the
    simulator's web server (each command's module loads when it runs)."""
    script = (
        "import sys; from workbench.cli import main; "
        "assert main.get_command(None, 'sweep').name == 'sweep'; "
        "print(sorted(m for m in ('workbench.scoring', 'workbench.demo', 'fastapi', 'uvicorn') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
    assert CliRunner().invoke(main, ["--help"]).output.count("\n  ") >= 12  # all listed
