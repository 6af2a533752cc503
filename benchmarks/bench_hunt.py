"""Hunting against the simulator's ground truth: does a hunt find the truly stable styles, and for
what share of the exhaustive sweep's images?

    .venv/bin/python benchmarks/bench_hunt.py [--pools 5] [--first-pool 0] [--prompts 4]
        [--seeds 48] [--fraction 0.25] [--metric worst] [--exhaustive-pools 1] [--out FILE]

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
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report import emit  # benchmarks/report.py, beside this script

from workbench.client import HeadshotClient, RetryPolicy
from workbench.contract import SIMULATOR_BACKEND
from workbench.hunt import Hunt, HuntSpec
from workbench.layout import DataLayout
from workbench.simulator import SimulatorConfig, SimulatorServer, stability

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-hunt-key"
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


async def hunt_once(hunt: Hunt, server: SimulatorServer) -> tuple[object, int, float]:
    before = server.stats.requests
    started = time.perf_counter()
    retry = RetryPolicy(attempts=2, timeout=60)
    async with HeadshotClient(server.url, KEY, max_concurrency=16, retry=retry) as client:
        result = await hunt.run(client, backend=SIMULATOR_BACKEND)
    return result, server.stats.requests - before, time.perf_counter() - started


def bench_pool(index: int, args, base: Path, server: SimulatorServer) -> dict:
    spec = pool_spec(index, args.prompts, args.seeds, args.fraction, args.metric)
    layout = data_root(base, f"pool-{index}")
    hunt = Hunt(spec, layout)
    plan = hunt.plan()
    truth = true_top(spec)
    result, requests, seconds = asyncio.run(hunt_once(hunt, server))
    found = keys(result.top)
    exhaustive = plan.schedule.exhaustive_images
    row = {
        "pool": index,
        "prompts": spec.prompts,
        "candidates": plan.schedule.pool,
        "faces": plan.schedule.panel,
        "rounds": [
            {"candidates": r.candidates, "faces": r.round.faces, "kept": r.kept}
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
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

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
