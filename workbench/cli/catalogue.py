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
    filters = {"sweep_id": sweep_id, "prompt": prompt, "seed": seed, "face_id": face_id}
    filters["status"] = status
    where = [f"{column} = ?" for column, value in filters.items() if value is not None]
    params = [value for value in filters.values() if value is not None]
    sql = "SELECT * FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at DESC"
    if count:
        sql += f" LIMIT {int(count)}"
    rows = Catalogue(layout.catalogue).query(sql, params).iloc[::-1]
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
    parts = catalogue.parts()
    totals = catalogue.query(
        """
        SELECT count(*) AS rows,
               count(*) FILTER (WHERE status = 'ok') AS images,
               count(*) FILTER (WHERE status = 'failed') AS failed_rows,
               count(DISTINCT sweep_id) AS sweeps,
               count(DISTINCT prompt) AS prompts,
               coalesce(sum(cost), 0) AS cost
        FROM runs
        """
    )
    totals = {column: totals[column].iloc[0] for column in totals.columns}
    # A cell still failing: logged as failed and never stored since.
    still_failing = catalogue.query(
        """
        SELECT count(DISTINCT request_key) AS n FROM runs
        WHERE status = 'failed' AND seed <> -1 AND request_key NOT IN
              (SELECT request_key FROM runs WHERE status = 'ok')
        """
    )["n"].iloc[0]
    size = sum(part.stat().st_size for part in parts if part.exists())
    click.echo(f"catalogue {catalogue.path}: {len(parts)} parts, {size / 1e6:.1f} MB")
    click.echo(
        f"  {int(totals['rows'])} rows: {int(totals['images'])} images, "
        f"{int(totals['failed_rows'])} failures ({int(still_failing)} cells still failing); "
        f"{int(totals['sweeps'])} sweeps, {int(totals['prompts'])} prompts; "
        f"cost {float(totals['cost']):.2f}"
    )
    per_sweep = catalogue.query(
        """
        SELECT sweep_id, any_value(backend) AS backend, min(created_at) AS started,
               count(*) FILTER (WHERE status = 'ok') AS images,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               round(sum(cost), 2) AS cost
        FROM runs GROUP BY sweep_id ORDER BY started
        """
    )
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
