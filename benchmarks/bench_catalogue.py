"""Catalogue costs at scale: appending 1,000 rows to a 1k-row vs a 1M-row catalogue, loading 1M
rows into pandas, one prompt+seed via DuckDB, and the dedupe lookup.

    .venv/bin/python benchmarks/bench_catalogue.py [--rows 1000000] [--out FILE]

The 1M-row catalogue is synthetic but shaped like a real one (200 prompts x 500 seeds x
10 faces, unique request keys and image hashes), written as 100k-row parts. Prints JSON.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from report import emit  # benchmarks/report.py, beside this script

from workbench.catalogue import SCHEMA, SCHEMA_VERSION, Catalogue, CatalogueRow

PART_ROWS = 100_000
PROMPTS = [f"portrait style {n}, soft light, muted backdrop" for n in range(200)]
FACES = [f"face-{n:02d}" for n in range(10)]


def hex_keys(count: int, rng: np.random.Generator) -> pa.Array:
    raw = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    return pa.array([row.tobytes().hex() for row in raw])


def synthetic_part(start: int, count: int, rng: np.random.Generator) -> pa.Table:
    index = np.arange(start, start + count)
    face = index % len(FACES)
    seed = (index // len(FACES)) % 500 + 1
    prompt = (index // (len(FACES) * 500)) % len(PROMPTS)
    keys = hex_keys(count, rng)
    hashes = hex_keys(count, rng)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    columns = {
        "schema_version": pa.array(np.full(count, SCHEMA_VERSION, np.int16)),
        "sweep_id": pa.array([f"sweep-{i // 5000}" for i in index]),
        "request_key": keys,
        "created_at": pa.array(
            [created + timedelta(seconds=int(i)) for i in index], pa.timestamp("us", tz="UTC")
        ),
        "backend": pa.array(["simulator"] * count),
        "prompt": pa.array([PROMPTS[p] for p in prompt]),
        "seed": pa.array(seed.astype(np.int64)),
        "seed_used": pa.array(seed.astype(np.int64)),
        "sample_number": pa.array(np.ones(count, np.int32)),
        "sample_index": pa.array(np.zeros(count, np.int32)),
        "identity_scale": pa.array(np.full(count, 0.8)),
        "width": pa.array(np.full(count, 768, np.int32)),
        "height": pa.array(np.full(count, 1024, np.int32)),
        "face_id": pa.array([FACES[f] for f in face]),
        "face_hash": pa.array([f"{f:064x}" for f in face]),
        "image_hash": hashes,
        "image_path": pa.array([f"images/{h[:2]}/{h}.jpg" for h in hashes.to_pylist()]),
        "status": pa.array(["ok"] * count),
        "error_class": pa.nulls(count, pa.string()),
        "error": pa.nulls(count, pa.string()),
        "attempts": pa.array(np.ones(count, np.int32)),
        "latency_ms": pa.array(rng.normal(250, 20, count)),
        "cost": pa.array(np.zeros(count)),
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def build(path: Path, rows: int, rng: np.random.Generator) -> Catalogue:
    catalogue = Catalogue(path)
    for start in range(0, rows, PART_ROWS):
        catalogue.append_table(synthetic_part(start, min(PART_ROWS, rows - start), rng))
    return catalogue


def new_rows(count: int) -> list[CatalogueRow]:
    now = datetime.now(UTC)
    return [
        CatalogueRow(
            sweep_id="bench",
            request_key=os.urandom(32).hex(),
            created_at=now,
            backend="simulator",
            prompt=PROMPTS[n % len(PROMPTS)],
            seed=n + 1,
            sample_number=1,
            identity_scale=0.8,
            width=768,
            height=1024,
            face_id=FACES[n % len(FACES)],
            face_hash="0" * 64,
            status="ok",
            attempts=1,
            latency_ms=250.0,
            sample_index=0,
            image_hash=os.urandom(32).hex(),
            image_path="images/00/x.jpg",
        )
        for n in range(count)
    ]


def median_ms(step, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="bench-catalogue-") as tmp:
        started = time.perf_counter()
        small = build(Path(tmp) / "small", 1_000, rng)
        large = build(Path(tmp) / "large", args.rows, rng)
        build_s = time.perf_counter() - started
        batches = [new_rows(1_000) for _ in range(14)]
        # Interleaved, so machine noise hits both sides alike.
        small_ms, large_ms = [], []
        for n in range(0, len(batches), 2):
            small_ms.append(median_ms(lambda b=batches[n]: small.append(b), 1))
            large_ms.append(median_ms(lambda b=batches[n + 1]: large.append(b), 1))
        append_small, append_large = statistics.median(small_ms), statistics.median(large_ms)
        load_ms = median_ms(large.runs, 3)
        prompt, seed = PROMPTS[17], 123
        found = len(large.rows_for(prompt, seed))
        duckdb_ms = median_ms(lambda: large.rows_for(prompt, seed), 5)
        keys_ms = median_ms(large.stored_keys, 3)
        # What a sweep's start-up pays: which of a 2,000-cell plan's keys are stored.
        plan_keys = large.table(["request_key"])["request_key"][:1000].to_pylist()
        plan_keys += [os.urandom(32).hex() for _ in range(1000)]
        among_ms = median_ms(lambda: large.stored_among(plan_keys), 3)
        parts = len(large.parts())
        compact_ms = median_ms(large.compact, 1)
        load_compacted_ms = median_ms(large.runs, 3)
        duckdb_compacted_ms = median_ms(lambda: large.rows_for(prompt, seed), 5)
        total_rows = len(large.runs(["request_key"]))
    result = {
        "benchmark": "catalogue",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "rows": total_rows,
        "parts_before_compaction": parts,
        "build_seconds": round(build_s, 1),
        "append_1000_rows_ms": {"into_1k": append_small, "into_1M": append_large},
        "append_ratio_1M_over_1k": round(append_large / append_small, 3),
        "append_goal_ratio": 1.5,
        "load_1M_into_pandas_ms": load_ms,
        "load_goal_ms": 2000,
        "duckdb_one_prompt_seed_ms": duckdb_ms,
        "duckdb_rows_found": found,
        "duckdb_goal_ms": 100,
        "stored_keys_1M_ms": keys_ms,
        "stored_among_2000_plan_keys_ms": among_ms,
        "compact_1M_ms": compact_ms,
        "after_compaction": {
            "load_1M_into_pandas_ms": load_compacted_ms,
            "duckdb_one_prompt_seed_ms": duckdb_compacted_ms,
        },
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
