"""`workbench generate`: one request for one face, the JPEGs written to a folder."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
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
from workbench.layout import DataLayout, make_private_dir, read_regular_file, write_atomically
from workbench.panel import MAX_PHOTO_BYTES


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
@click.pass_obj
def command(
    layout: DataLayout,
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
    face = read_regular_file(face_path, limit=MAX_PHOTO_BYTES, what="face photo")
    with open_backend() as backend:
        click.echo(f"backend: {backend.label}", err=True)

        async def once():
            async with backend.client() as client:
                return await client.generate(params, face)

        generation = asyncio.run(once())
    names = [
        f"{face_path.stem}-seed{generation.seed}-{i}.jpg" for i in range(len(generation.images))
    ]
    try:
        written = _write_all(out, names, generation.images)
    except OSError as exc:
        # The images are paid for: keep them under the data root rather than drop them.
        kept_in = layout.kept / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        reason = f"cannot write to {exc.filename or out}: {exc.strerror or exc}"
        try:
            _write_all(kept_in, names, generation.images)
        except OSError as again:
            raise InputError(
                f"{reason}; keeping them in {kept_in} failed too ({again.strerror or again}): "
                f"the {len(names)} image(s) are lost"
            ) from None
        raise InputError(
            f"{reason}; the {len(names)} image(s) paid for are kept in {kept_in} "
            f"({', '.join(names)})"
        ) from None
    for path in written:
        click.echo(str(path))
    click.echo(
        f"{len(generation.images)} image(s) in {generation.latency_ms:.0f} ms "
        f"after {generation.attempts} attempt(s) → {out}",
        err=True,
    )


def _write_all(folder: Path, names: list[str], images: list[bytes]) -> list[Path]:
    """Each image atomically, owner-only (they show a person)."""
    make_private_dir(folder)
    paths = []
    for name, jpeg in zip(names, images, strict=True):
        write_atomically(folder / name, jpeg)
        paths.append(folder / name)
    return paths
