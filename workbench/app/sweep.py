"""Sweep tab: a sweep built from a form, its live estimate, then Run with progress and Cancel.

Every run goes through the engine (`SweepRun`), like the CLI's. All events that call the API
share one Gradio concurrency id (`API_QUEUE`), so several users never exceed the API's
concurrency together: a second sweep waits in the queue while the rest of the app stays live.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import AsyncIterator, Sequence

import gradio as gr

from workbench.app.context import API_QUEUE, AppContext, Loader
from workbench.app.errors import shown
from workbench.app.panel import face_ids
from workbench.catalogue import STATUS_OK, Catalogue
from workbench.contract import SIZE_PRESETS
from workbench.errors import WorkbenchError
from workbench.layout import DataLayout
from workbench.run import Progress, SweepRun, SweepSummary, format_duration
from workbench.scoring.pipeline import score_while_sweeping
from workbench.store import ImageStore
from workbench.sweep import Sweep

CUSTOM_SIZE = "custom"
SIZE_CHOICES = [*SIZE_PRESETS, CUSTOM_SIZE]
RESULTS_SHOWN = 48  # newest results in the live gallery; the catalogue tab has them all
TICK_S = 0.5


def sweep_from_form(
    prompts: str,
    seeds: str,
    scales: str,
    size: str,
    custom_size: str,
    samples: float,
    faces: Sequence[str] | None,
    max_images: float | None,
    price_per_image: float | None,
    concurrency: int,
) -> Sweep:
    """The form's fields as a Sweep, validated exactly as a TOML file would be."""
    return Sweep.build(
        source="sweep form",
        name="app",
        prompts=[line.strip() for line in prompts.splitlines() if line.strip()],
        seeds=[seeds.strip()] if seeds.strip() else [],
        identity_scales=[part for part in re.split(r"[,\s]+", scales.strip()) if part],
        sizes=[custom_size.strip() if size == CUSTOM_SIZE else size],
        sample_number=int(samples),
        faces=list(faces) if faces else "all",
        max_images=None if max_images in (None, "") else int(max_images),
        price_per_image=float(price_per_image or 0.0),
        concurrency=concurrency,
    )


def estimate_text(run: SweepRun) -> str:
    latency_s, basis = run.estimated_latency()
    seconds = run.estimated_seconds(latency_s)
    capped = f" (capped by the budget of {run.max_images} images)" if run.capped_by_budget else ""
    return (
        f"**{run.pending_requests} requests · {run.pending_images} images · "
        f"cost {run.estimated_cost():.2f} · about {format_duration(seconds)}**{capped}  \n"
        f"planned {run.plan.requests} requests, {run.skipped_stored} already stored and skipped; "
        f"{latency_s:.2f} s per request ({basis}), {run.concurrency} at a time"
    )


def progress_html(progress: Progress, note: str = "") -> str:
    finished = progress.requests_done + progress.requests_failed + progress.skipped_budget
    eta = progress.eta_s
    parts = [
        f"{finished}/{progress.requests_total} requests",
        f"{progress.images_done} images",
        f"{progress.requests_failed} failed",
        f"{format_duration(progress.elapsed_s)}",
    ]
    if eta is not None and finished < progress.requests_total:
        parts.append(f"about {format_duration(eta)} left")
    text = " · ".join(parts) + (f" — {html.escape(note)}" if note else "")
    return (
        f'<div id="sweep-progress"><progress value="{finished}" '
        f'max="{max(progress.requests_total, 1)}"></progress> <span>{text}</span></div>'
    )


def summary_note(summary: SweepSummary) -> str:
    if summary.stopped in ("auth", "credits"):
        return f"STOPPED: {summary.stop_reason}"
    if summary.stopped == "cancelled":
        return "cancelled; results received so far are kept (run again to resume)"
    note = f"done: sweep {summary.sweep_id}, cost {summary.cost:.2f}"
    if summary.requests_failed:
        note += f"; {summary.requests_failed} failed requests are logged, run again to retry them"
    if summary.skipped_budget:
        note += f"; {summary.skipped_budget} requests not sent (budget cap)"
    return note


def sweep_results(layout: DataLayout, sweep_id: str, limit: int = RESULTS_SHOWN) -> list:
    """Thumbnails of the newest images a sweep has stored, with their face and seed."""
    rows = Catalogue(layout.catalogue).recent(limit, sweep_id=sweep_id, status=STATUS_OK)
    store = ImageStore(layout)
    return [
        (str(store.thumbnail(row.image_hash)), f"{row.face_id} · seed {row.seed}")
        for row in rows.itertuples()
    ]


async def run_sweep(ctx: AppContext, sweep: Sweep) -> AsyncIterator[tuple[str, list]]:
    """Run a sweep, yielding (progress, results) about twice a second, then the summary.

    When Gradio cancels this generator (the Cancel button, a closed tab), the engine is
    cancelled too and keeps what it already received.
    """
    layout = ctx.layout
    run = await asyncio.to_thread(SweepRun.prepare, sweep, layout, backend=ctx.backend.identity)
    yield progress_html(run.progress, "starting"), []
    scored = [0, 0]

    def on_scored(done: int, submitted: int) -> None:
        scored[:] = [done, submitted]

    def scoring_note() -> str:
        return f"{scored[0]}/{scored[1]} images scored" if scored[1] else ""

    async with ctx.backend.client(max_concurrency=run.concurrency) as client:
        # Scores feed Review and the Leaderboard: each image is scored as it arrives, in one
        # worker process, so the event loop (other users' pages) is left alone.
        task = asyncio.create_task(
            score_while_sweeping(
                run, client, backend=ctx.backend.identity, on_scored=on_scored, workers=1
            )
        )
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=TICK_S)
                results = await asyncio.to_thread(sweep_results, layout, run.sweep_id)
                yield progress_html(run.progress, scoring_note()), results
            summary, _ = task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    results = await asyncio.to_thread(sweep_results, layout, run.sweep_id)
    note = summary_note(summary)
    if scored[1]:
        note += f"; {scored[0]} images scored as they arrived"
    yield progress_html(run.progress, note), results


def build(ctx: AppContext) -> Loader:
    # Imported here: workbench.app.hunt builds on this module's form.
    from workbench.app import hunt as hunt_controls

    layout = ctx.layout
    with gr.Tab("Sweep", id="sweep") as tab:
        with gr.Row():
            with gr.Column(scale=3):
                prompts = gr.Textbox(
                    label="Prompts, one per line",
                    lines=3,
                    value="studio headshot, soft window light, charcoal backdrop",
                    elem_id="sweep-prompts",
                )
                with gr.Row():
                    seeds = gr.Textbox(
                        label="Seeds: 42, 1-50, 1-50 (+5), 1-1000 [8], random:16",
                        value="1-4",
                        elem_id="sweep-seeds",
                    )
                    scales = gr.Textbox(
                        label="Identity scales", value="0.8", elem_id="sweep-scales"
                    )
                with gr.Row():
                    size = gr.Radio(SIZE_CHOICES, value="3:4", label="Size")
                    custom_size = gr.Textbox(label="Custom size WxH", value="1024x1024")
                    samples = gr.Slider(1, 8, value=1, step=1, label="Images per request")
                # Choices arrive with the page, never in the built config: Gradio shows the
                # API description (with choices) even on its login page. Any id is accepted
                # (faces come and go); the sweep names an unknown one.
                faces = gr.Dropdown(
                    label="Faces (none chosen: all)",
                    choices=[],
                    multiselect=True,
                    allow_custom_value=True,
                    elem_id="sweep-faces",
                )
                with gr.Row():
                    max_images = gr.Number(label="Budget cap (images)", value=200, precision=0)
                    price = gr.Number(label="Price per image", value=0.0)
            with gr.Column(scale=2):
                estimate = gr.Markdown(elem_id="sweep-estimate")
                with gr.Row():
                    run_button = gr.Button("Run", variant="primary", elem_id="sweep-run")
                    cancel_button = gr.Button("Cancel", variant="stop", elem_id="sweep-cancel")
                progress = gr.HTML(elem_id="sweep-progress-box")
                hunt = hunt_controls.controls()  # "Hunt" beside "Run": the same form, hunted
        results = gr.Gallery(
            label="Results as they arrive",
            columns=8,
            height=420,
            object_fit="contain",
            elem_id="sweep-results",
        )

    form = [prompts, seeds, scales, size, custom_size, samples, faces, max_images, price]

    def build_sweep(*values) -> Sweep:
        return sweep_from_form(*values, concurrency=ctx.api_concurrency)

    def live_estimate(*values) -> str:
        try:
            sweep = build_sweep(*values)
            run = SweepRun.prepare(sweep, layout, backend=ctx.backend.identity)
        except WorkbenchError as exc:
            return f"⚠ {exc}"
        return estimate_text(run)

    async def run_clicked(*values):
        sweep = shown(build_sweep)(*values)
        async for update in run_sweep(ctx, sweep):
            yield update

    gr.on(
        [field.change for field in form] + [tab.select],
        live_estimate,
        form,
        estimate,
        trigger_mode="always_last",
        show_progress="hidden",
        api_name="estimate",
    )
    run_event = run_button.click(
        run_clicked,
        form,
        [progress, results],
        concurrency_limit=1,
        concurrency_id=API_QUEUE,
        show_progress="minimal",
        api_name="run_sweep",
    )
    cancel_button.click(
        lambda: "<div id='sweep-progress'>cancelled; results received so far are kept</div>",
        None,
        progress,
        cancels=[run_event],
        queue=False,
        api_name="cancel_sweep",
    )

    hunt_controls.wire(ctx, form, hunt, cancel_button)

    def load():
        return gr.update(choices=face_ids(layout)), live_estimate(*[f.value for f in form])

    tab.select(shown(lambda: gr.update(choices=face_ids(layout))), None, faces)
    return Loader(load, [faces, estimate])
