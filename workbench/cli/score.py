"""`workbench score [--sweep ID] [--rescore]`: score stored images that the current scorers have
not seen yet (identity and style), with a progress bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from tqdm import tqdm

from workbench.layout import DataLayout

if TYPE_CHECKING:
    from workbench.scoring.runner import ScoreSummary


@click.command("score")
@click.option("--sweep", "sweep_id", help="Only the images of this sweep id.")
@click.option("--rescore", is_flag=True, help="Score again even what is already scored.")
@click.pass_obj
def command(layout: DataLayout, sweep_id: str | None, rescore: bool) -> None:
    """Score new images: identity against the reference face, and the style descriptor.

    Only new work is done: images already scored by the current scorer versions are skipped.
    """
    summary = score_with_progress(layout, sweep_id=sweep_id, rescore=rescore)
    click.echo(describe(summary))
    if summary.images:
        click.echo("see the ranking: workbench leaderboard")


def score_with_progress(layout: DataLayout, **options) -> ScoreSummary:
    """`score_catalogue` with a tqdm bar on stderr; Ctrl-C keeps what was scored and exits 130."""
    from workbench.scoring.runner import score_catalogue  # loads scikit-image and dlib

    bar = tqdm(total=0, unit="img", desc="scoring", dynamic_ncols=True, disable=None)

    def on_progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        return score_catalogue(layout, on_progress=on_progress, **options)
    except KeyboardInterrupt:
        bar.close()
        click.echo("\ninterrupted: scores finished so far are kept; re-run to go on.", err=True)
        raise SystemExit(130) from None
    finally:
        bar.close()


def describe(summary: ScoreSummary) -> str:
    """One or two lines saying what a scoring run did."""
    if not summary.images:
        return "no stored images to score yet (run a sweep first: workbench sweep FILE.toml)"
    if not summary.scored:
        return f"all {summary.images} images already scored; nothing to do"
    text = (
        f"scored {summary.scored} images in {summary.elapsed_s:.1f} s "
        f"({summary.images_per_s:.1f} images/s, {summary.workers} worker(s)); "
        f"{summary.already_scored} already scored"
    )
    if summary.no_face:
        text += f"\n  {summary.no_face} output(s) without a detectable face (identity counts 0)"
    if summary.errors:
        text += (
            f"\n  {summary.errors} image(s) could not be scored (the reason is in the scores table)"
        )
    return text
