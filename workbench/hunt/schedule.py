"""The hunt's decisions, as pure functions: the successive-halving schedule that fits a budget,
the order in which faces are tried (most different first), and who is promoted each round.

Nothing here touches files or the network, so every rule is unit-tested with synthetic scores.
See docs/hunt.md for why successive halving and why this face order.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.balance import MONK_GROUPS
from workbench.errors import InputError
from workbench.hunt.spec import CANDIDATE_COLUMNS, METRIC_COLUMNS
from workbench.panel import Face

# Faces per candidate roughly double from round to round (successive halving doubles the
# resource of the survivors); the last round always covers the whole panel.
FACE_GROWTH = 2
# Panel attributes that make people differ for a style (the groups of `workbench faces balance`).
GROUP_ATTRIBUTES = ("monk_skin_tone", "age_band", "gender_presentation", "glasses", "facial_hair")
# Each attribute two faces differ on counts as much as this much dlib descriptor distance
# (different people are ~0.6-1.0 apart), so groups and looks weigh about the same.
GROUP_WEIGHT = 0.25
# The last round keeps up to this many times `top` candidates when the budget allows.
FINALISTS = 2


class BudgetTooSmall(InputError):
    """The budget cannot pay for even the first round plus the winners on the whole panel."""


# --- The schedule ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    """One round: `candidates` run on the first `faces` faces of the order (`new_faces` of them
    for the first time), which adds `images` images."""

    number: int
    candidates: int
    faces: int
    new_faces: int
    images: int


@dataclass(frozen=True)
class Schedule:
    """The whole hunt's plan of spending, fixed before anything is bought."""

    rounds: tuple[Round, ...]
    pool: int
    panel: int
    sample_number: int
    top: int
    budget: int

    @property
    def images(self) -> int:
        return sum(r.images for r in self.rounds)

    @property
    def exhaustive_images(self) -> int:
        """What the exhaustive sweep of the same pool over the same panel would use."""
        return self.pool * self.panel * self.sample_number

    @property
    def fraction(self) -> float:
        return self.images / self.exhaustive_images if self.exhaustive_images else 0.0

    def describe(self) -> list[str]:
        lines = [
            f"round {r.number}: {r.candidates} candidate(s) on {r.faces} face(s) "
            f"(+{r.new_faces} each): {r.images} images"
            for r in self.rounds
        ]
        lines.append(
            f"total {self.images} images of a {self.budget}-image budget; the exhaustive sweep "
            f"would use {self.exhaustive_images} ({self.fraction:.0%})"
        )
        return lines


def face_levels(panel: int, first_faces: int = 2) -> list[int]:
    """Faces per candidate after each round: first_faces, doubling, then the whole panel."""
    levels = [min(first_faces, panel)]
    while levels[-1] * FACE_GROWTH < panel:
        levels.append(levels[-1] * FACE_GROWTH)
    if levels[-1] < panel:
        levels.append(panel)
    return levels


def minimum_budget(pool: int, panel: int, *, top: int, sample_number: int = 1, first_faces=2):
    """The least a hunt can spend: every candidate on the first faces, the winners on all."""
    first = min(first_faces, panel)
    return sample_number * (pool * first + min(top, pool) * (panel - first))


def plan_schedule(
    pool: int,
    panel: int,
    budget: int,
    *,
    top: int = 5,
    sample_number: int = 1,
    first_faces: int = 2,
) -> Schedule:
    """The successive-halving schedule that keeps the most candidates the budget allows.

    Round k runs the survivors on `face_levels(...)[k]` faces; survivors shrink by one factor
    eta per round (never below the finalists: up to 2 x top, at least top), and eta is the
    smallest that fits the budget. If the
    budget covers the exhaustive sweep, that is what the schedule is: one round, all faces.
    Raises BudgetTooSmall, before anything is spent, if it cannot pay for round one and the
    winners on the whole panel.
    """
    if pool < 1:
        raise InputError("the pool is empty: give at least one prompt and one seed")
    if panel < 2:
        raise InputError(
            f"a hunt compares each style across faces, so it needs at least 2 faces; the "
            f"panel has {panel} (add faces with `workbench faces add PHOTO...`)"
        )
    top = min(top, pool)
    levels = face_levels(panel, first_faces)
    needed = minimum_budget(
        pool, panel, top=top, sample_number=sample_number, first_faces=first_faces
    )
    if budget < needed:
        raise BudgetTooSmall(
            f"budget: {budget} images cannot pay for one round: {pool} candidate(s) on "
            f"{levels[0]} faces and then the top {top} on all {panel} faces need at least "
            f"{needed} images; raise max_images to {needed} or more, or shrink the pool"
        )

    def make(counts: list[int]) -> Schedule:
        rounds, previous = [], 0
        for number, (count, faces) in enumerate(zip(counts, levels, strict=True), start=1):
            new = faces - previous
            rounds.append(Round(number, count, faces, new, count * new * sample_number))
            previous = faces
        return Schedule(tuple(rounds), pool, panel, sample_number, top, budget)

    exhaustive = make_exhaustive(pool, panel, top, sample_number, budget)
    if exhaustive.images <= budget or len(levels) == 1 or pool <= top:
        return exhaustive

    # The last cut is made on the whole panel among up to FINALISTS x top candidates, as many
    # as the budget's minimum allows: deciding the winners on every face beats deciding them
    # on half the panel and only confirming them on the rest.
    finalists = top
    for wanted in range(min(pool, FINALISTS * top), top, -1):
        floor = minimum_budget(
            pool, panel, top=wanted, sample_number=sample_number, first_faces=first_faces
        )
        if floor <= budget:
            finalists = wanted
            break

    def counts_for(eta: float) -> list[int]:
        counts = [pool]
        for k in range(1, len(levels)):
            counts.append(min(counts[-1], max(finalists, math.ceil(pool / eta**k - 1e-9))))
        return counts

    def cost(eta: float) -> int:
        return make(counts_for(eta)).images

    low, high = 1.0, float(pool)  # cost(high) == needed <= budget; cost(low) > budget
    for _ in range(100):
        middle = (low + high) / 2
        if cost(middle) <= budget:
            high = middle
        else:
            low = middle
    return make(counts_for(high))


def make_exhaustive(pool: int, panel: int, top: int, sample_number: int, budget: int) -> Schedule:
    """The exhaustive sweep as a one-round schedule (what a hunt degrades to when it cannot
    save anything, and what it is compared with)."""
    only = Round(1, pool, panel, panel, pool * panel * sample_number)
    return Schedule((only,), pool, panel, sample_number, min(top, pool), budget)


# --- Face order ------------------------------------------------------------------------------


def _group(face: Face, attribute: str) -> str:
    value = getattr(face, attribute).strip().lower()
    if attribute == "monk_skin_tone" and value.isdigit():
        tone = int(value)
        return next((name for name, tones in MONK_GROUPS if tone in tones), value)
    return value


def face_distances(
    faces: Sequence[Face], descriptors: Mapping[str, np.ndarray | None]
) -> np.ndarray:
    """How different two faces are: descriptor distance plus GROUP_WEIGHT per panel group
    (skin-tone group, age band, gender presentation, glasses, facial hair) they differ on.
    A face without a descriptor counts as the mean descriptor distance of the others."""
    count = len(faces)
    vectors = [descriptors.get(face.id) for face in faces]
    looks = np.full((count, count), np.nan)
    for i in range(count):
        for j in range(i + 1, count):
            if vectors[i] is not None and vectors[j] is not None:
                distance = float(np.linalg.norm(np.asarray(vectors[i]) - np.asarray(vectors[j])))
                looks[i, j] = looks[j, i] = distance
    known = looks[~np.isnan(looks)]
    looks = np.nan_to_num(looks, nan=float(known.mean()) if known.size else 0.0)
    groups = np.zeros((count, count))
    for attribute in GROUP_ATTRIBUTES:
        values = [_group(face, attribute) for face in faces]
        for i in range(count):
            for j in range(i + 1, count):
                if values[i] and values[j] and values[i] != values[j]:
                    groups[i, j] += 1
                    groups[j, i] += 1
    distances = looks + GROUP_WEIGHT * groups
    np.fill_diagonal(distances, 0.0)
    return distances


def face_order(
    faces: Sequence[Face], descriptors: Mapping[str, np.ndarray | None] | None = None
) -> list[Face]:
    """Faces in farthest-point order: first the two most different faces, then each time the
    face farthest from all chosen so far. A style that fails on some kind of person then fails
    in the first rounds. Deterministic: ties go to the face id that sorts first."""
    faces = sorted(faces, key=lambda face: face.id)
    if len(faces) <= 2:
        return faces
    distances = face_distances(faces, descriptors or {})
    # The most different pair first (argmax takes the first, i.e. the lowest ids, on ties).
    first, second = np.unravel_index(int(np.argmax(distances)), distances.shape)
    chosen = [int(min(first, second)), int(max(first, second))]
    nearest = np.minimum(distances[chosen[0]], distances[chosen[1]])
    while len(chosen) < len(faces):
        candidates = np.where(np.isin(np.arange(len(faces)), chosen), -np.inf, nearest)
        pick = int(np.argmax(candidates))
        chosen.append(pick)
        nearest = np.minimum(nearest, distances[pick])
    return [faces[i] for i in chosen]


# --- Promotion -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranking:
    """Candidates of one round, best first, and those dropped with the reason why."""

    ranked: pd.DataFrame
    dropped: pd.DataFrame  # the same columns plus `reason`


def rank(
    scores: pd.DataFrame, *, metric: str = "worst", min_identity: float | None = None
) -> Ranking:
    """Order scored candidates by the metric ("worst": the worst face's consistency;
    "consistency": the mean), best first.

    `scores` has one row per candidate with the leaderboard's columns (at least the candidate
    key, `consistency`, `worst_face_consistency` and `identity`). Candidates without a score
    (no image on enough faces) and, with `min_identity`, those keeping too little of the person
    are dropped. Ties go to the higher mean consistency, then to the candidate key, so a rerun
    promotes the same candidates.
    """
    column = METRIC_COLUMNS[metric]
    frame = scores.reset_index(drop=True)
    reasons = pd.Series("", index=frame.index, dtype=object)
    reasons[frame[column].isna()] = "no score: too few images on these faces"
    if min_identity is not None:
        low = frame["identity"].isna() | (frame["identity"] < min_identity)
        low &= reasons == ""
        reasons[low] = [
            f"identity {value:.2f} < {min_identity:.2f}" if pd.notna(value) else "no identity"
            for value in frame.loc[low, "identity"]
        ]
    kept = frame[reasons == ""]
    ranked = kept.sort_values(
        [column, "consistency", *CANDIDATE_COLUMNS],
        ascending=[False, False, *([True] * len(CANDIDATE_COLUMNS))],
        kind="stable",
    ).reset_index(drop=True)
    dropped = frame[reasons != ""].assign(reason=reasons[reasons != ""]).reset_index(drop=True)
    return Ranking(ranked, dropped)


def promote(ranking: Ranking, keep: int) -> pd.DataFrame:
    """The candidate keys of the `keep` best (successive halving's cut)."""
    return ranking.ranked.head(keep)[list(CANDIDATE_COLUMNS)].reset_index(drop=True)


def safe_promotions(
    ranked: Sequence[Hashable],
    promoted: Collection[Hashable],
    *,
    undecided: int,
    quota: int,
) -> list[Hashable]:
    """Who may be promoted now, before every candidate of the round has its evidence in (the
    asynchronous schedule): the candidates whose place cannot fall below `quota` whatever the
    `undecided` ones still to come score, i.e. those with fewer than `quota - undecided`
    better-ranked candidates, and never more than the quota in all.

    `ranked` holds the round's candidates with their evidence in, best first (dropped ones left
    out); `promoted` those already promoted. With `undecided == 0` the round is over and this is
    the synchronous cut: the best candidates not yet promoted fill what is left of the quota.
    """
    room = quota - len(promoted)
    chosen: list[Hashable] = []
    for place, key in enumerate(ranked):
        if room <= 0:
            break
        if undecided and place + undecided >= quota:
            break
        if key not in promoted:
            chosen.append(key)
            room -= 1
    return chosen
