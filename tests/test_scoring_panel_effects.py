"""The panel adjustment: what each face puts into every style descriptor is recovered from many
candidates and taken out, on balanced and unbalanced designs, and never from too few."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.scoring.panel_effects import MIN_CANDIDATES, face_effects

LENGTH = 6


def _design(candidates: int, faces_of, rng, noise: float = 0.01):
    """Outputs x[c, f] = style[c] + face[f] + noise, for the faces `faces_of(c)` lists."""
    face_names = [f"f{i}" for i in range(6)]
    truth = rng.normal(0, 3, size=(len(face_names), LENGTH))
    truth -= truth.mean(axis=0)
    keys, faces, vectors = [], [], []
    for c in range(candidates):
        style = rng.normal(50, 20, size=LENGTH)
        for f in faces_of(c):
            keys.append(("prompt", c))
            faces.append(face_names[f])
            vectors.append(style + truth[f] + rng.normal(0, noise, LENGTH))
    return keys, faces, vectors, dict(zip(face_names, truth, strict=True))


def test_a_balanced_panel_gives_back_each_faces_effect():
    rng = np.random.default_rng(1)
    keys, faces, vectors, truth = _design(40, lambda c: range(6), rng)
    effects = face_effects(keys, faces, vectors)
    assert set(effects) == set(truth)
    for face, effect in effects.items():
        np.testing.assert_allclose(effect, truth[face], atol=0.02)


def test_a_hunts_unbalanced_rounds_give_them_back_too():
    # Every candidate on the first two faces, a third of them on four, a few on all six.
    rng = np.random.default_rng(2)
    keys, faces, vectors, truth = _design(
        60, lambda c: range(6) if c < 10 else range(4) if c < 20 else range(2), rng
    )
    effects = face_effects(keys, faces, vectors)
    assert set(effects) == set(truth)
    for face, effect in effects.items():
        np.testing.assert_allclose(effect, truth[face], atol=0.03)


def test_taking_them_out_leaves_only_the_drift():
    rng = np.random.default_rng(3)
    keys, faces, vectors, truth = _design(30, lambda c: range(6), rng, noise=0.0)
    effects = face_effects(keys, faces, vectors)
    adjusted = [v - effects[f] for v, f in zip(vectors, faces, strict=True)]
    for c in range(30):
        mine = np.array([a for a, k in zip(adjusted, keys, strict=True) if k == ("prompt", c)])
        assert np.abs(mine - mine[0]).max() < 1e-6  # no drift was put in: the faces now agree


def test_too_few_candidates_on_a_face_leave_it_alone():
    rng = np.random.default_rng(4)
    few = MIN_CANDIDATES - 1
    keys, faces, vectors, _ = _design(few, lambda c: range(6), rng)
    assert face_effects(keys, faces, vectors) == {}
    # A single candidate's own drift is never taken for the faces' effect.
    keys, faces, vectors, _ = _design(1, lambda c: range(6), rng)
    assert face_effects(keys, faces, vectors) == {}
    # Candidates seen on one face only say nothing about how faces differ.
    keys, faces, vectors, _ = _design(50, lambda c: [c % 6], rng)
    assert face_effects(keys, faces, vectors) == {}
    assert face_effects([], [], []) == {}


def test_only_the_faces_with_enough_candidates_get_an_effect():
    rng = np.random.default_rng(5)
    keys, faces, vectors, truth = _design(
        20, lambda c: range(6) if c < MIN_CANDIDATES - 2 else range(3), rng
    )
    effects = face_effects(keys, faces, vectors)
    assert set(effects) == {"f0", "f1", "f2"}
    # Relative to one another they are right (centred over the faces that have one).
    shown = np.array([truth[f] for f in ("f0", "f1", "f2")])
    expected = shown - shown.mean(axis=0)
    got = np.array([effects[f] for f in ("f0", "f1", "f2")])
    np.testing.assert_allclose(got, expected, atol=0.05)


def test_missing_numbers_are_left_out_not_taken_for_zero():
    rng = np.random.default_rng(6)
    keys, faces, vectors, truth = _design(30, lambda c: range(6), rng)
    for i in range(0, len(vectors), 7):  # a backdrop cell the person hides, now and then
        vectors[i] = vectors[i].copy()
        vectors[i][0] = np.nan
    effects = face_effects(keys, faces, vectors)
    for face, effect in effects.items():
        assert not np.isnan(effect).any()
        np.testing.assert_allclose(effect, truth[face], atol=0.05)


def test_samples_of_one_candidate_on_one_face_count_once():
    rng = np.random.default_rng(7)
    keys, faces, vectors, truth = _design(20, lambda c: range(6), rng)
    # The first candidate sent four samples to face f0: they are averaged, not four votes.
    extra = [vectors[0] + rng.normal(0, 0.01, LENGTH) for _ in range(3)]
    effects = face_effects(keys + [keys[0]] * 3, faces + ["f0"] * 3, vectors + extra)
    np.testing.assert_allclose(effects["f0"], truth["f0"], atol=0.03)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="same length"):
        face_effects([1, 2], ["a"], [np.zeros(3)])
