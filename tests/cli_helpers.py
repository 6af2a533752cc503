"""Running the `workbench` command in-process, on a given data root."""

from __future__ import annotations

from click.testing import CliRunner

from workbench.cli import main


def cli(layout, *args: str, catch_exceptions: bool = False):
    """`workbench --data <layout.root> ARGS` through click's runner; the result has
    `exit_code` and `output`."""
    return CliRunner().invoke(
        main, ["--data", str(layout.root), *args], catch_exceptions=catch_exceptions
    )
