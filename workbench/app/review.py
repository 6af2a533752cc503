"""Review tab: one prompt (at one identity scale and size) as a faces x seeds grid of thumbnails.

The grid is `workbench.grids`' cell layout (`load_grid` + `plan_pages`), shown as a gallery
whose items are the stored thumbnails themselves (no composite image, no copy in Gradio's
cache). A click (or the arrow keys in the enlarged view) opens a cell: the full image and its
parameters. Two candidates can be compared side by side; missing or failed cells re-run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
from PIL import Image, ImageDraw

from workbench.app.context import API_QUEUE, AppContext, Loader, signed_in_user
from workbench.app.errors import shown
from workbench.app.sweep import run_sweep
from workbench.app.templates import save_template
from workbench.catalogue import Catalogue
from workbench.grids import (
    GridCellData,
    GridQuery,
    RestoredGrid,
    grid_params,
    load_grid,
    plan_pages,
)
from workbench.layout import DataLayout
from workbench.scoring.candidates import Candidate, ScoredImages, candidate_score
from workbench.scoring.consistency import dimension_label
from workbench.scoring.ratings import RatingStore
from workbench.store import ImageStore

TILE_SIZE = 192
TILE_TEXT = {"failed": "failed", "not run": "not run", "image missing": "image missing"}


@dataclass(frozen=True)
class ReviewCell:
    """One grid position: the face (row), the seed (column) and what the catalogue holds."""

    face_id: str
    column: str
    data: GridCellData | None  # None: never requested

    @property
    def status(self) -> str:
        return self.data.status if self.data else "not run"

    @property
    def image_hash(self) -> str | None:
        return self.data.images[0] if self.data and self.data.images else None


@dataclass(frozen=True)
class ReviewGrid:
    """A page of cells, row by row; `columns` per row; `params` re-run it."""

    cells: list[ReviewCell]
    columns: int
    params: dict = field(default_factory=dict)
    note: str = ""


def review_choices(layout: DataLayout) -> dict[str, list]:
    """Prompts, identity scales and sizes the catalogue holds (for the pickers)."""
    found = Catalogue(layout.catalogue).query(
        "SELECT DISTINCT prompt, round(identity_scale, 4) AS scale, width, height FROM runs"
    )
    return {
        "prompt": sorted(found["prompt"].unique()),
        "scale": sorted(float(s) for s in found["scale"].unique()),
        "size": sorted({f"{w}x{h}" for w, h in zip(found["width"], found["height"], strict=True)}),
    }


def review_grid(layout: DataLayout, prompt: str, scale: float, size: str) -> ReviewGrid:
    width, height = (int(v) for v in size.split("x"))
    query = GridQuery(prompts=(prompt,), identity_scales=(scale,), sizes=((width, height),))
    data = load_grid(layout, query)
    pages = plan_pages(data)
    page = pages[0]
    cells = [
        ReviewCell(face_id, column.label, data.cells.get((face_id, page.candidate_of(column))))
        for face_id in (face if isinstance(face, str) else face.id for face in page.rows)
        for column in page.columns
    ]
    note = f"page 1 of {len(pages)}; " if len(pages) > 1 else ""
    return ReviewGrid(
        cells, len(page.columns), grid_params(data, page), note + "; ".join(page.notes)
    )


def gallery_items(layout: DataLayout, grid: ReviewGrid, tiles: Path) -> list[tuple[str, str]]:
    """(thumbnail or status tile, caption) per cell, row by row."""
    store = ImageStore(layout)
    items = []
    for cell in grid.cells:
        image_hash = cell.image_hash
        if image_hash is not None and store.has(image_hash):
            picture = str(store.thumbnail(image_hash))
        else:
            picture = str(
                status_tile(tiles, cell.status if image_hash is None else "image missing")
            )
        items.append((picture, f"{cell.face_id} · {cell.column}"))
    return items


def status_tile(folder: Path, status: str) -> Path:
    """A plain grey tile saying why a cell has no image (made once per folder)."""
    path = folder / f"tile-{status.replace(' ', '-')}.png"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tile = Image.new("RGB", (TILE_SIZE, TILE_SIZE * 4 // 3), (236, 236, 232))
        draw = ImageDraw.Draw(tile)
        draw.text(
            (TILE_SIZE // 2, TILE_SIZE * 2 // 3),
            TILE_TEXT.get(status, status),
            fill=(90, 90, 90),
            anchor="mm",
            font_size=22,
        )
        tile.save(path)
    return path


def cell_details(layout: DataLayout, cell: ReviewCell) -> tuple[str | None, str]:
    """The full image (its path in the store) and its parameters, as markdown."""
    data = cell.data
    if data is None:
        return None, f"**{cell.face_id} · {cell.column}**: not run yet (re-run missing cells)"
    candidate = data.candidate
    lines = [
        f"**{cell.face_id} · {cell.column}** — {data.status}",
        f"prompt: {candidate.prompt}",
        f"identity scale {candidate.identity_scale:g} · {candidate.width}x{candidate.height}"
        + (" · seed picked by the server" if data.random_seed else ""),
    ]
    if data.status == "failed":
        lines.append(f"failed: {data.reason}; re-run failed cells to retry")
    if data.images:
        lines.append(f"{len(data.images)} sample(s); image {data.images[0][:12]}…")
    if data.backend:
        lines.append(f"backend: {data.backend}")
    image = cell.image_hash
    path = ImageStore(layout).path(image) if image and ImageStore(layout).has(image) else None
    return (str(path) if path else None), "  \n".join(lines)


def cell_scores(layout: DataLayout, cell: ReviewCell) -> str:
    """The image's identity score and its candidate's consistency, interval and explanation."""
    data = cell.data
    if data is None or data.status != "ok" or data.candidate.seed is None:
        return ""
    c = data.candidate
    candidate = Candidate(c.prompt, c.seed, c.identity_scale, c.width, c.height)
    scored = ScoredImages.load(layout)
    rows = scored.for_candidate(candidate)
    mine = rows[rows["image_hash"] == cell.image_hash]
    lines = []
    if not mine.empty and mine["identity"].notna().any():
        lines.append(f"identity (this image vs {cell.face_id}): {mine['identity'].iloc[0]:.3f}")
    elif not mine.empty:
        lines.append("not scored yet (`workbench score`)")
    score = candidate_score(scored, candidate)
    if score.consistency == score.consistency:  # not NaN
        lines.append(
            f"candidate consistency {score.consistency:.3f} "
            f"(interval {score.ci_low:.2f}–{score.ci_high:.2f}, {score.faces} faces"
            + (f", uncertain: {score.faces_needed} more face(s) needed" if score.uncertain else "")
            + f"); worst face {score.worst_face} at {score.worst_face_consistency:.3f}"
        )
    if score.per_dimension:
        dims = ", ".join(
            f"{dimension_label(k)} {v:.2f}"
            for k, v in sorted(score.per_dimension.items(), key=lambda kv: kv[1])
        )
        lines.append(f"per dimension: {dims}")
    if score.explanation:
        lines.append(score.explanation)
    return "  \n".join(lines)


def my_rating(layout: DataLayout, image_hash: str | None, rater: str) -> tuple[int | None, bool]:
    """The stars and winner mark `rater` last gave this image (None, False if never)."""
    if image_hash is None:
        return None, False
    latest = RatingStore(layout).latest()
    if latest.empty:
        return None, False
    mine = latest[(latest["image_hash"] == image_hash) & (latest["rater"] == rater)]
    if mine.empty:
        return None, False
    stars = mine["stars"].iloc[-1]
    return (None if stars != stars or stars is None else int(stars)), bool(mine["winner"].iloc[-1])


def rate_cell(
    layout: DataLayout, cell: ReviewCell | None, stars: int | None, winner: bool, *, by: str
) -> str:
    """Save a rating of the opened cell's image at once, as `by`."""
    if cell is None or cell.image_hash is None:
        raise gr.Error("open a cell with an image first", print_exception=False)
    rating = RatingStore(layout).rate(cell.image_hash, stars, winner=winner, by=by)
    what = f"{rating.stars}★" if rating.stars else "no stars"
    return f"saved: {what}{' · winner' if rating.winner else ''} by {rating.rater}"


def compare_items(
    layout: DataLayout, grid: ReviewGrid, column: str | None, tiles: Path
) -> list[tuple[str, str]]:
    """One candidate (a column of the grid) down the faces."""
    if not column:
        return []
    picked = ReviewGrid([c for c in grid.cells if c.column == column], 1)
    return gallery_items(layout, picked, tiles)


def save_cell_as_template(
    layout: DataLayout, cell: ReviewCell | None, name: str, *, by: str
) -> str:
    """The opened cell's candidate (prompt, seed, scale, size) as a candidate template."""
    if cell is None or cell.data is None:
        raise gr.Error("open a cell with images first", print_exception=False)
    c = cell.data.candidate
    if c.seed is None:
        raise gr.Error("this cell's seed was not reported; it cannot be a template")
    size = f"{c.width}x{c.height}"
    return save_template(
        layout, name, c.prompt, c.seed, c.identity_scale, size, "general", "", by=by
    )


async def rerun_missing(ctx: AppContext, grid: ReviewGrid | None) -> AsyncIterator[tuple]:
    """Re-run the grid's sweep: stored cells are skipped, so only missing and failed ones go."""
    if grid is None or not grid.params:
        raise gr.Error("show a grid first", print_exception=False)
    sweep = RestoredGrid(grid.params).sweep("re-run of a review grid")
    async for progress, _ in run_sweep(ctx, sweep):
        yield progress


def build(ctx: AppContext) -> tuple[Loader, list]:
    layout = ctx.layout
    tiles = ctx.exports / "tiles"
    with gr.Tab("Review", id="review") as tab:
        with gr.Row():
            prompt = gr.Dropdown(
                label="Prompt", allow_custom_value=True, scale=4, elem_id="review-prompt"
            )
            scale = gr.Dropdown(
                label="Identity scale", allow_custom_value=True, elem_id="review-scale"
            )
            size = gr.Dropdown(label="Size", allow_custom_value=True, elem_id="review-size")
        note = gr.Markdown(elem_id="review-note")
        with gr.Row():
            with gr.Column(scale=3):
                grid_view = gr.Gallery(
                    label="Faces × seeds (click a cell; ← → step through it enlarged)",
                    columns=4,
                    height="auto",
                    object_fit="contain",
                    allow_preview=True,
                    elem_id="review-grid",
                )
                with gr.Row():
                    rerun_button = gr.Button("Re-run missing/failed cells", elem_id="review-rerun")
                    rerun_progress = gr.HTML(elem_id="review-rerun-progress")
            with gr.Column(scale=2):
                cell_image = gr.Image(
                    label="Cell", type="filepath", interactive=False, elem_id="review-image"
                )
                cell_text = gr.Markdown(elem_id="review-cell")
                cell_score = gr.Markdown(elem_id="review-scores")
                with gr.Row():
                    stars = gr.Radio([1, 2, 3, 4, 5], label="Rating", elem_id="review-stars")
                    winner = gr.Checkbox(label="Winner", elem_id="review-winner")
                rated = gr.Markdown(elem_id="review-rated")
                with gr.Row():
                    template_name = gr.Textbox(
                        label="Template name", scale=2, elem_id="review-template-name"
                    )
                    save_button = gr.Button("Save as template", elem_id="review-save-template")
                saved_text = gr.Markdown(elem_id="review-saved")
        with gr.Accordion("Compare two candidates", open=False):
            with gr.Row():
                left_pick = gr.Dropdown(label="Candidate A", allow_custom_value=True)
                right_pick = gr.Dropdown(label="Candidate B", allow_custom_value=True)
            with gr.Row():
                left_view = gr.Gallery(columns=4, height="auto", elem_id="compare-a")
                right_view = gr.Gallery(columns=4, height="auto", elem_id="compare-b")
        grid_state = gr.State(None)
        cell_state = gr.State(None)

    def choices(current_prompt, current_scale, current_size):
        found = review_choices(layout)
        pick = {
            "prompt": current_prompt if current_prompt in found["prompt"] else None,
            "scale": current_scale if current_scale in found["scale"] else None,
            "size": current_size if current_size in found["size"] else None,
        }
        return tuple(
            gr.update(
                choices=found[key], value=pick[key] or (found[key][0] if found[key] else None)
            )
            for key in ("prompt", "scale", "size")
        )

    def show(current_prompt, current_scale, current_size):
        if not (current_prompt and current_scale is not None and current_size):
            return None, [], gr.update(), "", gr.update(), gr.update()
        grid = review_grid(layout, current_prompt, float(current_scale), current_size)
        columns = sorted({c.column for c in grid.cells}, key=[c.column for c in grid.cells].index)
        return (
            grid,
            gr.update(value=gallery_items(layout, grid, tiles), columns=grid.columns),
            gr.update(choices=columns, value=columns[0] if columns else None),
            grid.note,
            gr.update(choices=columns, value=columns[1] if len(columns) > 1 else None),
            gr.update(),
        )

    def select(grid: ReviewGrid | None, evt: gr.SelectData, request: gr.Request):
        if grid is None or evt.index is None or not 0 <= evt.index < len(grid.cells):
            return None, None, "", "", None, False, ""
        cell = grid.cells[evt.index]
        given, won = my_rating(layout, cell.image_hash, signed_in_user(request))
        return (cell, *cell_details(layout, cell), cell_scores(layout, cell), given, won, "")

    def rate(cell: ReviewCell | None, given: int | None, won: bool, request: gr.Request):
        return rate_cell(layout, cell, given, won, by=signed_in_user(request))

    def save_cell(cell: ReviewCell | None, name: str, request: gr.Request):
        return save_cell_as_template(layout, cell, name, by=signed_in_user(request))

    save_button.click(
        shown(save_cell), [cell_state, template_name], saved_text, api_name="save_cell_template"
    )

    pickers = [prompt, scale, size]
    tab.select(shown(choices), pickers, pickers)
    gr.on(
        [p.change for p in pickers],
        shown(show),
        pickers,
        [grid_state, grid_view, left_pick, note, right_pick, rerun_progress],
        api_name="review_grid",
        trigger_mode="always_last",
    )
    grid_view.select(
        shown(select),
        grid_state,
        [cell_state, cell_image, cell_text, cell_score, stars, winner, rated],
        api_name="open_cell",
    )
    # Saved at once: a change made by the person (not by opening a cell) is a rating.
    gr.on(
        [stars.input, winner.input],
        shown(rate),
        [cell_state, stars, winner],
        rated,
        api_name="rate_cell",
    )
    left_pick.change(
        shown(lambda grid, column: compare_items(layout, grid, column, tiles) if grid else []),
        [grid_state, left_pick],
        left_view,
    )
    right_pick.change(
        shown(lambda grid, column: compare_items(layout, grid, column, tiles) if grid else []),
        [grid_state, right_pick],
        right_view,
    )

    async def rerun_clicked(grid):
        async for progress in rerun_missing(ctx, grid):
            yield progress

    rerun_button.click(
        rerun_clicked,
        grid_state,
        rerun_progress,
        concurrency_limit=1,
        concurrency_id=API_QUEUE,
        api_name="rerun_missing",
    ).then(
        shown(show), pickers, [grid_state, grid_view, left_pick, note, right_pick, rerun_progress]
    )
    return Loader(choices, pickers, pickers), pickers
