"""The app launched as `python app.py` on a free loopback port, signed-in, talking to the
simulator as if it were the real API (so the key it must never show is a real secret)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from workbench.layout import DataLayout
from workbench.panel import MANIFEST_NAME
from workbench.simulator import SimulatorConfig, SimulatorServer

REPO = Path(__file__).resolve().parents[1]
SECRET_KEY = "sk-live-4f9c2e71d8b3a6055e1c"
USER, PASSWORD = "ada", "correct-horse-battery"
STARTUP_S = 120
# The app stops by itself after this, whatever happens to the test run.
LIFETIME_S = 900


@dataclass
class RunningApp:
    url: str
    layout: DataLayout
    process: subprocess.Popen
    log: Path
    simulator: SimulatorServer

    @property
    def auth(self) -> tuple[str, str]:
        return (USER, PASSWORD)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(
    data: Path, log: Path, simulator: SimulatorServer, *args: str, auth: bool = True
) -> RunningApp:
    port = free_port()
    env = {
        **os.environ,
        "HEADSHOT_API_URL": simulator.url,
        "HEADSHOT_API_KEY": SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    if auth:
        env["WORKBENCH_APP_AUTH"] = f"{USER}:{PASSWORD}"
    command = [sys.executable, str(REPO / "app.py"), "--port", str(port), "--data", str(data)]
    command.append("--no-demo")  # the tests' data starts as they make it
    handle = log.open("wb")
    process = subprocess.Popen(
        ["timeout", str(LIFETIME_S), *command, *args],
        cwd=REPO,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited early:\n{log.read_text(errors='replace')}")
        try:
            httpx.get(url + "/", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        stop(process)
        raise RuntimeError(f"app.py did not start:\n{log.read_text(errors='replace')}")
    return RunningApp(url, DataLayout(data), process, log, simulator)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def seed_data(data: Path, faces: tuple[str, ...] = ("grace-hopper", "eileen-collins")) -> None:
    """Some of the demo panel's public-domain faces, nothing generated yet."""
    source = DataLayout(REPO / "data")
    target = DataLayout(data)
    target.faces.mkdir(parents=True)
    lines = (source.faces / MANIFEST_NAME).read_text().splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",", 1)[0] in faces]
    (target.faces / MANIFEST_NAME).write_text("".join(kept))
    for face in faces:
        shutil.copy2(source.faces / f"{face}.jpg", target.faces / f"{face}.jpg")


@pytest.fixture(scope="module")
def simulator_as_api() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(api_key=SECRET_KEY, latency_ms=150)) as server:
        yield server


@pytest.fixture(scope="module")
def running_app(tmp_path_factory, simulator_as_api) -> Iterator[RunningApp]:
    root = tmp_path_factory.mktemp("app")
    seed_data(root / "data")
    app = start_app(root / "data", root / "app.log", simulator_as_api)
    yield app
    stop(app.process)
