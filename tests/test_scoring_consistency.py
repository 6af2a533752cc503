"""Candidate consistency from a face-by-face similarity matrix: mean, worst face, bootstrap
interval, the uncertain flag and the per-dimension explanation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.scoring.consistency import (
    MAX_CI_WIDTH,
    MIN_FACES,
    bootstrap_interval,
    consistency_from_matrix,
    explain,
)


def _matrix(n: int, value: float, odd_face: int | None = None, odd_value: float = 0.0):
    matrix = np.full((n, n), value)
    if odd_face is not None:
        matrix[odd_face, :] = matrix[:, odd_face] = odd_value
    np.fill_diagonal(matrix, 1.0)
    return matrix


def test_the_worst_face_is_the_one_least_like_the_others():
    ids = [f"f{i}" for i in range(8)]
    result = consistency_from_matrix(ids, _matrix(8, 0.9, odd_face=5, odd_value=0.4))
    assert result.worst_face == "f5"
    assert result.worst_face_consistency == pytest.approx(0.4)
    # 21 pairs at 0.9, 7 at 0.4.
    assert result.consistency == pytest.approx((21 * 0.9 + 7 * 0.4) / 28)
    assert result.per_face["f0"] == pytest.approx((6 * 0.9 + 0.4) / 7)
    assert result.ci_low < result.consistency < result.ci_high


def test_a_uniform_panel_has_a_tight_interval_and_is_trusted():
    result = consistency_from_matrix([f"f{i}" for i in range(10)], _matrix(10, 0.8))
    assert result.ci_low == pytest.approx(0.8) and result.ci_high == pytest.approx(0.8)
    assert not result.uncertain and result.faces_needed == 0


def test_a_wide_interval_is_uncertain_and_says_how_many_faces_would_settle_it():
    rng = np.random.default_rng(1)
    values = rng.uniform(0.2, 1.0, size=(6, 6))
    matrix = (values + values.T) / 2
    result = consistency_from_matrix([f"f{i}" for i in range(6)], matrix)
    width = result.ci_high - result.ci_low
    assert width > MAX_CI_WIDTH
    assert result.uncertain
    # The interval narrows as 1/sqrt(faces): the suggested total brings it under the limit.
    total = 6 + result.faces_needed
    assert width * math.sqrt(6 / total) <= MAX_CI_WIDTH + 1e-9
    assert width * math.sqrt(6 / (total - 1)) > MAX_CI_WIDTH


def test_one_face_gives_defined_results_not_a_crash():
    result = consistency_from_matrix(["only"], np.ones((1, 1)))
    assert math.isnan(result.consistency) and math.isnan(result.ci_low)
    assert result.worst_face is None
    assert result.uncertain and result.faces_needed == MIN_FACES - 1
    assert "one face" in result.explanation


def test_two_faces_score_their_one_pair_but_stay_uncertain():
    result = consistency_from_matrix(["a", "b"], _matrix(2, 0.7))
    assert result.consistency == pytest.approx(0.7)
    assert result.uncertain and result.faces_needed == MIN_FACES - 2


def test_the_interval_is_reproducible_and_covers_the_mean():
    rng = np.random.default_rng(7)
    values = rng.uniform(0.5, 1.0, size=(12, 12))
    matrix = (values + values.T) / 2
    first = bootstrap_interval(matrix)
    assert first == bootstrap_interval(matrix)
    mean = matrix[np.triu_indices(12, 1)].mean()
    assert first[0] < mean < first[1]


def test_a_large_panel_bootstraps_without_running_out_of_memory():
    matrix = _matrix(120, 0.6)
    assert bootstrap_interval(matrix, samples=300) == pytest.approx((0.6, 0.6))


def test_a_matrix_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="3x3"):
        consistency_from_matrix(["a", "b", "c"], np.ones((2, 2)))


def test_the_explanation_names_drifting_dimensions_worst_first_and_what_holds():
    dims = {"backdrop_colour": 0.5, "face_light": 0.7, "framing": 0.97, "grain": 0.9}
    assert explain(dims) == "backdrop colour and light on the face drift; framing and grain hold"
    assert explain({"framing": 0.99, "grain": 0.95}) == "everything holds (best: framing and grain)"
    assert explain({"framing": 0.2}) == "framing drifts"
    assert explain({"tone_curve": 0.6, "colour_grade": 0.9}) == (
        "exposure and contrast drifts; colour grade holds"
    )
    assert explain({}) == ""


def test_the_explanation_says_how_the_faces_differ_in_a_photographer_s_words():
    dims = {"sharpness": 0.4, "colour_grade": 0.6, "framing": 0.97}
    how = {"sharpness": "softer on 2 faces", "colour_grade": "warmer on 1 face"}
    assert explain(dims, how) == (
        "sharpness and colour grade drift (softer on 2 faces; warmer on 1 face); framing holds"
    )


def test_per_dimension_values_are_means_over_face_pairs():
    ids = ["a", "b", "c", "d"]
    result = consistency_from_matrix(
        ids,
        _matrix(4, 0.9),
        {"framing": _matrix(4, 0.95), "backdrop_colour": _matrix(4, 0.3)},
    )
    assert result.per_dimension == pytest.approx({"framing": 0.95, "backdrop_colour": 0.3})
    assert result.explanation == "backdrop colour drifts; framing holds"
