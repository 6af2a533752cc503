"""`workbench catalogue` as a user runs it: a damaged part never takes a command down (one
warning line, then the command's normal output), `check [--repair]`, and `show` staying a
readable one-line-per-row table whatever the rows hold."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest
from catalogue_fixtures import make_row
from cli_helpers import cli
from click.testing import CliRunner

from workbench.catalogue import Catalogue
from workbench.cli import main

pytest_plugins = ["sweep_fixtures"]


def run_cli(layout, *args: str) -> subprocess.CompletedProcess:
    """A real process, so stderr is exactly what a user sees."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADSHOT_")}
    return subprocess.run(
        [sys.executable, "-m", "workbench", "--data", str(layout.root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def damaged(panel_layout):
    """A catalogue of three parts of hopper's rows, the middle one truncated."""
    catalogue = Catalogue(panel_layout.catalogue)
    for n in range(3):
        catalogue.append([make_row(n, face="hopper")])
    part = catalogue.parts()[1]
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    return part


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args",
    [
        ("catalogue", "show"),
        ("catalogue", "stats"),
        ("catalogue", "compact"),
        ("sweep", "SPEC", "--dry-run"),
        ("faces", "erase", "hopper", "--yes"),
    ],
)
def test_a_truncated_part_is_one_warning_line_and_the_command_works(
    panel_layout, damaged, tmp_path, args
):
    spec = tmp_path / "spec.toml"
    spec.write_text('prompts = ["p"]\nseeds = "1-2"\nsizes = ["512x512"]\n')
    result = run_cli(panel_layout, *(str(spec) if a == "SPEC" else a for a in args))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "workbench.parts" in line]
    assert len(warnings) == 1 and damaged.name in warnings[0]
    quarantined = panel_layout.quarantine / "runs" / damaged.name
    if args[0] == "faces":  # erase deletes it: it may hold hopper's rows, nobody can tell
        assert not quarantined.exists() and "1 quarantined catalogue file(s)" in result.stdout
    else:
        assert quarantined.exists()


def test_check_reports_then_repairs(panel_layout, damaged):
    result = cli(panel_layout, "catalogue", "check")
    assert result.exit_code == 1
    assert f"damaged  {damaged.name}: unreadable" in result.output
    assert "check --repair" in result.output
    assert damaged.exists()

    repaired = cli(panel_layout, "catalogue", "check", "--repair")
    assert repaired.exit_code == 0 and "repaired" in repaired.output
    again = cli(panel_layout, "catalogue", "check")
    assert again.exit_code == 0
    assert "2 parts, 2 rows" in again.output and "1 file(s) in quarantine" in again.output


def test_show_refuses_a_negative_count_in_one_line(panel_layout):
    result = CliRunner().invoke(
        main, ["--data", str(panel_layout.root), "catalogue", "show", "-n", "-1"]
    )
    assert result.exit_code == 2
    assert "Invalid value for '-n' / '--count'" in result.output
    assert "Traceback" not in result.output


def test_show_keeps_its_column_width_for_a_huge_prompt(panel_layout):
    huge = "dramatic light,\n" * 6_000  # ~100 KB, with newlines
    catalogue = Catalogue(panel_layout.catalogue)
    catalogue.append([replace(make_row(0), prompt=huge), make_row(1)])
    result = cli(panel_layout, "catalogue", "show")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 3  # a header and one line per row
    assert max(len(line) for line in lines) < 400
    assert "dramatic light, dramatic light," in lines[1] and "…" in lines[1]
