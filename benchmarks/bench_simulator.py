"""How fast the simulator answers: render-only images/s at 768×1024 on one thread, then images/s
over real HTTP on loopback. Prints one JSON object.

Render-only uses several faces, prompts and fresh seeds so the per-style caches (backdrops, lit
person layers) are cold for every new (face, prompt, seed): "first sample" is the cost of a
style never seen with that face, "later samples" what samples 2…n of a request cost, and
"requests of 4" the mix a sweep with sampleNumber 4 sees. Over HTTP: requests of 4 one after
another, then 4 at a time (the simulator renders in a thread pool; Pillow releases the GIL).
Run: `.venv/bin/python benchmarks/bench_simulator.py [--out FILE]` (about 20 s).
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from matplotlib import cbook
from PIL import Image, ImageOps
from report import emit  # benchmarks/report.py, beside this script

from workbench.contract import ENDPOINT, PortraitParams
from workbench.simulator.render import render_portrait

WIDTH, HEIGHT = 768, 1024
PROMPTS = (
    "studio portrait, soft light",
    "warm office headshot",
    "outdoor portrait, dramatic",
    "black and white, low key",
)
SAMPLES = 4


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def faces() -> list[bytes]:
    """Three distinct reference photos from public-domain images shipped in packages."""
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = Image.open(io.BytesIO(handle.read())).convert("RGB")
    found = [_jpeg(hopper), _jpeg(ImageOps.mirror(hopper).crop((30, 40, 512, 600)))]
    try:
        from skimage import data  # a dev dependency; fall back to a third hopper variant

        found.append(_jpeg(Image.fromarray(data.astronaut()).crop((90, 0, 360, 300))))
    except ImportError:
        found.append(_jpeg(hopper.resize((384, 450))))
    return found


def params(prompt: str, seed: int, samples: int = 1) -> PortraitParams:
    return PortraitParams(
        prompt=prompt, seed=seed, sample_number=samples, width=WIDTH, height=HEIGHT
    )


def bench_render(photos: list[bytes]) -> dict[str, float]:
    # Warm-up: dlib loads, each face is found once, grain tiles are built for this size.
    for photo, prompt, seed in itertools.product(photos, PROMPTS, range(1, 4)):
        render_portrait(photo, params(prompt, seed), 0)

    first, later, cpu_first, cpu_later = [], [], [], []
    for photo, prompt, seed in itertools.product(photos, PROMPTS, range(1000, 1004)):
        for sample in range(SAMPLES):
            wall, cpu = time.perf_counter(), time.process_time()
            render_portrait(photo, params(prompt, seed, SAMPLES), sample)
            (first if sample == 0 else later).append(time.perf_counter() - wall)
            (cpu_first if sample == 0 else cpu_later).append(time.process_time() - cpu)
    request_of_4 = statistics.mean(first) + (SAMPLES - 1) * statistics.mean(later)
    # CPU time is what one core spends; wall time also counts neighbours on a shared machine.
    cpu_request_of_4 = statistics.mean(cpu_first) + (SAMPLES - 1) * statistics.mean(cpu_later)
    return {
        "render_images": len(first) + len(later),
        "render_first_sample_ms_median": 1000 * statistics.median(first),
        "render_later_sample_ms_median": 1000 * statistics.median(later),
        "render_images_per_s_first_samples": len(first) / sum(first),
        "render_images_per_s_later_samples": len(later) / sum(later),
        "render_images_per_s_requests_of_4": SAMPLES / request_of_4,
        "render_cpu_images_per_s_first_samples": len(cpu_first) / sum(cpu_first),
        "render_cpu_images_per_s_requests_of_4": SAMPLES / cpu_request_of_4,
    }


def bench_http(photos: list[bytes]) -> dict[str, float] | dict[str, str]:
    try:
        import httpx

        from workbench.simulator import SimulatorConfig, SimulatorServer
    except ImportError as exc:  # the HTTP half of the simulator is not there yet
        return {"http_skipped": f"{exc}"}

    uris = ["data:image/jpeg;base64," + base64.b64encode(photo).decode() for photo in photos]
    with SimulatorServer(SimulatorConfig(api_key="k")) as sim, httpx.Client(timeout=60) as client:

        def post(uri: str, prompt: str, seed: int) -> int:
            body = {
                **params(prompt, seed, SAMPLES).model_dump(by_alias=True),
                "apiKey": "k",
                "inputImages": [uri],
            }
            reply = client.post(sim.url + ENDPOINT, json=body)
            reply.raise_for_status()
            return len(reply.json()["outputImages"])

        for uri, prompt in itertools.product(uris, PROMPTS):  # warm-up, as for render-only
            post(uri, prompt, 1)
        # Fresh seeds each time: the simulator's reply cache never answers for the renderer.
        jobs = list(itertools.product(uris, PROMPTS, range(2000, 2003)))
        start = time.perf_counter()
        sequential = sum(post(*job) for job in jobs)
        sequential_s = time.perf_counter() - start

        jobs = list(itertools.product(uris, PROMPTS, range(3000, 3003)))
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:  # httpx.Client is thread-safe
            concurrent = sum(pool.map(lambda job: post(*job), jobs))
        concurrent_s = time.perf_counter() - start
    return {
        "http_images": sequential + concurrent,
        "http_images_per_s_sequential_requests_of_4": sequential / sequential_s,
        "http_images_per_s_4_concurrent_requests_of_4": concurrent / concurrent_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="Also write the JSON here.")
    args = parser.parse_args()
    photos = faces()
    result: dict[str, object] = {
        "benchmark": "simulator",
        "size": f"{WIDTH}x{HEIGHT}",
        "faces": len(photos),
        "prompts": len(PROMPTS),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    result.update(bench_render(photos))
    result.update(bench_http(photos))
    emit({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}, args.out)


if __name__ == "__main__":
    main()
