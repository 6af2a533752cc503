"""Cross-face consistency of one candidate, from a face-by-face similarity matrix: the mean, the
worst face, a bootstrap interval over faces, whether that is enough faces to trust, and which
style dimensions drift. Pure maths (numpy in, numbers out), so it is tested on given matrices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from workbench.scoring.style import DIMENSION_WORDS

# Fewer faces than this and the interval itself is unreliable (two faces make one pair).
MIN_FACES = 4
# An interval wider than this (on the 0-1 consistency scale) cannot separate good candidates
# from mediocre ones; such a score is flagged uncertain.
MAX_CI_WIDTH = 0.10
BOOTSTRAP_SAMPLES = 2000
CI_LEVEL = 0.95
# The bootstrap's seed is fixed so that the same scores always give the same interval.
BOOTSTRAP_SEED = 20261126
# A dimension whose mean cross-face similarity is below this "drifts"; at or above it "holds".
DRIFT_BELOW = 0.85
EXPLAIN_MAX = 3


@dataclass(frozen=True)
class Consistency:
    """How alike one candidate's outputs are across faces (all on the 0-1 scale)."""

    faces: int
    consistency: float  # mean over face pairs; NaN with fewer than two faces
    worst_face: str | None  # the face least like the others
    worst_face_consistency: float  # its mean similarity to the others
    ci_low: float
    ci_high: float
    uncertain: bool
    faces_needed: int  # more faces that would settle it (0 when not uncertain)
    per_face: dict[str, float] = field(default_factory=dict)
    per_dimension: dict[str, float] = field(default_factory=dict)
    explanation: str = ""


def consistency_from_matrix(
    face_ids: Sequence[str],
    similarity: np.ndarray,
    per_dimension: Mapping[str, np.ndarray] | None = None,
    *,
    samples: int = BOOTSTRAP_SAMPLES,
) -> Consistency:
    """Score a candidate from `similarity[i, j]`, how alike face i's and face j's outputs are.

    The diagonal is ignored (a face is not compared with itself). One face gives NaN
    consistency, flagged uncertain; two or three give a number, still flagged uncertain.
    """
    n = len(face_ids)
    matrix = np.asarray(similarity, dtype=np.float64)
    if matrix.shape != (n, n):
        raise ValueError(f"similarity must be {n}x{n} for {n} faces, not {matrix.shape}")
    dims = {
        name: _pair_mean(np.asarray(m, dtype=np.float64))
        for name, m in (per_dimension or {}).items()
    }
    if n < 2:
        return Consistency(
            faces=n,
            consistency=math.nan,
            worst_face=None,
            worst_face_consistency=math.nan,
            ci_low=math.nan,
            ci_high=math.nan,
            uncertain=True,
            faces_needed=MIN_FACES - n,
            per_dimension=dims,
            explanation="one face: nothing to compare it with" if n else "",
        )
    off = ~np.eye(n, dtype=bool)
    per_face_values = np.where(off, matrix, 0.0).sum(axis=1) / (n - 1)
    worst = int(np.argmin(per_face_values))
    mean = _pair_mean(matrix)
    low, high = bootstrap_interval(matrix, samples=samples)
    uncertain, needed = _settled(n, high - low)
    return Consistency(
        faces=n,
        consistency=mean,
        worst_face=str(face_ids[worst]),
        worst_face_consistency=float(per_face_values[worst]),
        ci_low=low,
        ci_high=high,
        uncertain=uncertain,
        faces_needed=needed,
        per_face={str(f): float(v) for f, v in zip(face_ids, per_face_values, strict=True)},
        per_dimension=dims,
        explanation=explain(dims),
    )


def bootstrap_interval(
    similarity: np.ndarray, *, samples: int = BOOTSTRAP_SAMPLES, level: float = CI_LEVEL
) -> tuple[float, float]:
    """Percentile interval of the mean pairwise similarity, resampling faces with replacement.

    Pairs of a face with its own copy are left out of each resample's mean; a resample that
    drew one face only has no pairs and is skipped.
    """
    n = similarity.shape[0]
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = rng.integers(0, n, size=(samples, n))
    # How often each face was drawn: the sum over pairs of distinct faces is then c' S0 c (S0:
    # the matrix with a zero diagonal), over (sum c)^2 - sum c^2 pairs; no n x n gather.
    counts = np.zeros((samples, n))
    np.add.at(counts, (np.arange(samples)[:, None], draws), 1.0)
    off = np.where(np.eye(n, dtype=bool), 0.0, similarity)
    totals = np.einsum("bi,ij,bj->b", counts, off, counts)
    pairs = n * n - (counts * counts).sum(axis=1)
    usable = pairs > 0
    means = totals[usable] / pairs[usable]
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _pair_mean(matrix: np.ndarray) -> float:
    n = matrix.shape[0]
    if n < 2:
        return math.nan
    upper = np.triu_indices(n, k=1)
    return float(matrix[upper].mean())


def _settled(faces: int, width: float) -> tuple[bool, int]:
    """Whether the score is uncertain, and how many more faces would narrow the interval
    enough (the width shrinks as 1/sqrt(faces))."""
    needed = max(0, MIN_FACES - faces)
    if width > MAX_CI_WIDTH:
        target = math.ceil(faces * (width / MAX_CI_WIDTH) ** 2)
        needed = max(needed, target - faces)
    return needed > 0, needed


def dimension_label(name: str) -> str:
    """A style dimension in a photographer's words: `tone_curve` -> `exposure and contrast`."""
    return DIMENSION_WORDS.get(name, name.replace("_", " "))


def explain(per_dimension: Mapping[str, float], how: Mapping[str, str] | None = None) -> str:
    """Which style dimensions drift across faces and which hold, worst and best first, e.g.
    "colour grade and sharpness drift (warmer on 2 faces; softer on 1 face); framing holds".
    `how` says, per dimension, how the faces differ (`style.style_differences`)."""
    known = {name: v for name, v in per_dimension.items() if not math.isnan(v)}
    if not known:
        return ""
    ranked = sorted(known, key=known.__getitem__)
    drift = [name for name in ranked if known[name] < DRIFT_BELOW][:EXPLAIN_MAX]
    hold = [name for name in reversed(ranked) if known[name] >= DRIFT_BELOW][:EXPLAIN_MAX]
    parts = []
    if drift:
        verb = "drifts" if len(drift) == 1 else "drift"
        details = [how[name] for name in drift if how and how.get(name)]
        detail = f" ({'; '.join(details)})" if details else ""
        parts.append(f"{_join(drift)} {verb}{detail}")
    if hold:
        verb = "holds" if len(hold) == 1 else "hold"
        parts.append(f"{_join(hold)} {verb}")
    if not drift:
        parts[0] = "everything holds (best: " + _join(hold) + ")"
    return "; ".join(parts)


def _join(names: Sequence[str]) -> str:
    labels = [dimension_label(n) for n in names]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
