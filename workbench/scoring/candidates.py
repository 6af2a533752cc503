"""Candidates and their scores. A candidate is what a team would ship as a template: (prompt,
seed, identity scale, width, height). Its score says how well its style holds across the faces
it was tried on, from the descriptors in the scores table (no image is decoded here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.balance import MONK_GROUPS
from workbench.catalogue import STATUS_FAILED, STATUS_OK, Catalogue
from workbench.errors import InputError
from workbench.layout import DataLayout
from workbench.panel import AGE_BANDS, Panel
from workbench.scoring.consistency import Consistency, consistency_from_matrix, explain
from workbench.scoring.identity import IDENTITY_SCORER, IDENTITY_VERSION
from workbench.scoring.panel_effects import face_effects
from workbench.scoring.store import ScoreStore
from workbench.scoring.style import (
    STYLE_DIMENSIONS,
    STYLE_SCORER,
    STYLE_VERSION,
    StyleDescriptor,
    compare_styles,
    style_differences,
)
from workbench.sweep import NOT_CANDIDATE_EVIDENCE

CANDIDATE_COLUMNS = ["prompt", "seed", "identity_scale", "width", "height"]
# The panel attributes the per-group breakdown answers for ("does it hold on darker skin?").
GROUP_ATTRIBUTES = ("monk_skin_tone", "age_band", "gender_presentation")
_CATALOGUE_COLUMNS = [
    *CANDIDATE_COLUMNS,
    "sweep_id",
    "seed_used",
    "request_key",
    "face_id",
    "face_hash",
    "image_hash",
    "status",
    "cost",
]
PER_GROUP_COLUMNS = ["attribute", "group", "faces", "consistency", "identity"]


@dataclass(frozen=True, order=True)
class Candidate:
    """The key of a style: what a template would fix."""

    prompt: str
    seed: int
    identity_scale: float
    width: int
    height: int

    @classmethod
    def from_row(cls, row) -> Candidate:
        return cls(
            prompt=str(row["prompt"]),
            seed=int(row["seed"]),
            identity_scale=float(row["identity_scale"]),
            width=int(row["width"]),
            height=int(row["height"]),
        )

    def label(self) -> str:
        return (
            f"{self.prompt!r} seed {self.seed}, identity {self.identity_scale:g}, "
            f"{self.width}x{self.height}"
        )


@dataclass(frozen=True)
class CandidateScore:
    """Everything the workbench can say about one candidate over the faces it was tried on."""

    candidate: Candidate
    faces: int  # faces with at least one scored image
    images: int  # generated images (scored or not)
    unscored: int  # images the current scorers have not seen yet (`workbench score`)
    no_face: int  # scored images in which no face was found
    identity: float  # mean identity similarity; an image without a face counts 0; NaN if none
    consistency: float
    worst_face: str | None
    worst_face_consistency: float
    ci_low: float
    ci_high: float
    uncertain: bool
    faces_needed: int
    failures: int  # cells (face x request) that failed and were never stored since
    cost: float
    per_face: dict[str, float] = field(default_factory=dict)
    per_dimension: dict[str, float] = field(default_factory=dict)
    explanation: str = ""
    worst_group: str = ""  # e.g. "monk_skin_tone deeper (8-10)": the group holding it least
    per_group: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PER_GROUP_COLUMNS))


@dataclass(frozen=True)
class ScoredImages:
    """What candidate scores are computed from, loaded once: one row per generated image with
    its candidate, face and stored scores; failures and cost per candidate; the panel."""

    layout: DataLayout
    images: pd.DataFrame
    failures: pd.DataFrame  # candidate columns + failures
    panel: pd.DataFrame
    groups: dict[str, dict[str, str]]  # face id -> attribute -> group (`panel_groups`)
    # face id -> what the person puts into every style descriptor (`panel_effects`), measured
    # over every candidate loaded here; subtracted before styles are compared
    effects: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def load(cls, layout: DataLayout, faces: Iterable[str] | None = None) -> ScoredImages:
        runs = Catalogue(layout.catalogue).runs(_CATALOGUE_COLUMNS)
        runs = runs[~runs["sweep_id"].str.startswith(NOT_CANDIDATE_EVIDENCE)]
        runs = _with_candidate_seed(runs)
        if faces is not None:
            wanted = set(faces)
            runs = runs[runs["face_id"].isin(wanted)]
        scores = ScoreStore(layout)
        identity = scores.latest(IDENTITY_SCORER, IDENTITY_VERSION, vectors=False)
        style = scores.latest(STYLE_SCORER, STYLE_VERSION)
        keys = ["image_hash", "face_hash"]
        ok = runs[runs["status"] == STATUS_OK].drop_duplicates(keys)
        if not identity.empty:
            identity = identity[[*keys, "identity", "face_found"]]
            ok = ok.merge(identity, on=keys, how="left")
        else:
            ok = ok.assign(identity=np.nan, face_found=pd.NA)
        if not style.empty:
            style = style[[*keys, "vector"]]
            ok = ok.merge(style, on=keys, how="left")
        else:
            ok = ok.assign(vector=None)
        panel = _panel(layout)
        ok = ok.reset_index(drop=True)
        return cls(
            layout=layout,
            images=ok,
            failures=_failures(runs),
            panel=panel,
            groups=panel_groups(panel),
            effects=_face_effects(ok),
        )

    def candidates(self) -> list[Candidate]:
        keys = pd.concat([self.images[CANDIDATE_COLUMNS], self.failures[CANDIDATE_COLUMNS]])
        return sorted(Candidate.from_row(row) for _, row in keys.drop_duplicates().iterrows())

    def for_candidate(self, candidate: Candidate) -> pd.DataFrame:
        return self.images[_matches(self.images, candidate)]


def candidate_score(
    source: DataLayout | ScoredImages,
    candidate: Candidate,
    faces: Iterable[str] | None = None,
) -> CandidateScore:
    """Score `candidate` over the faces it was tried on (or only `faces`, e.g. the two or three
    a cost-aware hunt tried so far; the interval then says how little that proves)."""
    scored = source if isinstance(source, ScoredImages) else ScoredImages.load(source, faces)
    images = scored.for_candidate(candidate)
    failures = scored.failures[_matches(scored.failures, candidate)]
    if faces is not None:
        images = images[images["face_id"].isin(set(faces))]
    if images.empty and failures.empty:
        raise InputError(f"no images or failures for candidate {candidate.label()}")
    failed = int(failures["failures"].sum())
    return score_images(candidate, images, failed, scored.groups, scored.effects)


def score_images(
    candidate: Candidate,
    images: pd.DataFrame,
    failures: int,
    groups: dict[str, dict[str, str]],
    effects: dict[str, np.ndarray] | None = None,
) -> CandidateScore:
    """The score of one candidate's image rows (as `ScoredImages.images` holds them);
    `groups` maps face id -> attribute -> group (`panel_groups`); `effects` maps face id ->
    the person's own share of every style descriptor (`ScoredImages.effects`), taken out
    before styles are compared."""
    face_ids = [str(f) for f in images["face_id"]]
    vectors = images["vector"].tolist() if "vector" in images else [None] * len(images)
    effects = effects or {}
    descriptors: dict[str, list[StyleDescriptor]] = {}
    for face_id, vector in zip(face_ids, vectors, strict=True):
        if _has_vector(vector):
            values = np.asarray(vector, dtype=np.float64)
            if face_id in effects:
                values = values - effects[face_id]
            descriptors.setdefault(face_id, []).append(StyleDescriptor.from_vector(values))
    styled = sorted(descriptors)
    similarity, per_dimension = face_similarity([descriptors[f] for f in styled])
    result = consistency_from_matrix(styled, similarity, per_dimension)
    identity, no_face = _identity_per_face(images)
    breakdown = per_group(result, identity, groups)
    return CandidateScore(
        candidate=candidate,
        faces=result.faces,
        images=len(images),
        unscored=len(images) - sum(len(d) for d in descriptors.values()),
        no_face=no_face,
        identity=math.fsum(identity.values()) / len(identity) if identity else math.nan,
        consistency=result.consistency,
        worst_face=result.worst_face,
        worst_face_consistency=result.worst_face_consistency,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        uncertain=result.uncertain,
        faces_needed=result.faces_needed,
        failures=failures,
        cost=float(images["cost"].sum()) if "cost" in images else 0.0,
        per_face=result.per_face,
        per_dimension=result.per_dimension,
        explanation=explain(
            result.per_dimension, style_differences({f: descriptors[f] for f in styled})
        ),
        worst_group=_worst_group(breakdown, result.consistency),
        per_group=pd.DataFrame(breakdown, columns=PER_GROUP_COLUMNS),
    )


def face_similarity(
    faces: Sequence[Sequence[StyleDescriptor]],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """How alike each pair of faces' outputs are: the mean `compare_styles` over every pair of
    their images (a face tried with several samples contributes all of them), overall and per
    style dimension. The diagonal is 1."""
    n = len(faces)
    overall = np.ones((n, n))
    dims = {name: np.ones((n, n)) for name in STYLE_DIMENSIONS}
    for i in range(n):
        for j in range(i + 1, n):
            comparisons = [compare_styles(a, b) for a in faces[i] for b in faces[j]]
            count = len(comparisons)
            overall[i, j] = overall[j, i] = math.fsum(c.overall for c in comparisons) / count
            for name in STYLE_DIMENSIONS:
                value = math.fsum(c.per_dimension[name] for c in comparisons) / count
                dims[name][i, j] = dims[name][j, i] = value
    return overall, dims


def panel_groups(panel: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Face id -> attribute -> group label (Monk skin-tone group, age band, presentation), for
    the faces whose attribute is set."""
    groups: dict[str, dict[str, str]] = {}
    for row in panel.to_dict("records"):
        labels = {a: _group_of(a, row.get(a)) for a in GROUP_ATTRIBUTES}
        groups[str(row["id"])] = {a: label for a, label in labels.items() if label}
    return groups


def per_group(
    result: Consistency, identity: dict[str, float], groups: dict[str, dict[str, str]]
) -> list[dict]:
    """Consistency and identity per panel group: each group's faces' mean similarity to all the
    other faces, and their mean identity. Answers "does this style hold on darker skin?"."""
    rows = []
    faces = sorted(set(result.per_face) | set(identity))
    for attribute in GROUP_ATTRIBUTES:
        members: dict[str, list[str]] = {}
        for face_id in faces:
            group = groups.get(face_id, {}).get(attribute)
            if group:
                members.setdefault(group, []).append(face_id)
        for group in sorted(members, key=lambda g: _group_order(attribute, g)):
            consistency = [result.per_face[f] for f in members[group] if f in result.per_face]
            ids = [identity[f] for f in members[group] if f in identity]
            rows.append(
                {
                    "attribute": attribute,
                    "group": group,
                    "faces": len(members[group]),
                    "consistency": _mean(consistency),
                    "identity": _mean(ids),
                }
            )
    return rows


def _worst_group(rows: list[dict], consistency: float) -> str:
    """The group (of two faces or more: one face is just the worst face) whose faces hold the
    style least, e.g. `monk_skin_tone deeper (8-10)`, when it sits below the mean; else ''."""
    rows = [r for r in rows if r["faces"] >= 2 and not math.isnan(r["consistency"])]
    if not rows or math.isnan(consistency):
        return ""
    worst = min(rows, key=lambda r: r["consistency"])
    return f"{worst['attribute']} {worst['group']}" if worst["consistency"] < consistency else ""


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def _group_of(attribute: str, value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if attribute == "monk_skin_tone":
        return next((label for label, tones in MONK_GROUPS if int(value) in tones), "")
    return str(value)


def _group_order(attribute: str, group: str) -> tuple[int, str]:
    if attribute == "monk_skin_tone":
        return ([label for label, _ in MONK_GROUPS].index(group), group)
    if attribute == "age_band" and group in AGE_BANDS:
        return (AGE_BANDS.index(group), group)
    return (0, group)


def _identity_per_face(images: pd.DataFrame) -> tuple[dict[str, float], int]:
    """Mean identity per face over its scored images, and how many outputs had no face: such
    an output scores 0 (the person was lost); an image not yet scored does not count."""
    if "face_found" not in images:
        return {}, 0
    per_face: dict[str, list[float]] = {}
    no_face = 0
    rows = zip(images["face_id"], images["identity"], images["face_found"], strict=True)
    for face_id, identity, found in rows:
        if found is None or found is pd.NA or (isinstance(found, float) and math.isnan(found)):
            continue
        if not found:
            no_face += 1
        per_face.setdefault(str(face_id), []).append(float(identity) if found else 0.0)
    return {face: _mean(values) for face, values in per_face.items()}, no_face


def _has_vector(vector) -> bool:
    return vector is not None and not (isinstance(vector, float) and math.isnan(vector))


def _face_effects(images: pd.DataFrame) -> dict[str, np.ndarray]:
    """`panel_effects.face_effects` over every scored image of the table."""
    if "vector" not in images:
        return {}
    rows = [
        (key, str(face), vector)
        for key, face, vector in zip(
            zip(*(images[c] for c in CANDIDATE_COLUMNS), strict=True),
            images["face_id"],
            images["vector"],
            strict=True,
        )
        if _has_vector(vector)
    ]
    if not rows:
        return {}
    keys, faces, vectors = zip(*rows, strict=True)
    return face_effects(keys, faces, [np.asarray(v, dtype=np.float64) for v in vectors])


def _with_candidate_seed(runs: pd.DataFrame) -> pd.DataFrame:
    """The seed a candidate is known by: the requested one, or for seed -1 the one the server
    reported. A -1 request whose seed was never reported cannot be repeated: not a candidate."""
    seed = runs["seed"].astype("Int64")
    random = seed == -1
    seed = seed.where(~random, runs["seed_used"].astype("Int64"))
    runs = runs.assign(seed=seed)
    return runs[runs["seed"].notna() & (runs["seed"] != -1)].assign(
        seed=lambda frame: frame["seed"].astype("int64")
    )


def _failures(runs: pd.DataFrame) -> pd.DataFrame:
    """Per candidate, the failed requests never stored since (one per face and request)."""
    stored = set(runs.loc[runs["status"] == STATUS_OK, "request_key"])
    failed = runs[(runs["status"] == STATUS_FAILED) & ~runs["request_key"].isin(stored)]
    failed = failed.drop_duplicates("request_key")
    return (
        failed.groupby(CANDIDATE_COLUMNS, as_index=False)
        .size()
        .rename(columns={"size": "failures"})
    )


def _panel(layout: DataLayout) -> pd.DataFrame:
    frame = Panel(layout).to_frame()
    return frame[["id", *GROUP_ATTRIBUTES]]


def _matches(frame: pd.DataFrame, candidate: Candidate) -> pd.Series:
    return (
        (frame["prompt"] == candidate.prompt)
        & (frame["seed"] == candidate.seed)
        & np.isclose(frame["identity_scale"].astype(float), candidate.identity_scale)
        & (frame["width"] == candidate.width)
        & (frame["height"] == candidate.height)
    )
