"""Catalogue tab: the runs table with filters, and the filtered rows as CSV or Parquet.

There is deliberately no SQL box: `Catalogue.query` runs DuckDB, which can read and write
files, so it is not for the web. Filters are plain equality on known columns.
"""

from __future__ import annotations

from datetime import UTC, datetime

import gradio as gr
import pandas as pd

from workbench.app.context import AppContext, Loader
from workbench.app.errors import shown
from workbench.catalogue import Catalogue
from workbench.layout import DataLayout

ANY = "(any)"
SHOWN_ROWS = 500
TABLE_COLUMNS = [
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
    "attempts",
    "latency_ms",
    "cost",
]
EXPORT_FORMATS = ("csv", "parquet")


def filter_choices(layout: DataLayout) -> dict[str, list[str]]:
    """The values each filter offers, from what the catalogue holds."""
    frame = Catalogue(layout.catalogue).runs(columns=["prompt", "face_id", "sweep_id", "status"])
    return {
        column: [ANY, *sorted(frame[column].dropna().astype(str).unique())]
        for column in ("prompt", "face_id", "sweep_id", "status")
    }


def filtered_rows(
    layout: DataLayout,
    prompt: str | None,
    face_id: str | None,
    sweep_id: str | None,
    status: str | None,
    limit: int = SHOWN_ROWS,
) -> pd.DataFrame:
    """The newest `limit` rows (0: all) matching the filters; `ANY` or empty means no filter."""
    filters = {"prompt": prompt, "face_id": face_id, "sweep_id": sweep_id, "status": status}
    equal = {column: value for column, value in filters.items() if value and value != ANY}
    return Catalogue(layout.catalogue).recent(limit, **equal)


def export_rows(ctx: AppContext, fmt: str, *filters: str | None) -> str:
    """Write every row matching the filters to a file for download; returns its path."""
    if fmt not in EXPORT_FORMATS:
        raise gr.Error(f"export format must be one of {', '.join(EXPORT_FORMATS)}")
    rows = filtered_rows(ctx.layout, *filters, limit=0)
    target = ctx.exports / f"catalogue-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.{fmt}"
    if fmt == "csv":
        rows.to_csv(target, index=False)
    else:
        rows.to_parquet(target, index=False)
    return str(target)


def table_view(rows: pd.DataFrame) -> pd.DataFrame:
    view = rows[[column for column in TABLE_COLUMNS if column in rows]].copy()
    return view.iloc[::-1].reset_index(drop=True)  # newest first


def build(ctx: AppContext) -> Loader:
    layout = ctx.layout
    with gr.Tab("Catalogue", id="catalogue") as tab:
        with gr.Row():
            prompt = gr.Dropdown(
                label="Prompt", choices=[ANY], value=ANY, allow_custom_value=True, scale=3
            )
            face = gr.Dropdown(label="Face", choices=[ANY], value=ANY, allow_custom_value=True)
            sweep = gr.Dropdown(label="Sweep", choices=[ANY], value=ANY, allow_custom_value=True)
            status = gr.Dropdown(label="Status", choices=[ANY], value=ANY, allow_custom_value=True)
        count = gr.Markdown(elem_id="catalogue-count")
        table = gr.Dataframe(interactive=False, elem_id="catalogue-table", max_height=520)
        with gr.Row():
            fmt = gr.Radio(list(EXPORT_FORMATS), value="csv", label="Format", scale=1)
            export_button = gr.Button("Export the filtered rows", elem_id="catalogue-export")
            exported = gr.File(label="Download", interactive=False, elem_id="catalogue-file")

    filters = [prompt, face, sweep, status]

    def show(*values):
        rows = filtered_rows(layout, *values)
        shown_note = f" (newest {SHOWN_ROWS} shown)" if len(rows) >= SHOWN_ROWS else ""
        return table_view(rows), f"{len(rows)} rows{shown_note}"

    def load(*values):
        choices = filter_choices(layout)
        updates = [gr.update(choices=choices[c]) for c in ("prompt", "face_id", "sweep_id")]
        return (*updates, gr.update(choices=choices["status"]), *show(*values))

    gr.on(
        [f.change for f in filters], shown(show), filters, [table, count], api_name="catalogue_rows"
    )
    export_button.click(
        shown(lambda kind, *values: export_rows(ctx, kind, *values)),
        [fmt, *filters],
        exported,
        api_name="export_rows",
    )
    outputs = [*filters, table, count]
    tab.select(shown(load), filters, outputs)
    return Loader(load, outputs, filters)
