"""Candidate scores from stored descriptors: consistency, worst face, identity, failures, the
per-group breakdown, partial panels and the edge cases that must not crash."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scoring_data import BAD, FACES, GOOD, catalogue_row, write_faces, write_scored

from workbench.catalogue import Catalogue
from workbench.errors import InputError
from workbench.scoring.candidates import Candidate, ScoredImages, candidate_score
from workbench.scoring.consistency import MIN_FACES
from workbench.scoring.store import ScoreRow, ScoreStore
from workbench.scoring.style import STYLE_SCORER, STYLE_VERSION

pytest_plugins = ["scoring_fixtures"]


def test_a_style_that_never_moves_beats_one_that_jumps(layout, stored_catalogue):
    scored = ScoredImages.load(layout)
    assert scored.candidates() == sorted([GOOD, BAD])
    good, bad = candidate_score(scored, GOOD), candidate_score(scored, BAD)
    assert good.consistency == pytest.approx(1.0)
    assert good.ci_low == pytest.approx(1.0) and not good.uncertain
    assert bad.consistency < 0.8 and bad.ci_low < bad.consistency < bad.ci_high
    assert bad.worst_face in FACES
    assert bad.worst_face_consistency == min(bad.per_face.values())
    assert "drift" in bad.explanation and "everything holds" in good.explanation
    assert (good.faces, good.images, good.failures, good.unscored) == (6, 6, 0, 0)
    assert good.identity == pytest.approx(0.9) and bad.identity == pytest.approx(0.5)
    assert good.cost == pytest.approx(6 * 0.02)


def test_the_layout_itself_can_be_given(layout, stored_catalogue):
    assert candidate_score(layout, GOOD).consistency == pytest.approx(1.0)


def test_a_partial_panel_scores_what_it_has_and_says_it_is_uncertain(layout, stored_catalogue):
    partial = candidate_score(layout, BAD, faces=["ann", "bob", "cat"])
    assert partial.faces == 3 and partial.uncertain
    assert partial.faces_needed >= MIN_FACES - 3
    assert set(partial.per_face) == {"ann", "bob", "cat"}


def test_a_candidate_with_one_failed_cell(layout, vector_length):
    write_faces(layout)
    write_scored(layout, GOOD, FACES[:5], lambda i: np.zeros(vector_length, np.float32))
    Catalogue(layout.catalogue).append([catalogue_row(GOOD, FACES[5], failed=True)])
    score = candidate_score(layout, GOOD)
    assert (score.faces, score.failures) == (5, 1)
    assert score.consistency == pytest.approx(1.0)


def test_a_failure_retried_successfully_is_not_counted(layout, vector_length):
    write_faces(layout)
    Catalogue(layout.catalogue).append([catalogue_row(GOOD, "ann", failed=True)])
    write_scored(layout, GOOD, FACES, lambda i: np.zeros(vector_length, np.float32))
    assert candidate_score(layout, GOOD).failures == 0


def test_a_candidate_whose_every_cell_failed(layout):
    write_faces(layout)
    Catalogue(layout.catalogue).append([catalogue_row(GOOD, f, failed=True) for f in FACES])
    score = candidate_score(layout, GOOD)
    assert (score.faces, score.images, score.failures) == (0, 0, 6)
    assert math.isnan(score.consistency) and math.isnan(score.identity) and score.uncertain


def test_a_panel_of_one_face(layout, vector_length):
    write_faces(layout)
    write_scored(layout, GOOD, ["ann"], lambda i: np.zeros(vector_length, np.float32))
    score = candidate_score(layout, GOOD)
    assert score.faces == 1 and math.isnan(score.consistency)
    assert score.worst_face is None
    assert score.uncertain and score.faces_needed == MIN_FACES - 1
    assert score.identity == pytest.approx(0.9)


def test_an_output_without_a_face_counts_as_identity_lost(layout, vector_length):
    write_faces(layout)
    zero = np.zeros(vector_length, np.float32)
    write_scored(layout, GOOD, FACES[:3], lambda i: zero, identity=0.9)
    write_scored(layout, GOOD, FACES[3:], lambda i: zero, identity=None)
    score = candidate_score(layout, GOOD)
    assert score.no_face == 3
    assert score.identity == pytest.approx(0.45)


def test_images_not_yet_scored_are_counted_not_guessed(layout, vector_length):
    write_faces(layout)
    write_scored(layout, GOOD, FACES[:4], lambda i: np.zeros(vector_length, np.float32))
    Catalogue(layout.catalogue).append([catalogue_row(GOOD, face) for face in FACES[4:]])
    score = candidate_score(layout, GOOD)
    assert (score.images, score.unscored, score.faces) == (6, 2, 4)


def test_several_samples_per_face_all_count(layout, vector_length):
    write_faces(layout)
    zero = np.zeros(vector_length, np.float32)
    rows = [catalogue_row(GOOD, face, sample=s) for face in FACES[:4] for s in (0, 1)]
    Catalogue(layout.catalogue).append(rows)
    ScoreStore(layout).append(
        [
            ScoreRow(
                r.image_hash,
                r.face_hash,
                STYLE_SCORER,
                STYLE_VERSION,
                vector=zero + r.sample_index * 9,
            )
            for r in rows
        ]
    )
    score = candidate_score(layout, GOOD)
    # Sample 0 and sample 1 differ in style on every face: face pairs compare all four pairs.
    assert score.faces == 4 and score.images == 8
    assert 0.4 < score.consistency < 0.6


def test_the_per_group_breakdown_finds_where_the_style_fails(layout, vector_length):
    tones = {"ann": "2", "bob": "3", "cat": "2", "dan": "9", "eve": "10", "fay": "8"}
    write_faces(
        layout,
        {face: {"monk_skin_tone": tone, "age_band": "30-44"} for face, tone in tones.items()},
    )
    rng = np.random.default_rng(0)
    base = np.zeros(vector_length, np.float32)
    deeper = {3, 4, 5}
    write_scored(
        layout,
        GOOD,
        FACES,
        lambda i: base + (rng.normal(0, 3, vector_length) if i in deeper else 0),
    )
    score = candidate_score(layout, GOOD)
    groups = score.per_group.set_index(["attribute", "group"])
    lighter = groups.loc[("monk_skin_tone", "lighter (1-3)"), "consistency"]
    darker = groups.loc[("monk_skin_tone", "deeper (8-10)"), "consistency"]
    assert darker < lighter
    assert groups.loc[("monk_skin_tone", "deeper (8-10)"), "faces"] == 3
    assert score.worst_group == "monk_skin_tone deeper (8-10)"
    assert list(score.per_group["attribute"].unique()) == ["monk_skin_tone", "age_band"]


def test_a_random_seed_request_is_known_by_the_seed_the_server_used(layout, vector_length):
    write_faces(layout)
    rows = [replace(catalogue_row(GOOD, face), seed=-1, seed_used=GOOD.seed) for face in FACES]
    unreported = replace(catalogue_row(BAD, "ann"), seed=-1, seed_used=None)
    Catalogue(layout.catalogue).append([*rows, unreported])
    assert ScoredImages.load(layout).candidates() == [GOOD]


def test_an_unknown_candidate_is_a_one_line_error(layout, stored_catalogue):
    with pytest.raises(InputError, match="no images or failures"):
        candidate_score(layout, Candidate("nope", 1, 0.8, 768, 1024))


@pytest.mark.parametrize("sweep_id", ["drift-check-20261126-abc", "apply-20261126-def"])
def test_a_drift_check_or_an_applied_template_never_rewrites_the_evidence(
    layout, stored_catalogue, vector_length, sweep_id
):
    # A drift check re-runs GOOD on a changed model: new images, a very different style.
    rows = [replace(catalogue_row(GOOD, face, sample=7), sweep_id=sweep_id) for face in FACES[:3]]
    Catalogue(layout.catalogue).append(rows)
    far = np.full(vector_length, 50.0, dtype=np.float32)
    ScoreStore(layout).append(
        [
            ScoreRow(row.image_hash, row.face_hash, STYLE_SCORER, STYLE_VERSION, vector=far)
            for row in rows
        ]
    )
    good = candidate_score(layout, GOOD)
    assert good.consistency == pytest.approx(1.0)
    assert good.images == 6
