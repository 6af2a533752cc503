"""The leaderboard: every candidate in the catalogue, scored and ranked, as one pandas DataFrame
(what `workbench leaderboard`, the app and the notebooks show)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple

import numpy as np
import pandas as pd

from workbench.errors import InputError
from workbench.layout import DataLayout
from workbench.scoring.candidates import (
    CANDIDATE_COLUMNS,
    Candidate,
    CandidateScore,
    ScoredImages,
    score_images,
)
from workbench.scoring.ratings import TARGET_CANDIDATE, TARGET_IMAGE, RatingStore

# What each --sort ranks by, then the tie-breakers; all descending, missing values last.
SORTS: dict[str, tuple[str, ...]] = {
    "consistency": ("consistency", "worst_face_consistency", "identity"),
    "worst": ("worst_face_consistency", "consistency", "identity"),
    "identity": ("identity", "consistency", "worst_face_consistency"),
    "rating": ("rating", "winners", "consistency"),
}
LEADERBOARD_COLUMNS = [
    *CANDIDATE_COLUMNS,
    "faces",
    "images",
    "identity",
    "consistency",
    "worst_face_consistency",
    "worst_face",
    "ci_low",
    "ci_high",
    "uncertain",
    "faces_needed",
    "rating",
    "ratings",
    "winners",
    "failures",
    "no_face",
    "unscored",
    "cost",
    "worst_group",
    "explanation",
]


def leaderboard(
    layout: DataLayout | ScoredImages,
    *,
    top: int | None = None,
    sort: str = "consistency",
    faces: Iterable[str] | None = None,
    candidates: Iterable[Candidate] | None = None,
) -> pd.DataFrame:
    """One row per candidate, best first by `sort` (consistency, worst, identity or rating).

    `faces` limits every score to those face ids; `candidates` limits the board to those
    candidates (a hunt's round), which is much faster on a big catalogue. Candidates whose
    every cell failed are listed too (with their failures), last.
    """
    if sort not in SORTS:
        raise InputError(f"cannot sort the leaderboard by {sort!r}; use one of: {', '.join(SORTS)}")
    if top is not None and top < 1:
        raise InputError(f"--top must be at least 1, not {top}")
    face_list = None if faces is None else list(faces)
    scored = layout if isinstance(layout, ScoredImages) else ScoredImages.load(layout, face_list)
    images = scored.images
    if face_list is not None:
        images = images[images["face_id"].isin(set(face_list))]
    groups = {_key(k): g for k, g in images.groupby(CANDIDATE_COLUMNS, sort=False)}
    failures = {
        _key(k): int(g["failures"].sum()) for k, g in scored.failures.groupby(CANDIDATE_COLUMNS)
    }
    empty = images.iloc[0:0]
    rows = []
    keys = set(groups) | set(failures)
    if candidates is not None:
        keys &= {_key(astuple(c)) for c in candidates}
    for key in sorted(keys):
        candidate = Candidate(*key)
        rows_of = groups.get(key, empty)
        score = score_images(
            candidate, rows_of, failures.get(key, 0), scored.groups, scored.effects
        )
        rows.append(_row(score))
    unrated = [c for c in LEADERBOARD_COLUMNS if c not in ("rating", "ratings", "winners")]
    board = pd.DataFrame(rows, columns=unrated)
    board = _with_ratings(board, images, RatingStore(scored.layout).latest())[LEADERBOARD_COLUMNS]
    board = board.sort_values(list(SORTS[sort]), ascending=False, na_position="last", kind="stable")
    board = board.reset_index(drop=True)
    return board.head(top) if top else board


def _key(values) -> tuple:
    prompt, seed, scale, width, height = values
    return (str(prompt), int(seed), float(scale), int(width), int(height))


def _row(score: CandidateScore) -> dict:
    c = score.candidate
    return {
        "prompt": c.prompt,
        "seed": c.seed,
        "identity_scale": c.identity_scale,
        "width": c.width,
        "height": c.height,
        "faces": score.faces,
        "images": score.images,
        "identity": score.identity,
        "consistency": score.consistency,
        "worst_face_consistency": score.worst_face_consistency,
        "worst_face": score.worst_face,
        "ci_low": score.ci_low,
        "ci_high": score.ci_high,
        "uncertain": score.uncertain,
        "faces_needed": score.faces_needed,
        "failures": score.failures,
        "no_face": score.no_face,
        "unscored": score.unscored,
        "cost": score.cost,
        "worst_group": score.worst_group,
        "explanation": score.explanation,
    }


def _with_ratings(board: pd.DataFrame, images: pd.DataFrame, ratings: pd.DataFrame) -> pd.DataFrame:
    """Mean stars and winner marks per candidate: ratings of its images plus ratings of the
    candidate as a whole, each rater's latest judgement only."""
    if ratings.empty:
        return board.assign(rating=np.nan, ratings=0, winners=0)
    on_images = ratings[ratings["target"] == TARGET_IMAGE].drop(columns=CANDIDATE_COLUMNS)
    on_images = on_images.merge(
        images[["image_hash", *CANDIDATE_COLUMNS]].drop_duplicates("image_hash"),
        on="image_hash",
    )
    on_candidates = ratings[ratings["target"] == TARGET_CANDIDATE]
    both = pd.concat([on_images, on_candidates], ignore_index=True)
    if both.empty:
        return board.assign(rating=np.nan, ratings=0, winners=0)
    both = both.assign(
        seed=both["seed"].astype("int64"),
        identity_scale=both["identity_scale"].astype(float),
        width=both["width"].astype("int64"),
        height=both["height"].astype("int64"),
        stars=both["stars"].astype(float),
        winner=both["winner"].astype(bool),
    )
    per_candidate = both.groupby(CANDIDATE_COLUMNS, as_index=False).agg(
        rating=("stars", "mean"), ratings=("stars", "count"), winners=("winner", "sum")
    )
    board = board.astype({"seed": "int64", "width": "int64", "height": "int64"})
    merged = board.merge(per_candidate, on=CANDIDATE_COLUMNS, how="left")
    return merged.fillna({"ratings": 0, "winners": 0}).astype({"ratings": int, "winners": int})
