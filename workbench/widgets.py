"""ipywidgets for the notebooks: a sweep form (prompts, seed range, faces, identity scale, size,
budget) whose values build a `Sweep`, run by the same engine as the CLI with a progress bar.

`await form.run()` runs the sweep with the current values (what a headless run of the notebook
does); the Run button does the same on a click and then redraws the form's results area.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import pandas as pd
from IPython.display import display

from workbench.backend import open_backend
from workbench.contract import SIZE_PRESETS
from workbench.demo import quiet_retries
from workbench.errors import WorkbenchError
from workbench.grids import Grid, GridQuery, GridStyle, grid_scores, render_grids
from workbench.hunt.schedule import face_order
from workbench.layout import DataLayout
from workbench.panel import Panel
from workbench.run import Progress, SweepSummary, run_sweep
from workbench.scoring.leaderboard import leaderboard
from workbench.scoring.runner import ScoreSummary, score_catalogue
from workbench.sweep import Sweep

SEED_SLIDER_MAX = 1000
DEFAULT_FACES = 4
DEFAULT_BUDGET = 200
EXTRA_SIZES = ("1024x1024", "1024x1536")
# Grid thumbnails in a notebook: small enough that the notebook file stays light.
NOTEBOOK_THUMB = 160
TOP_CANDIDATES = 5
TOP_COLUMNS = [
    "prompt",
    "seed",
    "identity_scale",
    "faces",
    "consistency",
    "ci_low",
    "ci_high",
    "worst_face",
    "worst_face_consistency",
    "identity",
    "uncertain",
    "explanation",
]
_WIDE = widgets.Layout(width="640px")
_LABEL = {"description_width": "110px"}


class SweepForm:
    """Controls for one sweep over the panel, with a Run button, a progress bar and a status
    line. After a run the button starts, `results` (an Output area) shows `show_results` and
    whatever `on_finished` callbacks draw."""

    def __init__(
        self,
        layout: DataLayout,
        *,
        prompts: Sequence[str],
        seeds: tuple[int, int] = (1, 3),
        faces: Sequence[str] | None = None,
        identity_scale: float = 0.8,
        size: str = "3:4",
        budget: int = DEFAULT_BUDGET,
        name: str = "notebook",
    ):
        self.layout = layout
        self.name = name
        panel_faces = face_order(Panel(layout).faces())
        face_ids = [face.id for face in panel_faces]
        chosen = list(faces) if faces is not None else face_ids[:DEFAULT_FACES]
        self.prompts = widgets.Textarea(
            value="\n".join(prompts),
            description="prompts",
            placeholder="one prompt per line",
            rows=max(2, len(prompts)),
            layout=_WIDE,
            style=_LABEL,
        )
        self.seeds = widgets.IntRangeSlider(
            value=seeds,
            min=1,
            max=max(SEED_SLIDER_MAX, seeds[1]),
            description="seeds",
            layout=_WIDE,
            style=_LABEL,
        )
        self.faces = widgets.SelectMultiple(
            options=face_ids,
            value=[face for face in chosen if face in face_ids],
            description="faces",
            rows=min(8, max(2, len(face_ids))),
            layout=_WIDE,
            style=_LABEL,
        )
        self.identity_scale = widgets.FloatSlider(
            value=identity_scale,
            min=0.0,
            max=1.0,
            step=0.05,
            description="identity scale",
            layout=_WIDE,
            style=_LABEL,
        )
        self.size = widgets.Dropdown(
            options=[*SIZE_PRESETS, *EXTRA_SIZES],
            value=size,
            description="size",
            style=_LABEL,
        )
        self.budget = widgets.BoundedIntText(
            value=budget, min=1, max=100_000, description="budget (images)", style=_LABEL
        )
        self.button = widgets.Button(description="Run sweep", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, description="images", layout=_WIDE, style=_LABEL
        )
        self.status = widgets.HTML(value="not run yet")
        self.results = widgets.Output()
        self.summary: SweepSummary | None = None
        self.last_sweep: Sweep | None = None
        self._finished: list[Callable[[SweepSummary], None]] = [self.show_results]
        self._task: asyncio.Future | None = None
        self.button.on_click(self._clicked)
        self.widget = widgets.VBox(
            [
                self.prompts,
                self.seeds,
                self.faces,
                self.identity_scale,
                widgets.HBox([self.size, self.budget]),
                widgets.HBox([self.button, self.status]),
                self.progress,
                self.results,
            ]
        )

    def _ipython_display_(self) -> None:
        display(self.widget)

    # --- The sweep the controls describe ----------------------------------------------------

    def prompt_values(self) -> list[str]:
        return [line.strip() for line in self.prompts.value.splitlines() if line.strip()]

    def sweep(self) -> Sweep:
        """The sweep of the current values (raises InputError naming the field)."""
        low, high = self.seeds.value
        return Sweep.build(
            name=self.name,
            prompts=self.prompt_values(),
            seeds=f"{low}-{high}",
            identity_scales=[round(self.identity_scale.value, 4)],
            sizes=[self.size.value],
            sample_number=1,
            faces=list(self.faces.value),
            max_images=self.budget.value,
        )

    # --- Running it --------------------------------------------------------------------------

    async def run(self) -> SweepSummary:
        """Run the sweep of the current values on the configured backend (the real API when
        HEADSHOT_API_URL and HEADSHOT_API_KEY are set, else the embedded simulator); cells
        already stored are skipped. Updates the progress bar and the status line."""
        try:
            sweep = self.sweep()
        except WorkbenchError as exc:
            self.status.value = f"<b>cannot run</b>: {exc}"
            raise
        self.button.disabled = True
        self.status.value = "starting…"
        try:
            with quiet_retries(), open_backend() as backend:
                self.status.value = f"running on {backend.label}"
                async with backend.client(max_concurrency=sweep.concurrency) as client:
                    summary = await run_sweep(
                        sweep, self.layout, client, backend=backend.identity, on_progress=self._show
                    )
        finally:
            self.button.disabled = False
        self.summary = summary
        self.last_sweep = sweep
        self.status.value = describe(summary)
        return summary

    def grids(self, thumb: int = NOTEBOOK_THUMB) -> list[Grid]:
        """Contact sheets of the last run's sweep (else of the current values): faces down,
        seeds across, one page per prompt (and identity scale, size), with score badges on
        what has been scored."""
        sweep = self.last_sweep or self.sweep()
        query = GridQuery(
            prompts=tuple(sweep.prompts),
            seeds=tuple(sweep.seed_values()),
            identity_scales=tuple(sweep.identity_scales),
            sizes=tuple(sweep.size_values()),
            faces=tuple(sweep.faces),
            cols="seed",
        )
        return render_grids(self.layout, query, GridStyle(thumb=thumb), scores=grid_scores)

    def score(self) -> ScoreSummary:
        """Score the images not scored yet (this run's, and any other new ones)."""
        return score_catalogue(self.layout)

    def top_candidates(self, top: int = TOP_CANDIDATES) -> pd.DataFrame:
        """The last run's sweep's candidates on the leaderboard, best first, scored over the
        sweep's faces only (so a sweep on four faces is judged on those four)."""
        sweep = self.last_sweep or self.sweep()
        board = leaderboard(self.layout, faces=sweep.faces)
        sizes = set(sweep.size_values())
        mine = (
            board["prompt"].isin(sweep.prompts)
            & board["seed"].isin(sweep.seed_values())
            & board["identity_scale"].round(4).isin([round(s, 4) for s in sweep.identity_scales])
            & pd.Series(
                [(w, h) in sizes for w, h in zip(board["width"], board["height"], strict=True)],
                index=board.index,
                dtype=bool,
            )
        )
        return board[mine].head(top)[TOP_COLUMNS].reset_index(drop=True)

    def show_results(self, summary: SweepSummary) -> None:
        """What the Run button shows under the form after a run: the new images scored, the
        grid pages with their score badges, the top candidates."""
        scoring = self.score()
        display(f"scored {scoring.scored} new images")
        for grid in self.grids():
            display(grid.image)
        display(self.top_candidates())

    def on_finished(self, callback: Callable[[SweepSummary], None]) -> None:
        """Call `callback(summary)` inside `results` after each run the button starts."""
        self._finished.append(callback)

    def _show(self, progress: Progress) -> None:
        self.progress.max = max(1, progress.images_total)
        self.progress.value = progress.images_done
        self.progress.description = f"{progress.images_done}/{progress.images_total}"
        self.progress.bar_style = "warning" if progress.requests_failed else ""

    def _clicked(self, _button: widgets.Button) -> None:
        self._task = asyncio.ensure_future(self._run_and_show())

    async def _run_and_show(self) -> None:
        try:
            summary = await self.run()
        except WorkbenchError:
            return  # the status line says why
        self.results.clear_output(wait=True)
        with self.results:
            for callback in self._finished:
                callback(summary)


def describe(summary: SweepSummary) -> str:
    """One line about a finished sweep run, for a status line or a print."""
    line = (
        f"sweep {summary.sweep_id} on {summary.backend}: {summary.images_stored} images stored, "
        f"{summary.skipped_stored} requests already stored, {summary.requests_failed} failed, "
        f"cost {summary.cost:.2f}, {summary.elapsed_s:.1f} s"
    )
    if summary.stopped:
        line += f"; stopped: {summary.stop_reason}"
    return line
