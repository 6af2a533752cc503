"""The app's responsiveness and footprint:

- the Review grid for 8 faces x 16 seeds, from choosing the prompt to the gallery's items, on
  the server (warm thumbnails): the tab's callback in-process, and the same call over HTTP
  through gradio_client against the launched app (queue and serialisation included);
- the app's idle memory (resident set of `python app.py` once started, and after serving).

    .venv/bin/python benchmarks/bench_app.py [--repeat 20] [--out FILE]

Builds its own data root on the embedded simulator (8 demo-panel faces, one prompt x 16 seeds).
Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from report import emit  # benchmarks/report.py, beside this script

from workbench.app.review import gallery_items, review_grid
from workbench.app.server import served_folders
from workbench.backend import Backend
from workbench.layout import DataLayout
from workbench.panel import MANIFEST_NAME, Panel
from workbench.run import run_sweep
from workbench.simulator import SimulatorConfig, SimulatorServer
from workbench.sweep import Sweep

REPO = Path(__file__).resolve().parents[1]
FACES = 8
SEEDS = 16
PROMPT = "studio headshot, soft window light, charcoal backdrop"
SCALE = 0.8
SIZE = "768x1024"
TARGET_S = 1.0


def build_data(root: Path) -> DataLayout:
    layout = DataLayout(root)
    source = DataLayout(REPO / "data")
    faces = [face.id for face in Panel(source).faces()][:FACES]
    layout.faces.mkdir(parents=True)
    lines = (source.faces / MANIFEST_NAME).read_text().splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",", 1)[0] in faces]
    (layout.faces / MANIFEST_NAME).write_text("".join(kept))
    for face in faces:
        shutil.copy2(source.faces / f"{face}.jpg", layout.faces / f"{face}.jpg")
    sweep = Sweep.build(
        prompts=[PROMPT], seeds=f"1-{SEEDS}", identity_scales=[SCALE], concurrency=8
    )

    async def go(server: SimulatorServer) -> None:
        backend = Backend(server.url, server.api_key, "simulator")
        async with backend.client(max_concurrency=8) as client:
            await run_sweep(sweep, layout, client, backend=backend.identity)

    with SimulatorServer(SimulatorConfig()) as server:
        asyncio.run(go(server))
    return layout


def review_callback_s(layout: DataLayout, tiles: Path, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        grid = review_grid(layout, PROMPT, SCALE, SIZE)
        items = gallery_items(layout, grid, tiles)
        timings.append(time.perf_counter() - started)
        assert len(items) == FACES * SEEDS, len(items)
    return timings


def review_server_side_s(layout: DataLayout, tiles: Path, repeat: int) -> list[float]:
    """The callback plus what Gradio does to its gallery output before sending it (postprocess,
    static-file checks): everything the server spends between the choice and the reply."""
    import gradio as gr
    from gradio import processing_utils

    gr.set_static_paths(served_folders(layout))
    with gr.Blocks():
        gallery = gr.Gallery()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        items = gallery_items(layout, review_grid(layout, PROMPT, SCALE, SIZE), tiles)
        processing_utils.move_files_to_cache(gallery.postprocess(items), gallery, postprocess=True)
        timings.append(time.perf_counter() - started)
    return timings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def launched_app(layout: DataLayout, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADSHOT_API_")}
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "app.py"),
            "--port",
            str(port),
            "--data",
            str(layout.root),
            "--no-demo",
        ],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            httpx.get(url + "/config", timeout=2)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("app did not start")


def over_http(url: str, repeat: int) -> list[float]:
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = client.predict(PROMPT, SCALE, SIZE, api_name="/review_grid")
        timings.append(time.perf_counter() - started)
        # State outputs stay on the server: the gallery comes first.
        gallery = result[0]["value"] if isinstance(result[0], dict) else result[0]
        assert len(gallery) == FACES * SEEDS, result[0]
    return timings


def summary(timings: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(timings) * 1000, 1),
        "max_ms": round(max(timings) * 1000, 1),
        "runs": len(timings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        layout = build_data(root / "data")
        setup_s = time.perf_counter() - started
        tiles = root / "tiles"
        cold = review_callback_s(layout, tiles, 1)  # makes the thumbnails
        warm = review_callback_s(layout, tiles, args.repeat)
        server_side = review_server_side_s(layout, tiles, args.repeat)
        process, url = launched_app(layout, root / "app.log")
        try:
            time.sleep(5)
            idle_start = rss_mb(process.pid)
            http = over_http(url, args.repeat)
            time.sleep(5)
            idle_after = rss_mb(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    result = {
        "benchmark": "app",
        "grid": f"{FACES} faces x {SEEDS} seeds",
        "setup_s": round(setup_s, 1),
        "review_grid_cold_thumbnails_ms": round(cold[0] * 1000, 1),
        "review_grid_callback_warm": summary(warm),
        "review_grid_server_side_warm": summary(server_side),
        "review_grid_over_http_warm": summary(http),
        "target_s": TARGET_S,
        "server_side_within_target": statistics.median(server_side) < TARGET_S,
        "idle_rss_mb_after_start": round(idle_start, 1),
        "idle_rss_mb_after_serving": round(idle_after, 1),
        "cpu_count": os.cpu_count(),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
