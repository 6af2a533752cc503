"""Grid rendering: an 8-face × 16-seed grid from 768×1024 JPEGs, cold (no thumbnails yet) and
warm (thumbnails cached on disk and in memory); PNG encoding measured apart.

    .venv/bin/python benchmarks/bench_grid.py [--faces 8] [--seeds 16] [--repeat 5] [--out FILE]

Targets (issue #9): cold ≤ 1 s, warm ≤ 0.2 s. Prints JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from report import emit  # benchmarks/report.py, beside this script

from workbench import store as store_module
from workbench.catalogue import STATUS_OK, Catalogue, CatalogueRow
from workbench.grids import GridQuery, render_grid, save_grid_png
from workbench.layout import DataLayout
from workbench.panel import Face, Panel
from workbench.store import ImageStore

PROMPT = "studio headshot, soft window light"


def portrait_like(rng: np.random.Generator) -> bytes:
    """A 768×1024 JPEG with smooth colour and fine noise, so it decodes like a photo."""
    base = rng.integers(0, 256, size=(8, 6, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize((768, 1024), Image.BICUBIC)
    noise = rng.normal(0, 6, size=(1024, 768, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


def build(layout: DataLayout, faces: int, seeds: int) -> None:
    rng = np.random.default_rng(9)
    face_list = []
    layout.faces.mkdir(parents=True, exist_ok=True)
    for n in range(faces):
        data = portrait_like(rng)
        face_id = f"face-{n:02d}"
        (layout.faces / f"{face_id}.jpg").write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        face_list.append(Face(face_id, f"{face_id}.jpg", digest, 768, 1024))
    Panel(layout)._write_manifest(face_list)
    store = ImageStore(layout)
    rows = []
    now = datetime.now(UTC)
    for face in face_list:
        for seed in range(1, seeds + 1):
            stored = store.put(portrait_like(rng))
            rows.append(
                CatalogueRow(
                    sweep_id="bench",
                    request_key=hashlib.sha256(f"{face.id}-{seed}".encode()).hexdigest(),
                    created_at=now,
                    backend="simulator",
                    prompt=PROMPT,
                    seed=seed,
                    seed_used=seed,
                    sample_number=1,
                    sample_index=0,
                    identity_scale=0.8,
                    width=768,
                    height=1024,
                    face_id=face.id,
                    face_hash=face.hash,
                    status=STATUS_OK,
                    image_hash=stored.hash,
                    image_path=stored.relative_path,
                    attempts=1,
                    latency_ms=1.0,
                )
            )
    Catalogue(layout.catalogue).append(rows)


def forget_thumbnails(layout: DataLayout) -> None:
    shutil.rmtree(layout.thumbnails, ignore_errors=True)
    store_module._DECODED = store_module._DecodedThumbnails(store_module.THUMBNAIL_CACHE_BYTES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        layout = DataLayout(Path(tmp) / "data")
        build(layout, args.faces, args.seeds)
        query = GridQuery(prompts=(PROMPT,))
        render_grid(layout, query)  # imports, fonts and DuckDB warmed; not what "cold" means
        cold, warm, cold_cpu, warm_cpu = [], [], [], []
        for _ in range(args.repeat):
            forget_thumbnails(layout)
            start, cpu = time.perf_counter(), time.process_time()
            grid = render_grid(layout, query)
            cold.append(time.perf_counter() - start)
            cold_cpu.append(time.process_time() - cpu)
        for _ in range(args.repeat):
            start, cpu = time.perf_counter(), time.process_time()
            grid = render_grid(layout, query)
            warm.append(time.perf_counter() - start)
            warm_cpu.append(time.process_time() - cpu)
        start = time.perf_counter()
        save_grid_png(grid, Path(tmp) / "grid.png")
        png_s = time.perf_counter() - start
        png_bytes = (Path(tmp) / "grid.png").stat().st_size
    emit(
        {
            "benchmark": "grid",
            "grid": f"{args.faces} faces x {args.seeds} seeds, 768x1024 JPEGs, 256 px thumbnails",
            "image_px": list(grid.image.size),
            "cold_s_median": round(statistics.median(cold), 3),
            "cold_s_all": [round(v, 3) for v in cold],
            "warm_s_median": round(statistics.median(warm), 3),
            "warm_s_all": [round(v, 3) for v in warm],
            # CPU seconds of the process (all threads): what the work costs whatever the load.
            "cold_cpu_s_median": round(statistics.median(cold_cpu), 3),
            "warm_cpu_s_median": round(statistics.median(warm_cpu), 3),
            "targets": {"cold_s": 1.0, "warm_s": 0.2},
            "meets_targets": statistics.median(cold) <= 1.0 and statistics.median(warm) <= 0.2,
            "save_png_s": round(png_s, 3),
            # The machine is shared: the load says how far these times are from an idle one.
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "png_bytes": png_bytes,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
