"""How fast scoring is: images scored per second at 768×1024, end to end (read the JPEG file,
find the face, describe), per scorer on one process, both scorers together on one process, and
both together on every core with `score_images` (process pool, including its start-up).
Prints one JSON object.

The images are simulator outputs of openpeople's synthetic people (P003 left out).
Run: `.venv/bin/python benchmarks/bench_scoring.py [--images 96] [--out FILE]` (about a minute).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
import time
from pathlib import Path

from PIL import Image
from report import emit  # benchmarks/report.py, beside this script

from workbench.contract import PortraitParams
from workbench.scoring import describe_style, face_descriptor, score_image, score_images
from workbench.simulator.render import render_portrait

WIDTH, HEIGHT = 768, 1024
PROMPTS = (
    "studio portrait, grey backdrop",
    "corporate office headshot",
    "outdoor portrait in a park",
    "black and white portrait, dramatic",
)


def _faces(count: int) -> list[bytes]:
    import openpeople

    root = Path(openpeople.__file__).parent / "data" / "curated"
    people = sorted(p for p in root.iterdir() if p.is_dir() and p.name != "P003")[:count]
    faces = []
    for person in people:
        with Image.open(person / "assets" / "amateur_selfie.jpg") as opened:
            opened.draft("RGB", (800, 800))
            image = opened.convert("RGB")
        image.thumbnail((800, 800))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        faces.append(buffer.getvalue())
    return faces


def _outputs(folder: Path, count: int) -> list[Path]:
    faces = _faces(6)
    paths = []
    for i in range(count):
        prompt = PROMPTS[i % len(PROMPTS)]
        params = PortraitParams(
            prompt=prompt, seed=1 + i // 8, width=WIDTH, height=HEIGHT, identity_scale=0.8
        )
        path = folder / f"{i:04d}.jpg"
        path.write_bytes(render_portrait(faces[i % len(faces)], params, 0))
        paths.append(path)
    return paths


def _rate(function, paths: list[Path]) -> dict:
    function(paths[0])  # load the models outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        function(path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "images_per_s": round(len(paths) / wall, 2),
        "cpu_ms_per_image": round(cpu / len(paths) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        paths = _outputs(Path(tmp), args.images)
        single = paths[: max(8, args.images // 3)]
        identity = _rate(face_descriptor, single)
        style = _rate(describe_style, single)
        both = _rate(score_image, single)
        start = time.perf_counter()
        scored = score_images(paths, workers=cpus)
        pooled = time.perf_counter() - start
    emit(
        {
            "benchmark": "scoring",
            "size": f"{WIDTH}x{HEIGHT}",
            "python": platform.python_version(),
            "cpus": cpus,
            "images": len(paths),
            "faces_found": sum(s.face is not None for s in scored),
            "identity_images_per_s_1_process": identity["images_per_s"],
            "identity_cpu_ms_per_image": identity["cpu_ms_per_image"],
            "style_images_per_s_1_process": style["images_per_s"],
            "style_cpu_ms_per_image": style["cpu_ms_per_image"],
            "both_images_per_s_1_process": both["images_per_s"],
            "both_cpu_ms_per_image": both["cpu_ms_per_image"],
            f"both_images_per_s_{cpus}_processes_incl_startup": round(len(paths) / pooled, 2),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
