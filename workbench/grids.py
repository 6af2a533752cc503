"""Contact sheets of a sweep: faces down the side, seeds, prompts or identity scales across, the
remaining axes (and sizes) paged; every cell labelled, scored where scores exist, clickable.

`load_grid` reads the catalogue (one DuckDB query) into cells, `plan_pages` decides the pages
(capping their size: downscaled, then split, and saying so), `draw_page` renders one with
Pillow. `render_grids`/`render_grid` do all three; `save_grid_png` writes a PNG carrying the
sweep's parameters, which `restore_grid_params` reads back (`workbench grid --restore`).
"""

from __future__ import annotations

import difflib
import importlib.util
import itertools
import json
import math
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from workbench.catalogue import STATUS_OK, Catalogue
from workbench.contract import SEED_RANDOM, Prompt, check_prompt
from workbench.errors import InputError, WorkbenchError
from workbench.layout import DataLayout
from workbench.panel import Face, Panel
from workbench.scoring.candidates import Candidate, ScoredImages, candidate_score
from workbench.store import ImageStore, fit_within
from workbench.sweep import Sweep
from workbench.untrusted_json import UnreadableJson, load_untrusted_json, quoted

Axis = Literal["seed", "prompt", "scale"]
AXES: tuple[Axis, ...] = ("seed", "prompt", "scale")
CellStatus = Literal["ok", "failed", "not run", "image missing"]

# PNG text key holding the grid's parameters (JSON); bumped if their meaning changes.
METADATA_KEY = "workbench.grid"
METADATA_VERSION = 1
# Output caps: well under Pillow's decompression-bomb limit (~89 MP) and the 65,535 px side
# limit that A1111 users hit, so every grid opens anywhere (and in `--restore`).
MAX_SIDE = 16_000
MAX_PIXELS = 60_000_000
# A grid is downscaled no further than this (thumbnail long side); beyond, it is split.
MIN_THUMB = 96
# JSON objects a grid's metadata may hold (it has one): a crafted file stops the parse early.
_MAX_METADATA_OBJECTS = 16
_MAX_METADATA_ARRAYS = 32  # it has 11 lists
# Values a grid page's metadata lists per axis: a page is at most MAX_SIDE / MIN_THUMB (166)
# cells a side, so more is a crafted file (whose sweep would also print, or run, all of them).
_MAX_AXIS_VALUES = 1_000

_FAILED_REASONS = {
    "RateLimited": "rate limited",
    "TransientError": "server error or timeout",
    "MalformedReply": "malformed reply",
    "AuthError": "API key refused",
    "OutOfCredits": "out of credits",
    "InvalidRequest": "invalid request",
}


class GridError(WorkbenchError):
    """A grid cannot be made from what is in the catalogue and image store."""


# --- What a grid shows -----------------------------------------------------------------------


@dataclass(frozen=True)
class GridQuery:
    """Which catalogue rows a grid shows and how. Empty tuples mean "everything stored".

    `seeds` may include -1: every random-seed run is shown under the seed it actually had.
    `order_by` orders the face rows by panel attributes (`monk_skin_tone`, `age_band`, ...).
    """

    prompts: tuple[str, ...]
    seeds: tuple[int, ...] = ()
    identity_scales: tuple[float, ...] = ()
    sizes: tuple[tuple[int, int], ...] = ()
    faces: tuple[str, ...] = ()
    cols: Axis = "seed"
    order_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.prompts:
            raise InputError("prompt: give at least one non-empty prompt")
        try:  # the contract's rule: an error never quotes a 10 MB prompt back
            prompts = tuple(check_prompt(p) for p in self.prompts)
        except ValueError as exc:
            raise InputError(f"prompt: {exc}") from None
        if self.cols not in AXES:
            raise InputError(f"cols: {self.cols!r} is not one of {', '.join(AXES)}")
        object.__setattr__(self, "prompts", tuple(dict.fromkeys(prompts)))
        object.__setattr__(
            self, "identity_scales", tuple(round(s, 4) for s in self.identity_scales)
        )


@dataclass(frozen=True)
class GridStyle:
    """How a grid looks: thumbnail size (long side, px), font size, margin, title, size caps."""

    thumb: int = 256
    font_size: int = 15
    margin: int = 12
    title: str | None = None
    max_side: int = MAX_SIDE
    max_pixels: int = MAX_PIXELS
    min_thumb: int = MIN_THUMB

    def __post_init__(self) -> None:
        if not 32 <= self.thumb <= 1024:
            raise InputError("thumb: must be 32 … 1024 pixels")
        if not 6 <= self.font_size <= 96:
            raise InputError("font size: must be 6 … 96")
        if not 0 <= self.margin <= 200:
            raise InputError("margin: must be 0 … 200 pixels")


@dataclass(frozen=True)
class Column:
    """One value of an axis as shown: `value` is the seed used, prompt or identity scale.

    `random` marks a seed the sweep asked as -1 (the server picked `value`); `value` None means
    the backend did not report which seed it picked.
    """

    axis: Axis
    value: Any
    random: bool = False

    @property
    def label(self) -> str:
        if self.axis == "seed":
            if self.value is None:
                return "seed random (not reported)"
            return f"seed {self.value}" + (" (random)" if self.random else "")
        if self.axis == "scale":
            return f"identity {self.value:g}"
        return str(self.value)

    @property
    def short(self) -> str:
        """For the label printed on each cell."""
        if self.axis == "prompt":
            return _shorten(str(self.value), 28)
        return self.label


@dataclass(frozen=True)
class CandidateKey:
    """One style candidate: what a column's consistency score is about."""

    prompt: str
    seed: int | None  # the seed used
    identity_scale: float
    width: int
    height: int


@dataclass(frozen=True)
class GridCellData:
    """What the catalogue says about one (face, candidate): images, or why there are none."""

    face_id: str
    candidate: CandidateKey
    random_seed: bool
    status: CellStatus
    images: tuple[str, ...] = ()  # image hashes in sample order
    request_key: str | None = None
    reason: str | None = None  # for a failed cell: "rate limited", ...
    backend: str | None = None


@dataclass
class GridData:
    """Every cell the query selects, plus the faces (rows) and what was found on each axis."""

    query: GridQuery
    faces: list[Face | str]  # panel faces, or bare ids of faces no longer in the panel
    cells: dict[tuple[str, CandidateKey], GridCellData]
    prompts: list[str]
    seeds: list[tuple[int | None, bool]]  # (seed used, random)
    scales: list[float]
    sizes: list[tuple[int, int]]
    backends: list[str]
    sample_number: int

    def face_ids(self) -> list[str]:
        return [_face_id(face) for face in self.faces]


@dataclass(frozen=True)
class GridScores:
    """Scores drawn as badges: identity per image hash, consistency per column's candidate."""

    identity: Mapping[str, float] = field(default_factory=dict)
    consistency: Mapping[CandidateKey, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.identity or self.consistency)


ScoreLookup = Callable[[DataLayout, GridData], GridScores]


def grid_scores(layout: DataLayout, data: GridData) -> GridScores:
    """The badges' scores from the scoring stores (`workbench score` fills them): each image's
    identity similarity to its reference face, and each column's style consistency over the
    faces the grid shows (`candidate_score`). Unscored images and columns get no badge."""
    shown = {image for cell in data.cells.values() for image in cell.images}
    if not shown:
        return GridScores()
    faces = data.face_ids()
    scored = ScoredImages.load(layout, faces)
    images = scored.images[scored.images["image_hash"].isin(shown)]
    identity = {
        str(image_hash): float(value)
        for image_hash, value in zip(images["image_hash"], images["identity"], strict=True)
        if value is not None and not math.isnan(value)
    }
    consistency = {}
    for key in {cell.candidate for cell in data.cells.values() if cell.status == "ok"}:
        if key.seed is None:
            continue
        candidate = Candidate(key.prompt, key.seed, key.identity_scale, key.width, key.height)
        try:
            score = candidate_score(scored, candidate, faces)
        except InputError:  # nothing scored for it among these faces
            continue
        if not math.isnan(score.consistency) and score.faces >= 2:
            consistency[key] = score.consistency
    return GridScores(identity, consistency)


@dataclass(frozen=True)
class GridPage:
    """One image of a grid: the fixed values of the paged axes, its rows and columns."""

    number: int  # 1-based
    total: int
    fixed: dict[str, Any]  # the paged axes' values: prompt / seed / scale, and "size"
    candidate_of: Callable[[Column], CandidateKey] = field(repr=False, compare=False)
    rows: list[Face | str] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    thumb: int = 256
    notes: list[str] = field(default_factory=list)  # downscaled / split, said in the legend


@dataclass(frozen=True)
class GridCell:
    """Where one image (or one labelled tile) sits in a rendered grid: `box` is
    (left, top, right, bottom) in the grid image's pixels."""

    row: int
    column: int
    face_id: str
    column_label: str
    status: CellStatus
    box: tuple[int, int, int, int]
    image_hash: str | None = None
    sample_index: int | None = None
    request_key: str | None = None
    candidate: CandidateKey | None = None


@dataclass
class Grid:
    """A rendered page: the PIL image, its cells (what is where) and its parameters."""

    image: Image.Image
    cells: list[GridCell]
    page: GridPage
    params: dict[str, Any]

    def cell_at(self, x: int, y: int) -> GridCell | None:
        """The cell under a pixel (what the app does on a click)."""
        for cell in self.cells:
            left, top, right, bottom = cell.box
            if left <= x < right and top <= y < bottom:
                return cell
        return None


# --- Reading the catalogue -----------------------------------------------------------------


_COLUMNS = (
    "sweep_id, request_key, created_at, backend, prompt, seed, seed_used, sample_number, "
    "sample_index, identity_scale, width, height, face_id, image_hash, status, error_class, error"
)


def load_grid(layout: DataLayout, query: GridQuery) -> GridData:
    """The cells a query selects, from the catalogue; GridError if there are none."""
    rows = _query_rows(_catalogue(layout.catalogue), query)
    if rows.empty:
        prompts = "; ".join(repr(p) for p in query.prompts)
        raise GridError(
            f"prompt: no catalogue rows for {prompts} with these filters; run it first "
            "(`workbench sweep FILE.toml`, or `workbench grid ... --run`)"
            + _did_you_mean(layout, query)
            + ". Rows of erased faces are gone."
        )
    cells: dict[tuple[str, CandidateKey], dict[str, Any]] = {}
    for row in rows.itertuples(index=False):
        _absorb(cells, row)
    data_cells = {key: _finish(state) for key, state in cells.items()}
    found_faces = list(dict.fromkeys(rows["face_id"]))
    return GridData(
        query=query,
        faces=_rows_of_faces(layout, query, found_faces),
        cells=data_cells,
        prompts=[p for p in query.prompts if p in set(rows["prompt"])],
        seeds=_seed_columns(query, data_cells.values()),
        scales=list(query.identity_scales)
        or sorted({c.candidate.identity_scale for c in data_cells.values()}),
        sizes=list(query.sizes)
        or sorted({(c.candidate.width, c.candidate.height) for c in data_cells.values()}),
        backends=sorted({c.backend for c in data_cells.values() if c.backend}),
        sample_number=max(
            (len(c.images) for c in data_cells.values() if c.status == "ok"), default=1
        ),
    )


@lru_cache(maxsize=8)
def _catalogue(path: Path) -> Catalogue:
    # One per folder and process: its DuckDB connection costs ~50 ms to open.
    return Catalogue(path)


def _did_you_mean(layout: DataLayout, query: GridQuery) -> str:
    known = _catalogue(layout.catalogue).query("SELECT DISTINCT prompt FROM runs")["prompt"]
    close = [
        match
        for prompt in query.prompts
        for match in difflib.get_close_matches(prompt, list(known), n=2, cutoff=0.6)
    ]
    if close:
        return "; did you mean " + " or ".join(repr(p) for p in dict.fromkeys(close)) + "?"
    if len(known):
        return f"; the catalogue has {len(known)} other prompt(s) (`workbench catalogue show`)"
    return "; the catalogue is empty"


def _query_rows(catalogue: Catalogue, query: GridQuery):
    where = [f"prompt IN ({', '.join('?' * len(query.prompts))})"]
    params: list[Any] = list(query.prompts)
    if query.seeds:
        fixed = [s for s in query.seeds if s != SEED_RANDOM]
        seed_terms = []
        if fixed:
            # A seed the server once picked for a -1 request is the same style when asked again.
            marks = ", ".join("?" * len(fixed))
            seed_terms.append(f"seed IN ({marks}) OR (seed = -1 AND seed_used IN ({marks}))")
            params += fixed + fixed
        if SEED_RANDOM in query.seeds:
            seed_terms.append("seed = -1")
        where.append("(" + " OR ".join(seed_terms) + ")")
    if query.faces:
        where.append(f"face_id IN ({', '.join('?' * len(query.faces))})")
        params += list(query.faces)
    if query.sizes:
        where.append("(" + " OR ".join("(width = ? AND height = ?)" for _ in query.sizes) + ")")
        params += [v for size in query.sizes for v in size]
    if query.identity_scales:
        where.append(f"round(identity_scale, 4) IN ({', '.join('?' * len(query.identity_scales))})")
        params += list(query.identity_scales)
    sql = f"SELECT {_COLUMNS} FROM runs WHERE {' AND '.join(where)} ORDER BY created_at"
    return catalogue.query(sql, params)


def _absorb(cells: dict, row) -> None:
    random = row.seed == SEED_RANDOM
    seed_used = None if _is_null(row.seed_used) else int(row.seed_used)
    seed = seed_used if random else int(row.seed)
    candidate = CandidateKey(
        row.prompt, seed, round(float(row.identity_scale), 4), int(row.width), int(row.height)
    )
    state = cells.setdefault(
        (row.face_id, candidate),
        {"face": row.face_id, "candidate": candidate, "random": random, "ok": {}, "failed": None},
    )
    if row.status == STATUS_OK:
        # Rows arrive oldest first: the last request (sweep run + key) to store images wins.
        batch = (row.sweep_id, row.request_key)
        images = state["ok"].setdefault(batch, {})
        images[int(row.sample_index)] = row.image_hash
        state["ok_latest"] = batch
        state["backend"] = row.backend
    else:
        state["failed"] = (row.error_class, row.error, row.request_key, row.backend)


def _finish(state: dict) -> GridCellData:
    base = {
        "face_id": state["face"],
        "candidate": state["candidate"],
        "random_seed": state["random"],
    }
    if state["ok"]:
        batch = state["ok_latest"]
        images = state["ok"][batch]
        return GridCellData(
            **base,
            status="ok",
            images=tuple(images[i] for i in sorted(images)),
            request_key=batch[1],
            backend=state["backend"],
        )
    error_class, error, key, backend = state["failed"]
    reason = _FAILED_REASONS.get(error_class) or _shorten(str(error or error_class), 40)
    return GridCellData(**base, status="failed", request_key=key, reason=reason, backend=backend)


def _rows_of_faces(layout: DataLayout, query: GridQuery, found: list[str]) -> list[Face | str]:
    panel = Panel(layout)
    ordered = panel.faces(order_by=list(query.order_by) or None)
    by_id = {face.id: face for face in ordered}
    if query.faces:
        return [by_id.get(face_id, face_id) for face_id in dict.fromkeys(query.faces)]
    # The whole panel (faces never run show "not run"), then faces only the catalogue knows.
    return [*ordered, *[face_id for face_id in found if face_id not in by_id]]


def _seed_columns(query: GridQuery, cells) -> list[tuple[int | None, bool]]:
    # A column is "random" when every image in it came from a seed -1 request.
    random: dict[int | None, bool] = {}
    for cell in cells:
        seed = cell.candidate.seed
        random[seed] = random.get(seed, True) and cell.random_seed
    if not query.seeds:
        order = sorted(random, key=lambda s: (random[s], s is None, s or 0))
        return [(seed, random[seed]) for seed in order]
    columns = [(s, random.get(s, False)) for s in dict.fromkeys(query.seeds) if s != SEED_RANDOM]
    if SEED_RANDOM in query.seeds:
        listed = {seed for seed, _ in columns}
        extra = sorted(
            (s for s in random if random[s] and s not in listed), key=lambda s: (s is None, s or 0)
        )
        columns += [(seed, True) for seed in extra]
    return columns


# --- Pages ---------------------------------------------------------------------------------


def plan_pages(
    data: GridData, style: GridStyle = GridStyle(), scores: GridScores | None = None
) -> list[GridPage]:
    """The pages of a grid: one per value of the paged axes and size, each within the caps
    (downscaled down to `style.min_thumb`, then split into parts), saying which in `notes`."""
    scores = scores or GridScores()
    cols = data.query.cols
    axis_values: dict[str, list[Column]] = {
        "seed": [Column("seed", seed, random) for seed, random in data.seeds],
        "prompt": [Column("prompt", prompt) for prompt in data.prompts],
        "scale": [Column("scale", scale) for scale in data.scales],
    }
    paged = [axis for axis in AXES if axis != cols]
    pages: list[GridPage] = []
    for combo in itertools.product(*(axis_values[a] for a in paged), data.sizes):
        fixed: dict[str, Any] = dict(zip(paged, combo[:-1], strict=True))
        fixed["size"] = combo[-1]
        candidate_of = _candidate_function(fixed)

        def has_cells(column: Column, candidate_of=candidate_of) -> bool:
            candidate = candidate_of(column)
            return any((face_id, candidate) in data.cells for face_id in data.face_ids())

        # A random seed belongs to the runs that drew it: no column of "not run" elsewhere.
        columns = [c for c in axis_values[cols] if not c.random or has_cells(c)]
        if not any(has_cells(c) for c in columns):
            continue  # a combination no sweep asked for
        page = GridPage(0, 0, fixed, candidate_of, list(data.faces), columns, style.thumb)
        pages.extend(_fit_page(page, data, style, scores))
    total = len(pages)
    return [replace(page, number=n, total=total) for n, page in enumerate(pages, 1)]


def _candidate_function(fixed: dict[str, Any]) -> Callable[[Column], CandidateKey]:
    width, height = fixed["size"]

    def candidate_of(column: Column) -> CandidateKey:
        chosen = {**fixed, column.axis: column}
        return CandidateKey(
            chosen["prompt"].value, chosen["seed"].value, chosen["scale"].value, width, height
        )

    return candidate_of


def _fit_page(
    page: GridPage, data: GridData, style: GridStyle, scores: GridScores
) -> list[GridPage]:
    geometry = _geometry(page, data, style, scores)
    if geometry.fits(style):
        return [page]
    # First downscale the thumbnails, as far as min_thumb.
    thumb = page.thumb
    while thumb > style.min_thumb and not geometry.fits(style):
        factor = min(style.max_side / geometry.width, style.max_side / geometry.height)
        factor = min(factor, math.sqrt(style.max_pixels / (geometry.width * geometry.height)))
        thumb = max(style.min_thumb, min(thumb - 8, int(thumb * factor)))
        geometry = _geometry(replace(page, thumb=thumb), data, style, scores)
    caps = f"{style.max_side:,} px a side and {style.max_pixels / 1e6:.0f} MP"
    notes = []
    if thumb < page.thumb:
        notes.append(
            f"downscaled to {thumb} px thumbnails (asked {page.thumb}) to stay within {caps}"
        )
    page = replace(page, thumb=thumb, notes=notes)
    if geometry.fits(style):
        return [page]
    # Then split into parts, halving the longer way until each part fits.
    leaves = _split(page, 0, 0, data, style, scores)
    parts = []
    for index, (part, row0, col0) in enumerate(leaves, 1):
        note = (
            f"split: part {index} of {len(leaves)} (faces {row0 + 1}–{row0 + len(part.rows)}, "
            f"columns {col0 + 1}–{col0 + len(part.columns)}) to stay within {caps}"
        )
        parts.append(replace(part, notes=[*notes, note]))
    return parts


def _split(
    page: GridPage, row0: int, col0: int, data: GridData, style: GridStyle, scores: GridScores
) -> list[tuple[GridPage, int, int]]:
    geometry = _geometry(page, data, style, scores)
    if geometry.fits(style) or (len(page.rows) <= 1 and len(page.columns) <= 1):
        return [(page, row0, col0)]
    by_columns = len(page.columns) > 1 and (
        geometry.width >= geometry.height or len(page.rows) <= 1
    )
    if by_columns:
        half = len(page.columns) // 2
        first = replace(page, columns=page.columns[:half])
        second = replace(page, columns=page.columns[half:])
        return _split(first, row0, col0, data, style, scores) + _split(
            second, row0, col0 + half, data, style, scores
        )
    half = len(page.rows) // 2
    first = replace(page, rows=page.rows[:half])
    second = replace(page, rows=page.rows[half:])
    return _split(first, row0, col0, data, style, scores) + _split(
        second, row0 + half, col0, data, style, scores
    )


# --- Geometry and drawing ------------------------------------------------------------------

_BACKGROUND = (250, 250, 248)
_INK = (28, 28, 30)
_MUTED = (105, 105, 110)
_NOTE_INK = (160, 60, 0)
_FAILED_FILL, _FAILED_INK = (248, 215, 218), (132, 32, 41)
_NOT_RUN_FILL, _NOT_RUN_INK = (226, 228, 231), (90, 94, 100)
_MISSING_FILL, _MISSING_INK = (255, 236, 200), (120, 72, 0)
_GAP = 3  # between the samples of one cell


@dataclass
class _Text:
    lines: list[str]
    font: ImageFont.FreeTypeFont
    line_height: int

    @property
    def height(self) -> int:
        return len(self.lines) * self.line_height


def _text(text: str, size: int, width: int, *, bold: bool = False) -> _Text:
    font = _font(size, bold=bold)
    return _Text(wrap_text(text, font, max(1, width)), font, int(size * 1.3))


@dataclass
class _Geometry:
    """Every text wrapped and every size computed once: used to check the caps and to draw."""

    width: int
    height: int
    tile: tuple[int, int]
    cell: tuple[int, int]
    across: int
    label_w: int
    title: _Text
    subtitle: _Text
    notes: list[_Text]
    headers: list[_Text]
    header_h: int
    row_texts: list[_Text]
    row_heights: list[int]
    footer: _Text
    top: int

    def fits(self, style: GridStyle) -> bool:
        return (
            self.width <= style.max_side
            and self.height <= style.max_side
            and self.width * self.height <= style.max_pixels
        )


def _geometry(page: GridPage, data: GridData, style: GridStyle, scores: GridScores) -> _Geometry:
    margin, size = style.margin, style.font_size
    tile_w, tile_h = fit_within(page.fixed["size"], page.thumb)
    across = math.ceil(math.sqrt(data.sample_number))
    down = math.ceil(data.sample_number / across)
    cell_w = across * tile_w + (across - 1) * _GAP
    cell_h = down * tile_h + (down - 1) * _GAP
    bold = _font(size, bold=True)
    widest = max((bold.getlength(_face_id(face)) for face in page.rows), default=0)
    label_w = int(min(max(widest, 6 * size), 16 * size)) + 2 * margin
    width = label_w + len(page.columns) * (cell_w + margin) + 2 * margin
    inner = width - 2 * margin
    title = _text(style.title or _default_title(data, page), int(size * 1.45), inner, bold=True)
    subtitle = _text(_page_legend(data, page), size, inner)
    notes = [_text(note, size, inner) for note in page.notes]
    headers = [_text(_column_header(c, page, scores), size, cell_w) for c in page.columns]
    header_h = max((h.height for h in headers), default=0)
    row_texts = [_text(_row_label(face, data), size, label_w - margin) for face in page.rows]
    row_heights = [max(cell_h, text.height) for text in row_texts]
    footer = _text(
        "each cell: its images in sample order, labelled with face and column; red tile = "
        "failed request (reason shown), grey = not run, amber = image no longer in the store"
        + ("; badges: identity to the reference face" if scores.identity else ""),
        max(8, int(size * 0.85)),
        inner,
    )
    top = margin + title.height + subtitle.height + sum(n.height for n in notes) + margin
    height = top + header_h + margin + sum(h + margin for h in row_heights)
    height += footer.height + margin
    return _Geometry(
        width,
        height,
        (tile_w, tile_h),
        (cell_w, cell_h),
        across,
        label_w,
        title,
        subtitle,
        notes,
        headers,
        header_h,
        row_texts,
        row_heights,
        footer,
        top,
    )


def wrap_text(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines of `text` no wider than `width` px: wrapped at spaces, and inside words too long to
    fit, so nothing is ever cut."""
    return list(_wrapped(text, font, width))


@lru_cache(maxsize=8192)
def _wrapped(text: str, font: ImageFont.FreeTypeFont, width: int) -> tuple[str, ...]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while font.getlength(word) > width and len(word) > 1:
                cut = _fitting_prefix(word, font, width)
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return tuple(lines)


def _fitting_prefix(word: str, font: ImageFont.FreeTypeFont, width: int) -> int:
    low, high = 1, len(word)
    while low < high:
        mid = (low + high + 1) // 2
        if font.getlength(word[:mid]) <= width:
            low = mid
        else:
            high = mid - 1
    return low


def draw_page(
    page: GridPage,
    data: GridData,
    layout: DataLayout,
    style: GridStyle = GridStyle(),
    scores: GridScores | None = None,
) -> Grid:
    """Render one page with Pillow: title, legends, cells (images or labelled tiles), badges."""
    scores = scores or GridScores()
    store = ImageStore(layout)
    g = _geometry(page, data, style, scores)
    margin = style.margin
    cell_w, cell_h = g.cell
    tile_w, tile_h = g.tile
    thumbs = _thumbnails(store, page, data)
    canvas = Image.new("RGB", (g.width, g.height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    y = _draw_text(draw, g.title, margin, margin, _INK)
    y = _draw_text(draw, g.subtitle, margin, y, _MUTED)
    for note in g.notes:
        y = _draw_text(draw, note, margin, y, _NOTE_INK)
    x0 = margin + g.label_w
    for c, header in enumerate(g.headers):
        _draw_text(draw, header, x0 + c * (cell_w + margin), g.top, _INK)

    cells: list[GridCell] = []
    small = _font(max(8, int(style.font_size * 0.8)))
    y = g.top + g.header_h + margin
    for r, face in enumerate(page.rows):
        face_id = _face_id(face)
        _draw_text(draw, g.row_texts[r], margin, y, _INK)
        for c, column in enumerate(page.columns):
            x = x0 + c * (cell_w + margin)
            candidate = page.candidate_of(column)
            found = data.cells.get((face_id, candidate))
            common = {
                "row": r,
                "column": c,
                "face_id": face_id,
                "column_label": column.label,
                "candidate": candidate,
            }
            if found is None or found.status != "ok":
                status: CellStatus = "not run" if found is None else "failed"
                box = (x, y, x + cell_w, y + cell_h)
                _tile(
                    draw,
                    box,
                    "not run" if found is None else f"failed: {found.reason}",
                    status,
                    small,
                )
                key = found.request_key if found else None
                cells.append(GridCell(**common, status=status, box=box, request_key=key))
            else:
                for index, image_hash in enumerate(found.images):
                    sx = x + (index % g.across) * (tile_w + _GAP)
                    sy = y + (index // g.across) * (tile_h + _GAP)
                    box = (sx, sy, sx + tile_w, sy + tile_h)
                    status = _paste(canvas, draw, thumbs, image_hash, box, small)
                    identity = scores.identity.get(image_hash)
                    if identity is not None and status == "ok":
                        _badge(draw, (sx + 4, sy + 4), f"id {identity:.2f}", identity, small)
                    cells.append(
                        GridCell(
                            **common,
                            status=status,
                            box=box,
                            image_hash=image_hash,
                            sample_index=index,
                            request_key=found.request_key,
                        )
                    )
            _caption(draw, (x, y + cell_h), f"{face_id} · {column.short}", small, cell_w)
        y += g.row_heights[r] + margin
    _draw_text(draw, g.footer, margin, y, _MUTED)

    shown = [cell for cell in cells if cell.status in ("ok", "image missing")]
    if shown and all(cell.status == "image missing" for cell in shown):
        raise GridError(
            f"the images of this grid are no longer in {store.root} (erased or deleted); "
            "re-run the sweep to make them again"
        )
    return Grid(canvas, cells, page, grid_params(data, page))


def _thumbnails(store: ImageStore, page: GridPage, data: GridData) -> dict[str, Image.Image | None]:
    """Every thumbnail the page shows (None: the image is gone), made in parallel when cold:
    libjpeg's decode and encode release the GIL."""
    hashes = list(
        dict.fromkeys(
            image_hash
            for face in page.rows
            for column in page.columns
            if (found := data.cells.get((_face_id(face), page.candidate_of(column))))
            for image_hash in found.images
        )
    )

    def load(image_hash: str) -> Image.Image | None:
        try:
            return store.thumbnail_image(image_hash, page.thumb)
        except InputError:
            return None

    if len(hashes) < 8:
        return {h: load(h) for h in hashes}
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return dict(zip(hashes, pool.map(load, hashes), strict=True))


def _paste(canvas, draw, thumbs: dict, image_hash: str, box, font) -> CellStatus:
    image = thumbs.get(image_hash)
    if image is None:
        _tile(draw, box, "image missing (erased?)", "image missing", font)
        return "image missing"
    left, top, right, bottom = box
    canvas.paste(
        image, (left + (right - left - image.width) // 2, top + (bottom - top - image.height) // 2)
    )
    return "ok"


def _draw_text(draw: ImageDraw.ImageDraw, text: _Text, x: int, y: int, fill) -> int:
    for line in text.lines:
        _put_text(draw, (x, y), line, text.font, fill)
        y += text.line_height
    return y


def _put_text(draw: ImageDraw.ImageDraw, at: tuple[int, int], text: str, font, fill) -> None:
    # Rendering a string costs ~1 ms; a grid repeats the same few (face ids, seeds, "not run"),
    # so each is rendered once into a mask and stamped from then on.
    draw.bitmap(at, _text_mask(text, font), fill=fill)


@lru_cache(maxsize=8192)
def _text_mask(text: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    _, _, right, bottom = font.getbbox(text)
    mask = Image.new("L", (max(1, int(right) + 1), max(1, int(bottom) + 1)))
    ImageDraw.Draw(mask).text((0, 0), text, font=font, fill=255)
    return mask


def _tile(draw, box, text: str, status: CellStatus, font) -> None:
    fill, ink = {
        "failed": (_FAILED_FILL, _FAILED_INK),
        "not run": (_NOT_RUN_FILL, _NOT_RUN_INK),
        "image missing": (_MISSING_FILL, _MISSING_INK),
    }[status]
    draw.rectangle(box, fill=fill)
    left, top, right, bottom = box
    lines = wrap_text(text, font, right - left - 12)
    line_h = int(font.size * 1.3)
    y = top + (bottom - top - line_h * len(lines)) // 2
    for line in lines:
        _put_text(
            draw, (left + (right - left - int(font.getlength(line))) // 2, y), line, font, ink
        )
        y += line_h


def _badge(draw, at: tuple[int, int], text: str, value: float, font) -> None:
    fill = (46, 125, 50) if value >= 0.8 else (200, 130, 0) if value >= 0.6 else (183, 28, 28)
    x, y = at
    pad = 3
    w = font.getlength(text) + 2 * pad
    draw.rounded_rectangle((x, y, x + w, y + font.size + 2 * pad), radius=4, fill=fill)
    _put_text(draw, (x + pad, y + pad - 1), text, font, (255, 255, 255))


def _caption(draw, bottom_left: tuple[int, int], text: str, font, width: int) -> None:
    # On the image itself, so the cell's values stay with it when zoomed in or cropped.
    x, bottom = bottom_left
    line_h = int(font.size * 1.3)
    lines = wrap_text(text, font, width - 8)
    top = bottom - line_h * len(lines) - 4
    draw.rectangle((x, top, x + width, bottom), fill=(0, 0, 0))
    for n, line in enumerate(lines):
        _put_text(draw, (x + 4, top + 2 + n * line_h), line, font, (255, 255, 255))


def _default_title(data: GridData, page: GridPage) -> str:
    if "prompt" in page.fixed:
        return page.fixed["prompt"].value
    return " | ".join(data.prompts)


def _page_legend(data: GridData, page: GridPage) -> str:
    parts = []
    for axis in ("prompt", "seed", "scale"):
        if axis in page.fixed and axis != "prompt":
            parts.append(page.fixed[axis].label)
    if "prompt" in page.fixed and page.fixed["prompt"].value != _default_title(data, page):
        parts.append(f"prompt: {page.fixed['prompt'].value}")
    width, height = page.fixed["size"]
    parts.append(f"{width}×{height}")
    if data.sample_number > 1:
        parts.append(f"sampleNumber {data.sample_number} (samples side by side in each cell)")
    parts.append(
        f"rows: faces{' by ' + ', '.join(data.query.order_by) if data.query.order_by else ''}"
    )
    parts.append(f"columns: {data.query.cols}")
    parts.append("backend: " + (", ".join(data.backends) or "unknown"))
    if page.total > 1:
        parts.append(f"page {page.number} of {page.total}")
    return " · ".join(parts)


def _column_header(column: Column, page: GridPage, scores: GridScores) -> str:
    text = column.label
    consistency = scores.consistency.get(page.candidate_of(column))
    if consistency is not None:
        text += f"\nconsistency {consistency:.2f}"
    return text


def _row_label(face: Face | str, data: GridData) -> str:
    if isinstance(face, str):
        return f"{face}\n(not in the panel)"
    extra = [
        f"{key}: {getattr(face, key)}" for key in data.query.order_by if getattr(face, key, "")
    ]
    return "\n".join([face.id, *extra])


def _face_id(face: Face | str) -> str:
    return face if isinstance(face, str) else face.id


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "<NA>"


@lru_cache(maxsize=64)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans from matplotlib's package data (a dependency), so every machine has it;
    Pillow's own bundled font if it is somehow missing."""
    path = _dejavu(bold)
    if path is not None:
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


@lru_cache(maxsize=2)
def _dejavu(bold: bool) -> Path | None:
    spec = importlib.util.find_spec("matplotlib")  # found without importing matplotlib
    if spec is None or not spec.submodule_search_locations:
        return None
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / name
    return path if path.exists() else None


# --- The whole grid ------------------------------------------------------------------------


def render_grids(
    layout: DataLayout,
    query: GridQuery,
    style: GridStyle = GridStyle(),
    *,
    scores: GridScores | ScoreLookup | None = None,
    pages: Sequence[int] | None = None,
) -> list[Grid]:
    """Every page of a grid (or the 1-based `pages` asked), rendered.

    `scores` is a `GridScores` mapping, or a function `(layout, data) -> GridScores` that looks
    them up (`grid_scores`, from the scoring stores, is what the CLI and the app pass).
    """
    data = load_grid(layout, query)
    resolved = scores(layout, data) if callable(scores) else scores
    planned = plan_pages(data, style, resolved)
    if not planned:
        raise GridError("nothing to draw: the query selects no cells")
    if pages:
        wanted = list(dict.fromkeys(pages))
        bad = [n for n in wanted if not 1 <= n <= len(planned)]
        if bad:
            raise InputError(f"page: {bad[0]} is not between 1 and {len(planned)}")
        planned = [planned[n - 1] for n in wanted]
    return [draw_page(page, data, layout, style, resolved) for page in planned]


def render_grid(
    layout: DataLayout,
    query: GridQuery,
    style: GridStyle = GridStyle(),
    *,
    page: int = 1,
    scores: GridScores | ScoreLookup | None = None,
) -> Grid:
    """One page of a grid (1-based), rendered: `grid.image` and `grid.cells`."""
    return render_grids(layout, query, style, scores=scores, pages=[page])[0]


# --- Saving and restoring ------------------------------------------------------------------


def grid_params(data: GridData, page: GridPage) -> dict[str, Any]:
    """The sweep behind a page, for the PNG: enough to re-run it (seeds as actually used)."""
    columns = page.columns
    seeds = [c.value for c in columns] if data.query.cols == "seed" else [page.fixed["seed"].value]
    random = (
        [c.value for c in columns if c.random]
        if data.query.cols == "seed"
        else ([page.fixed["seed"].value] if page.fixed["seed"].random else [])
    )
    prompts = (
        [c.value for c in columns] if data.query.cols == "prompt" else [page.fixed["prompt"].value]
    )
    scales = (
        [c.value for c in columns] if data.query.cols == "scale" else [page.fixed["scale"].value]
    )
    width, height = page.fixed["size"]
    return {
        "version": METADATA_VERSION,
        "prompts": prompts,
        "seeds": [s for s in seeds if s is not None],
        "random_seeds": [s for s in random if s is not None],
        "identity_scales": scales,
        "sizes": [f"{width}x{height}"],
        "sample_number": data.sample_number,
        "faces": [_face_id(face) for face in page.rows],
        "backend": data.backends,
        "cols": data.query.cols,
        "order_by": list(data.query.order_by),
        "page": page.number,
        "pages": page.total,
        "notes": page.notes,
    }


def save_grid_png(grid: Grid, path: str | Path, *, compress_level: int = 1) -> Path:
    """Write the grid as PNG with its parameters in the text metadata (key `workbench.grid`)."""
    path = Path(path)
    info = PngImagePlugin.PngInfo()
    info.add_text(METADATA_KEY, json.dumps(grid.params, ensure_ascii=False))
    info.add_text("Title", grid.params["prompts"][0] if grid.params["prompts"] else "grid")
    info.add_text("Software", "headshot-workbench grid")
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.image.save(path, format="PNG", pnginfo=info, compress_level=compress_level)
    return path


@dataclass(frozen=True)
class RestoredGrid:
    """What a grid PNG says about the sweep behind it."""

    params: dict[str, Any]

    def query(self) -> GridQuery:
        p = self.params
        return GridQuery(
            prompts=tuple(p["prompts"]),
            seeds=tuple(p["seeds"]),
            identity_scales=tuple(p["identity_scales"]),
            sizes=tuple(_parse_size(s) for s in p["sizes"]),
            faces=tuple(p["faces"]),
            cols=p["cols"],
            order_by=tuple(p.get("order_by", ())),
        )

    def sweep(self, name: str = "restored grid") -> Sweep:
        """The sweep that makes this grid again: its seeds as used, so random ones repeat."""
        p = self.params
        return Sweep.build(
            source=name,
            name=name,
            prompts=p["prompts"],
            seeds=p["seeds"],
            identity_scales=p["identity_scales"],
            sizes=p["sizes"],
            sample_number=p["sample_number"],
            faces=p["faces"],
        )


class _GridMetadata(BaseModel):
    """What `restore_grid_params` needs from a grid's metadata, typed: a crafted file gets a
    line naming the field instead of a TypeError deep in the sweep."""

    model_config = ConfigDict(extra="ignore")

    prompts: list[Prompt] = Field(min_length=1, max_length=_MAX_AXIS_VALUES)
    seeds: list[int] = Field(max_length=_MAX_AXIS_VALUES)
    identity_scales: list[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] = Field(
        max_length=_MAX_AXIS_VALUES
    )
    sizes: list[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,5}x[0-9]{1,5}$")]] = Field(
        min_length=1, max_length=_MAX_AXIS_VALUES
    )
    sample_number: int = Field(1, ge=1, le=8)
    faces: list[str] = Field(max_length=_MAX_AXIS_VALUES)
    cols: Axis
    order_by: list[str] = Field(default_factory=list, max_length=_MAX_AXIS_VALUES)


def restore_grid_params(path: str | Path) -> RestoredGrid:
    """Read a grid PNG's parameters back; InputError (one line naming the file) if it is not a
    workbench grid, whatever was crafted into it. Only the chunks before the pixels are read:
    the pixels are never decoded."""
    path = Path(path)
    try:
        # PNG only: a grid is one, and no other format's opener (EPS's included) gets a look.
        with Image.open(path, formats=["PNG"]) as image:
            # `info`, not `text`: `text` decodes the whole image to reach chunks after it.
            text = {k: v for k, v in image.info.items() if isinstance(v, str)}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Image.DecompressionBombError:
        raise InputError(
            f"{path}: its header claims more pixels than Pillow will open "
            f"({Image.MAX_IMAGE_PIXELS * 2:,}); no workbench grid is that big"
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not a PNG image; a grid is saved as one") from None
    except OSError as exc:
        raise InputError(f"{path}: not an image ({exc})") from None
    except (ValueError, SyntaxError, EOFError, struct.error) as exc:
        # Pillow's own refusals of a damaged or crafted PNG: a zTXt chunk that decompresses
        # past its limit ("Decompressed data too large"), a broken chunk.
        raise InputError(f"{path}: a damaged or oversized PNG chunk ({exc})") from None
    raw = text.get(METADATA_KEY)
    if raw is None:
        raise InputError(
            f"{path}: no {METADATA_KEY} metadata; it was not saved by `workbench grid`"
        )
    try:
        params = load_untrusted_json(
            raw, max_objects=_MAX_METADATA_OBJECTS, max_arrays=_MAX_METADATA_ARRAYS
        )
    except json.JSONDecodeError:
        raise InputError(f"{path}: its {METADATA_KEY} metadata is not valid JSON") from None
    except UnreadableJson as exc:
        raise InputError(f"{path}: its {METADATA_KEY} metadata: {exc}") from None
    version = params.get("version") if isinstance(params, dict) else None
    if version != METADATA_VERSION:
        raise InputError(
            f"{path}: grid metadata version {quoted(version)}; "
            f"this workbench reads {METADATA_VERSION}"
        )
    missing = [
        k
        for k in ("prompts", "seeds", "identity_scales", "sizes", "faces", "cols")
        if k not in params
    ]
    if missing:
        raise InputError(f"{path}: grid metadata lacks {', '.join(missing)}")
    try:
        checked = _GridMetadata.model_validate(params)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False)[0]
        where = ".".join(str(part)[:40] for part in first["loc"])
        more = exc.error_count() - 1
        raise InputError(
            f"{path}: grid metadata {where}: {first['msg']}"
            + (f" (and {more} more)" if more else "")
        ) from None
    return RestoredGrid({**params, **checked.model_dump()})


def _parse_size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)
