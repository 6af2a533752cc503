"""What each face of the panel puts into every style measurement, whatever the style: the
person's own clothes, hair, skin and pose shift the tone curve, the colour grade, the light
on the face and the framing by about the same amount in every output. That shift is not the
style drifting, yet it lowers every candidate's consistency, and by different amounts for
different styles, which blurs the ranking exactly where it matters: among the stable styles.

With many candidates run on the same faces it can be measured and taken out. Each number `x`
of a style descriptor is modelled as `x[c, f] = style[c] + face[f] + rest[c, f]` (a two-way
additive model; the faces' effects sum to zero over the panel) and fitted by alternating
means, which also works when candidates ran on different faces (a hunt's rounds). What is left
for a candidate, `rest`, is how its style moves from person to person: drift.

A face's effect is only estimated from `MIN_CANDIDATES` candidates or more that ran on it and
on at least one other face; with fewer, it is left at zero (no adjustment), since a single
candidate's own drift would otherwise be taken for the face's effect. Pure maths: numpy in,
numpy out. docs/scoring.md, "Panel adjustment".
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

__all__ = ["MIN_CANDIDATES", "face_effects"]

# Faces tried by fewer candidates than this keep a zero effect.
MIN_CANDIDATES = 8
# Alternating means converge fast on these designs; more rounds change nothing visible.
_ROUNDS = 12


def face_effects(
    candidates: Sequence[Hashable], faces: Sequence[str], vectors: Sequence[np.ndarray]
) -> dict[str, np.ndarray]:
    """Per face id, the vector to subtract from its outputs' style descriptors.

    `candidates[i]`, `faces[i]` and `vectors[i]` describe one output (several samples of one
    candidate on one face are averaged). NaN numbers (a backdrop cell the person hides) are
    left out of every mean. Faces without enough candidates are not in the result.
    """
    if not (len(candidates) == len(faces) == len(vectors)):
        raise ValueError("candidates, faces and vectors must have the same length")
    if not vectors:
        return {}
    cand_ids = {c: i for i, c in enumerate(dict.fromkeys(candidates))}
    face_ids = {f: i for i, f in enumerate(dict.fromkeys(faces))}
    length = len(vectors[0])
    total = np.zeros((len(cand_ids), len(face_ids), length))
    count = np.zeros_like(total)
    for candidate, face, vector in zip(candidates, faces, vectors, strict=True):
        values = np.asarray(vector, dtype=np.float64)
        seen = ~np.isnan(values)
        c, f = cand_ids[candidate], face_ids[face]
        total[c, f][seen] += values[seen]
        count[c, f][seen] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        cells = total / count  # NaN where a candidate did not run on a face
    present = ~np.isnan(cells)
    # Only candidates seen on two faces or more say anything about how faces differ.
    informative = present.any(axis=2).sum(axis=1) >= 2
    cells, present = cells[informative], present[informative]
    if not len(cells):
        return {}
    per_face = present.any(axis=2).sum(axis=0)
    estimated = per_face >= MIN_CANDIDATES
    if not estimated.any():
        return {}
    values = np.where(present, cells, 0.0)
    # The numbers each face has an effect for: an estimated face, a number seen on it.
    known = estimated[:, None] & present.any(axis=0)
    effect = np.zeros((len(face_ids), length))
    for _ in range(_ROUNDS):
        style = _mean(values - effect[None], present, axis=1)
        effect = _mean(values - style[:, None], present, axis=0)
        # Effects are relative: centre them over the faces that have one, per number.
        centre = _mean(effect, known, axis=0)
        effect = np.where(known, effect - centre[None], 0.0)
    names = list(face_ids)
    return {names[f]: effect[f] for f in range(len(names)) if estimated[f]}


def _mean(values: np.ndarray, present: np.ndarray, axis: int) -> np.ndarray:
    """Mean over `axis` of the present values (0 where none is)."""
    counts = present.sum(axis=axis)
    sums = np.where(present, values, 0.0).sum(axis=axis)
    return np.divide(sums, counts, out=np.zeros_like(sums, dtype=np.float64), where=counts > 0)
