"""Sweep throughput against the physical limit C/L, the event loop's lag during a sweep, and
the client-side cost of one image.

    .venv/bin/python benchmarks/bench_sweep.py [--latency-ms 2000] [--waves 4] [--out FILE]

Starts `workbench simulate` in its own process (so the simulator and the engine do not share a
GIL), warms its render cache with every request the runs will make (the renderer is not what is
measured), then runs the same sweep engine the CLI uses at concurrency C in {1, 8, 32, 64} on a
fresh data root each time. Beside each run a 10 ms asyncio timer measures how late the event
loop wakes it (what the app's other users would feel): goal p99 <= 50 ms at C = 64. Prints
JSON; ratios come from one run, side by side.

Then the paths a user takes, side by side on one warm simulator (`paths`): one sweep of
`--paths-requests` cells (512x512, C = 16) through the engine alone, through the engine with
every image scored as it arrives (`score_while_sweeping`: throughput, the event loop's lag,
how long scoring runs on after the last image; goal p99 lag <= 50 ms), and through the CLI in
its own process (`workbench sweep`, and `workbench sweep --score`: interpreter start, imports,
planning, leases, the journal and the summary included), each against N / (C / L); and the CLI
once more with seeds the simulator never rendered (`cli_new_styles`: it renders every image, a
new style each, during the sweep).

    .venv/bin/python benchmarks/bench_sweep.py --only-paths [--paths-latency-ms 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
from report import emit  # benchmarks/report.py, beside this script

from workbench.catalogue import Catalogue, CatalogueRow
from workbench.client import HeadshotClient, RetryPolicy
from workbench.contract import SIMULATOR_BACKEND, build_request, check_jpeg, decode_data_uri
from workbench.layout import DataLayout
from workbench.panel import Panel
from workbench.run import SweepRun
from workbench.simulator import SimulatorConfig
from workbench.simulator.server import SimulatorProcess
from workbench.store import ImageStore
from workbench.sweep import Sweep

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-key"
CONCURRENCIES = (1, 8, 32, 64)
WIDTH, HEIGHT = 768, 1024


def data_root(base: Path, name: str) -> DataLayout:
    """A fresh data root holding a copy of the demo panel."""
    layout = DataLayout(base / name)
    layout.faces.mkdir(parents=True)
    source = REPO / "data" / "faces"
    for path in source.iterdir():
        (layout.faces / path.name).write_bytes(path.read_bytes())
    return layout


def sweep_for(requests: int, concurrency: int) -> Sweep:
    # One face, one prompt, `requests` distinct seeds: distinct request keys, one image each.
    return Sweep.build(
        prompts=["benchmark portrait, soft light"],
        seeds=f"1-{requests}",
        sizes=[f"{WIDTH}x{HEIGHT}"],
        faces=["grace-hopper"],
        concurrency=concurrency,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


TIMER_S = 0.010
LAG_GOAL_MS = 50.0


async def loop_lag(lags_ms: list[float], stop: asyncio.Event) -> None:
    """How late a 10 ms timer fires, again and again, until `stop`."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        await asyncio.sleep(TIMER_S)
        lags_ms.append(max(0.0, (loop.time() - started - TIMER_S) * 1000))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def run_sweep(
    layout: DataLayout, sweep: Sweep, url: str, *, warming: bool = False
) -> tuple[float, float, int, list[float]]:
    run = SweepRun.prepare(sweep, layout, backend=SIMULATOR_BACKEND)
    # Warming renders every image once (slow on a busy machine): patient, and it may retry.
    retry = RetryPolicy(attempts=3, timeout=600) if warming else RetryPolicy(attempts=1, timeout=60)
    lags: list[float] = []
    stop = asyncio.Event()
    async with HeadshotClient(
        url, KEY, max_concurrency=sweep.concurrency, timeout=300 if warming else 60, retry=retry
    ) as client:
        monitor = asyncio.create_task(loop_lag(lags, stop))
        cpu, wall = time.process_time(), time.perf_counter()
        summary = await run.execute(client)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        stop.set()
        await monitor
    if summary.requests_failed:
        raise SystemExit(f"{summary.requests_failed} requests failed: {summary.failures}")
    return wall, cpu, summary.images_stored, lags


def throughput(
    base: Path, url: str, simulator_pid: int, latency_ms: float, waves: int
) -> list[dict]:
    results = []
    for concurrency in CONCURRENCIES:
        requests = concurrency * waves
        layout = data_root(base, f"c{concurrency}")
        server_cpu = cpu_seconds(simulator_pid)
        wall, cpu, images, lags = asyncio.run(
            run_sweep(layout, sweep_for(requests, concurrency), url)
        )
        server_cpu = cpu_seconds(simulator_pid) - server_cpu
        limit = concurrency / (latency_ms / 1000)
        rate = images / wall
        results.append(
            {
                "concurrency": concurrency,
                "images": images,
                "seconds": round(wall, 3),
                "images_per_s": round(rate, 2),
                "limit_c_over_l": round(limit, 2),
                "ratio_to_limit": round(rate / limit, 3),
                "client_cpu_ms_per_image": round(cpu * 1000 / images, 2),
                "simulator_cpu_ms_per_image": round(server_cpu * 1000 / images, 2),
                "loop_lag_ms": {
                    "timer_ms": TIMER_S * 1000,
                    "samples": len(lags),
                    "p50": round(percentile(lags, 0.50), 2),
                    "p99": round(percentile(lags, 0.99), 2),
                    "max": round(max(lags, default=0.0), 2),
                },
            }
        )
    return results


def per_image_cost(base: Path, url: str, repeats: int = 200) -> dict:
    """Each client-side step for one 768x1024 image, in ms, timed on a real simulator reply."""
    layout = data_root(base, "cost")
    face = Panel(layout).faces()[0]
    face_jpeg = Panel(layout).jpeg_bytes(face)
    plan_params = (
        SweepRun.prepare(sweep_for(1, 1), layout, backend=SIMULATOR_BACKEND).pending[0].params
    )
    body = build_request(plan_params, face_jpeg, KEY).wire_body()
    reply = httpx.post(url + "/api/generate-portrait", json=body, timeout=60).content
    uri = json.loads(reply)["outputImages"][0]
    data = decode_data_uri(uri)
    store = ImageStore(layout)
    catalogue = Catalogue(layout.catalogue)
    row = CatalogueRow(
        sweep_id="bench",
        request_key="0" * 64,
        created_at=datetime.now(UTC),
        backend="simulator",
        prompt=plan_params.prompt,
        seed=1,
        sample_number=1,
        identity_scale=0.8,
        width=WIDTH,
        height=HEIGHT,
        face_id=face.id,
        face_hash=face.hash,
        status="ok",
        attempts=1,
        latency_ms=250.0,
    )

    def timed(step) -> float:
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(repeats // 5):
                step()
            samples.append((time.perf_counter() - started) * 1000 / (repeats // 5))
        return round(statistics.median(samples), 4)

    distinct = [os.urandom(16) + data for _ in range(repeats)]  # new hashes: real writes
    writes = iter(distinct * 10)
    rows = [replace(row, image_hash=hashlib.sha256(d).hexdigest()) for d in distinct[:512]]
    steps = {
        "build_request (face to data URI)": lambda: build_request(plan_params, face_jpeg, KEY),
        "json.loads reply": lambda: json.loads(reply),
        "base64 decode": lambda: base64.b64decode(uri[len("data:image/jpeg;base64,") :]),
        "check_jpeg (1/8-scale decode)": lambda: check_jpeg(data, (WIDTH, HEIGHT)),
        "sha256": lambda: hashlib.sha256(data).hexdigest(),
        "store.put (write temp + rename)": lambda: store.put(next(writes)),
        "catalogue row + append (per row, 512-row parts)": lambda: None,
    }
    costs = {name: timed(step) for name, step in steps.items()}
    started = time.perf_counter()
    for _ in range(5):
        catalogue.append(rows)
    costs["catalogue row + append (per row, 512-row parts)"] = round(
        (time.perf_counter() - started) * 1000 / (5 * len(rows)), 4
    )
    receive = {k: v for k, v in costs.items() if not k.startswith("build_request")}
    total = sum(receive.values())
    return {
        "image_bytes": len(data),
        "steps_ms": costs,
        "receive_to_catalogue_ms": round(total, 3),
        "check_jpeg_share": round(costs["check_jpeg (1/8-scale decode)"] / total, 3),
        "budget_ms": 3.0,
    }


# --- The paths a user takes: the engine alone, with scoring, and through the CLI ------------

PATHS_CONCURRENCY = 16
PATHS_SIZE = "512x512"


def paths_spec(requests: int, name: str, first_seed: int = 1) -> str:
    """A sweep file: one prompt, `requests` seeds, one face, 512x512 (the cheapest to score)."""
    seeds = f"{first_seed}-{first_seed + requests - 1}"
    return (
        f'name = "{name}"\nprompts = ["benchmark portrait, soft light"]\n'
        f'seeds = "{seeds}"\nsizes = ["{PATHS_SIZE}"]\nfaces = ["grace-hopper"]\n'
        f"concurrency = {PATHS_CONCURRENCY}\n"
    )


async def engine_with_scoring(layout: DataLayout, sweep: Sweep, url: str) -> dict:
    """The engine with every stored image scored as it arrives (the app's Sweep tab, `sweep
    --score`): its throughput, the event loop's lag meanwhile, and how long scoring ran on
    after the last image."""
    from workbench.scoring.pipeline import score_while_sweeping

    run = SweepRun.prepare(sweep, layout, backend=SIMULATOR_BACKEND)
    lags: list[float] = []
    stop = asyncio.Event()
    last_image = [0.0]

    def on_progress(progress) -> None:
        last_image[0] = time.perf_counter()

    retry = RetryPolicy(attempts=1, timeout=60)
    async with HeadshotClient(url, KEY, max_concurrency=sweep.concurrency, retry=retry) as client:
        monitor = asyncio.create_task(loop_lag(lags, stop))
        started = time.perf_counter()
        summary, pipeline = await score_while_sweeping(
            run, client, backend=SIMULATOR_BACKEND, on_progress=on_progress
        )
        finished = time.perf_counter()
        stop.set()
        await monitor
    return {
        "images": summary.images_stored,
        "scored": pipeline.done,
        "scoring_workers": pipeline.workers,
        "seconds_to_last_image": round(last_image[0] - started, 2),
        "seconds_to_last_score": round(finished - started, 2),
        "loop_lag_ms": {
            "samples": len(lags),
            "p50": round(percentile(lags, 0.50), 2),
            "p99": round(percentile(lags, 0.99), 2),
            "max": round(max(lags, default=0.0), 2),
        },
    }


def cli_sweep(layout: DataLayout, spec: Path, url: str, *options: str) -> float:
    """`workbench sweep SPEC` in its own process against the simulator: seconds from start to
    exit (interpreter start, imports, planning, leases, the journal, the summary)."""
    env = {**os.environ, "HEADSHOT_API_URL": url, "HEADSHOT_API_KEY": KEY}
    command = [sys.executable, "-m", "workbench", "--data", str(layout.root), "sweep", str(spec)]
    started = time.perf_counter()
    done = subprocess.run([*command, *options], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"workbench sweep failed ({done.returncode}): {done.stderr[-500:]}")
    return seconds


def paths(base: Path, url: str, latency_ms: float, requests: int) -> dict:
    """The same sweep (fresh data roots, a warm simulator) four ways, side by side."""
    spec = base / "paths.toml"
    spec.write_text(paths_spec(requests, "paths"), encoding="utf-8")
    sweep = Sweep.load(spec)
    asyncio.run(run_sweep(data_root(base, "paths-warm"), sweep, url, warming=True))
    limit = PATHS_CONCURRENCY / (latency_ms / 1000)

    def ratio(seconds: float) -> float:
        return round(requests / seconds / limit, 3)

    wall, _, images, lags = asyncio.run(run_sweep(data_root(base, "paths-engine"), sweep, url))
    scored = asyncio.run(engine_with_scoring(data_root(base, "paths-scored"), sweep, url))
    cli_seconds = cli_sweep(data_root(base, "paths-cli"), spec, url)
    cli_scored_seconds = cli_sweep(data_root(base, "paths-cli-score"), spec, url, "--score")
    # The simulator keeping up: the same sweep with seeds it never rendered, so it renders
    # every image, a new style each, while the sweep runs (issue 20: >= 0.9 of C / L).
    fresh = base / "paths-new-styles.toml"
    fresh.write_text(paths_spec(requests, "paths-new-styles", first_seed=1_000_001))
    cli_fresh_seconds = cli_sweep(data_root(base, "paths-cli-new-styles"), fresh, url)
    return {
        "requests": requests,
        "concurrency": PATHS_CONCURRENCY,
        "latency_ms": latency_ms,
        "size": PATHS_SIZE,
        "limit_seconds": round(requests / limit, 2),
        "engine": {
            "seconds": round(wall, 2),
            "ratio_to_limit": ratio(wall),
            "loop_lag_p99_ms": round(percentile(lags, 0.99), 2),
        },
        "engine_scoring_as_images_arrive": {
            **scored,
            "ratio_to_limit": ratio(scored["seconds_to_last_image"]),
        },
        "cli": {"seconds": round(cli_seconds, 2), "ratio_to_limit": ratio(cli_seconds)},
        "cli_score": {
            "seconds": round(cli_scored_seconds, 2),
            "ratio_to_limit": ratio(cli_scored_seconds),
        },
        "cli_new_styles": {
            "seconds": round(cli_fresh_seconds, 2),
            "ratio_to_limit": ratio(cli_fresh_seconds),
        },
        "load_1min": round(os.getloadavg()[0], 2),
        "goal_loop_lag_p99_ms_while_scoring": LAG_GOAL_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=2000.0)
    parser.add_argument("--waves", type=int, default=4, help="Requests per run = C x waves.")
    parser.add_argument(
        "--paths-latency-ms", type=float, default=1000.0, help="L for --only-paths."
    )
    parser.add_argument("--paths-requests", type=int, default=192)
    parser.add_argument(
        "--only-paths", action="store_true", help="Only the engine / scoring / CLI comparison."
    )
    parser.add_argument("--out", type=Path, default=None, help="Also write the JSON here.")
    args = parser.parse_args()
    if args.only_paths:
        config = SimulatorConfig(api_key=KEY, latency_ms=args.paths_latency_ms)
        with SimulatorProcess(config) as simulator, tempfile.TemporaryDirectory() as tmp:
            compared = paths(Path(tmp), simulator.url, args.paths_latency_ms, args.paths_requests)
        emit({"benchmark": "sweep_paths", "cpus": os.cpu_count(), "paths": compared}, args.out)
        return
    config = SimulatorConfig(api_key=KEY, latency_ms=args.latency_ms)
    with SimulatorProcess(config) as simulator, tempfile.TemporaryDirectory() as tmp:
        url = simulator.url
        base = Path(tmp)
        most = max(CONCURRENCIES) * args.waves
        # Fill the simulator's render cache first: the renderer is not what is measured.
        asyncio.run(run_sweep(data_root(base, "warm"), sweep_for(most, 16), url, warming=True))
        runs = throughput(base, url, simulator.pid, args.latency_ms, args.waves)
        compared = paths(base, url, args.latency_ms, args.paths_requests)
        cost = per_image_cost(base, url)
    result = {
        "benchmark": "sweep",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "latency_ms": args.latency_ms,
        "size": f"{WIDTH}x{HEIGHT}",
        "throughput": runs,
        "goal_ratio_to_limit": 0.9,
        "goal_loop_lag_p99_ms": LAG_GOAL_MS,
        "loop_lag_p99_ms_at_c64": runs[-1]["loop_lag_ms"]["p99"],
        "client_cost_per_image": cost,
        "paths": compared,
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
