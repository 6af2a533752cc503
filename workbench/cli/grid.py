"""`workbench grid`: a contact sheet of a sweep as PNG (faces × seeds, prompts or scales), and
`--restore FILE.png [--run]` to read a grid's sweep back and run it again."""

from __future__ import annotations

from pathlib import Path

import click

from workbench.backend import open_backend
from workbench.cli.sweep import execute_with_progress, print_summary
from workbench.errors import InputError
from workbench.grids import (
    AXES,
    GridQuery,
    GridStyle,
    grid_scores,
    render_grids,
    save_grid_png,
)
from workbench.grids import restore_grid_params as read_grid_params
from workbench.layout import DataLayout
from workbench.run import SweepRun
from workbench.sweep import Sweep, expand_seeds, parse_size


@click.command("grid")
@click.option("--prompt", "prompts", multiple=True, help="A prompt (repeat for several).")
@click.option(
    "--seed",
    "seeds",
    multiple=True,
    help='Seeds as in sweep files: 42, "1-16", "1-1000 [8]", -1 (the random runs). Default: all.',
)
@click.option("--identity-scale", "scales", multiple=True, type=float, help="Default: all.")
@click.option("--size", "sizes", multiple=True, help='"WxH" or 1:1 / 3:4. Default: all.')
@click.option("--cols", type=click.Choice(AXES), default="seed", show_default=True)
@click.option("--faces", default="", help="Comma-separated face ids (default: the whole panel).")
@click.option("--order-by", "order_by", multiple=True, help="Order face rows by a panel attribute.")
@click.option("--page", "pages", multiple=True, type=int, help="Only these pages (1-based).")
@click.option("--title", default=None, help="Title (default: the prompt).")
@click.option("--font-size", default=15, show_default=True, type=int)
@click.option("--margin", default=12, show_default=True, type=int)
@click.option("--thumb", default=256, show_default=True, type=int, help="Thumbnail long side, px.")
@click.option("--samples", default=1, show_default=True, type=int, help="sampleNumber for --run.")
@click.option("--run", "run_first", is_flag=True, help="Run the missing cells first, then draw.")
@click.option(
    "--restore",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read a grid PNG's sweep back: print it, or with --run run it (and draw with --out).",
)
@click.option(
    "--no-scores", is_flag=True, help="No score badges (they come from `workbench score`)."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="PNG to write.")
@click.pass_obj
def command(
    layout: DataLayout,
    prompts: tuple[str, ...],
    seeds: tuple[str, ...],
    scales: tuple[float, ...],
    sizes: tuple[str, ...],
    cols: str,
    faces: str,
    order_by: tuple[str, ...],
    pages: tuple[int, ...],
    title: str | None,
    font_size: int,
    margin: int,
    thumb: int,
    samples: int,
    run_first: bool,
    restore: Path | None,
    no_scores: bool,
    out: Path | None,
) -> None:
    """Draw a grid of stored images: rows are faces, columns seeds, prompts or identity scales;
    the other axes are paged. Every cell is labelled; failed and missing cells say so."""
    style = GridStyle(thumb=thumb, font_size=font_size, margin=margin, title=title)
    scores = None if no_scores else grid_scores
    face_ids = tuple(f.strip() for f in faces.split(",") if f.strip())
    if restore is not None:
        restored = read_grid_params(restore)
        sweep = restored.sweep(name=f"restored from {restore.name}")
        query = restored.query()
        if not run_first:
            click.echo(f"# the sweep behind {restore} (seeds as used; `--run` runs it)")
            click.echo(sweep.to_toml().rstrip("\n"))
            if out is None:
                return
    else:
        if not prompts:
            raise InputError("prompt: give --prompt TEXT (or --restore FILE.png)")
        seed_values = _seeds(seeds)
        sweep = None
        if run_first:
            if not seeds:
                raise InputError("seed: --run needs --seed (which seeds to request)")
            sweep = Sweep.build(
                source="grid",
                name="grid",
                prompts=list(prompts),
                seeds=list(seeds),
                identity_scales=list(scales) or [0.8],
                sizes=list(sizes) or ["3:4"],
                sample_number=samples,
                faces=list(face_ids) or "all",
            )
            seed_values = tuple(sweep.seed_values())
        query = GridQuery(
            prompts=prompts,
            seeds=seed_values,
            identity_scales=scales,
            sizes=tuple(_size(s) for s in sizes),
            faces=face_ids,
            cols=cols,  # type: ignore[arg-type]
            order_by=order_by,
        )
    if out is None:
        raise InputError("out: give --out FILE.png")
    if run_first and sweep is not None:
        with open_backend() as backend:
            run = SweepRun.prepare(sweep, layout, backend=backend.identity)
            click.echo(
                f"running: {run.pending_requests} requests to send, {run.skipped_stored} stored"
            )
            summary = execute_with_progress(run, backend)
        print_summary(summary)
    grids = render_grids(layout, query, style, scores=scores, pages=pages or None)
    for grid in grids:
        path = out if len(grids) == 1 else out.with_name(f"{out.stem}-p{grid.page.number:02d}.png")
        save_grid_png(grid, path)
        shown = sum(1 for cell in grid.cells if cell.status == "ok")
        failed = sum(1 for cell in grid.cells if cell.status == "failed")
        missing = sum(1 for cell in grid.cells if cell.status == "not run")
        click.echo(
            f"{path}: {grid.image.width}×{grid.image.height} px, page {grid.page.number} of "
            f"{grid.page.total}, {len(grid.page.rows)} faces × {len(grid.page.columns)} "
            f"{cols} columns; {shown} images, {failed} failed, {missing} not run"
        )
        for note in grid.page.notes:
            click.echo(f"  {note}")


def _seeds(specs: tuple[str, ...]) -> tuple[int, ...]:
    values: list[int | str] = [int(s) if s.strip().lstrip("-").isdigit() else s for s in specs]
    try:
        return tuple(expand_seeds(values, generator_seed=0))
    except ValueError as exc:
        raise InputError(f"seed: {exc}") from None


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise InputError(f"size: {exc}") from None
