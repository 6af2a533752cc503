"""`workbench hunt FILE.toml [--top K] [--max-images N] [--dry-run] [--csv FILE]`: find the
candidates that hold for everyone by successive halving, with a progress bar per round, then the
top K (each scored on the whole panel) and what the hunt saved against the exhaustive sweep."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from workbench.layout import write_atomically

if TYPE_CHECKING:
    import pandas as pd

    from workbench.backend import Backend
    from workbench.hunt import Hunt, HuntPlan, HuntProgress, HuntResult


@click.command("hunt")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--top", type=click.IntRange(min=1), default=None, help="Winners to find.")
@click.option(
    "--max-images",
    type=click.IntRange(min=0),
    default=None,
    help="Budget: images the whole hunt may use (overrides the file's max_images).",
)
@click.option("--dry-run", is_flag=True, help="Print the rounds and their cost; send nothing.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the final ranking (every candidate, best first) to this CSV file.",
)
@click.pass_obj
def command(layout, spec: str, top, max_images, dry_run: bool, csv_path: str | None) -> None:
    """Hunt the candidates in SPEC (a TOML file, sweep syntax) for the ones that hold for
    everyone, at a fraction of the exhaustive sweep's cost.

    Every request goes through the sweep engine (catalogue rows, dedupe, budget cap), so
    running a stopped hunt again resumes it without buying anything twice.
    """
    # Imported here: the scoring stack is heavy, and every other command would pay for it.
    from workbench.backend import open_backend
    from workbench.hunt import Hunt, HuntSpec

    hunt = Hunt(HuntSpec.load(spec), layout, max_images=max_images, top=top)
    plan = hunt.plan()
    with open_backend() as backend:
        print_plan(plan, backend.label, name=plan.spec.name or spec)
        if dry_run:
            click.echo("dry run: nothing sent.")
            return
        result = run_with_progress(hunt, backend)
    print_report(result)
    if csv_path is not None:
        write_csv(result.standings, Path(csv_path))
        click.echo(f"ranking written to {csv_path}")
    if result.stopped in ("auth", "credits"):
        sys.exit(1)
    if result.stopped == "cancelled":
        sys.exit(130)


def print_plan(plan: HuntPlan, backend_label: str, *, name: str) -> None:
    schedule = plan.schedule
    click.echo(f"hunt {name!r} on the {backend_label}")
    click.echo(
        f"  pool: {schedule.pool} candidates; panel: {schedule.panel} faces, tried in the "
        f"order {', '.join(face.id for face in plan.faces)}"
    )
    for line in schedule.describe():
        click.echo(f"  {line}")
    price = plan.spec.price_per_image
    click.echo(
        f"  cost at most {plan.estimated_cost:.2f} (exhaustive {plan.exhaustive_cost:.2f}; "
        f"price_per_image {price}); images already in the catalogue are not bought again"
    )


def run_with_progress(hunt: Hunt, backend: Backend) -> HuntResult:
    """One tqdm bar on stderr for the whole hunt (its images; the round the furthest
    candidate reached and the images scored so far beside it); on Ctrl-C, report what was
    kept instead of a traceback."""
    from tqdm import tqdm

    if logging.getLogger().level > logging.INFO:
        logging.getLogger("stamina").setLevel(logging.ERROR)
    bars: dict[int, tqdm] = {}

    def on_progress(progress: HuntProgress) -> None:
        if not bars:
            bars[0] = tqdm(total=progress.images_total, unit="img", desc="hunt", dynamic_ncols=True)
        bar = bars[0]
        bar.total = max(progress.images_total, progress.images_done)
        bar.update(progress.images_done - bar.n)
        postfix = {"round": f"{progress.round.number}/{progress.rounds}"}
        if progress.to_score:
            postfix["scored"] = f"{progress.scored}/{progress.to_score}"
        if progress.requests_failed:
            postfix["failed"] = progress.requests_failed
        bar.set_postfix(postfix, refresh=True)

    async def go() -> HuntResult:
        async with backend.client(max_concurrency=hunt.spec.concurrency) as client:
            return await hunt.run(client, backend=backend.identity, on_progress=on_progress)

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        click.echo(
            "\ninterrupted: results received so far are kept; run again to resume.", err=True
        )
        sys.exit(130)
    finally:
        for bar in bars.values():
            bar.close()


def print_report(result: HuntResult) -> None:
    schedule = result.plan.schedule
    click.echo("rounds:")
    for report in result.rounds:
        line = (
            f"  round {report.round.number}: {report.candidates} candidate(s) on "
            f"{report.round.faces} face(s), {report.kept} kept; bought {report.images_bought} "
            f"images"
        )
        if len(report.dropped):
            line += f"; {len(report.dropped)} dropped ({_reasons(report.dropped)})"
        if report.requests_failed:
            line += f"; {report.requests_failed} requests failed"
        click.echo(line)
    used = sum(report.round.images for report in result.rounds)
    click.echo(
        f"images: {used} used by the hunt ({result.images_bought} bought this run, cost "
        f"{result.cost:.2f}); the exhaustive sweep would use {schedule.exhaustive_images} "
        f"({used / schedule.exhaustive_images:.0%} of it)"
    )
    if result.stopped:
        click.echo(f"STOPPED: {result.stop_reason}", err=True)
        return
    click.echo(f"top {len(result.top)} on all {schedule.panel} faces:")
    click.echo(format_top(result.top))


def format_top(top: pd.DataFrame) -> str:
    if top.empty:
        return "  (no candidate kept a score)"
    lines = []
    for place, row in enumerate(top.itertuples(index=False), start=1):
        ci = f"[{row.ci_low:.2f}, {row.ci_high:.2f}]"
        flag = "  uncertain" if bool(getattr(row, "uncertain", False)) else ""
        lines.append(
            f"  {place}. seed {row.seed}  scale {row.identity_scale:g}  {row.width}x{row.height}"
            f"  worst {row.worst_face_consistency:.3f} ({row.worst_face})"
            f"  consistency {row.consistency:.3f} {ci}  identity {row.identity:.2f}{flag}"
            f"\n     {row.prompt}"
        )
    return "\n".join(lines)


def write_csv(table: pd.DataFrame, path: Path) -> None:
    write_atomically(path, table.to_csv(index=False).encode("utf-8"))


def _reasons(dropped: pd.DataFrame) -> str:
    counts = dropped["reason"].str.replace(r"\d\.\d\d < ", "< ", regex=True).value_counts()
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())
