"""The template library: named, approved prompt + seed styles with the evidence that justified
them, kept in one JSON file (`<data>/templates.json`), exported for product teams and imported
with validation.

A template is a saved request minus the person (see `shared/headshot-api.md`). Its API fields
use the API's own names in JSON (`prompt`, `seed`, `identityScale`, `outputImageWidth`,
`outputImageHeight`), so a product team can copy them into a request as they are.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench.catalogue import STATUS_OK, Catalogue
from workbench.contract import SEED_MAX, SIZE_MAX, SIZE_MIN, PortraitParams, Prompt
from workbench.errors import InputError
from workbench.layout import DataLayout, file_lock, write_atomically
from workbench.scoring.leaderboard import leaderboard
from workbench.untrusted_json import TooManyObjects, UnreadableJson, load_untrusted_json, quoted

SCHEMA_VERSION = 1
LIBRARY_NAME = "templates.json"
LOCK_NAME = ".templates.lock"
# A library or export file past this is not a template file (a thousand templates is ~0.5 MB,
# and ~9 MB if every one had the longest prompt and notes).
MAX_FILE_BYTES = 10 * 2**20
# The most templates a library (or a file imported into it) holds: a library is a curated
# shortlist, and a file of 100,000 must be refused before it is even parsed in full.
MAX_TEMPLATES = 1000
# JSON objects a file of MAX_TEMPLATES may hold: the file's own, and per template its own,
# its scores and its provenance. Parsing stops at the first one past this.
_MAX_OBJECTS = 1 + 3 * MAX_TEMPLATES
# And arrays: the file's list of templates, and per template its request keys and image hashes.
_MAX_ARRAYS = 1 + 2 * MAX_TEMPLATES
_QUOTED_FIELD_CHARS = 40
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "templates.schema.json"

Status = Literal["candidate", "approved", "retired"]
STATUSES: tuple[Status, ...] = ("candidate", "approved", "retired")
# Forward only, except that a retired template can come back as a candidate.
TRANSITIONS: dict[str, set[str]] = {
    "candidate": {"approved", "retired"},
    "approved": {"retired", "candidate"},
    "retired": {"candidate"},
}
ConflictPolicy = Literal["skip", "rename", "replace"]


class TemplateError(InputError):
    """A template or template file is not acceptable; the library file was not changed."""


class TemplateScores(BaseModel):
    """A template's scores when it was saved (scores change as the panel grows)."""

    model_config = ConfigDict(extra="forbid")

    consistency: float | None = Field(None, ge=0, le=1, description="Mean style consistency.")
    worst_face_consistency: float | None = Field(None, ge=0, le=1)
    worst_face: str | None = Field(None, description="Face id; left out of exports.")
    identity: float | None = Field(None, ge=0, le=1, description="Mean identity similarity.")
    rating: float | None = Field(None, ge=0, le=5, description="Mean human rating, stars.")
    ratings: int = Field(0, ge=0, description="How many human ratings.")
    faces: int | None = Field(None, ge=0, description="Faces the scores were measured on.")


class Provenance(BaseModel):
    """What justified a template: the runs, who saved it when, and on which backend."""

    model_config = ConfigDict(extra="forbid")

    request_keys: list[str] = Field(default_factory=list, description="Catalogue request keys.")
    image_hashes: list[str] = Field(default_factory=list, description="SHA-256 of the images.")
    saved_by: str = ""
    saved_at: datetime
    backend: str = Field("", description='Backend measured on: "simulator", "remote", ...')
    source: str = Field("", description="How it was made: by hand, leaderboard rank, import.")


class Template(BaseModel):
    """One named style: the API fields, a category, notes, a status, scores and provenance."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, serialize_by_alias=True, validate_assignment=True
    )

    name: str = Field(pattern=NAME_PATTERN, description="Unique slug: a-z, 0-9 and '-'.")
    category: str = Field("general", min_length=1, max_length=64)
    prompt: Prompt
    seed: int = Field(ge=1, le=SEED_MAX, description="A fixed seed (> 0): templates repeat.")
    identity_scale: float = Field(0.8, ge=0, le=1, alias="identityScale")
    width: int = Field(768, ge=SIZE_MIN, le=SIZE_MAX, alias="outputImageWidth")
    height: int = Field(1024, ge=SIZE_MIN, le=SIZE_MAX, alias="outputImageHeight")
    notes: str = Field("", max_length=4000)
    status: Status = "candidate"
    scores: TemplateScores | None = None
    provenance: Provenance | None = None

    @field_validator("category")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("category")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    def params(self, sample_number: int = 1) -> PortraitParams:
        """The request this template makes (the face and key added at send time)."""
        return PortraitParams(
            prompt=self.prompt,
            seed=self.seed,
            sample_number=sample_number,
            identity_scale=self.identity_scale,
            width=self.width,
            height=self.height,
        )

    def exported(self) -> Template:
        """The shippable form: no face ids, request keys, image hashes, who saved it or how."""
        scores = self.scores.model_copy(update={"worst_face": None}) if self.scores else None
        provenance = None
        if self.provenance is not None:
            # `source` can name a request key: it stays home with the rest of the evidence.
            provenance = Provenance(
                saved_at=self.provenance.saved_at, backend=self.provenance.backend
            )
        return self.model_copy(update={"scores": scores, "provenance": provenance})


class TemplateFile(BaseModel):
    """The library file and export files: a schema version and the templates."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(SCHEMA_VERSION, description="Bumped when the format changes.")
    templates: list[Template] = Field(default_factory=list)

    @field_validator("templates")
    @classmethod
    def _unique_names(cls, value: list[Template]) -> list[Template]:
        seen: dict[str, int] = {}
        for index, template in enumerate(value):
            if template.name in seen:
                raise ValueError(
                    f"name {template.name!r} appears twice (items {seen[template.name]} and {index})"
                )
            seen[template.name] = index
        return value


def json_schema() -> dict[str, Any]:
    """The JSON Schema of template files (docs/templates.schema.json is this, written out)."""
    schema = TemplateFile.model_json_schema(by_alias=True)
    schema["$id"] = "https://headshot-workbench.local/templates.schema.json"
    schema["title"] = "Headshot workbench template file"
    return schema


def write_schema(path: Path = SCHEMA_DOC) -> Path:
    path.write_text(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")
    return path


# --- Reading and writing files -------------------------------------------------------------


def read_template_file(path: Path, *, label: str | None = None) -> TemplateFile:
    """Parse and validate a template file; TemplateError names the file (as `label`, default
    its path) and the field."""
    label = label or str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise TemplateError(f"{label}: no such file") from None
    if size > MAX_FILE_BYTES:
        raise TemplateError(
            f"{label}: {size / 2**20:.1f} MB is too big for a template file "
            f"(limit {MAX_FILE_BYTES / 2**20:.0f} MB)"
        )
    return parse_template_file(path.read_bytes(), source=label)


def parse_template_file(data: bytes, *, source: str) -> TemplateFile:
    try:
        # Stopped early on a file no template file can be (see untrusted_json): a file of
        # 100,000 templates costs no more memory than one of MAX_TEMPLATES.
        raw = load_untrusted_json(data, max_objects=_MAX_OBJECTS, max_arrays=_MAX_ARRAYS)
    except TooManyObjects:
        raise TemplateError(
            f"{source}: more entries than a template file of {MAX_TEMPLATES} templates "
            f"(the most a library holds) can have"
        ) from None
    except UnreadableJson as exc:
        raise TemplateError(f"{source}: {exc} for a template file") from None
    except UnicodeDecodeError:
        raise TemplateError(f"{source}: not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(
            f"{source}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(raw, dict):
        raise TemplateError(
            f"{source}: expected a JSON object with 'schema_version' and 'templates'"
        )
    version = raw.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise TemplateError(f"{source}: schema_version: missing or not an integer")
    if version > SCHEMA_VERSION:
        raise TemplateError(
            f"{source}: schema_version {version} is newer than this workbench reads "
            f"({SCHEMA_VERSION}); upgrade the workbench to read it"
        )
    if version < 1:
        raise TemplateError(f"{source}: schema_version {version} is not a valid version")
    templates = raw.get("templates")
    if isinstance(templates, list) and len(templates) > MAX_TEMPLATES:
        raise TemplateError(
            f"{source}: {len(templates)} templates; a library holds at most {MAX_TEMPLATES}"
        )
    try:
        return TemplateFile.model_validate(raw)
    except ValidationError as exc:
        raise TemplateError(f"{source}: {_describe(exc, raw)}") from None
    except RecursionError:  # deep nesting the parser let through, in a field of a template
        raise TemplateError(f"{source}: nested too deeply to be a template file") from None


def _describe(exc: ValidationError, raw: dict) -> str:
    problems = []
    for err in exc.errors(include_url=False, include_context=False)[:5]:
        loc = err["loc"]
        where = ""
        for part in loc:
            # An unknown field's name comes from the file: cut, so it cannot fill the line.
            part = part if isinstance(part, int) else str(part)[:_QUOTED_FIELD_CHARS]
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else part)
        name = _template_name(raw, loc)
        if name:
            where += f" (template {quoted(name)})"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "missing (required)"
        elif err["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(f"{where}: {message}")
    more = len(exc.errors()) - len(problems)
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def _template_name(raw: dict, loc: tuple) -> str | None:
    if len(loc) >= 2 and loc[0] == "templates" and isinstance(loc[1], int):
        items = raw.get("templates")
        if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
            name = items[loc[1]].get("name")
            return name if isinstance(name, str) else None
    return None


# --- The library ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportReport:
    """What an import did, template by template."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # name in file -> name saved
    skipped: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # names already in the library

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.renamed)


class TemplateLibrary:
    """`<data>/templates.json`: every change is a locked read-modify-write, written atomically."""

    def __init__(self, layout: DataLayout):
        self.layout = layout
        self.path = layout.templates

    # --- reading ---

    def list(self, *, status: str | None = None, category: str | None = None) -> list[Template]:
        templates = self._read().templates
        if status is not None:
            _check_status(status)
            templates = [t for t in templates if t.status == status]
        if category is not None:
            templates = [t for t in templates if t.category == category.lower()]
        return templates

    def get(self, name: str) -> Template:
        for template in self._read().templates:
            if template.name == name:
                return template
        known = ", ".join(t.name for t in self._read().templates) or "none yet"
        raise TemplateError(f"no template named {name!r} (known: {known})")

    # --- changing ---

    def save(self, template: Template, *, replace: bool = False) -> Template:
        """Add a template; an existing name is an error unless `replace`."""
        with self._locked() as library:
            names = [t.name for t in library.templates]
            if template.name in names:
                if not replace:
                    raise TemplateError(
                        f"name: a template named {template.name!r} exists; pick another name "
                        "or retire it first"
                    )
                library.templates[names.index(template.name)] = template
            else:
                library.templates.append(template)
        return template

    def set_fields(self, name: str, **changes: str) -> Template:
        """Change `status`, `category` or `notes` (`workbench templates set NAME key=value`)."""
        allowed = {"status", "category", "notes"}
        unknown = set(changes) - allowed
        if unknown:
            raise TemplateError(
                f"cannot set {', '.join(sorted(unknown))}; settable: {', '.join(sorted(allowed))} "
                "(the request fields are the template: save a new one instead)"
            )
        with self._locked() as library:
            template = _find(library, name)
            if "status" in changes:
                _check_transition(template, changes["status"])
            try:
                updated = Template.model_validate({**template.model_dump(), **changes})
            except ValidationError as exc:
                raise TemplateError(_describe(exc, {})) from None
            library.templates[library.templates.index(template)] = updated
        return updated

    def set_status(self, name: str, status: str) -> Template:
        return self.set_fields(name, status=status)

    def retire(self, name: str) -> Template:
        return self.set_status(name, "retired")

    def forget_face(self, face_id: str, *, image_hashes: set[str], request_keys: set[str]) -> int:
        """Drop an erased person from every template's evidence (their image hashes, request
        keys, worst-face id); returns how many templates changed. Scores stay: they are
        numbers about a style, not about the person."""
        if not self.path.exists():
            return 0
        changed = 0
        with self._locked() as library:
            for index, template in enumerate(library.templates):
                provenance, scores = template.provenance, template.scores
                update: dict[str, Any] = {}
                if provenance and (
                    set(provenance.image_hashes) & image_hashes
                    or set(provenance.request_keys) & request_keys
                ):
                    update["provenance"] = provenance.model_copy(
                        update={
                            "image_hashes": [
                                h for h in provenance.image_hashes if h not in image_hashes
                            ],
                            "request_keys": [
                                k for k in provenance.request_keys if k not in request_keys
                            ],
                        }
                    )
                if scores and scores.worst_face == face_id:
                    update["scores"] = scores.model_copy(update={"worst_face": None})
                if update:
                    library.templates[index] = template.model_copy(update=update)
                    changed += 1
        return changed

    # --- files ---

    def export(self, path: str | Path, *, status: str | None = None) -> list[Template]:
        """Write the shippable templates (see `Template.exported`) to `path`; returns them."""
        chosen = [t.exported() for t in self.list(status=status)]
        document = TemplateFile(templates=chosen).model_dump(mode="json", by_alias=True)
        for item in document["templates"]:
            # Only what a product team needs: empty evidence fields are left out, not shipped.
            for key in ("request_keys", "image_hashes", "saved_by", "source"):
                (item.get("provenance") or {}).pop(key, None)
            if item.get("scores"):
                item["scores"].pop("worst_face", None)
            else:
                item.pop("scores", None)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, _json_bytes(document))
        return chosen

    def import_(
        self,
        path: str | Path,
        *,
        on_conflict: ConflictPolicy | None = None,
        saved_by: str | None = None,
        label: str | None = None,
    ) -> ImportReport:
        """Add the templates of a file. Validated first: a bad file changes nothing.

        A name already in the library is a conflict: without `on_conflict` nothing is
        imported and TemplateError lists the conflicts; `skip` keeps ours, `rename` saves theirs
        as `<name>-2` (…), `replace` overwrites ours. The library after the import must stay
        within MAX_TEMPLATES and MAX_FILE_BYTES, or nothing is imported. `label` is how
        messages and provenance name the file (default: its path).
        """
        source = Path(path)
        label = label or str(source)
        incoming = read_template_file(source, label=label).templates
        report = ImportReport()
        with self._locked() as library:
            names = {t.name: i for i, t in enumerate(library.templates)}
            conflicts = [t.name for t in incoming if t.name in names]
            report.conflicts.extend(conflicts)
            if conflicts and on_conflict is None:
                listed = ", ".join(conflicts[:10]) + (
                    f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
                )
                raise TemplateError(
                    f"{label}: {len(conflicts)} template(s) already in the library: "
                    f"{listed}; nothing imported. Choose --on-conflict "
                    "skip, rename or replace"
                )
            now = datetime.now(UTC)
            for template in incoming:
                stamped = _imported(template, Path(label).name, now, saved_by)
                if template.name not in names:
                    library.templates.append(stamped)
                    names[template.name] = len(library.templates) - 1
                    report.added.append(template.name)
                elif on_conflict == "skip":
                    report.skipped.append(template.name)
                elif on_conflict == "replace":
                    library.templates[names[template.name]] = stamped
                    report.replaced.append(template.name)
                else:
                    new_name = _free_name(template.name, names)
                    library.templates.append(stamped.model_copy(update={"name": new_name}))
                    names[new_name] = len(library.templates) - 1
                    report.renamed[template.name] = new_name
        return report

    # --- internals ---

    def _read(self) -> TemplateFile:
        if not self.path.exists():
            return TemplateFile()
        return read_template_file(self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[TemplateFile]:
        """Hold the library's lock, hand out its contents, write them back if all went well."""
        with file_lock(self.path.parent / LOCK_NAME):
            library = self._read()
            before = library.model_dump(mode="json", by_alias=True)
            yield library
            # Validate the whole file again (unique names, every field) before writing.
            after = TemplateFile.model_validate(library.model_dump(by_alias=True)).model_dump(
                mode="json", by_alias=True
            )
            if after != before:
                data = _json_bytes(after)
                # Checked before writing: a library past either limit could not be read back,
                # and every templates command (and the app's tab) would fail for everyone.
                if len(after["templates"]) > MAX_TEMPLATES:
                    raise TemplateError(
                        f"{self.path.name}: would hold {len(after['templates'])} templates, "
                        f"more than the {MAX_TEMPLATES} a library holds; nothing changed"
                    )
                if len(data) > MAX_FILE_BYTES:
                    raise TemplateError(
                        f"{self.path.name}: would be {len(data) / 2**20:.1f} MB, more than the "
                        f"{MAX_FILE_BYTES / 2**20:.0f} MB a library may be; nothing changed"
                    )
                write_atomically(self.path, data, durable=True)


def _json_bytes(document: dict) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _find(library: TemplateFile, name: str) -> Template:
    for template in library.templates:
        if template.name == name:
            return template
    known = ", ".join(t.name for t in library.templates) or "none yet"
    raise TemplateError(f"no template named {name!r} (known: {known})")


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise TemplateError(f"status: {status!r} is not one of {', '.join(STATUSES)}")


def _check_transition(template: Template, status: str) -> None:
    _check_status(status)
    if status != template.status and status not in TRANSITIONS[template.status]:
        raise TemplateError(
            f"status: {template.name!r} is {template.status}; it can become "
            f"{' or '.join(sorted(TRANSITIONS[template.status]))}, not {status}"
        )


def _imported(template: Template, source: str, now: datetime, saved_by: str | None) -> Template:
    provenance = template.provenance or Provenance(saved_at=now)
    note = f"imported from {source} on {now:%Y-%m-%d}"
    provenance = provenance.model_copy(
        update={
            "source": f"{provenance.source}; {note}" if provenance.source else note,
            "saved_by": saved_by if saved_by is not None else provenance.saved_by,
        }
    )
    return template.model_copy(update={"provenance": provenance})


def _free_name(name: str, taken: dict[str, int]) -> str:
    for n in range(2, 10_000):
        suffix = f"-{n}"
        candidate = name[: 64 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise TemplateError(f"name: no free name left for {name!r}")


def slugify(text: str) -> str:
    """A template name from free text: `Corporate Navy #3` -> `corporate-navy-3`."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64].strip("-")
    if not slug:
        raise TemplateError(f"name: {text!r} has no letters or digits to make a name from")
    return slug


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


# --- Making templates from the catalogue ---------------------------------------------------


def evidence(
    layout: DataLayout,
    *,
    prompt: str,
    seed: int,
    identity_scale: float,
    width: int,
    height: int,
    faces: Sequence[str] | None = None,
) -> tuple[list[str], list[str], str]:
    """The request keys and image hashes the catalogue holds for one candidate (the newest
    request per face), and the backend they came from."""
    sql = (
        "SELECT face_id, request_key, image_hash, backend, sweep_id FROM runs "
        "WHERE status = ? AND prompt = ? AND (seed = ? OR (seed = -1 AND seed_used = ?)) "
        "AND round(identity_scale, 4) = round(?, 4) AND width = ? AND height = ? "
        "ORDER BY created_at"
    )
    params = [STATUS_OK, prompt, seed, seed, identity_scale, width, height]
    rows = Catalogue(layout.catalogue).query(sql, params)
    if faces:
        rows = rows[rows["face_id"].isin(list(faces))]
    # The newest request per face is the evidence (older ones were superseded, e.g. re-runs).
    latest: dict[str, tuple[str, str]] = {}
    for face_id, sweep_id, key in zip(
        rows["face_id"], rows["sweep_id"], rows["request_key"], strict=True
    ):
        latest[face_id] = (sweep_id, key)
    keys, hashes, backends = [], [], set()
    for row in rows.itertuples(index=False):
        if latest[row.face_id] == (row.sweep_id, row.request_key):
            keys.append(row.request_key)
            hashes.append(row.image_hash)
            backends.add(row.backend)
    return list(dict.fromkeys(keys)), list(dict.fromkeys(hashes)), ", ".join(sorted(backends))


def scores_of(row: Mapping[str, Any]) -> TemplateScores:
    """A leaderboard row's scores, as a template keeps them (NaN and missing become None)."""

    def number(name: str) -> float | None:
        value = row.get(name)
        if value is None or pd.isna(value):
            return None
        return float(value)

    worst = row.get("worst_face")
    faces = number("faces")
    return TemplateScores(
        consistency=number("consistency"),
        worst_face_consistency=number("worst_face_consistency"),
        worst_face=None if worst is None or pd.isna(worst) else str(worst),
        identity=number("identity"),
        rating=number("rating"),
        ratings=int(number("ratings") or 0),
        faces=None if faces is None else int(faces),
    )


def current_scores(
    layout: DataLayout, *, prompt: str, seed: int, identity_scale: float, width: int, height: int
) -> TemplateScores | None:
    """The candidate's leaderboard scores now (None if it has no stored images)."""
    board = leaderboard(layout)
    if board.empty:
        return None
    match = board[
        (board["prompt"] == prompt)
        & (board["seed"] == seed)
        & ((board["identity_scale"] - identity_scale).abs() < 1e-6)
        & (board["width"] == width)
        & (board["height"] == height)
    ]
    return scores_of(match.iloc[0].to_dict()) if len(match) else None


def template_from_leaderboard(
    layout: DataLayout, rank: int, *, sort: str = "consistency", **fields: Any
) -> Template:
    """A template from the leaderboard's row `rank` (1 = best by `sort`), with its scores."""
    board = leaderboard(layout, sort=sort)
    if board.empty:
        raise TemplateError("rank: the leaderboard is empty; run a sweep and `workbench score`")
    if not 1 <= rank <= len(board):
        raise TemplateError(f"rank: {rank} is not between 1 and {len(board)} (the leaderboard)")
    row = board.iloc[rank - 1].to_dict()
    return template_from_catalogue(
        layout,
        prompt=str(row["prompt"]),
        seed=int(row["seed"]),
        identity_scale=float(row["identity_scale"]),
        width=int(row["width"]),
        height=int(row["height"]),
        scores=scores_of(row),
        source=f"leaderboard rank {rank} by {sort}",
        **fields,
    )


def template_from_catalogue(
    layout: DataLayout,
    *,
    name: str,
    prompt: str,
    seed: int,
    identity_scale: float = 0.8,
    width: int = 768,
    height: int = 1024,
    category: str = "general",
    notes: str = "",
    saved_by: str | None = None,
    source: str = "saved by hand",
    scores: TemplateScores | None = None,
) -> Template:
    """A candidate template with its provenance filled from the catalogue (request keys, image
    hashes, backend) and, unless given, its current leaderboard scores. TemplateError if the
    fields are invalid."""
    candidate = {
        "prompt": prompt,
        "seed": seed,
        "identity_scale": identity_scale,
        "width": width,
        "height": height,
    }
    keys, hashes, backend = evidence(layout, **candidate)
    if scores is None and hashes:
        scores = current_scores(layout, **candidate)
    try:
        return Template(
            name=name,
            category=category,
            prompt=prompt,
            seed=seed,
            identity_scale=identity_scale,
            width=width,
            height=height,
            notes=notes,
            scores=scores,
            provenance=Provenance(
                request_keys=keys,
                image_hashes=hashes,
                saved_by=current_user() if saved_by is None else saved_by,
                saved_at=datetime.now(UTC),
                backend=backend,
                source=source,
            ),
        )
    except ValidationError as exc:
        raise TemplateError(_describe(exc, {})) from None


def template_from_request_key(layout: DataLayout, key: str, **fields: Any) -> Template:
    """A template from one catalogue request (its prompt, seed, scale and size)."""
    rows = Catalogue(layout.catalogue).query(
        "SELECT prompt, seed, seed_used, identity_scale, width, height FROM runs "
        "WHERE request_key = ? ORDER BY created_at DESC LIMIT 1",
        [key],
    )
    if rows.empty:
        raise TemplateError(f"request key: {key!r} is not in the catalogue")
    row = rows.iloc[0]
    seed = int(row["seed"])
    if seed < 1:
        if row["seed_used"] is None or str(row["seed_used"]) == "<NA>":
            raise TemplateError(
                f"request key: {key} asked for a random seed and the backend did not say which "
                "it used; a template needs a fixed seed"
            )
        seed = int(row["seed_used"])
    return template_from_catalogue(
        layout,
        prompt=str(row["prompt"]),
        seed=seed,
        identity_scale=float(row["identity_scale"]),
        width=int(row["width"]),
        height=int(row["height"]),
        source=f"request key {key}",
        **fields,
    )
