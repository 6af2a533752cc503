"""`workbench demo`: the demo sweep on the embedded simulator over the demo panel, its images
scored, the top of the leaderboard, then where everything went and how to read it with pandas."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from workbench.backend import Backend
from workbench.cli.leaderboard import format_board
from workbench.cli.score import describe, score_with_progress
from workbench.cli.sweep import execute_with_progress, print_preview, print_summary
from workbench.demo import (
    DEMO_RETRY,
    DEMO_SIMULATOR,
    DEMO_SWEEP,
    DEMO_TIMEOUT_S,
    LEADERBOARD_TOP,
    demo_sweep_path,
    ensure_demo_panel,
)
from workbench.layout import DataLayout
from workbench.run import SweepRun
from workbench.simulator import SimulatorServer
from workbench.sweep import Sweep


@click.command("demo")
@click.option(
    "--sweep",
    "spec",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help=f"Sweep file (default: {DEMO_SWEEP} from <data>/sweeps or the repository).",
)
@click.pass_obj
def command(layout: DataLayout, spec: str | None) -> None:
    """Run the demo sweep on the embedded simulator (not real portraits), score it and show the
    top of the leaderboard."""
    spec_path = Path(spec) if spec else demo_sweep_path(layout)
    note = ensure_demo_panel(layout)
    if note:
        click.echo(note.replace(str(layout.faces), _shown(layout.faces)))
    sweep = Sweep.load(spec_path)
    with SimulatorServer(DEMO_SIMULATOR) as simulator:
        click.echo(f"using the embedded simulator at {simulator.url} — not real portraits")
        backend = Backend.of_simulator(simulator)
        run = SweepRun.prepare(sweep, layout, backend=backend.identity)
        print_preview(run, backend, sweep_name=sweep.name or spec_path.name)
        summary = execute_with_progress(run, backend, retry=DEMO_RETRY, timeout=DEMO_TIMEOUT_S)
    print_summary(summary)
    if summary.stopped == "cancelled":
        sys.exit(130)
    click.echo(describe(score_with_progress(layout)))
    from workbench.scoring.leaderboard import leaderboard

    click.echo(f"\ntop {LEADERBOARD_TOP} candidates (`workbench leaderboard` for all):")
    click.echo(format_board(leaderboard(layout, top=LEADERBOARD_TOP)))
    images = sum(1 for _ in layout.images.glob("*/*.jpg"))
    runs = layout.catalogue / "runs"
    click.echo("")
    click.echo(f"images:    {_shown(layout.images)}  ({images} JPEGs, named by SHA-256)")
    click.echo(f"catalogue: {_shown(layout.catalogue)}  (Parquet; `workbench catalogue stats`)")
    click.echo(f"scores:    {_shown(layout.scores)}  (Parquet; `workbench leaderboard --csv FILE`)")
    click.echo("read it with pandas:")
    click.echo(
        f"  {_shown(Path(sys.executable))} -c \"import pandas as pd; df = pd.read_parquet('{_shown(runs)}'); "
        "print(df.groupby(['prompt', 'seed']).status.value_counts())\""
    )


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it (shorter to copy)."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)
