"""`workbench score`, `workbench rate` and `workbench leaderboard` as a user runs them."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from cli_helpers import cli

from workbench.catalogue import Catalogue
from workbench.cli.leaderboard import SORT_CHOICES
from workbench.scoring.leaderboard import SORTS

pytest_plugins = ["scoring_fixtures"]


def test_the_cli_offers_exactly_the_library_sorts():
    assert tuple(SORTS) == SORT_CHOICES


@pytest.mark.e2e
def test_score_rate_and_rank_from_the_command_line(swept, tmp_path):
    first = cli(swept, "score")
    assert first.exit_code == 0, first.output
    assert "scored 8 images" in first.output and "0 already scored" in first.output
    again = cli(swept, "score")
    assert "all 8 images already scored" in again.output

    image = Catalogue(swept.catalogue).runs().dropna(subset=["image_hash"])["image_hash"].iloc[0]
    rated = cli(swept, "rate", image[:10], "5", "--winner", "--by", "ann")
    assert (
        rated.exit_code == 0
        and f"ann rated {image[:12]} 5/5 and marked it a winner" in rated.output
    )

    board = cli(swept, "leaderboard", "--top", "1", "--sort", "worst")
    assert board.exit_code == 0, board.output
    assert "consistency" in board.output and "worst face" in board.output
    assert board.output.count("\n #") == 0 and " 1 " in board.output

    csv = tmp_path / "board.csv"
    as_json = cli(swept, "leaderboard", "--json", "--csv", str(csv))
    records = json.loads(as_json.stdout)
    assert len(records) == 2 and {"consistency", "ci_low", "worst_face", "uncertain"} <= set(
        records[0]
    )
    assert len(pd.read_csv(csv)) == 2
    rated_row = [r for r in records if r["winners"]]
    assert len(rated_row) == 1 and rated_row[0]["rating"] == 5


def test_command_line_mistakes_are_one_line_errors(layout):
    unknown = cli(layout, "score", "--sweep", "nope")
    assert unknown.exit_code == 1 and "no sweep 'nope'" in unknown.output
    assert "Traceback" not in unknown.output
    stars = cli(layout, "rate", "abcdef12", "9")
    assert stars.exit_code == 2 and "9 is not in the range 1<=x<=5" in stars.output
    missing = cli(layout, "rate", "abcdef12", "3", "--by", "ann")
    assert missing.exit_code == 1 and "no image 'abcdef12'" in missing.output
    sort = cli(layout, "leaderboard", "--sort", "beauty")
    assert sort.exit_code == 2


def test_an_empty_data_root_says_what_to_do_first(layout):
    assert "run a sweep first" in cli(layout, "score").output
    assert "no candidates yet" in cli(layout, "leaderboard").output
