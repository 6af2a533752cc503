"""The `workbench` command: one small module per command group (not one giant cli.py)."""

from __future__ import annotations

import logging
import sys

import click

from workbench.errors import WorkbenchError
from workbench.layout import DATA_ENV, DataLayout


class WorkbenchGroup(click.Group):
    """Turns any WorkbenchError into a one-line message and exit code 1, never a traceback."""

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


def _register() -> None:
    from workbench.cli import (
        catalogue,
        demo,
        faces,
        generate,
        grid,
        hunt,
        leaderboard,
        rate,
        score,
        simulate,
        sweep,
        templates,
    )

    commands = (simulate, generate, faces, sweep, hunt, catalogue, score, rate, leaderboard, grid)
    for module in (*commands, templates, demo):
        main.add_command(module.command)


_register()
