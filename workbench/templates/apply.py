"""Apply a template to a new face: the template's request with that face, stored and logged to
the catalogue like any sweep cell, and the JPEGs copied where the user asked."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from workbench.catalogue import STATUS_OK, Catalogue
from workbench.layout import DataLayout
from workbench.panel import Face, Panel, face_id_from_name, normalise_photo
from workbench.run import Generates, SweepRun, SweepSummary, new_sweep_id
from workbench.store import ImageStore
from workbench.sweep import APPLY_PREFIX, Sweep, plan
from workbench.templates.library import Template, TemplateError, TemplateLibrary

# Faces applied from outside the panel are logged under this prefix, so they never collide
# with panel ids and `workbench faces erase apply-<name>` removes them like any face.
APPLIED_FACE_PREFIX = "apply-"


@dataclass(frozen=True)
class AppliedTemplate:
    """What `apply_template` made: the files written, the images and where they are logged."""

    template: Template
    face_id: str
    files: list[Path]
    image_hashes: list[str]
    reused: bool  # the same face and template were already in the catalogue: nothing spent
    summary: SweepSummary


def prepare_face(layout: DataLayout, photo: bytes, name: str) -> Face:
    """The photo through the panel's import pipeline (decoded, oriented, stripped, one face);
    the panel's own face if it is already there, else an `apply-…` face outside the panel."""
    normalised = normalise_photo(photo, name)
    digest = hashlib.sha256(normalised.jpeg).hexdigest()
    for face in Panel(layout).faces():
        if face.hash == digest:
            return face
    return Face(
        id=APPLIED_FACE_PREFIX + face_id_from_name(name)[:40],
        source_name=Path(name).name,
        hash=digest,
        width=normalised.image.width,
        height=normalised.image.height,
    )


async def apply_template(
    layout: DataLayout,
    name: str,
    photo: bytes,
    *,
    photo_name: str,
    out: Path,
    client: Generates,
    backend: str,
    samples: int = 1,
) -> AppliedTemplate:
    """Generate with template `name` for the face in `photo`; write `<out>/<name>-<face>-<i>.jpg`.

    The request goes through the sweep engine, so it is stored and logged (and not paid for
    again if this face already had it). TemplateError if the template is retired or the
    request failed (the failure is logged). `backend` is the backend's identity.
    """
    template = TemplateLibrary(layout).get(name)
    if template.status == "retired":
        raise TemplateError(
            f"{name!r} is retired; `workbench templates set {name} status=candidate` to use it"
        )
    normalised = normalise_photo(photo, photo_name)
    face = prepare_face(layout, photo, photo_name)
    sweep = Sweep.build(
        source=f"template {name}",
        name=f"apply template {name}",
        prompts=[template.prompt],
        seeds=[template.seed],
        identity_scales=[template.identity_scale],
        sizes=[f"{template.width}x{template.height}"],
        sample_number=samples,
        faces=[face.id],
    )
    the_plan = plan(sweep, [face], backend=backend)
    catalogue = Catalogue(layout.catalogue)
    pending = the_plan.pending(catalogue.stored_among(c.key for c in the_plan.cells))
    run = SweepRun(
        the_plan,
        pending,
        faces={face.id: normalised.jpeg},
        store=ImageStore(layout),
        catalogue=catalogue,
        concurrency=1,
        sweep_id=f"{APPLY_PREFIX}{new_sweep_id()}",
        spec_toml=sweep.to_toml(),
        backend=backend,
    )
    summary = await run.execute(client, backend=backend)
    key = the_plan.cells[0].key
    rows = catalogue.query(
        "SELECT sweep_id, image_hash, sample_index, error FROM runs "
        "WHERE request_key = ? AND status = ? ORDER BY created_at",
        [key, STATUS_OK],
    )
    if rows.empty:
        failed = catalogue.query(
            "SELECT error FROM runs WHERE request_key = ? ORDER BY created_at DESC LIMIT 1", [key]
        )
        reason = failed["error"].iloc[0] if len(failed) else "no reply"
        raise TemplateError(f"the request for {name!r} failed ({reason}); it is logged")
    newest = rows[rows["sweep_id"] == rows["sweep_id"].iloc[-1]].sort_values("sample_index")
    store = ImageStore(layout)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    stem = re.sub(r"[^a-z0-9-]+", "-", f"{name}-{face.id}")
    for index, image_hash in enumerate(newest["image_hash"]):
        path = out / f"{stem}-{index}.jpg"
        path.write_bytes(store.read(image_hash))
        files.append(path)
    return AppliedTemplate(
        template=template,
        face_id=face.id,
        files=files,
        image_hashes=list(newest["image_hash"]),
        reused=not pending,
        summary=summary,
    )
