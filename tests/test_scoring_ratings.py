"""Ratings and winner marks: on images or whole candidates, per rater, the latest wins."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.errors import InputError
from workbench.scoring.candidates import Candidate
from workbench.scoring.ratings import RatingStore, resolve_image_hash

pytest_plugins = ["scoring_fixtures"]

IMAGE = "a" * 64
OTHER = "b" * 64
CANDIDATE = Candidate("studio headshot", 7, 0.8, 768, 1024)


@pytest.fixture
def ratings(layout) -> RatingStore:
    return RatingStore(layout)


def test_each_raters_latest_judgement_wins(ratings, layout):
    ratings.rate(IMAGE, 2, by="ann")
    ratings.rate(IMAGE, 5, winner=True, by="ann")
    ratings.rate(IMAGE, 3, by="bob")
    ratings.rate(OTHER, 4, by="ann")
    latest = ratings.latest()
    mine = latest[(latest["image_hash"] == IMAGE) & (latest["rater"] == "ann")]
    assert mine[["stars", "winner"]].values.tolist() == [[5, True]]
    assert len(latest) == 3
    assert len(ratings.history()) == 4  # nothing is overwritten: append-only
    assert len(pd.read_parquet(layout.catalogue / "ratings")) == 4


def test_a_later_rating_without_the_winner_mark_takes_it_back(ratings):
    ratings.rate(IMAGE, 5, winner=True, by="ann")
    ratings.rate(IMAGE, 5, by="ann")
    assert not ratings.latest()["winner"].any()


def test_candidates_are_rated_by_their_key(ratings):
    ratings.rate_candidate(CANDIDATE, 4, by="ann")
    ratings.rate_candidate(CANDIDATE, None, winner=True, by="ann")
    latest = ratings.latest()
    assert len(latest) == 1
    row = latest.iloc[0]
    assert (row["target"], row["prompt"], row["seed"], row["winner"]) == (
        "candidate",
        "studio headshot",
        7,
        True,
    )
    assert pd.isna(row["stars"])


@pytest.mark.parametrize(
    ("image_hash", "stars", "winner", "by", "message"),
    [
        (IMAGE, 0, False, "ann", "1 to 5"),
        (IMAGE, 6, False, "ann", "1 to 5"),
        (IMAGE, None, False, "ann", "stars"),
        ("abc", 3, False, "ann", "64"),
        (IMAGE, 3, False, "  ", "rater"),
        (IMAGE, 3, False, "x" * 65, "rater"),
    ],
)
def test_bad_ratings_are_one_line_errors(ratings, image_hash, stars, winner, by, message):
    with pytest.raises(InputError, match=message):
        ratings.rate(image_hash, stars, winner=winner, by=by)
    assert ratings.history().empty


def test_erasing_images_removes_their_ratings_only(ratings):
    ratings.rate(IMAGE, 2, by="ann")
    ratings.rate(OTHER, 4, by="ann")
    ratings.rate_candidate(CANDIDATE, 4, by="ann")
    assert ratings.remove_images({IMAGE}) == 1
    assert set(ratings.latest()["image_hash"].dropna()) == {OTHER}


def test_a_unique_prefix_finds_the_image(layout, stored_catalogue):
    full = stored_catalogue[0]
    assert resolve_image_hash(layout, full[:10]) == full
    with pytest.raises(InputError, match="no image"):
        resolve_image_hash(layout, "ffffffffff")
    with pytest.raises(InputError, match="at least"):
        resolve_image_hash(layout, "ab")
