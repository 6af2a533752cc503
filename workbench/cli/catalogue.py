"""`workbench catalogue show | stats | compact | path`: read the log of every run back (llm's
`logs`, over Parquet)."""

from __future__ import annotations

import click
import pandas as pd

from workbench.catalogue import Catalogue
from workbench.layout import DataLayout

SHOW_COLUMNS = [
    "created_at",
    "sweep_id",
    "prompt",
    "seed",
    "identity_scale",
    "width",
    "height",
    "face_id",
    "sample_index",
    "status",
    "error_class",
    "image_path",
]


@click.group("catalogue")
def command() -> None:
    """Read and maintain the catalogue of every image and failed cell."""


@command.command("path")
@click.pass_obj
def path_command(layout: DataLayout) -> None:
    """Print the catalogue folder (read it with pandas or DuckDB)."""
    click.echo(layout.catalogue)


@command.command("show")
@click.option("-n", "--count", default=20, show_default=True, help="Rows to show (0: all).")
@click.option("--sweep", "sweep_id", help="Only this sweep id.")
@click.option("--prompt", help="Only this prompt (exact).")
@click.option("--seed", type=int, help="Only this seed.")
@click.option("--face", "face_id", help="Only this face id.")
@click.option("--status", type=click.Choice(["ok", "failed"]), help="Only ok images or failures.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def show(
    layout: DataLayout,
    count: int,
    sweep_id: str | None,
    prompt: str | None,
    seed: int | None,
    face_id: str | None,
    status: str | None,
    as_json: bool,
) -> None:
    """Show the most recent rows, newest last."""
    rows = Catalogue(layout.catalogue).recent(
        count, sweep_id=sweep_id, prompt=prompt, seed=seed, face_id=face_id, status=status
    )
    if rows.empty:
        click.echo("no rows")
        return
    if as_json:
        click.echo(rows.to_json(orient="records", lines=True, date_format="iso").rstrip())
        return
    with pd.option_context("display.max_colwidth", 40, "display.width", 200):
        click.echo(rows[SHOW_COLUMNS].to_string(index=False))


@command.command("stats")
@click.pass_obj
def stats(layout: DataLayout) -> None:
    """Totals, and one line per sweep: images stored, cells failed, cost."""
    catalogue = Catalogue(layout.catalogue)
    totals = catalogue.stats()
    click.echo(
        f"catalogue {catalogue.path}: {totals.parts} parts, {totals.size_bytes / 1e6:.1f} MB"
    )
    click.echo(
        f"  {totals.rows} rows: {totals.images} images, {totals.failed_rows} failures "
        f"({totals.cells_still_failing} cells still failing); {totals.sweeps} sweeps, "
        f"{totals.prompts} prompts; cost {totals.cost:.2f}"
    )
    per_sweep = catalogue.sweep_totals()
    if not per_sweep.empty:
        click.echo(per_sweep.to_string(index=False))


@command.command("compact")
@click.pass_obj
def compact(layout: DataLayout) -> None:
    """Merge small part files into one (safe while other processes read or append)."""
    result = Catalogue(layout.catalogue).compact()
    if result.rows == 0:
        click.echo(f"nothing to compact ({result.parts_before} parts)")
    else:
        click.echo(
            f"merged {result.parts_before - result.parts_after + 1} parts ({result.rows} rows): "
            f"{result.parts_before} parts -> {result.parts_after}"
        )
