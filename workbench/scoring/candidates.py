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
from workbench.scoring.consistency import Consistency, consistency_from_matrix
from workbench.scoring.identity import IDENTITY_SCORER, IDENTITY_VERSION
from workbench.scoring.store import ScoreStore
from workbench.scoring.style import (
    STYLE_DIMENSIONS,
    STYLE_SCORER,
    STYLE_VERSION,
    StyleDescriptor,
    compare_styles,
)

CANDIDATE_COLUMNS = ["prompt", "seed", "identity_scale", "width", "height"]
# The panel attributes the per-group breakdown answers for ("does it hold on darker skin?").
GROUP_ATTRIBUTES = ("monk_skin_tone", "age_band", "gender_presentation")
_CATALOGUE_COLUMNS = [
    *CANDIDATE_COLUMNS,
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
    per_group: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PER_GROUP_COLUMNS))

    @property
    def worst_group(self) -> str:
        """The attribute group (of two faces or more: one face is just the worst face) whose
        faces hold the style least, e.g. `monk_skin_tone deeper (8-10)`, when it sits below the
        candidate's mean; else ''."""
        groups = self.per_group.dropna(subset=["consistency"])
        groups = groups[groups["faces"] >= 2]
        if groups.empty or math.isnan(self.consistency):
            return ""
        worst = groups.loc[groups["consistency"].idxmin()]
        if worst["consistency"] >= self.consistency:
            return ""
        return f"{worst['attribute']} {worst['group']}"


@dataclass(frozen=True)
class ScoredImages:
    """What candidate scores are computed from, loaded once: one row per generated image with
    its candidate, face and stored scores; failures and cost per candidate; the panel."""

    layout: DataLayout
    images: pd.DataFrame
    failures: pd.DataFrame  # candidate columns + failures
    panel: pd.DataFrame

    @classmethod
    def load(cls, layout: DataLayout, faces: Iterable[str] | None = None) -> ScoredImages:
        runs = Catalogue(layout.catalogue).runs(_CATALOGUE_COLUMNS)
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
        return cls(
            layout=layout,
            images=ok.reset_index(drop=True),
            failures=_failures(runs),
            panel=_panel(layout),
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
    return score_images(candidate, images, int(failures["failures"].sum()), scored.panel)


def score_images(
    candidate: Candidate, images: pd.DataFrame, failures: int, panel: pd.DataFrame
) -> CandidateScore:
    """The score of one candidate's image rows (as `ScoredImages.images` holds them)."""
    styled = images[images["vector"].notna()] if "vector" in images else images.iloc[0:0]
    descriptors: dict[str, list[StyleDescriptor]] = {}
    for face_id, vector in zip(styled["face_id"], styled["vector"], strict=True):
        descriptors.setdefault(str(face_id), []).append(StyleDescriptor.from_vector(vector))
    face_ids = sorted(descriptors)
    similarity, per_dimension = face_similarity([descriptors[f] for f in face_ids])
    result = consistency_from_matrix(face_ids, similarity, per_dimension)
    identity = _identity_per_face(images)
    found = images["face_found"] if "face_found" in images else pd.Series(dtype=object)
    return CandidateScore(
        candidate=candidate,
        faces=result.faces,
        images=len(images),
        unscored=int(images["vector"].isna().sum()) if "vector" in images else len(images),
        no_face=int((found == False).sum()),  # noqa: E712 (nullable booleans)
        identity=float(np.mean(list(identity.values()))) if identity else math.nan,
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
        explanation=result.explanation,
        per_group=per_group(result, identity, panel),
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
            overall[i, j] = overall[j, i] = np.mean([c.overall for c in comparisons])
            for name in STYLE_DIMENSIONS:
                value = np.mean([c.per_dimension[name] for c in comparisons])
                dims[name][i, j] = dims[name][j, i] = value
    return overall, dims


def per_group(result: Consistency, identity: dict[str, float], panel: pd.DataFrame) -> pd.DataFrame:
    """Consistency and identity per panel group (Monk skin-tone group, age band,
    presentation): each group's faces' mean similarity to all the other faces, and their mean
    identity. Answers "does this style hold on darker skin?"."""
    if panel.empty:
        return pd.DataFrame(columns=PER_GROUP_COLUMNS)
    faces = panel.set_index("id")
    rows = []
    for attribute in GROUP_ATTRIBUTES:
        groups: dict[str, list[str]] = {}
        for face_id in sorted(set(result.per_face) | set(identity)):
            if face_id not in faces.index:
                continue
            group = _group_of(attribute, faces.at[face_id, attribute])
            if group:
                groups.setdefault(group, []).append(face_id)
        for group, members in sorted(
            groups.items(), key=lambda item: _group_order(attribute, item[0])
        ):
            consistency = [result.per_face[f] for f in members if f in result.per_face]
            ids = [identity[f] for f in members if f in identity]
            rows.append(
                {
                    "attribute": attribute,
                    "group": group,
                    "faces": len(members),
                    "consistency": float(np.mean(consistency)) if consistency else math.nan,
                    "identity": float(np.mean(ids)) if ids else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=PER_GROUP_COLUMNS)


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


def _identity_per_face(images: pd.DataFrame) -> dict[str, float]:
    """Mean identity per face over its scored images; an output without a face scores 0 (the
    person was lost), an image not yet scored does not count."""
    if "face_found" not in images:
        return {}
    scored = images[images["face_found"].notna()]
    values = scored["identity"].where(scored["face_found"].astype(bool), 0.0).astype(float)
    return {str(f): float(v) for f, v in values.groupby(scored["face_id"]).mean().items()}


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
