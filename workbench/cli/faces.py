"""`workbench faces`: import, list, describe and erase the reference faces of the panel."""

from __future__ import annotations

import sys

import click

from workbench.balance import format_balance, panel_balance
from workbench.erase import erase_face
from workbench.layout import DataLayout
from workbench.panel import (
    ATTRIBUTES,
    Face,
    ImportResult,
    Panel,
    build_demo_panel,
    parse_assignments,
)


@click.group("faces")
def command() -> None:
    """The panel of reference faces under <data>/faces/."""


@command.command("add")
# No click.Path checks: each file is judged on its own (a folder or a device is one rejected
# line, never the end of the batch).
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--id", "face_id", help="Id for the face (one file only); default: from the file name."
)
@click.option(
    "--attr",
    "attrs",
    multiple=True,
    metavar="KEY=VALUE",
    help=f"Attribute for every file added, repeatable. Keys: {', '.join(ATTRIBUTES)}.",
)
@click.option("--consent", default="", help="Who allowed this face to be used, or its licence.")
@click.option(
    "--largest",
    is_flag=True,
    help="When a photo shows several faces, crop to the largest instead of rejecting it.",
)
@click.pass_obj
def add(
    layout: DataLayout,
    files: tuple[str, ...],
    face_id: str | None,
    attrs: tuple[str, ...],
    consent: str,
    largest: bool,
) -> None:
    """Import photos; each file gets its own result line. Exit 1 if any file was rejected."""
    if face_id is not None and len(files) > 1:
        raise click.UsageError("--id names one face; give one FILE with it")
    attributes = parse_assignments(attrs)
    panel = Panel(layout)
    if face_id is not None:
        results = [
            panel.import_one(
                files[0],
                face_id=face_id,
                attributes=attributes,
                consent=consent,
                keep_largest=largest,
            )
        ]
    else:
        results = panel.add_many(
            files, attributes=attributes, consent=consent, keep_largest=largest
        )
    _report(results)


@command.command("demo")
@click.pass_obj
def demo(layout: DataLayout) -> None:
    """Add the demo panel: public-domain portraits shipped inside installed packages."""
    _report(build_demo_panel(layout))


def _report(results: list[ImportResult]) -> None:
    for result in results:
        click.echo(f"{result.status:<9} {result.source}: {result.message}")
    failed = sum(result.failed for result in results)
    added = sum(result.status == "added" for result in results)
    click.echo(f"{added} added, {len(results) - added - failed} already present, {failed} rejected")
    if failed:
        sys.exit(1)


@command.command("list")
@click.option("--order-by", "order_by", multiple=True, help="Sort by a column, repeatable.")
@click.pass_obj
def list_faces(layout: DataLayout, order_by: tuple[str, ...]) -> None:
    """A table of the panel's faces and their attributes."""
    panel = Panel(layout)
    faces = panel.faces(order_by=list(order_by) or None)
    if not faces:
        click.echo(f"no faces in {panel.root}; add some with `workbench faces add PHOTO`")
        return
    click.echo(_table(faces))
    click.echo(f"{len(faces)} face(s) in {panel.root}")


@command.command("balance")
@click.pass_obj
def balance(layout: DataLayout) -> None:
    """How varied the panel is, attribute by attribute, and the gaps to fill."""
    click.echo(format_balance(panel_balance(Panel(layout).faces())))


@command.command("set")
@click.argument("face_id", metavar="ID")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.pass_obj
def set_attributes(layout: DataLayout, face_id: str, assignments: tuple[str, ...]) -> None:
    """Set (or, with an empty value, clear) attributes of one face."""
    face = Panel(layout).set_attributes(face_id, **parse_assignments(assignments))
    changed = ", ".join(f"{key}={getattr(face, key)!r}" for key in parse_assignments(assignments))
    click.echo(f"{face.id}: {changed}")


@command.command("erase")
@click.argument("face_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def erase(layout: DataLayout, face_id: str, yes: bool) -> None:
    """Erase a person: the face, every image made from it, thumbnails and catalogue rows."""
    if not yes:
        click.confirm(
            f"Erase {face_id!r} and everything generated from it under {layout.root}?",
            abort=True,
        )
    report = erase_face(layout, face_id)
    click.echo(report.summary())


_LIST_COLUMNS = (
    ("id", "id"),
    ("size", None),
    ("age", "age_band"),
    ("monk", "monk_skin_tone"),
    ("gender", "gender_presentation"),
    ("glasses", "glasses"),
    ("facial hair", "facial_hair"),
    ("consent", "consent"),
)


def _table(faces: list[Face]) -> str:
    rows = [[title for title, _ in _LIST_COLUMNS]]
    for face in faces:
        cells = []
        for _, field in _LIST_COLUMNS:
            value = f"{face.width}x{face.height}" if field is None else getattr(face, field)
            # Long consent texts would push the table off the screen; the manifest has them whole.
            value = value or "-"
            cells.append(value if len(value) <= 48 else value[:45] + "...")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(_LIST_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
