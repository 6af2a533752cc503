"""Verified, not asserted: on the simulator, whose hidden `stability(prompt, seed)` is the truth,
the style-consistency ranking of held-out candidates agrees with it, and identity falls as
identityScale falls.

The prompts and seeds here were never used to choose the descriptor's units or weights (those
were set on real photos); the faces are openpeople's synthetic people (P003 left out) as a user
would upload them: their casual selfies.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from people import people, photo
from scipy.stats import spearmanr

from workbench.contract import PortraitParams
from workbench.scoring import (
    StyleDescriptor,
    compare_styles,
    descriptor_similarity,
    face_descriptor,
    score_images,
)
from workbench.scoring.panel_effects import face_effects
from workbench.simulator.render import render_portrait
from workbench.simulator.style import stability

HELD_OUT_PROMPTS = (
    "headshot on a teal backdrop",
    "environmental portrait in a garden",
    "noir portrait, cinematic",
    "soft pastel pink studio portrait",
    "business portrait indoors",
    "retro film closeup",
)
HELD_OUT_SEEDS = (31, 37, 41, 43, 47)
FACES = 6


def _consistency_and_worst(descriptors) -> tuple[float, float]:
    n = len(descriptors)
    similarity = np.eye(n)
    for i, j in itertools.combinations(range(n), 2):
        similarity[i, j] = similarity[j, i] = compare_styles(descriptors[i], descriptors[j]).overall
    mean = float(similarity[np.triu_indices(n, 1)].mean())
    # The worst face: least like the others, by its mean similarity to them.
    worst = float(((similarity.sum(axis=1) - 1.0) / (n - 1)).min())
    return mean, worst


@pytest.mark.e2e
def test_consistency_ranking_agrees_with_the_hidden_stability():
    faces = [photo(p, "amateur_selfie") for p in people()[:FACES]]
    candidates = list(itertools.product(HELD_OUT_PROMPTS, HELD_OUT_SEEDS))
    assert len(candidates) >= 30 and len(faces) >= 6
    outputs = [
        render_portrait(
            face,
            PortraitParams(prompt=prompt, seed=seed, width=512, height=640, identity_scale=0.8),
            0,
        )
        for prompt, seed in candidates
        for face in faces
    ]
    scored = score_images(outputs, workers=2)
    assert all(s.style is not None for s in scored)
    # As the leaderboard does: what each person puts into every style is measured over all the
    # candidates and taken out first (scoring/panel_effects.py).
    keys = [c for c in candidates for _ in range(FACES)]
    face_ids = [f"face-{i}" for _ in candidates for i in range(FACES)]
    effects = face_effects(keys, face_ids, [s.style.vector for s in scored])
    assert set(effects) == set(face_ids)
    adjusted = [
        StyleDescriptor.from_vector(s.style.vector - effects[face])
        for s, face in zip(scored, face_ids, strict=True)
    ]
    consistency, worst, truth = [], [], []
    for k, (prompt, seed) in enumerate(candidates):
        mean, least = _consistency_and_worst(adjusted[k * FACES : (k + 1) * FACES])
        consistency.append(mean)
        worst.append(least)
        truth.append(stability(prompt, seed))
    rho = spearmanr(consistency, truth).statistic
    rho_worst = spearmanr(worst, truth).statistic
    # Where a hunt must separate: the stable half (truth >= 0.8).
    stable = [k for k, t in enumerate(truth) if t >= 0.8]
    rho_stable = spearmanr([consistency[k] for k in stable], [truth[k] for k in stable]).statistic
    print(
        f"style truth: Spearman {rho:.3f} (worst face {rho_worst:.3f}) over"
        f" {len(candidates)} candidates x {FACES} faces; {rho_stable:.3f} over the"
        f" {len(stable)} with stability >= 0.8"
    )
    # Style v4's weights were chosen on real photos (tests/test_scoring_metamorphic.py), never
    # on this ground truth; here they measure 0.81 (worst face 0.79), short of the 0.9 the
    # project asks for (docs/scoring.md, "Verified"). This floor guards against a regression;
    # it is not the goal, and it was not raised by tuning against the simulator.
    assert rho >= 0.75
    assert rho_worst >= 0.75


@pytest.mark.e2e
def test_identity_falls_as_identity_scale_falls():
    faces = [photo(p, "amateur_selfie") for p in people()[:4]]
    scales = (1.0, 0.75, 0.5, 0.25, 0.0)
    prompts = ("studio portrait, grey backdrop", "outdoor portrait in a park")
    by_scale = {scale: [] for scale in scales}
    for face in faces:
        reference = face_descriptor(face)
        assert reference is not None
        for prompt, scale in itertools.product(prompts, scales):
            params = PortraitParams(
                prompt=prompt, seed=5, width=512, height=640, identity_scale=scale
            )
            found = face_descriptor(render_portrait(face, params, 0))
            # No face in the output is a recorded outcome: it preserves no identity at all.
            by_scale[scale].append(
                0.0 if found is None else descriptor_similarity(reference, found)
            )
    means = [float(np.mean(by_scale[scale])) for scale in scales]
    print(
        "identity by identityScale "
        + ", ".join(f"{s}: {m:.3f}" for s, m in zip(scales, means, strict=True))
    )
    assert all(a >= b - 0.02 for a, b in itertools.pairwise(means))
    assert means[0] > means[-1] + 0.2
