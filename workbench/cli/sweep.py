"""`workbench sweep FILE.toml [--dry-run]`: show what a sweep will cost, then run it with a
progress bar and a summary. Ctrl-C stops cleanly; what was received is kept.

Exit status: 0 every pending cell was tried (failed ones are logged, and the next run retries
them); 1 an error before anything was sent (one line naming the field or file); 2 a usage
error; 3 stopped by the API's answer (key refused, out of credits, a simulator answering for the
real API); 4 stopped because the API did not answer (circuit breaker); 5 every request sent
failed; 130 interrupted (Ctrl-C)."""

from __future__ import annotations

import asyncio
import logging
import sys

import click
from tqdm import tqdm

from workbench.backend import Backend, open_backend
from workbench.layout import DataLayout
from workbench.run import Progress, SweepRun, SweepSummary, format_duration
from workbench.sweep import Sweep


@click.command("sweep")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--dry-run", is_flag=True, help="Print requests, images, cost and time; send nothing."
)
@click.option(
    "--score",
    is_flag=True,
    help="Score each image as it arrives (identity and style), in a worker process.",
)
@click.pass_obj
def command(layout: DataLayout, spec: str, dry_run: bool, score: bool) -> None:
    """Run the sweep in SPEC (a TOML file): every image stored, every run logged.

    Cells already in the catalogue are not requested again, so re-running a sweep resumes it.
    With --score the new images are scored while the sweep runs, as `workbench score` would.
    """
    sweep = Sweep.load(spec)
    with open_backend() as backend:
        run = SweepRun.prepare(sweep, layout, backend=backend.identity)
        print_preview(run, backend, sweep_name=sweep.name or spec)
        if dry_run:
            click.echo("dry run: nothing sent.")
            return
        scored: list[int] = []
        summary = execute_with_progress(run, backend, score=score, scored=scored)
    print_summary(summary)
    if score:
        done, submitted = scored or (0, 0)
        left = f"; {submitted - done} left for `workbench score`" if done < submitted else ""
        click.echo(f"  scored {done} new images while they arrived{left}")
    sys.exit(exit_status(summary))


EXIT_STOPPED_BY_API = 3
EXIT_UNREACHABLE = 4
EXIT_ALL_FAILED = 5
EXIT_INTERRUPTED = 130  # the shell's convention for "stopped by Ctrl-C"


def exit_status(summary: SweepSummary) -> int:
    """The process exit status for a finished run (see the module docstring)."""
    if summary.stopped == "cancelled":
        return EXIT_INTERRUPTED
    if summary.stopped in ("auth", "credits", "simulator"):
        return EXIT_STOPPED_BY_API
    if summary.stopped == "unreachable":
        return EXIT_UNREACHABLE
    if summary.all_failed:
        return EXIT_ALL_FAILED
    return 0


def print_preview(run: SweepRun, backend: Backend, *, sweep_name: str) -> None:
    """What the sweep will spend, before it spends anything."""
    latency_s, basis = run.estimated_latency()
    seconds = run.estimated_seconds(latency_s)
    click.echo(f"sweep {sweep_name!r} on the {backend.label}")
    click.echo(
        f"  planned: {run.plan.requests} requests ({run.plan.images} images); "
        f"{run.skipped_stored} already stored, skipped"
    )
    capped = ""
    if run.capped_by_budget:
        capped = f" (capped by max_images = {run.max_images})"
    click.echo(f"  to send: {run.pending_requests} requests, {run.pending_images} images{capped}")
    click.echo(
        f"  estimated cost: {run.estimated_cost():.2f} (price_per_image {run.price_per_image})"
    )
    click.echo(
        f"  estimated time: {format_duration(seconds)} at concurrency {run.concurrency} "
        f"({latency_s:.2f} s per request, {basis})"
    )


def execute_with_progress(
    run: SweepRun,
    backend: Backend,
    *,
    score: bool = False,
    scored: list[int] | None = None,
    **client_options,
) -> SweepSummary:
    """Run with a tqdm bar on stderr; on Ctrl-C return what was kept instead of a traceback.

    With `score`, each stored image is scored as it arrives (`score_while_sweeping`), and
    `scored` gets [images scored, images to score]. `client_options` go to `HeadshotClient`
    (timeouts, retry policy).
    """
    # Each retry is logged at WARNING by stamina; over a progress bar that is noise (attempts
    # are in the catalogue). `-v` keeps them.
    if logging.getLogger().level > logging.INFO:
        logging.getLogger("stamina").setLevel(logging.ERROR)
    bar = tqdm(total=run.pending_images, unit="img", desc="images", dynamic_ncols=True)
    failed_shown = -1

    counts = scored if scored is not None else []

    def on_progress(progress: Progress) -> None:
        nonlocal failed_shown
        bar.update(progress.images_done - bar.n)
        if progress.requests_failed != failed_shown:
            failed_shown = progress.requests_failed
            postfix()

    def on_scored(done: int, submitted: int) -> None:
        counts[:] = [done, submitted]
        postfix()

    def postfix() -> None:
        shown = {"failed": failed_shown} if failed_shown > 0 else {}
        if counts:
            shown["scored"] = f"{counts[0]}/{counts[1]}"
        bar.set_postfix(shown, refresh=False)

    async def go() -> SweepSummary:
        async with backend.client(max_concurrency=run.concurrency, **client_options) as client:
            if not score:
                return await run.execute(client, backend=backend.identity, on_progress=on_progress)
            # Imported here: the scoring stack (dlib, scikit-image) is heavy.
            from workbench.scoring.pipeline import score_while_sweeping

            summary, _ = await score_while_sweeping(
                run,
                client,
                backend=backend.identity,
                on_progress=on_progress,
                on_scored=on_scored,
            )
            return summary

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        bar.close()
        click.echo("\ninterrupted: stopped sending; results received so far are kept.", err=True)
        return run.summary()
    finally:
        bar.close()


def print_summary(summary: SweepSummary) -> None:
    rate = summary.images_stored / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
    click.echo(f"sweep {summary.sweep_id} on {summary.backend}:")
    if summary.stored_elsewhere:
        click.echo(
            f"  {summary.stored_elsewhere} cells were stored meanwhile by another sweep "
            "into this data folder: not bought twice"
        )
    erased = summary.erased_before_sending + summary.erased_after_sending
    if erased:
        click.echo(
            f"  {erased} cells of a face erased during the sweep were dropped "
            f"({summary.erased_after_sending} results received and not kept)"
        )
    click.echo(
        f"  sent {summary.requests_sent} requests ({summary.skipped_stored} already stored); "
        f"stored {summary.images_stored} images in {format_duration(summary.elapsed_s)} "
        f"({rate:.1f} images/s); cost {summary.cost:.2f}"
    )
    if summary.requests_failed:
        kinds = ", ".join(f"{n} {name}" for name, n in sorted(summary.failures.items()))
        click.echo(
            f"  {summary.requests_failed} requests failed ({kinds}); they are logged in the "
            "catalogue and the next run of this sweep retries them"
        )
    if summary.skipped_budget:
        click.echo(f"  {summary.skipped_budget} requests not sent: max_images reached")
    if summary.stopped in ("auth", "credits", "simulator", "unreachable"):
        click.echo(f"STOPPED: {summary.stop_reason}", err=True)
    elif summary.all_failed:
        click.echo(f"FAILED: no request gave an image ({summary.requests_failed} failed)", err=True)
    elif summary.stopped == "cancelled":
        click.echo(f"  stopped early: {summary.not_tried} requests not tried; re-run to resume")
