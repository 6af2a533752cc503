"""`workbench demo` (what `make demo` runs): the demo sweep on the embedded simulator over the
demo panel, then where everything went and how to read it with pandas."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from workbench.backend import Backend
from workbench.cli.sweep import execute_with_progress, print_preview, print_summary
from workbench.client import RetryPolicy
from workbench.errors import InputError
from workbench.layout import DataLayout
from workbench.panel import MANIFEST_NAME, Panel, build_demo_panel
from workbench.run import SweepRun
from workbench.simulator import Faults, SimulatorConfig, SimulatorServer
from workbench.sweep import Sweep

# The repository's own data folder: the demo panel and example sweeps ship there.
REPO_DATA = Path(__file__).resolve().parents[2] / "data"
DEMO_SWEEP = "demo.toml"
# Real-looking conditions: a quarter-second per request and a few faults, so the demo shows
# retries healing most failures and the rest logged as data.
DEMO_SIMULATOR = SimulatorConfig(
    latency_ms=250,
    faults=Faults(error_rate=0.05, rate_limit_rate=0.05, malformed_rate=0.02, retry_after_s=0.2),
)
DEMO_RETRY = RetryPolicy(attempts=4, timeout=30.0, wait_initial=0.1, wait_max=1.0)


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
    """Run the demo sweep on the embedded simulator (not real portraits) and show the results."""
    spec_path = Path(spec) if spec else _demo_sweep(layout)
    _ensure_demo_panel(layout)
    sweep = Sweep.load(spec_path)
    run = SweepRun.prepare(sweep, layout)
    with SimulatorServer(DEMO_SIMULATOR) as simulator:
        click.echo(f"using the embedded simulator at {simulator.url} — not real portraits")
        backend = Backend(url=simulator.url, api_key=simulator.api_key, kind="simulator")
        print_preview(run, backend.kind, sweep_name=sweep.name or spec_path.name)
        summary = execute_with_progress(run, backend, retry=DEMO_RETRY, timeout=10.0)
    print_summary(summary)
    images = sum(1 for _ in layout.images.glob("*/*.jpg"))
    runs = layout.catalogue / "runs"
    click.echo("")
    click.echo(f"images:    {_shown(layout.images)}  ({images} JPEGs, named by SHA-256)")
    click.echo(f"catalogue: {_shown(layout.catalogue)}  (Parquet; `workbench catalogue stats`)")
    click.echo("read it with pandas:")
    click.echo(
        f"  {_shown(Path(sys.executable))} -c \"import pandas as pd; df = pd.read_parquet('{_shown(runs)}'); "
        "print(df.groupby(['prompt', 'seed']).status.value_counts())\""
    )


def _demo_sweep(layout: DataLayout) -> Path:
    for candidate in (layout.sweeps / DEMO_SWEEP, REPO_DATA / "sweeps" / DEMO_SWEEP):
        if candidate.exists():
            return candidate
    raise InputError(f"no {DEMO_SWEEP} in {layout.sweeps} or {REPO_DATA / 'sweeps'}")


def _ensure_demo_panel(layout: DataLayout) -> None:
    """A data root without faces gets the demo panel (public domain): a copy of the
    repository's `data/faces/`, else built from the packaged photos."""
    if Panel(layout).faces():
        return
    source = REPO_DATA / "faces"
    if (source / MANIFEST_NAME).exists() and source.resolve() != layout.faces.resolve():
        layout.faces.mkdir(parents=True, exist_ok=True)
        for face in Panel(DataLayout(REPO_DATA)).faces():
            shutil.copy2(source / f"{face.id}.jpg", layout.faces / f"{face.id}.jpg")
        shutil.copy2(source / MANIFEST_NAME, layout.faces / MANIFEST_NAME)
        click.echo(f"copied the demo panel into {_shown(layout.faces)}")
    else:
        build_demo_panel(layout)
        click.echo(f"built the demo panel in {_shown(layout.faces)}")
    if not Panel(layout).faces():
        raise InputError(
            f"no faces in {layout.faces}: add some with `workbench faces add PHOTO...` "
            "or `workbench faces demo`"
        )


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it (shorter to copy)."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)
