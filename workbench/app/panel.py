"""Panel tab: the reference faces with their attributes and balance; add, edit, erase.

Faces are shown as inline data (no URL, no file in Gradio's cache), so a face photo is only
ever in the page of someone signed in, and erasing a person leaves no copy behind.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
import pandas as pd

from workbench.app.context import AppContext, Loader
from workbench.app.errors import public_text, shown
from workbench.balance import format_balance, panel_balance
from workbench.erase import check_erasable, erase_face
from workbench.layout import DataLayout
from workbench.panel import ATTRIBUTES, Panel

TABLE_COLUMNS = ["id", "age_band", "monk_skin_tone", "gender_presentation", "glasses"]
TABLE_COLUMNS += ["facial_hair", "consent", "notes", "width", "height"]


def faces_html(layout: DataLayout) -> str:
    panel = Panel(layout)
    faces = panel.faces()
    if not faces:
        return "<p>No faces yet: add photos below.</p>"
    cards = []
    for face in faces:
        data = base64.b64encode(panel.thumbnail_jpeg(face)).decode("ascii")
        name = html.escape(face.id)
        cards.append(
            f'<figure class="face-card"><img alt="{name}" src="data:image/jpeg;base64,{data}">'
            f"<figcaption>{name}</figcaption></figure>"
        )
    return f'<div class="face-cards">{"".join(cards)}</div>'


def faces_table(layout: DataLayout) -> pd.DataFrame:
    frame = Panel(layout).to_frame()
    return frame[TABLE_COLUMNS].astype("string").fillna("")


def balance_text(layout: DataLayout) -> str:
    return "```\n" + format_balance(panel_balance(Panel(layout).faces())) + "\n```"


def face_ids(layout: DataLayout) -> list[str]:
    return [face.id for face in Panel(layout).faces()]


def add_faces(layout: DataLayout, files: Sequence[str] | None, consent: str, largest: bool) -> str:
    """The CLI's import, one line per file; the uploaded copies are deleted afterwards."""
    if not files:
        raise gr.Error("choose one or more photos first", print_exception=False)
    try:
        results = Panel(layout).add_many(files, consent=consent.strip(), keep_largest=largest)
    finally:
        for upload in files:  # Gradio's copy of a face photo must not outlive the import
            Path(upload).unlink(missing_ok=True)
    # Each message as the page may show it: no upload folder or data folder of the server.
    lines = [f"{r.status} {Path(r.source).name}: {public_text(r.message)}" for r in results]
    added = sum(r.status == "added" for r in results)
    failed = sum(r.failed for r in results)
    lines.append(
        f"{added} added, {len(results) - added - failed} already present, {failed} rejected"
    )
    return "\n".join(lines)


def set_attribute(layout: DataLayout, face_id: str | None, attribute: str, value: str) -> str:
    if not face_id:
        raise gr.Error("choose a face first", print_exception=False)
    face = Panel(layout).set_attributes(face_id, **{attribute: value})
    return f"{face.id}: {attribute} = {getattr(face, attribute)!r}"


def erase_prompt(layout: DataLayout, face_id: str | None) -> tuple[dict, str]:
    if not face_id:
        raise gr.Error("choose a face to erase first", print_exception=False)
    check_erasable(layout, face_id)  # a malformed or unknown id is refused here, not after
    warning = (
        f"**Erase `{face_id}`?** This deletes the face photo, every image generated from it, "
        "their thumbnails and catalogue rows. It cannot be undone."
    )
    return gr.update(visible=True), warning


def erase(layout: DataLayout, face_id: str | None) -> tuple[dict, str]:
    if not face_id:
        raise gr.Error("choose a face to erase first", print_exception=False)
    return gr.update(visible=False), erase_face(layout, face_id).summary()


def build(ctx: AppContext) -> Loader:
    layout = ctx.layout
    with gr.Tab("Panel", id="panel") as tab:
        cards = gr.HTML(elem_id="face-cards")
        table = gr.Dataframe(label="Faces and attributes", interactive=False)
        balance = gr.Markdown(elem_id="panel-balance")
        with gr.Accordion("Add faces", open=True):
            uploads = gr.File(
                label="Photos (JPEG, PNG, WebP, …): one face each",
                file_count="multiple",
                file_types=["image"],
                elem_id="face-upload",
            )
            with gr.Row():
                consent = gr.Textbox(label="Consent or licence", scale=3)
                largest = gr.Checkbox(label="Crop to the largest face if several")
            add_button = gr.Button("Add to panel", variant="primary", elem_id="add-faces")
            add_report = gr.Textbox(
                label="Import report", lines=3, interactive=False, elem_id="add-report"
            )
        with gr.Accordion("Edit attributes", open=False):
            with gr.Row():
                edit_face = gr.Dropdown(
                    label="Face", choices=[], allow_custom_value=True, elem_id="edit-face"
                )
                attribute = gr.Dropdown(label="Attribute", choices=list(ATTRIBUTES), value="notes")
                value = gr.Textbox(label="Value (empty clears it)")
            save_button = gr.Button("Save attribute")
            edit_report = gr.Markdown()
        with gr.Accordion("Erase a person", open=False):
            erase_face_id = gr.Dropdown(
                label="Face", choices=[], allow_custom_value=True, elem_id="erase-face"
            )
            erase_button = gr.Button("Erase…", variant="stop")
            with gr.Group(visible=False) as confirm_box:
                confirm_text = gr.Markdown()
                with gr.Row():
                    confirm_button = gr.Button("Yes, erase everything", variant="stop")
                    cancel_button = gr.Button("Keep")
            erase_report = gr.Markdown()

    def refresh():
        ids = face_ids(layout)
        return (
            faces_html(layout),
            faces_table(layout),
            balance_text(layout),
            gr.update(choices=ids),
            gr.update(choices=ids),
        )

    panel_outputs = [cards, table, balance, edit_face, erase_face_id]
    add_button.click(
        shown(lambda files, text, crop: add_faces(layout, files, text, crop)),
        [uploads, consent, largest],
        add_report,
        api_name="add_faces",
    ).then(shown(refresh), None, panel_outputs).then(lambda: None, None, uploads)
    save_button.click(
        shown(lambda face, key, text: set_attribute(layout, face, key, text)),
        [edit_face, attribute, value],
        edit_report,
        api_name="set_attribute",
    ).then(shown(refresh), None, panel_outputs)
    erase_button.click(
        shown(lambda face: erase_prompt(layout, face)),
        erase_face_id,
        [confirm_box, confirm_text],
        api_name="erase_prompt",
    )
    cancel_button.click(lambda: gr.update(visible=False), None, confirm_box)
    confirm_button.click(
        shown(lambda face: erase(layout, face)),
        erase_face_id,
        [confirm_box, erase_report],
        api_name="erase_face",
    ).then(shown(refresh), None, panel_outputs)
    tab.select(shown(refresh), None, panel_outputs)
    return Loader(refresh, panel_outputs)
