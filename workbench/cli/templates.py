"""`workbench templates …`: save, list, show, set, retire, export, import, apply and check
(drift) named styles. The logic lives in `workbench.templates`; this only parses and prints."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from workbench.backend import open_backend
from workbench.errors import InputError
from workbench.layout import DataLayout
from workbench.panel import parse_assignments
from workbench.scoring.consistency import dimension_label
from workbench.sweep import parse_size
from workbench.templates import (
    IDENTITY_DRIFT_THRESHOLD,
    STATUSES,
    STYLE_DRIFT_THRESHOLD,
    TemplateLibrary,
    apply_template,
    check_drift,
    template_from_catalogue,
    template_from_leaderboard,
    template_from_request_key,
)


@click.group("templates")
def command() -> None:
    """Named, approved styles: save them with their evidence, ship them, check them for drift."""


@command.command("save")
@click.argument("name")
@click.option("--prompt", help="The prompt (with --seed).")
@click.option("--seed", type=int, help="A fixed seed > 0.")
@click.option("--identity-scale", type=float, default=0.8, show_default=True)
@click.option("--size", default="3:4", show_default=True, help='"WxH" or 1:1 / 3:4.')
@click.option("--request-key", help="Take the fields from one catalogue request instead.")
@click.option(
    "--from-leaderboard",
    "rank",
    type=int,
    help="Take the fields and scores from this leaderboard rank (1 = best) instead.",
)
@click.option(
    "--sort",
    default="consistency",
    show_default=True,
    help="The leaderboard order --from-leaderboard counts in (consistency, worst, ...).",
)
@click.option("--category", default="general", show_default=True)
@click.option("--notes", default="")
@click.option("--by", "saved_by", default=None, help="Who saves it (default: your user name).")
@click.option("--replace", is_flag=True, help="Overwrite a template of the same name.")
@click.pass_obj
def save(
    layout: DataLayout,
    name: str,
    prompt: str | None,
    seed: int | None,
    identity_scale: float,
    size: str,
    request_key: str | None,
    rank: int | None,
    sort: str,
    category: str,
    notes: str,
    saved_by: str | None,
    replace: bool,
) -> None:
    """Save NAME from --prompt/--seed, --request-key or --from-leaderboard RANK, with its
    evidence from the catalogue and its current scores."""
    extra = {"name": name, "category": category, "notes": notes, "saved_by": saved_by}
    sources = [bool(request_key), rank is not None, bool(prompt or seed is not None)]
    if sum(sources) > 1:
        raise InputError("give one of --prompt/--seed, --request-key or --from-leaderboard")
    if rank is not None:
        template = template_from_leaderboard(layout, rank, sort=sort, **extra)
    elif request_key:
        template = template_from_request_key(layout, request_key, **extra)
    else:
        if not prompt or seed is None:
            raise InputError("give --prompt and --seed (or --request-key, or --from-leaderboard)")
        try:
            width, height = parse_size(size)
        except ValueError as exc:
            raise InputError(f"size: {exc}") from None
        template = template_from_catalogue(
            layout,
            prompt=prompt,
            seed=seed,
            identity_scale=identity_scale,
            width=width,
            height=height,
            **extra,
        )
    TemplateLibrary(layout).save(template, replace=replace)
    evidence = template.provenance
    click.echo(
        f"saved {template.name} ({template.status}): {len(evidence.request_keys)} request(s), "
        f"{len(evidence.image_hashes)} image(s) as evidence"
        + (f" on {evidence.backend}" if evidence.backend else "; no stored runs yet")
    )
    scores = template.scores
    if scores is not None and scores.consistency is not None:
        click.echo(
            f"  scores: consistency {scores.consistency:.3f} over {scores.faces} face(s)"
            + (f", identity {scores.identity:.3f}" if scores.identity is not None else "")
        )


@command.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--category")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@click.pass_obj
def list_(layout: DataLayout, status: str | None, category: str | None, as_json: bool) -> None:
    """List templates (name, status, category, seed, scale, size, consistency, prompt)."""
    templates = TemplateLibrary(layout).list(status=status, category=category)
    if as_json:
        click.echo(json.dumps([t.model_dump(mode="json") for t in templates], indent=2))
        return
    if not templates:
        click.echo("no templates")
        return
    for t in templates:
        consistency = t.scores.consistency if t.scores else None
        score = f"{consistency:.2f}" if consistency is not None else "  – "
        click.echo(
            f"{t.name:24} {t.status:9} {t.category:12} seed {t.seed:<10} "
            f"id {t.identity_scale:<4g} {t.width}x{t.height}  cons {score}  {t.prompt}"
        )


@command.command("show")
@click.argument("name")
@click.pass_obj
def show(layout: DataLayout, name: str) -> None:
    """Everything about NAME, as JSON."""
    click.echo(json.dumps(TemplateLibrary(layout).get(name).model_dump(mode="json"), indent=2))


@command.command("set")
@click.argument("name")
@click.argument("assignments", nargs=-1, required=True)
@click.pass_obj
def set_(layout: DataLayout, name: str, assignments: tuple[str, ...]) -> None:
    """Change status, category or notes: `set NAME status=approved`."""
    template = TemplateLibrary(layout).set_fields(name, **parse_assignments(assignments))
    click.echo(f"{template.name}: {template.status}, category {template.category}")


@command.command("retire")
@click.argument("name")
@click.pass_obj
def retire(layout: DataLayout, name: str) -> None:
    """Mark NAME retired (kept for the record; not exported as approved, not checked)."""
    TemplateLibrary(layout).retire(name)
    click.echo(f"{name}: retired")


@command.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--status", type=click.Choice(STATUSES), help="Only templates with this status.")
@click.pass_obj
def export(layout: DataLayout, file: Path, status: str | None) -> None:
    """Write FILE.json for a product team: API fields and scores; no faces, images or keys."""
    exported = TemplateLibrary(layout).export(file, status=status)
    click.echo(f"exported {len(exported)} template(s) to {file}")


@command.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--on-conflict",
    type=click.Choice(["skip", "rename", "replace"]),
    help="What to do with names already in the library (default: import nothing, list them).",
)
@click.pass_obj
def import_(layout: DataLayout, file: Path, on_conflict: str | None) -> None:
    """Add the templates in FILE.json, validated first; a bad file changes nothing."""
    report = TemplateLibrary(layout).import_(file, on_conflict=on_conflict)  # type: ignore[arg-type]
    for name in report.added:
        click.echo(f"added    {name}")
    for old, new in report.renamed.items():
        click.echo(f"renamed  {old} -> {new}")
    for name in report.replaced:
        click.echo(f"replaced {name}")
    for name in report.skipped:
        click.echo(f"skipped  {name} (already in the library)")


@command.command("apply")
@click.argument("name")
@click.option("--face", "face_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--samples", default=1, show_default=True, type=click.IntRange(1, 8))
@click.pass_obj
def apply(layout: DataLayout, name: str, face_path: Path, out: Path, samples: int) -> None:
    """Generate with NAME for a new face; the images go to --out and into the catalogue."""
    try:
        photo = face_path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read --face {face_path}: {exc.strerror}") from None
    with open_backend() as backend:
        click.echo(f"backend: {backend.label}", err=True)

        async def go():
            async with backend.client() as client:
                return await apply_template(
                    layout,
                    name,
                    photo,
                    photo_name=face_path.name,
                    out=out,
                    client=client,
                    backend=backend.identity,
                    samples=samples,
                )

        applied = asyncio.run(go())
    for path in applied.files:
        click.echo(str(path))
    note = "already in the catalogue, nothing spent" if applied.reused else "logged"
    click.echo(
        f"{len(applied.files)} image(s) of {name} for face {applied.face_id} ({note}); "
        f"erase with `workbench faces erase {applied.face_id}`",
        err=True,
    )


@command.command("check")
@click.argument("names", nargs=-1)
@click.option("--faces", default="", help="Comma-separated panel face ids (default: the panel).")
@click.option(
    "--threshold",
    default=STYLE_DRIFT_THRESHOLD,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Style drift (1 - similarity to the baseline) above which a face has drifted.",
)
@click.option(
    "--identity-threshold",
    default=IDENTITY_DRIFT_THRESHOLD,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Loss of identity similarity above which a face has drifted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
@click.pass_obj
def check(
    layout: DataLayout,
    names: tuple[str, ...],
    faces: str,
    threshold: float,
    identity_threshold: float,
    as_json: bool,
) -> None:
    """Re-run templates on the panel and compare with their baselines; exit 1 if any drifted
    (2 if nothing could be checked), so it can run on a schedule."""
    face_ids = [f.strip() for f in faces.split(",") if f.strip()]
    with open_backend() as backend:
        click.echo(f"backend: {backend.label}", err=True)

        async def go():
            async with backend.client() as client:
                return await check_drift(
                    layout,
                    client,
                    names=names or None,
                    faces=face_ids or None,
                    backend=backend.identity,
                    style_threshold=threshold,
                    identity_threshold=identity_threshold,
                )

        report = asyncio.run(go())
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        sys.exit(report.exit_code)
    for template in report.templates:
        drift = template.style_drift
        shown = f"style drift {drift:.3f}" if drift is not None else "not compared"
        click.echo(f"{template.name}: {template.status} ({shown}, threshold {threshold:g})")
        for face in template.faces:
            if face.status in ("ok", "drifted"):
                identity = face.identity_change
                id_text = f", identity {identity:+.3f}" if identity is not None else ""
                worst = ""
                if face.per_dimension:
                    name, value = min(face.per_dimension.items(), key=lambda kv: kv[1])
                    worst = f", most changed: {dimension_label(name)} ({value:.2f})"
                why = f": {face.reason}" if face.reason else ""
                click.echo(
                    f"  {face.face_id}: {face.status}, style drift {face.style_drift:.3f}"
                    f"{id_text}{worst}{why}"
                )
            else:
                click.echo(f"  {face.face_id}: {face.status} ({face.reason})")
    click.echo(f"re-run logged as sweep {report.sweep_id}")
    if report.exit_code:
        if report.drifted:
            click.echo(f"DRIFT: {', '.join(report.drifted)}", err=True)
        else:
            click.echo("nothing could be checked (no baselines or failed requests)", err=True)
        sys.exit(report.exit_code)
