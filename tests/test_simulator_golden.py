"""The simulator's model 2 is frozen: a fixed set of requests gives byte-identical JPEGs, so a
speed-up (caches, analytic per-style quantities, a process pool) can never change its images
silently. The SHA-256s were recorded right after model 2 was frozen (2026-12-04), with the
Pillow and libjpeg of this project's environment; if an upgrade of those changes the bytes,
check that the pixels still match before re-recording, and if the images change, bump
`SIMULATOR_MODEL_VERSION` instead."""

from __future__ import annotations

import hashlib

import pytest

from workbench.contract import PortraitParams
from workbench.simulator.render import render_portrait

# (face, prompt, seed, identityScale, width, height, sample index) of a request of 4 samples.
GOLDEN = {
    ("hopper", "studio portrait, soft light", 7, 0.8, 512, 512, 0): (
        "bd40399250074464aeebec81aa126322b01490be983d0985cf464dfe40c1bcc3"
    ),
    ("hopper", "studio portrait, soft light", 7, 0.8, 512, 512, 1): (
        "77ea29e716a52cc9477dcdf26e90ff4f5ecc2bc4b448f3e526999aca66a6f4f7"
    ),
    ("astronaut", "studio portrait, soft light", 7, 0.8, 512, 512, 0): (
        "64e52661077b2a8b38ce7a8d90819c7586a7b7f02ee7044e2da64e94001e7800"
    ),
    ("hopper", "black and white studio portrait", 37, 0.8, 768, 1024, 0): (
        "16abd2f1502b1de6d1d25a2e72a85238cfca2d74664f79fee2430e685bee2e6b"
    ),
    ("astronaut", "cinematic office headshot, dreamy", 12, 0.5, 768, 1024, 2): (
        "d713b9642f7929760bd2bf51f42bd87422b384d2af13c32a85f18234f8594c2b"
    ),
    ("hopper", "outdoor portrait, crisp, golden hour", 1234567, 1.0, 640, 512, 0): (
        "400c3d2d3b774af4ae66c777ef079ea13d0639408da1af97f335c7a9c2363dca"
    ),
    ("astronaut", "warm vintage film portrait, low key", 99, 0.0, 512, 768, 0): (
        "7f9a81f97dc93bb5129c85ec5c4140483cf5642c5fe84049706ce3cdb39364ed"
    ),
    ("hopper", "teal backdrop, high key", 2147483647, 0.3, 1024, 1024, 3): (
        "6bee663bee1b6c8936b5a927e0c9e21f38ada91e4b6bdec87c221195e0d448c7"
    ),
}


def golden_params(request: tuple) -> tuple[str, PortraitParams, int]:
    face, prompt, seed, identity, width, height, sample = request
    params = PortraitParams(
        prompt=prompt,
        seed=seed,
        identity_scale=identity,
        width=width,
        height=height,
        sample_number=4,
    )
    return face, params, sample


@pytest.mark.parametrize("request_", list(GOLDEN), ids=lambda r: f"{r[0]}-{r[2]}-{r[6]}")
def test_model_2_renders_exactly_what_it_rendered_when_frozen(request_, sample_faces):
    face, params, sample = golden_params(request_)
    rendered = render_portrait(sample_faces[face], params, sample)
    assert hashlib.sha256(rendered).hexdigest() == GOLDEN[request_]


@pytest.mark.e2e
@pytest.mark.parametrize("processes", [0, 2], ids=["threads", "2-workers"])
async def test_the_server_answers_the_same_bytes_from_threads_or_worker_processes(
    processes, sample_faces
):
    from workbench.client import HeadshotClient
    from workbench.simulator import SimulatorConfig, SimulatorServer

    with SimulatorServer(SimulatorConfig(render_processes=processes)) as server:
        async with HeadshotClient(server.url, server.api_key) as client:
            for request in list(GOLDEN)[:5]:
                face, params, sample = golden_params(request)
                reply = await client.generate(params, sample_faces[face])
                assert hashlib.sha256(reply.images[sample]).hexdigest() == GOLDEN[request]
