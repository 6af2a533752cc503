"""The leaderboard: one row per candidate with every promised column, ranked as asked, with
ratings folded in and every score's uncertainty carried along."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scoring_data import BAD, FACES, GOOD, catalogue_row, write_faces, write_scored

from workbench.catalogue import Catalogue
from workbench.errors import InputError
from workbench.scoring.candidates import Candidate
from workbench.scoring.leaderboard import LEADERBOARD_COLUMNS, SORTS, leaderboard
from workbench.scoring.ratings import RatingStore

pytest_plugins = ["scoring_fixtures"]

PROMISED = [
    "prompt",
    "seed",
    "identity_scale",
    "width",
    "height",
    "faces",
    "identity",
    "consistency",
    "worst_face_consistency",
    "worst_face",
    "ci_low",
    "ci_high",
    "rating",
    "winners",
    "failures",
    "cost",
    "uncertain",
    "faces_needed",
    "explanation",
]


def test_every_promised_column_in_a_dataframe(layout, stored_catalogue):
    board = leaderboard(layout)
    assert set(PROMISED) <= set(board.columns)
    assert list(board.columns) == LEADERBOARD_COLUMNS
    assert board["prompt"].tolist() == [GOOD.prompt, BAD.prompt]
    good = board.iloc[0]
    assert (good["faces"], good["failures"], bool(good["uncertain"])) == (6, 0, False)
    assert good["cost"] == pytest.approx(0.12)


@pytest.mark.parametrize("sort", list(SORTS))
def test_each_sort_puts_the_best_first(layout, stored_catalogue, sort):
    board = leaderboard(layout, sort=sort)
    assert board.iloc[0]["prompt"] == GOOD.prompt or sort == "rating"


def test_ratings_and_winners_fold_into_their_candidate(layout, stored_catalogue):
    ratings = RatingStore(layout)
    ratings.rate(stored_catalogue[0], 2, by="ann")
    ratings.rate(stored_catalogue[1], 4, winner=True, by="ann")
    ratings.rate(stored_catalogue[1], 5, winner=True, by="ann")  # ann changes her mind
    ratings.rate_candidate(BAD, 5, winner=True, by="bob")
    ratings.rate_candidate(BAD, 4, winner=True, by="cy")
    board = leaderboard(layout, sort="rating").set_index("prompt")
    assert board.loc[GOOD.prompt, "rating"] == pytest.approx(3.5)
    assert board.loc[GOOD.prompt, "winners"] == 1 and board.loc[GOOD.prompt, "ratings"] == 2
    assert board.loc[BAD.prompt, "rating"] == pytest.approx(4.5)
    assert board.index[0] == BAD.prompt  # sorted by rating


def test_top_and_a_face_subset(layout, stored_catalogue):
    assert len(leaderboard(layout, top=1)) == 1
    partial = leaderboard(layout, faces=["ann", "bob"])
    assert set(partial["faces"]) == {2}
    assert partial["uncertain"].all() and (partial["faces_needed"] > 0).all()


def test_a_candidate_that_only_failed_is_listed_last_with_its_failures(layout, stored_catalogue):
    broken = Candidate("broken", 9, 0.8, 768, 1024)
    Catalogue(layout.catalogue).append([catalogue_row(broken, f, failed=True) for f in FACES])
    board = leaderboard(layout)
    last = board.iloc[-1]
    assert last["prompt"] == "broken" and last["failures"] == 6 and last["faces"] == 0
    assert math.isnan(last["consistency"])


def test_an_empty_catalogue_is_an_empty_board(layout):
    board = leaderboard(layout)
    assert board.empty and list(board.columns) == LEADERBOARD_COLUMNS


def test_one_face_panel_gives_a_row_not_a_crash(layout, vector_length):
    write_faces(layout)
    write_scored(layout, GOOD, ["ann"], lambda i: np.zeros(vector_length, np.float32))
    row = leaderboard(layout).iloc[0]
    assert row["faces"] == 1 and math.isnan(row["consistency"]) and row["uncertain"]


@pytest.mark.parametrize(("kwargs", "message"), [({"sort": "beauty"}, "sort"), ({"top": 0}, "top")])
def test_bad_options_are_one_line_errors(layout, kwargs, message):
    with pytest.raises(InputError, match=message):
        leaderboard(layout, **kwargs)


def test_docs_describe_every_column_of_the_leaderboard_and_both_tables():
    from pathlib import Path

    from workbench.scoring.ratings import RATINGS_SCHEMA
    from workbench.scoring.store import SCORES_SCHEMA

    doc = (Path(__file__).resolve().parents[1] / "docs" / "scoring.md").read_text()
    for column in [*LEADERBOARD_COLUMNS, *SCORES_SCHEMA.names, *RATINGS_SCHEMA.names]:
        assert f"`{column}`" in doc, f"docs/scoring.md does not describe {column}"


def test_the_board_can_be_limited_to_some_candidates(layout, stored_catalogue):
    board = leaderboard(layout, candidates=[BAD])
    assert board["prompt"].tolist() == [BAD.prompt]
    assert leaderboard(layout, candidates=[]).empty
