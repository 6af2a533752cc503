"""`workbench generate`: one request for one face, the JPEGs written to a folder."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from workbench.backend import open_backend
from workbench.contract import (
    DEFAULT_HEIGHT,
    DEFAULT_IDENTITY_SCALE,
    DEFAULT_SEED,
    DEFAULT_WIDTH,
    SIZE_PRESETS,
    make_params,
)
from workbench.errors import InputError


@click.command("generate")
@click.option("--face", "face_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--prompt", required=True, help="The style prompt.")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int, help="-1 = random.")
@click.option("--samples", default=1, show_default=True, type=int, help="Images, 1-8.")
@click.option("--identity-scale", default=DEFAULT_IDENTITY_SCALE, show_default=True, type=float)
@click.option("--width", type=int, help=f"Output width (default {DEFAULT_WIDTH}).")
@click.option("--height", type=int, help=f"Output height (default {DEFAULT_HEIGHT}).")
@click.option("--size", type=click.Choice(sorted(SIZE_PRESETS)), help="Preset size instead.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the JPEGs (one-off results are not catalogued; pick where they go).",
)
def command(
    face_path: Path,
    prompt: str,
    seed: int,
    samples: int,
    identity_scale: float,
    width: int | None,
    height: int | None,
    size: str | None,
    out: Path,
) -> None:
    """Generate portraits of one face and print where they are."""
    if size and (width or height):
        raise InputError("give either --size or --width/--height, not both")
    width, height = (
        SIZE_PRESETS[size] if size else (width or DEFAULT_WIDTH, height or DEFAULT_HEIGHT)
    )
    params = make_params(
        prompt=prompt,
        seed=seed,
        sample_number=samples,
        identity_scale=identity_scale,
        width=width,
        height=height,
    )
    try:
        face = face_path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read --face {face_path}: {exc.strerror}") from None
    with open_backend() as backend:
        click.echo(f"backend: {backend.label}", err=True)

        async def once():
            async with backend.client() as client:
                return await client.generate(params, face)

        generation = asyncio.run(once())
    out.mkdir(parents=True, exist_ok=True)
    for index, jpeg in enumerate(generation.images):
        path = out / f"{face_path.stem}-seed{generation.seed}-{index}.jpg"
        path.write_bytes(jpeg)
        click.echo(str(path))
    click.echo(
        f"{len(generation.images)} image(s) in {generation.latency_ms:.0f} ms "
        f"after {generation.attempts} attempt(s) → {out}",
        err=True,
    )
