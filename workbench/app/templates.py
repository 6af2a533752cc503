"""Templates tab: the library with statuses; save, approve, retire; apply one to an uploaded
face; the drift check; export (download JSON) and import (upload).

Applying and the drift check call the API, so they share the app's API queue. Exports carry no
face ids, request keys or image hashes (`TemplateLibrary.export`).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import gradio as gr
import pandas as pd

from workbench.app.context import API_QUEUE, AppContext, Loader, signed_in_user
from workbench.app.errors import shown
from workbench.layout import DataLayout
from workbench.store import ImageStore
from workbench.templates import (
    DriftReport,
    TemplateLibrary,
    apply_template,
    check_drift,
    template_from_catalogue,
)

TABLE_COLUMNS = ["name", "status", "category", "prompt", "seed", "identity", "size"]
TABLE_COLUMNS += ["consistency", "saved by", "saved at"]
CONFLICTS = ["stop", "skip", "rename", "replace"]


def templates_table(layout: DataLayout) -> pd.DataFrame:
    rows = []
    for t in TemplateLibrary(layout).list():
        consistency = t.scores.consistency if t.scores else None
        rows.append(
            [
                t.name,
                t.status,
                t.category,
                t.prompt,
                t.seed,
                t.identity_scale,
                f"{t.width}x{t.height}",
                None if consistency is None else round(consistency, 3),
                t.provenance.saved_by if t.provenance else "",
                f"{t.provenance.saved_at:%Y-%m-%d %H:%M}" if t.provenance else "",
            ]
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def template_names(layout: DataLayout) -> list[str]:
    return [t.name for t in TemplateLibrary(layout).list()]


def save_template(
    layout: DataLayout,
    name: str,
    prompt: str,
    seed: float,
    identity_scale: float,
    size: str,
    category: str,
    notes: str,
    *,
    by: str,
) -> str:
    """A candidate template with its evidence from the catalogue, attributed to `by`."""
    width, height = (int(v) for v in size.lower().split("x"))
    template = template_from_catalogue(
        layout,
        name=name.strip(),
        prompt=prompt,
        seed=int(seed),
        identity_scale=float(identity_scale),
        width=width,
        height=height,
        category=category.strip() or "general",
        notes=notes,
        saved_by=by,
        source="saved in the app",
    )
    TemplateLibrary(layout).save(template)
    evidence = len(template.provenance.image_hashes) if template.provenance else 0
    return f"saved {template.name} (candidate; {evidence} image(s) of evidence)"


def set_status(layout: DataLayout, name: str | None, status: str) -> str:
    if not name:
        raise gr.Error("choose a template first", print_exception=False)
    template = TemplateLibrary(layout).set_status(name, status)
    return f"{template.name} is now {template.status}"


def export_templates(layout: DataLayout, folder: Path) -> str:
    """The library's shippable form as a JSON file to download."""
    path = folder / f"templates-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.json"
    TemplateLibrary(layout).export(path)
    return str(path)


def import_templates(layout: DataLayout, upload: str | None, conflict: str, *, by: str) -> str:
    if not upload:
        raise gr.Error("choose a templates JSON file first", print_exception=False)
    try:
        # Messages name the file as uploaded, never Gradio's temporary folder on the server.
        report = TemplateLibrary(layout).import_(
            upload,
            on_conflict=None if conflict == "stop" else conflict,
            saved_by=by,
            label=Path(upload).name,
        )
    finally:
        Path(upload).unlink(missing_ok=True)
    parts = [f"added {len(report.added)}"]
    if report.skipped:
        parts.append(f"skipped {', '.join(report.skipped)}")
    if report.replaced:
        parts.append(f"replaced {', '.join(report.replaced)}")
    if report.renamed:
        parts.append("renamed " + ", ".join(f"{a} → {b}" for a, b in report.renamed.items()))
    return "; ".join(parts)


async def apply_to_upload(
    ctx: AppContext, name: str | None, upload: str | None, folder: Path
) -> tuple[list[str], str]:
    """Apply template `name` to an uploaded photo; its images (from the store) and a line.

    The upload and the copies `apply_template` writes are deleted: the images stay in the
    store and catalogue under an `apply-…` face id, erasable like any face.
    """
    if not name or not upload:
        raise gr.Error("choose a template and a photo first", print_exception=False)
    photo = Path(upload)
    out = folder / f"apply-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    try:
        async with ctx.backend.client(max_concurrency=1) as client:
            applied = await apply_template(
                ctx.layout,
                name,
                photo.read_bytes(),
                photo_name=photo.name,
                out=out,
                client=client,
                backend=ctx.backend.identity,
            )
    finally:
        photo.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)
    store = ImageStore(ctx.layout)
    images = [str(store.path(h)) for h in applied.image_hashes]
    spent = "already in the catalogue: nothing spent" if applied.reused else "1 request sent"
    return images, f"{name} applied to {applied.face_id} ({spent})"


def drift_table(report: DriftReport) -> pd.DataFrame:
    rows = []
    for template in report.templates:
        for face in template.faces:
            change = face.identity_change
            rows.append(
                [
                    template.name,
                    template.status,
                    face.face_id,
                    face.status,
                    None if face.style_drift is None else round(face.style_drift, 3),
                    None if change is None else round(change, 3),
                    face.reason,
                ]
            )
    columns = ["template", "verdict", "face", "status", "style drift", "identity change"]
    return pd.DataFrame(rows, columns=[*columns, "reason"])


async def run_drift_check(ctx: AppContext, name: str | None) -> tuple[pd.DataFrame, str]:
    async with ctx.backend.client(max_concurrency=ctx.api_concurrency) as client:
        report = await check_drift(
            ctx.layout,
            client,
            names=[name] if name else None,
            backend=ctx.backend.identity,
            concurrency=ctx.api_concurrency,
        )
    verdict = f"drifted: {', '.join(report.drifted)}" if report.drifted else "no drift found"
    if report.exit_code == 2:
        verdict = "nothing could be checked (no baselines, or the requests failed)"
    return drift_table(report), f"{verdict}; re-run logged as sweep {report.sweep_id}"


def build(ctx: AppContext) -> Loader:
    layout = ctx.layout
    folder = ctx.exports
    with gr.Tab("Templates", id="templates") as tab:
        table = gr.Dataframe(label="Templates", interactive=False, elem_id="templates-table")
        with gr.Row():
            chosen = gr.Dropdown(label="Template", allow_custom_value=True, elem_id="template-pick")
            approve_button = gr.Button("Approve", elem_id="template-approve")
            candidate_button = gr.Button("Back to candidate")
            retire_button = gr.Button("Retire", variant="stop", elem_id="template-retire")
        status_line = gr.Markdown(elem_id="templates-status")
        with gr.Accordion("Save a template", open=False):
            with gr.Row():
                name = gr.Textbox(label="Name (a-z, 0-9, -)", elem_id="template-name")
                category = gr.Textbox(label="Category", value="general")
            with gr.Row():
                prompt = gr.Textbox(label="Prompt", scale=3, elem_id="template-prompt")
                seed = gr.Number(label="Seed", precision=0, elem_id="template-seed")
                scale = gr.Number(label="Identity scale", value=0.8, elem_id="template-scale")
                size = gr.Textbox(label="Size WxH", value="768x1024", elem_id="template-size")
            notes = gr.Textbox(label="Notes")
            save_button = gr.Button("Save as candidate", variant="primary", elem_id="template-save")
        with gr.Accordion("Apply to a face", open=False):
            with gr.Row():
                photo = gr.File(
                    label="Photo (one face)", file_types=["image"], elem_id="apply-photo"
                )
                applied = gr.Gallery(label="Result", columns=2, height=320, elem_id="apply-result")
            apply_button = gr.Button("Apply the chosen template", elem_id="template-apply")
        with gr.Accordion("Drift check", open=False):
            drift_button = gr.Button(
                "Re-run the chosen template (or all, none chosen) and compare", elem_id="drift-run"
            )
            drift = gr.Dataframe(interactive=False, elem_id="drift-table")
        with gr.Accordion("Export and import", open=True):
            with gr.Row():
                export_button = gr.Button("Export the library (JSON)", elem_id="template-export")
                exported = gr.File(label="Download", interactive=False, elem_id="template-file")
            with gr.Row():
                upload = gr.File(
                    label="Templates JSON to import",
                    file_types=[".json"],
                    elem_id="template-import",
                )
                conflict = gr.Radio(CONFLICTS, value="stop", label="If a name exists")
                import_button = gr.Button("Import", elem_id="template-import-run")

    def refresh(current=None):
        names = template_names(layout)
        pick = current if current in names else (names[0] if names else None)
        return templates_table(layout), gr.update(choices=names, value=pick)

    listing = [table, chosen]

    def saved(name, prompt, seed, scale, size, category, notes, request: gr.Request):
        user = signed_in_user(request)
        return save_template(layout, name, prompt, seed, scale, size, category, notes, by=user)

    def imported(file, policy, request: gr.Request):
        return import_templates(layout, file, policy, by=signed_in_user(request))

    async def applying(template, file):
        return await apply_to_upload(ctx, template, file, folder)

    async def drifting(template):
        return await run_drift_check(ctx, template)

    fields = [name, prompt, seed, scale, size, category, notes]
    save_button.click(shown(saved), fields, status_line, api_name="save_template").then(
        shown(lambda current: refresh(current)), name, listing
    )
    for button, status in (
        (approve_button, "approved"),
        (candidate_button, "candidate"),
        (retire_button, "retired"),
    ):
        button.click(
            shown(lambda template, status=status: set_status(layout, template, status)),
            chosen,
            status_line,
            api_name=f"template_{status}",
        ).then(shown(refresh), chosen, listing)
    apply_button.click(
        shown(applying),
        [chosen, photo],
        [applied, status_line],
        concurrency_limit=1,
        concurrency_id=API_QUEUE,
        api_name="apply_template",
    ).then(lambda: None, None, photo)
    drift_button.click(
        shown(drifting),
        chosen,
        [drift, status_line],
        concurrency_limit=1,
        concurrency_id=API_QUEUE,
        api_name="drift_check",
    )
    export_button.click(
        shown(lambda: export_templates(layout, folder)), None, exported, api_name="export_templates"
    )
    import_button.click(
        shown(imported), [upload, conflict], status_line, api_name="import_templates"
    ).then(shown(refresh), chosen, listing).then(lambda: None, None, upload)
    tab.select(shown(refresh), chosen, listing)
    return Loader(refresh, listing, [chosen])
