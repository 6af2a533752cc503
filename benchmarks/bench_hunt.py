"""Hunting against the simulator's ground truth: does a hunt find the truly stable styles, for
what share of the exhaustive sweep's images, how close does it come to the API's speed limit,
and how much memory does it take?

    .venv/bin/python benchmarks/bench_hunt.py [--pools 5] [--first-pool 0] [--prompts 4]
        [--seeds 48] [--fraction 0.25] [--metric worst] [--exhaustive-pools 1]
        [--schedule async] [--out FILE]
    .venv/bin/python benchmarks/bench_hunt.py --timing [--latencies 2 10] [--timing-seeds 16]

`--timing` hunts one pool of 64 candidates (4 prompts x 16 seeds) over the 11-face demo panel
at C = 16 against a simulator in its own process answering in L seconds, once with the
synchronous "rounds" schedule and once with the asynchronous one, side by side, and reports
each wall time against the physical limit N / (C / L) for the N images it bought (goals: the
asynchronous schedule at >= 0.8 of the limit at L = 2 s and >= 0.9 at L = 10 s, with the same
images and winners). It also runs `workbench hunt` on a small pool (1 prompt x 3 seeds, 33
images, the embedded simulator) and reports the peak memory of the whole process tree (the sum
of every process's proportional set size, and of their resident sizes): goal under 1 GB.

For each of `--pools` random candidate pools (prompts drawn from a list, seeds drawn at random)
it runs a hunt over the demo panel on a fresh data root, through the same engine and scoring as
`workbench hunt`, and compares its top 5 with the true top 5 by the simulator's hidden
`stability(prompt, seed)` (which only this benchmark reads; the hunt never does). Images spent
are counted by the simulator itself. For the first `--exhaustive-pools` pools it then completes
the exhaustive sweep on the same root (dedupe reuses the hunt's images) and scores it the same
way: the recall a full sweep gets with this scorer is the ceiling a hunt can reach. Prints JSON.
Pools are numbered and each number always draws the same pool; `--first-pool 5` runs pools
that were not looked at when the scorer's weights were chosen (docs/hunt.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report import emit  # benchmarks/report.py, beside this script

from workbench.catalogue import STATUS_OK, Catalogue
from workbench.client import HeadshotClient, RetryPolicy
from workbench.contract import SIMULATOR_BACKEND
from workbench.hunt import Hunt, HuntSpec
from workbench.layout import DataLayout
from workbench.simulator import SimulatorConfig, SimulatorServer, stability
from workbench.simulator.server import SimulatorProcess

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-hunt-key"
CONCURRENCY = 16
# The asynchronous schedule's goals, as a share of N / (C / L), by latency L in seconds.
TIMING_GOALS = {2.0: 0.8, 10.0: 0.9}
TOP = 5
SIZE = "512x512"  # the smallest the API allows: rendering and scoring are not what is measured
PROMPTS = (
    "studio headshot, soft window light, charcoal backdrop",
    "studio portrait, seamless grey backdrop, even light",
    "corporate portrait, navy suit, office",
    "business headshot, bright office, shallow depth of field",
    "outdoor portrait, golden hour, park",
    "street portrait, overcast light, city",
    "film noir portrait, hard side light, black and white",
    "warm editorial portrait, window light",
    "dramatic low key portrait, blue rim light",
    "high key portrait, white backdrop",
    "environmental portrait, garden, soft light",
    "headshot, teal backdrop, beauty dish",
)


def data_root(base: Path, name: str) -> DataLayout:
    """A fresh data root holding a copy of the repository's demo panel."""
    layout = DataLayout(base / name)
    shutil.copytree(REPO / "data" / "faces", layout.faces)
    return layout


def pool_spec(index: int, prompts: int, seeds: int, fraction: float, metric: str) -> HuntSpec:
    rng = np.random.default_rng(20261126 + index)
    chosen = [str(p) for p in rng.choice(PROMPTS, size=prompts, replace=False)]
    drawn = [int(s) + 1 for s in rng.choice(2**31 - 2, size=seeds, replace=False)]
    return HuntSpec.build(
        source="bench",
        name=f"bench pool {index}",
        prompts=chosen,
        seeds=drawn,
        sizes=[SIZE],
        concurrency=16,
        top=TOP,
        budget_fraction=fraction,
        metric=metric,
    )


def true_top(spec: HuntSpec) -> set[tuple[str, int]]:
    truth = sorted(
        ((stability(p, s), p, s) for p in spec.prompts for s in spec.seed_values()),
        reverse=True,
    )
    return {(p, s) for _, p, s in truth[:TOP]}


def keys(frame) -> set[tuple[str, int]]:
    return {(str(p), int(s)) for p, s in zip(frame["prompt"], frame["seed"], strict=True)}


async def hunt_once(
    hunt: Hunt, server: SimulatorServer, schedule: str = "async"
) -> tuple[object, int, float]:
    before = server.stats.requests
    started = time.perf_counter()
    retry = RetryPolicy(attempts=2, timeout=60)
    async with HeadshotClient(server.url, KEY, max_concurrency=16, retry=retry) as client:
        result = await hunt.run(client, backend=SIMULATOR_BACKEND, schedule=schedule)
    return result, server.stats.requests - before, time.perf_counter() - started


# --- Speed: the schedules against N / (C / L) -----------------------------------------------


async def timed_hunt(hunt: Hunt, url: str, schedule: str) -> tuple[object, float]:
    retry = RetryPolicy(attempts=2, timeout=120)
    async with HeadshotClient(url, KEY, max_concurrency=CONCURRENCY, retry=retry) as client:
        started = time.perf_counter()
        result = await hunt.run(client, backend=SIMULATOR_BACKEND, schedule=schedule)
        return result, time.perf_counter() - started


def bought_images(layout: DataLayout) -> int:
    return int((Catalogue(layout.catalogue).runs(["status"])["status"] == STATUS_OK).sum())


def bench_timing(args, base: Path) -> list[dict]:
    """Each latency: the same pool hunted with each schedule on a fresh root, side by side."""
    spec = pool_spec(0, 4, args.timing_seeds, args.fraction, args.metric)
    truth = true_top(spec)
    rows = []
    for latency in args.latencies:
        config = SimulatorConfig(api_key=KEY, latency_ms=latency * 1000)
        with SimulatorProcess(config) as simulator:
            runs = {}
            for schedule in ("rounds", "async"):
                layout = data_root(base, f"timing-{latency}-{schedule}")
                hunt = Hunt(spec, layout)
                hunt.plan()  # the face order (descriptors): before the clock starts, as --dry-run
                result, seconds = asyncio.run(timed_hunt(hunt, simulator.url, schedule))
                images = bought_images(layout)
                limit = images / (CONCURRENCY / latency)
                runs[schedule] = {
                    "seconds": round(seconds, 1),
                    "images": images,
                    "limit_seconds": round(limit, 1),
                    "of_limit": round(limit / seconds, 3),
                    "recall_at_5": len(keys(result.top) & truth),
                    "top": sorted(keys(result.top)),
                }
                print(json.dumps({"latency_s": latency, schedule: runs[schedule]}), file=sys.stderr)
            same_top = runs["rounds"]["top"] == runs["async"]["top"]
            for run in runs.values():
                del run["top"]
            rows.append(
                {
                    "latency_s": latency,
                    "concurrency": CONCURRENCY,
                    "candidates": spec.pool_size(),
                    "rounds": runs["rounds"],
                    "async": runs["async"],
                    "speedup": round(runs["rounds"]["seconds"] / runs["async"]["seconds"], 2),
                    "same_winners": same_top,
                    "goal_of_limit": TIMING_GOALS.get(latency),
                }
            )
    return rows


# --- Memory: a small hunt's peak, the whole process tree -------------------------------------


def bench_memory(base: Path) -> dict:
    """`workbench hunt` on 1 prompt x 3 seeds (33 images on the 11 faces) with the embedded
    simulator, its process tree sampled every 50 ms."""
    import psutil

    layout = data_root(base, "memory")
    spec_path = base / "memory.toml"
    spec_path.write_text(
        'name = "small hunt"\nprompts = ["studio portrait, soft light"]\n'
        'seeds = [11, 22, 33]\nsizes = ["512x512"]\nconcurrency = 16\n',
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "workbench", "--data", str(layout.root), "hunt"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADSHOT_API")}
    started = time.perf_counter()
    child = subprocess.Popen(
        [*command, str(spec_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    root = psutil.Process(child.pid)
    peak_pss = peak_rss = processes = 0
    while child.poll() is None:
        pss = rss = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for process in tree:
            with contextlib.suppress(psutil.Error):
                info = process.memory_full_info()
                pss, rss = pss + info.pss, rss + info.rss
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
        processes = max(processes, len(tree))
        time.sleep(0.05)
    _, errors = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"the small hunt failed: {errors.decode()[-500:]}")
    return {
        "hunt": "1 prompt x 3 seeds on 11 faces (33 images), embedded simulator",
        "peak_pss_mb": round(peak_pss / 2**20),
        "peak_rss_sum_mb": round(peak_rss / 2**20),
        "processes": processes,
        "seconds": round(time.perf_counter() - started, 1),
        "goal": "peak_pss_mb < 1024",
        "goal_met": peak_pss < 2**30,
    }


def bench_pool(index: int, args, base: Path, server: SimulatorServer) -> dict:
    spec = pool_spec(index, args.prompts, args.seeds, args.fraction, args.metric)
    layout = data_root(base, f"pool-{index}")
    hunt = Hunt(spec, layout)
    plan = hunt.plan()
    truth = true_top(spec)
    result, requests, seconds = asyncio.run(hunt_once(hunt, server, args.schedule))
    found = keys(result.top)
    exhaustive = plan.schedule.exhaustive_images
    row = {
        "pool": index,
        "prompts": spec.prompts,
        "candidates": plan.schedule.pool,
        "faces": plan.schedule.panel,
        "rounds": [
            {
                "candidates": r.candidates,
                "faces": r.round.faces,
                "kept": r.kept,
                "promoted_outside_final_cut": r.outside_cut,
            }
            for r in result.rounds
        ],
        "hunt_images": requests * spec.sample_number,
        "exhaustive_images": exhaustive,
        "cost_fraction": round(requests * spec.sample_number / exhaustive, 4),
        "recall_at_5": len(found & truth),
        # How stable the styles it picked really are, against the best 5 there were.
        "top5_stability": sorted((round(stability(p, s), 4) for p, s in found), reverse=True),
        "true_top5_stability": sorted((round(stability(p, s), 4) for p, s in truth), reverse=True),
        "hunt_seconds": round(seconds, 1),
    }
    if index < args.first_pool + args.exhaustive_pools:
        full = Hunt(spec.model_copy(update={"budget_fraction": 1.0}), layout)
        full_result, _, full_seconds = asyncio.run(hunt_once(full, server))
        full_top = keys(full_result.top)
        row["exhaustive_recall_at_5"] = len(full_top & truth)
        row["hunt_agrees_with_exhaustive_at_5"] = len(found & full_top)
        row["exhaustive_seconds"] = round(full_seconds, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, default=5)
    parser.add_argument("--first-pool", type=int, default=0, help="number of the first pool")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=48)
    parser.add_argument("--fraction", type=float, default=0.25, help="budget_fraction")
    parser.add_argument("--metric", choices=("worst", "consistency"), default="worst")
    parser.add_argument("--exhaustive-pools", type=int, default=1)
    parser.add_argument("--schedule", choices=("async", "rounds"), default="async")
    parser.add_argument("--timing", action="store_true", help="speed and memory, not recall")
    parser.add_argument("--latencies", type=float, nargs="+", default=[2.0, 10.0])
    parser.add_argument("--timing-seeds", type=int, default=16)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.timing:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="bench-hunt-") as tmp:
            timing = bench_timing(args, Path(tmp))
            memory = bench_memory(Path(tmp))
        emit(
            {
                "benchmark": "hunt_timing",
                "setup": {
                    "pool": f"4 prompts x {args.timing_seeds} seeds",
                    "faces": 11,
                    "size": SIZE,
                    "budget_fraction": args.fraction,
                    "concurrency": CONCURRENCY,
                    "simulator": "its own process (SimulatorProcess), latency L",
                },
                "timing": timing,
                "goal": "async of_limit >= 0.8 at L = 2 s and >= 0.9 at L = 10 s, same images",
                "goal_met": all(
                    row["async"]["of_limit"] >= (row["goal_of_limit"] or 0)
                    and row["async"]["images"] == row["rounds"]["images"]
                    for row in timing
                ),
                "memory": memory,
                "seconds": round(time.perf_counter() - started, 1),
            },
            args.out,
        )
        return

    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="bench-hunt-") as tmp,
        SimulatorServer(SimulatorConfig(api_key=KEY)) as server,
    ):
        pools = []
        for index in range(args.first_pool, args.first_pool + args.pools):
            pools.append(bench_pool(index, args, Path(tmp), server))
            # One line per pool on stderr, so a long run shows where it is.
            print(json.dumps(pools[-1]), file=sys.stderr, flush=True)
    recalls = [p["recall_at_5"] for p in pools]
    fractions = [p["cost_fraction"] for p in pools]
    ceiling = [p["exhaustive_recall_at_5"] for p in pools if "exhaustive_recall_at_5" in p]
    emit(
        {
            "benchmark": "hunt",
            "setup": {
                "pools": args.pools,
                "first_pool": args.first_pool,
                "pool": f"{args.prompts} prompts x {args.seeds} seeds",
                "size": SIZE,
                "budget_fraction": args.fraction,
                "metric": args.metric,
                "top": TOP,
                "schedule": args.schedule,
            },
            "recall_at_5_mean": round(statistics.mean(recalls), 2),
            "recall_at_5_worst": min(recalls),
            "cost_fraction_mean": round(statistics.mean(fractions), 4),
            "cost_fraction_worst": max(fractions),
            "exhaustive_recall_at_5_mean": round(statistics.mean(ceiling), 2) if ceiling else None,
            "goal": "recall_at_5_mean >= 4 and cost_fraction_worst <= 0.25",
            "goal_met": statistics.mean(recalls) >= 4 and max(fractions) <= 0.25,
            "pools": pools,
            "seconds": round(time.perf_counter() - started, 1),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
