"""Drift check: re-request each template on the panel and compare the new images with the ones
that justified it (style descriptor and identity), so a silent model change at the provider is
caught before customers see it.

The re-run must reach the API: the catalogue would answer "already stored" for the same request
key (a model version is invisible to the client), so the check sends every cell regardless and
logs the new rows under its own sweep id (`drift-check-…`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from workbench.catalogue import STATUS_OK, Catalogue
from workbench.layout import DataLayout
from workbench.panel import Face, Panel
from workbench.run import Generates, ProgressCallback, SweepRun, SweepSummary, new_sweep_id
from workbench.scoring import compare_styles, describe_style, identity_similarity
from workbench.scoring.consistency import dimension_label
from workbench.store import ImageStore
from workbench.sweep import DRIFT_CHECK_PREFIX, Cell, Plan, Sweep, plan
from workbench.templates.library import Template, TemplateError, TemplateLibrary

# A template has drifted when a face's images lose this much style similarity to their
# baseline (1 - compare_styles overall), or this much identity similarity to the face.
STYLE_DRIFT_THRESHOLD = 0.10
IDENTITY_DRIFT_THRESHOLD = 0.10
# ...or this much in any one style dimension (1 - its similarity), so a change of the grade,
# the contrast or the sharpness alone is caught. Set from the noise floor of the metamorphic
# suite (docs/scoring.md, "Drift check"): re-encoding a photo at JPEG quality 60 or
# downscaling it to 512 px costs at most 0.01 in every dimension but backdrop texture (0.08)
# and grain (0.06); each threshold is at least three times that, and every named change at
# full strength passes one by several times.
DIMENSION_DRIFT_THRESHOLDS: dict[str, float] = {
    "backdrop_colour": 0.10,
    "backdrop_texture": 0.25,
    "tone_curve": 0.10,
    "colour_grade": 0.10,
    "face_light": 0.10,
    "framing": 0.10,
    "vignette": 0.10,
    "grain": 0.20,
    "sharpness": 0.10,
}
DRIFT_SWEEP_PREFIX = DRIFT_CHECK_PREFIX

FaceStatus = Literal["ok", "drifted", "no baseline", "failed"]


@dataclass(frozen=True)
class FaceDrift:
    """One face of one template: how far the new images moved from the baseline."""

    face_id: str
    status: FaceStatus
    style_similarity: float | None = None  # mean over samples, 1 = same style
    identity_before: float | None = None
    identity_after: float | None = None
    per_dimension: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    @property
    def style_drift(self) -> float | None:
        return None if self.style_similarity is None else 1.0 - self.style_similarity

    @property
    def identity_change(self) -> float | None:
        if self.identity_before is None or self.identity_after is None:
            return None
        return self.identity_after - self.identity_before


@dataclass(frozen=True)
class TemplateDrift:
    name: str
    faces: list[FaceDrift]

    @property
    def drifted(self) -> bool:
        return any(face.status == "drifted" for face in self.faces)

    @property
    def checked(self) -> bool:
        return any(face.status in ("ok", "drifted") for face in self.faces)

    @property
    def style_drift(self) -> float | None:
        values = [f.style_drift for f in self.faces if f.style_drift is not None]
        return max(values) if values else None

    @property
    def status(self) -> str:
        if self.drifted:
            return "DRIFTED"
        if not self.checked:
            reasons = {f.status for f in self.faces}
            return "failed" if "failed" in reasons else "no baseline"
        return "ok"


@dataclass(frozen=True)
class DriftReport:
    templates: list[TemplateDrift]
    style_threshold: float
    identity_threshold: float
    sweep_id: str
    summary: SweepSummary
    dimension_thresholds: dict[str, float] = field(
        default_factory=lambda: dict(DIMENSION_DRIFT_THRESHOLDS)
    )

    @property
    def drifted(self) -> list[str]:
        return [t.name for t in self.templates if t.drifted]

    def as_dict(self) -> dict:
        """A JSON-ready summary (for scheduled checks that keep a report)."""
        return {
            "sweep_id": self.sweep_id,
            "style_threshold": self.style_threshold,
            "dimension_thresholds": self.dimension_thresholds,
            "identity_threshold": self.identity_threshold,
            "drifted": self.drifted,
            "exit_code": self.exit_code,
            "templates": [
                {
                    "name": t.name,
                    "status": t.status,
                    "style_drift": t.style_drift,
                    "faces": [
                        {
                            "face_id": f.face_id,
                            "status": f.status,
                            "style_drift": f.style_drift,
                            "identity_before": f.identity_before,
                            "identity_after": f.identity_after,
                            "per_dimension": f.per_dimension,
                            "reason": f.reason,
                        }
                        for f in t.faces
                    ],
                }
                for t in self.templates
            ],
        }

    @property
    def exit_code(self) -> int:
        """0: every checked template holds; 1: some drifted; 2: nothing could be checked."""
        if self.drifted:
            return 1
        if not any(t.checked for t in self.templates):
            return 2
        return 0


@dataclass(frozen=True)
class _Baseline:
    """The images that justified a template, per face: hash by sample index."""

    sample_number: int
    images: dict[str, dict[int, str]]


def baseline(layout: DataLayout, template: Template) -> _Baseline:
    hashes = template.provenance.image_hashes if template.provenance else []
    if not hashes:
        return _Baseline(1, {})
    rows = Catalogue(layout.catalogue).query(
        "SELECT DISTINCT face_id, image_hash, sample_index, sample_number FROM runs "
        f"WHERE status = ? AND image_hash IN ({', '.join('?' * len(hashes))})",
        [STATUS_OK, *hashes],
    )
    store = ImageStore(layout)
    images: dict[str, dict[int, str]] = {}
    for row in rows.itertuples(index=False):
        if store.has(row.image_hash):
            images.setdefault(row.face_id, {})[int(row.sample_index)] = row.image_hash
    sample_number = int(rows["sample_number"].max()) if len(rows) else 1
    return _Baseline(sample_number, images)


async def check_drift(
    layout: DataLayout,
    client: Generates,
    *,
    names: Sequence[str] | None = None,
    faces: Sequence[str] | None = None,
    backend: str,
    style_threshold: float = STYLE_DRIFT_THRESHOLD,
    identity_threshold: float = IDENTITY_DRIFT_THRESHOLD,
    dimension_thresholds: Mapping[str, float] | None = None,
    concurrency: int = 8,
    on_progress: ProgressCallback | None = None,
) -> DriftReport:
    """Re-run templates (all but retired ones, or `names`) on the panel (or `faces`) and
    compare with their baselines. Spends one request per template and face with a baseline.
    `backend` is the backend's identity (`Backend.identity`), as for a sweep. A face has
    drifted past `style_threshold` overall, past its threshold in any one style dimension
    (`dimension_thresholds`, default `DIMENSION_DRIFT_THRESHOLDS`) or past
    `identity_threshold` in identity."""
    limits = dict(
        DIMENSION_DRIFT_THRESHOLDS if dimension_thresholds is None else dimension_thresholds
    )
    library = TemplateLibrary(layout)
    if names:
        templates = [library.get(name) for name in dict.fromkeys(names)]
    else:
        templates = [t for t in library.list() if t.status != "retired"]
    if not templates:
        raise TemplateError("no templates to check; save one with `workbench templates save`")
    panel = Panel(layout)
    panel_faces = {face.id: face for face in panel.faces()}
    if faces:
        unknown = [f for f in faces if f not in panel_faces]
        if unknown:
            known = ", ".join(panel_faces) or "none"
            raise TemplateError(f"faces: no panel face {', '.join(unknown)} (known: {known})")
    wanted = list(dict.fromkeys(faces)) if faces else list(panel_faces)

    cells: list[Cell] = []
    jobs: list[tuple[Template, _Baseline, list[Face], list[Cell]]] = []
    for template in templates:
        base = baseline(layout, template)
        chosen = [panel_faces[f] for f in wanted if f in base.images]
        sweep = Sweep.build(
            source=f"template {template.name}",
            name=f"drift check {template.name}",
            prompts=[template.prompt],
            seeds=[template.seed],
            identity_scales=[template.identity_scale],
            sizes=[f"{template.width}x{template.height}"],
            sample_number=base.sample_number,
            faces=[face.id for face in chosen] or "all",
        )
        own = (
            [replace(c, rerun=True) for c in plan(sweep, chosen, backend=backend).cells]
            if chosen
            else []
        )
        cells.extend(own)
        jobs.append((template, base, chosen, own))

    sweep_id = f"{DRIFT_SWEEP_PREFIX}{new_sweep_id()}"
    catalogue = Catalogue(layout.catalogue)
    needed = {face.id: face for *_, chosen, _ in jobs for face in chosen}
    # Every cell is sent, stored or not: that is the point of the check.
    run = SweepRun(
        Plan(cells),
        cells,
        faces={face_id: panel.jpeg_bytes(face) for face_id, face in needed.items()},
        store=ImageStore(layout),
        catalogue=catalogue,
        concurrency=concurrency,
        sweep_id=sweep_id,
        backend=backend,
    )
    summary = await run.execute(client, backend=backend, on_progress=on_progress)
    fresh = _fresh_images(catalogue, sweep_id)
    store = ImageStore(layout)
    results = []
    for template, base, _chosen, own in jobs:
        by_face = {cell.face_id: cell for cell in own}
        face_results = []
        for face_id in wanted:
            if face_id not in base.images:
                face_results.append(
                    FaceDrift(face_id, "no baseline", reason="no stored image justified it")
                )
                continue
            new = fresh.get(by_face[face_id].key)
            if not new:
                reason = fresh.get(("failed", by_face[face_id].key), "no reply")
                face_results.append(FaceDrift(face_id, "failed", reason=str(reason)))
                continue
            face_results.append(
                _compare(
                    face_id,
                    panel.jpeg_bytes(panel_faces[face_id]),
                    base.images[face_id],
                    new,
                    store,
                    style_threshold,
                    identity_threshold,
                    limits,
                )
            )
        results.append(TemplateDrift(template.name, face_results))
    return DriftReport(results, style_threshold, identity_threshold, sweep_id, summary, limits)


def _fresh_images(catalogue: Catalogue, sweep_id: str) -> dict:
    rows = catalogue.query(
        "SELECT request_key, status, image_hash, sample_index, error FROM runs "
        "WHERE sweep_id = ? ORDER BY created_at",
        [sweep_id],
    )
    fresh: dict = {}
    for row in rows.itertuples(index=False):
        if row.status == STATUS_OK:
            fresh.setdefault(row.request_key, {})[int(row.sample_index)] = row.image_hash
        else:
            fresh[("failed", row.request_key)] = row.error
    return fresh


def style_drift(
    similarity: float,
    per_dimension: Mapping[str, float],
    *,
    style_threshold: float = STYLE_DRIFT_THRESHOLD,
    dimension_thresholds: Mapping[str, float] | None = None,
) -> list[str]:
    """Why new images have drifted in style from their baseline, one phrase per reason (none:
    they hold): the overall similarity lost more than `style_threshold`, or one dimension lost
    more than its own threshold, e.g. "colour grade moved 0.23 (limit 0.10)"."""
    limits = DIMENSION_DRIFT_THRESHOLDS if dimension_thresholds is None else dimension_thresholds
    reasons = []
    if 1.0 - similarity > style_threshold:
        reasons.append(f"style moved {1.0 - similarity:.2f} (limit {style_threshold:g})")
    moved = sorted(
        ((1.0 - value, name) for name, value in per_dimension.items() if name in limits),
        reverse=True,
    )
    reasons.extend(
        f"{dimension_label(name)} moved {change:.2f} (limit {limits[name]:g})"
        for change, name in moved
        if change > limits[name]
    )
    return reasons


def _compare(
    face_id: str,
    face_jpeg: bytes,
    old: dict[int, str],
    new: dict[int, str],
    store: ImageStore,
    style_threshold: float,
    identity_threshold: float,
    dimension_thresholds: Mapping[str, float],
) -> FaceDrift:
    samples = sorted(set(old) & set(new))
    similarities, before, after = [], [], []
    dimensions: dict[str, list[float]] = {}
    for index in samples:
        old_bytes, new_bytes = store.read(old[index]), store.read(new[index])
        if old_bytes == new_bytes:
            similarity = 1.0
        else:
            comparison = compare_styles(describe_style(old_bytes), describe_style(new_bytes))
            similarity = comparison.overall
            for name, value in comparison.per_dimension.items():
                dimensions.setdefault(name, []).append(value)
        similarities.append(similarity)
        identity_old = identity_similarity(face_jpeg, old_bytes)
        identity_new = (
            identity_old if new_bytes == old_bytes else identity_similarity(face_jpeg, new_bytes)
        )
        if identity_old is not None:
            before.append(identity_old)
        if identity_new is not None:
            after.append(identity_new)
    style = sum(similarities) / len(similarities)
    identity_before = sum(before) / len(before) if before else None
    identity_after = sum(after) / len(after) if after else None
    per_dimension = {name: sum(v) / len(v) for name, v in dimensions.items()}
    reasons = style_drift(
        style,
        per_dimension,
        style_threshold=style_threshold,
        dimension_thresholds=dimension_thresholds,
    )
    if identity_before is not None and identity_after is not None:
        lost = identity_before - identity_after
        if lost > identity_threshold:
            reasons.append(f"identity fell {lost:.2f} (limit {identity_threshold:g})")
    return FaceDrift(
        face_id,
        "drifted" if reasons else "ok",
        style_similarity=style,
        identity_before=identity_before,
        identity_after=identity_after,
        per_dimension=per_dimension,
        reason="; ".join(reasons),
    )
