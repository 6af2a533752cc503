"""The `workbench` command: one small module per command group (not one giant cli.py)."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from workbench.errors import WorkbenchError
from workbench.layout import DATA_ENV, DataLayout

# Each command's module (workbench/cli/<module>.py, whose `command` it is), imported only when
# that command runs or `--help` lists them: a sweep does not pay at start-up for the scoring
# stack, the demo or the simulator's web server (2.9 s of CPU here when every module loaded).
COMMANDS = {
    "catalogue": "catalogue",
    "demo": "demo",
    "faces": "faces",
    "generate": "generate",
    "grid": "grid",
    "hunt": "hunt",
    "leaderboard": "leaderboard",
    "rate": "rate",
    "score": "score",
    "simulate": "simulate",
    "sweep": "sweep",
    "templates": "templates",
}


class WorkbenchGroup(click.Group):
    """Turns any WorkbenchError into a one-line message and exit code 1, never a traceback;
    loads each command's module when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = COMMANDS.get(name)
        if module is None:
            return None
        return importlib.import_module(f"workbench.cli.{module}").command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=WorkbenchGroup)
@click.option(
    "--data",
    "data",
    type=click.Path(file_okay=False),
    envvar=DATA_ENV,
    default=None,
    help=f"Root of everything the workbench writes (default ${DATA_ENV} or ./data).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log HTTP attempts and retries.")
@click.version_option(package_name="headshot-workbench")
@click.pass_context
def main(ctx: click.Context, data: str | None, verbose: bool) -> None:
    """Hunt prompt+seed styles that stay consistent across a panel of faces."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = DataLayout.resolve(data)
