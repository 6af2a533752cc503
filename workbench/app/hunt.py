"""Hunt beside Sweep: the Sweep tab's form run as a hunt (successive halving over the panel's
faces, docs/hunt.md): the same candidates, the budget field as the whole hunt's budget, and the
winners scored on every face. One call into `workbench.hunt`; progress as the rounds go.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import AsyncIterator
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from workbench.app.context import API_QUEUE, AppContext
from workbench.app.errors import shown
from workbench.app.sweep import sweep_from_form
from workbench.errors import WorkbenchError
from workbench.hunt import Hunt, HuntProgress, HuntResult, HuntSpec, Schedule

TICK_S = 0.5
TOP_COLUMNS = [
    "prompt",
    "seed",
    "identity_scale",
    "width",
    "height",
    "faces",
    "worst_face_consistency",
    "worst_face",
    "consistency",
    "ci_low",
    "ci_high",
    "identity",
    "uncertain",
]


def hunt_from_form(*values, top: float | None, concurrency: int) -> HuntSpec:
    """The Sweep form as a hunt: its fields validated as a sweep, then as a hunt file would be.

    The form's budget cap is the whole hunt's budget. No `seed_generator`: a hunt derives it
    from its prompts and seeds, so pressing Hunt again resumes instead of drawing new seeds.
    """
    sweep = sweep_from_form(*values, concurrency=concurrency)
    fields = sweep.model_dump(exclude={"seed_generator", "name"})
    return HuntSpec.build(source="hunt form", name="app hunt", top=int(top or 5), **fields)


def plan_text(schedule: Schedule, price_per_image: float) -> str:
    rounds = " → ".join(f"{r.candidates} on {r.faces} faces" for r in schedule.rounds)
    return (
        f"**Hunt: {schedule.images} images, cost {schedule.images * price_per_image:.2f}** "
        f"(the exhaustive sweep: {schedule.exhaustive_images} images, "
        f"{schedule.exhaustive_images * price_per_image:.2f}); rounds: {rounds}"
    )


def progress_html(progress: HuntProgress | None, note: str = "") -> str:
    parts = []
    value, maximum = 0, 1
    if progress is not None:
        parts.append(f"round {progress.round.number}/{progress.rounds}")
        if progress.phase == "scoring" and progress.to_score:
            parts.append(f"scoring {progress.scored}/{progress.to_score} images")
            value, maximum = progress.scored, progress.to_score
        else:
            parts.append(f"{progress.images_done}/{progress.images_total} images")
            value, maximum = progress.images_done, max(progress.images_total, 1)
        if progress.requests_failed:
            parts.append(f"{progress.requests_failed} failed")
    text = " · ".join(parts) + (f" — {html.escape(note)}" if note else "")
    return (
        f'<div id="hunt-progress"><progress value="{value}" max="{maximum}"></progress> '
        f"<span>{text}</span></div>"
    )


def result_note(result: HuntResult) -> str:
    if result.stopped:
        return f"STOPPED: {result.stop_reason}"
    kept = ", ".join(f"{r.candidates}→{r.kept}" for r in result.rounds)
    used = sum(r.round.images for r in result.rounds)
    return (
        f"done: rounds {kept}; {used} images used ({result.images_bought} bought now, cost "
        f"{result.cost:.2f}) of the exhaustive sweep's {result.plan.schedule.exhaustive_images}"
    )


def top_table(result: HuntResult | None) -> pd.DataFrame:
    if result is None or result.top.empty:
        return pd.DataFrame(columns=TOP_COLUMNS)
    return result.top[[c for c in TOP_COLUMNS if c in result.top.columns]]


async def run_hunt(ctx: AppContext, spec: HuntSpec) -> AsyncIterator[tuple[str, pd.DataFrame]]:
    """Run a hunt, yielding (progress, top) about twice a second, then the result.

    When Gradio cancels this generator (the Cancel button, a closed tab), the hunt is
    cancelled too and keeps what it already received; pressing Hunt again resumes it.
    """
    hunt = Hunt(spec, ctx.layout)
    plan = await asyncio.to_thread(hunt.plan)
    note = plan_text(plan.schedule, spec.price_per_image).replace("**", "")
    yield progress_html(None, note), top_table(None)
    latest: list[HuntProgress] = []
    async with ctx.backend.client(max_concurrency=spec.concurrency) as client:
        # Scoring in a worker process: never in the server's own, whose loop serves others.
        task = asyncio.create_task(
            hunt.run(
                client,
                backend=ctx.backend.identity,
                on_progress=latest.append,
                scoring_workers=1,
            )
        )
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=TICK_S)
                if latest:
                    yield progress_html(latest[-1]), top_table(None)
                    del latest[:-1]
            result = task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    yield progress_html(latest[-1] if latest else None, result_note(result)), top_table(result)


@dataclass(frozen=True)
class HuntControls:
    top: gr.Number
    button: gr.Button
    estimate: gr.Markdown
    progress: gr.HTML
    table: gr.Dataframe


def controls() -> HuntControls:
    """The Hunt controls, placed where the Sweep tab calls this (beside Run)."""
    with gr.Group():
        with gr.Row():
            top = gr.Number(label="Hunt: winners (top K)", value=5, precision=0, minimum=1)
            button = gr.Button("Hunt", variant="secondary", elem_id="sweep-hunt")
        estimate = gr.Markdown(
            "A hunt runs every candidate on two faces, promotes the best to more faces and "
            "scores the winners on all of them; the budget cap is the whole hunt's budget.",
            elem_id="hunt-estimate",
        )
        progress = gr.HTML(elem_id="hunt-progress-box")
        table = gr.Dataframe(value=top_table(None), label="Hunt: the top candidates on every face")
    return HuntControls(top, button, estimate, progress, table)


def wire(ctx: AppContext, form: list, hunt: HuntControls, cancel_button: gr.Button) -> None:
    """Hunt runs on the shared API queue; the Sweep tab's Cancel stops it too."""

    def build_spec(*values) -> HuntSpec:
        *fields, top = values
        return hunt_from_form(*fields, top=top, concurrency=ctx.api_concurrency)

    def estimate(*values) -> str:
        try:
            spec = build_spec(*values)
            return plan_text(Hunt(spec, ctx.layout).schedule(), spec.price_per_image)
        except WorkbenchError as exc:
            return f"⚠ {exc}"

    async def hunt_clicked(*values):
        spec = shown(build_spec)(*values)
        async for update in run_hunt(ctx, spec):
            yield update

    inputs = [*form, hunt.top]
    hunt.top.change(
        estimate, inputs, hunt.estimate, show_progress="hidden", api_name="hunt_estimate"
    )
    event = hunt.button.click(
        hunt_clicked,
        inputs,
        [hunt.progress, hunt.table],
        concurrency_limit=1,
        concurrency_id=API_QUEUE,
        show_progress="minimal",
        api_name="run_hunt",
    )
    cancel_button.click(None, None, None, cancels=[event], queue=False)
