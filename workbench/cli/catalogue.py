"""`workbench catalogue show | stats | compact | check | path`: read the log of every run back
(llm's `logs`, over Parquet), and keep it healthy."""

from __future__ import annotations

import sys

import click
import pandas as pd

from workbench.catalogue import Catalogue
from workbench.layout import DataLayout

# The table stays readable whatever a prompt holds (100 KB, newlines): cells are cut to this.
COLUMN_WIDTH = 40
SHOW_COLUMNS = [
    "created_at",
    "sweep_id",
    "backend",
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
@click.option(
    "-n",
    "--count",
    default=20,
    show_default=True,
    type=click.IntRange(min=0),
    help="Rows to show (0: all).",
)
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
    click.echo(_clipped(rows[SHOW_COLUMNS]).to_string(index=False))


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


@command.command("check")
@click.option(
    "--repair",
    is_flag=True,
    help="Move damaged or foreign parts and stray files to catalogue/quarantine/, "
    "delete crashed writers' leftovers.",
)
@click.pass_obj
def check(layout: DataLayout, repair: bool) -> None:
    """Read every part in full and compare it with the schema. Exit 1 if anything is wrong
    (and, with --repair, nothing could be repaired)."""
    catalogue = Catalogue(layout.catalogue)
    report = catalogue.check(repair=repair)
    click.echo(f"catalogue {catalogue.path}: {report.parts} parts, {report.rows} rows")
    for problem in report.problems:
        click.echo(f"  {problem.line()}")
    quarantined = catalogue.quarantined()
    if quarantined:
        click.echo(f"  {len(quarantined)} file(s) in quarantine: {quarantined[0].parent}")
    if report.ok:
        click.echo("ok: every part reads in full and fits the schema")
        return
    newer_only = all(problem.kind == "newer" for problem in report.problems)
    if repair and not newer_only:
        click.echo("repaired: the parts above were moved to quarantine or removed")
        return
    if not repair:
        click.echo("run `workbench catalogue check --repair` to move them out of the way")
    sys.exit(1)


def _clipped(rows: pd.DataFrame) -> pd.DataFrame:
    """Text cells on one line and at most COLUMN_WIDTH characters (pandas' own max_colwidth
    applies to repr, not to `to_string`)."""

    def clip(value: object) -> object:
        if not isinstance(value, str):
            return value
        text = " ".join(value.split())
        return text if len(text) <= COLUMN_WIDTH else text[: COLUMN_WIDTH - 1] + "…"

    clipped = rows.copy()
    for column in clipped.columns:
        if clipped[column].dtype == object or pd.api.types.is_string_dtype(clipped[column]):
            clipped[column] = clipped[column].map(clip)
    return clipped
