"""What a sweep asks for and the plan it expands into: prompts x seeds x identity scales x sizes
over the panel's faces, one `Cell` (one API request) each, keyed by its `request_key`.

Everything here is pure: reading the TOML file is the only I/O, and planning takes the panel's
faces as data. Running a plan is `workbench.run`.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import secrets
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench.contract import (
    DEFAULT_IDENTITY_SCALE,
    ENDPOINT,
    SAMPLES_MAX,
    SEED_MAX,
    SEED_RANDOM,
    SIZE_MAX,
    SIZE_MIN,
    SIZE_PRESETS,
    PortraitParams,
    check_prompt,
    check_seed,
    is_simulator_identity,
)
from workbench.errors import InputError
from workbench.layout import read_regular_file
from workbench.panel import Face
from workbench.untrusted_json import quoted

# A sweep is meant to be looked at; a typo like "1-2000000000" must not plan two billion cells.
MAX_SEEDS = 100_000
# Sweep ids of runs that measure templates rather than hunt for them: a drift check's re-runs
# (possibly of a changed model) and a template applied to a new face. Their rows stay in the
# catalogue, but a candidate's scores leave them out, so a drift never rewrites the evidence.
DRIFT_CHECK_PREFIX = "drift-check-"
APPLY_PREFIX = "apply-"
NOT_CANDIDATE_EVIDENCE = (DRIFT_CHECK_PREFIX, APPLY_PREFIX)
MAX_CELLS = 1_000_000
# Bumped only if the canonical request changes meaning; the catalogue migrates old keys (v1 had
# no backend in it). docs/catalogue.md says how.
REQUEST_KEY_VERSION = 2
# A sweep file is a page of TOML; anything this big is a mistake (or not a sweep file).
MAX_SPEC_BYTES = 1_000_000

# Digits are bounded (12 is far past any seed or count) so int() never parses a huge number.
_RANGE = re.compile(
    r"(?P<start>\d{1,12})\s*-\s*(?P<end>\d{1,12})\s*"
    r"(?:\(\s*\+\s*(?P<step>\d{1,12})\s*\)|\[\s*(?P<count>\d{1,12})\s*\])?"
)

_RANDOM = re.compile(r"random\s*:\s*(?P<count>\d{1,12})")
_SIZE = re.compile(r"(?P<width>\d{1,6})\s*[xX×]\s*(?P<height>\d{1,6})")

SeedSpec = int | str


class Sweep(BaseModel):
    """A sweep specification, from a TOML file (`Sweep.load`) or built in Python.

    `seeds` keeps what the user wrote (ints, "1-50", "1-50 (+5)", "1-1000 [8]", "random:N", or
    comma-separated mixes); `seed_values()` expands it. A "random:N" spec draws from
    `seed_generator`, which is filled in (and so recorded) when the user leaves it out.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("", description="A label for the sweep, shown in summaries.")
    prompts: list[str] = Field(min_length=1, description="Prompts to try.")
    seeds: list[SeedSpec] = Field(min_length=1, description="Seeds or seed ranges.")
    seed_generator: int | None = Field(
        None, description="Generator seed for random:N seed specs; recorded when drawn."
    )
    identity_scales: list[float] = Field(
        default_factory=lambda: [DEFAULT_IDENTITY_SCALE], min_length=1
    )
    sizes: list[str] = Field(
        default_factory=lambda: ["3:4"], min_length=1, description='"WxH" or a preset (1:1, 3:4).'
    )
    sample_number: int = Field(1, ge=1, le=SAMPLES_MAX, description="Images per request.")
    faces: list[str] | Literal["all"] = Field(
        "all", description='Face ids (at least one), or "all".'
    )
    concurrency: int = Field(8, ge=1, le=256, description="Requests in flight at once.")
    max_images: int | None = Field(
        None, ge=0, description="Budget cap: never request more images than this in one run."
    )
    price_per_image: float = Field(
        0.0, ge=0.0, allow_inf_nan=False, description="For cost estimates and the log."
    )

    @field_validator("prompts", "seeds", "identity_scales", "sizes", "faces", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        # `seeds = true` must not become seed 1 (pydantic's lax mode turns True into 1).
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                raise ValueError(f"{str(item).lower()} is not a value here")
        # TOML users write `seeds = "1-50"` or `sizes = "3:4"` as often as a list.
        if isinstance(value, str | int | float) and value != "all":
            return [value]
        return value

    @field_validator("faces")
    @classmethod
    def _faces_named(cls, value: list[str] | str) -> list[str] | str:
        # `faces = []` must not read as "the panel is empty".
        if isinstance(value, list) and not value:
            raise ValueError('an empty list names no face; list face ids, or write "all"')
        return value

    @field_validator("prompts")
    @classmethod
    def _prompts_checked(cls, value: list[str]) -> list[str]:
        # The contract's prompt rule (not empty, at most PROMPT_MAX_CHARS), so that a sweep, a
        # hunt, a restored grid or the app's form is refused whole before anything is spent.
        checked = []
        for number, prompt in enumerate(value, 1):
            try:
                checked.append(check_prompt(prompt))
            except ValueError as exc:
                raise ValueError(f"prompt {number} {exc}") from None
        return checked

    @field_validator("seeds")
    @classmethod
    def _seeds_parse(cls, value: list[SeedSpec]) -> list[SeedSpec]:
        # Expand once with a throwaway generator so syntax errors surface at load time.
        expand_seeds(value, generator_seed=0)
        return value

    @field_validator("seed_generator", mode="after")
    @classmethod
    def _generator_positive(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("identity_scales")
    @classmethod
    def _scales_in_range(cls, value: list[float]) -> list[float]:
        for scale in value:
            if not 0.0 <= scale <= 1.0:
                raise ValueError(f"{scale} is outside 0 … 1")
        return [float(scale) for scale in value]

    @field_validator("sizes")
    @classmethod
    def _sizes_parse(cls, value: list[str]) -> list[str]:
        for size in value:
            parse_size(size)
        return value

    def model_post_init(self, __context: Any) -> None:
        # Record the generator seed the moment it is drawn, so the sweep can be repeated exactly.
        if self.seed_generator is None and any(_is_random_spec(spec) for spec in self.seeds):
            object.__setattr__(self, "seed_generator", secrets.randbelow(2**31))

    @classmethod
    def load(cls, path: str | Path) -> Sweep:
        """Read a TOML sweep file; InputError names the file, the field and its line."""
        path = Path(path)
        data = read_regular_file(path, limit=MAX_SPEC_BYTES, what="sweep file")
        try:
            # utf-8-sig: a byte-order mark (Windows Notepad writes one) is dropped, not an error.
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                "save the sweep file as UTF-8"
            ) from None
        return cls.from_toml(text, source=str(path))

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<sweep>") -> Sweep:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{source}: not valid TOML: {exc}") from None
        except RecursionError:  # arrays nested thousands deep: tomllib recurses
            raise InputError(f"{source}: nested too deeply to be a sweep file") from None
        except ValueError:  # an integer past Python's 4,300-digit conversion limit
            raise InputError(f"{source}: a number too long to be a seed or a count") from None
        # Allow the whole spec under a [sweep] table as well as at the top level.
        if set(data) == {"sweep"} and isinstance(data["sweep"], dict):
            data = data["sweep"]
        return cls.build(source=source, text=text, **data)

    @classmethod
    def build(cls, *, source: str = "sweep", text: str | None = None, **fields: Any) -> Sweep:
        """Validate fields into a Sweep, turning pydantic's errors into one InputError."""
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise InputError(
                _describe(exc, source=source, text=text, known=cls.model_fields)
            ) from None

    def seed_values(self) -> list[int]:
        return expand_seeds(self.seeds, generator_seed=self.seed_generator or 0)

    def size_values(self) -> list[tuple[int, int]]:
        return [parse_size(size) for size in self.sizes]

    def select_faces(self, faces: Sequence[Face]) -> list[Face]:
        """The panel faces this sweep covers; InputError names any id the panel lacks."""
        if self.faces == "all":
            return list(faces)
        by_id = {face.id: face for face in faces}
        missing = [face_id for face_id in self.faces if face_id not in by_id]
        if missing:
            known = ", ".join(by_id) or "none: add faces to the panel first"
            raise InputError(f"faces: no face with id {', '.join(missing)} (known: {known})")
        return [by_id[face_id] for face_id in dict.fromkeys(self.faces)]

    def to_toml(self) -> str:
        """The spec as TOML, with any drawn generator seed written out (reproducible)."""
        lines = []
        for name, value in self.model_dump(exclude_none=True).items():
            lines.append(f"{name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Cell:
    """One request of a plan: the style parameters and the face, identified by `key`."""

    params: PortraitParams
    face_id: str
    face_hash: str
    key: str
    # Sent even if stored: a template drift check must reach the API, whose model may have
    # changed under the same request key.
    rerun: bool = False

    @property
    def images(self) -> int:
        return self.params.sample_number

    @property
    def dedupable(self) -> bool:
        """Seed -1 asks for a fresh random style every time, so it is never served from store;
        nor is a cell marked `rerun`."""
        return self.params.reproducible and not self.rerun


@dataclass(frozen=True)
class Plan:
    """Every cell a sweep asks for, in order (prompt, seed, scale, size, then face)."""

    cells: list[Cell]

    @property
    def requests(self) -> int:
        return len(self.cells)

    @property
    def images(self) -> int:
        return sum(cell.images for cell in self.cells)

    def pending(self, stored_keys: Iterable[str]) -> list[Cell]:
        """Cells still to request: those whose key is not stored, plus every seed -1 cell."""
        stored = stored_keys if isinstance(stored_keys, set | frozenset) else set(stored_keys)
        return [cell for cell in self.cells if not cell.dedupable or cell.key not in stored]


def plan(sweep: Sweep, faces: Sequence[Face], *, backend: str) -> Plan:
    """Expand a sweep over the panel's faces into cells, keyed for `backend` (the identity of
    the API that will answer: "simulator" or a base URL). Pure: no files, no network."""
    check_backend(backend)
    chosen = sweep.select_faces(faces)
    if not chosen:
        raise InputError(
            "faces: the panel is empty; add faces first "
            "(`workbench faces add PHOTO...`, or `workbench faces demo` for the demo panel)"
        )
    seeds = sweep.seed_values()
    sizes = sweep.size_values()
    total = len(sweep.prompts) * len(seeds) * len(sweep.identity_scales) * len(sizes) * len(chosen)
    if total > MAX_CELLS:
        raise InputError(
            f"the sweep plans {total:,} requests (limit {MAX_CELLS:,}); narrow seeds or prompts"
        )
    cells: list[Cell] = []
    seen: set[str] = set()
    for prompt in dict.fromkeys(sweep.prompts):
        for seed in seeds:
            for scale in dict.fromkeys(sweep.identity_scales):
                for width, height in dict.fromkeys(sizes):
                    params = PortraitParams(
                        prompt=prompt,
                        seed=seed,
                        sample_number=sweep.sample_number,
                        identity_scale=scale,
                        width=width,
                        height=height,
                    )
                    for face in chosen:
                        key = request_key(params, face.hash, backend)
                        if params.reproducible and key in seen:
                            continue
                        seen.add(key)
                        cells.append(Cell(params, face.id, face.hash, key))
    return Plan(cells)


def request_key(params: PortraitParams, face_hash: str, backend: str) -> str:
    """SHA-256 of the canonical request to one backend: the wire fields minus the API key, with
    the face's content hash standing in for its bytes, and the backend's identity ("simulator",
    or the real API's base URL without credentials). Equal keys mean the same request to the
    same API: a result stored from the simulator never stands in for a real one."""
    return wire_request_key(params.model_dump(by_alias=True), face_hash, backend)


def check_backend(backend: str) -> str:
    """A backend identity is a simulator's model ("simulator@2", plain "simulator" for model 1)
    or an http(s) base URL (`Backend.identity`); a kind such as "remote" would pool the results
    of every real API under one name."""
    if not is_simulator_identity(backend) and not backend.startswith(("http://", "https://")):
        raise ValueError(
            f"backend {backend!r} is not a backend identity: pass Backend.identity "
            '("simulator@2" or the real API\'s base URL), not Backend.kind'
        )
    return backend


def wire_request_key(wire_fields: Mapping[str, Any], face_hash: str, backend: str) -> str:
    """`request_key` from the wire fields as a mapping (the catalogue's migration uses it)."""
    canonical = {
        "v": REQUEST_KEY_VERSION,
        "endpoint": ENDPOINT,
        "backend": backend,
        **wire_fields,
        "inputImageSha256": face_hash,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- Seed and size syntax ------------------------------------------------------------------


def expand_seeds(specs: Sequence[SeedSpec], *, generator_seed: int) -> list[int]:
    """Expand seed specs into seeds, in order, without repeats (seed -1 may repeat).

    Each form's count is worked out before it is expanded, so no spec, list or mix can plan
    more than MAX_SEEDS seeds or cost more than that much memory and time on the way.
    ValueError says which spec is wrong and what the syntax is.
    """
    seeds: list[int] = []
    rng = random.Random(generator_seed)
    for spec in specs:
        if isinstance(spec, bool) or not isinstance(spec, int | str):
            raise ValueError(f"{quoted(spec)} is not a seed")
        if isinstance(spec, int):
            if len(seeds) >= MAX_SEEDS:
                raise ValueError(f"more than {MAX_SEEDS:,} seeds in all; narrow the seeds")
            seeds.append(check_seed(spec))
            continue
        for part in spec.split(","):
            seeds.extend(_expand_one(part.strip(), spec, rng, room=MAX_SEEDS - len(seeds)))
    unique: dict[int, None] = {}
    result = []
    for seed in seeds:
        if seed == SEED_RANDOM:
            result.append(seed)
        elif seed not in unique:
            unique[seed] = None
            result.append(seed)
    return result


def _expand_one(part: str, spec: str, rng: random.Random, *, room: int) -> list[int]:
    """One comma-separated form, if its count fits in `room` (checked before expanding)."""

    def fits(count: int) -> None:
        if count > room:
            raise ValueError(
                f"{quoted(spec)}: more than {MAX_SEEDS:,} seeds in all; narrow the ranges or counts"
            )

    if re.fullmatch(r"-?\d{1,12}", part):
        fits(1)
        return [check_seed(int(part))]
    if match := _RANDOM.fullmatch(part):
        count = int(match["count"])
        if not 1 <= count <= MAX_SEEDS:
            raise ValueError(f"{quoted(spec)}: random:N needs 1 ≤ N ≤ {MAX_SEEDS:,}")
        fits(count)
        return rng.sample(range(1, SEED_MAX + 1), count)
    if match := _RANGE.fullmatch(part):
        start, end = check_seed(int(match["start"])), check_seed(int(match["end"]))
        if end < start:
            raise ValueError(f"{quoted(spec)}: the range ends before it starts")
        if match["count"] is not None:
            count = int(match["count"])
            if count < 1:
                raise ValueError(f"{quoted(spec)}: [N] needs N ≥ 1")
            fits(count)
            if count == 1:
                return [start]
            # Evenly spaced and inclusive of both ends, as the A1111 X/Y/Z plot does it.
            step = (end - start) / (count - 1)
            return list(dict.fromkeys(start + math.floor(i * step + 0.5) for i in range(count)))
        step = int(match["step"]) if match["step"] is not None else 1
        if step < 1:
            raise ValueError(f"{quoted(spec)}: (+N) needs N ≥ 1")
        fits((end - start) // step + 1)
        return list(range(start, end + 1, step))
    raise ValueError(
        f'{quoted(spec)} is not a seed spec; use an integer, "1-50", "1-50 (+5)", "1-1000 [8]", '
        f'"random:N" or -1'
    )


def _is_random_spec(spec: SeedSpec) -> bool:
    return isinstance(spec, str) and any(_RANDOM.fullmatch(p.strip()) for p in spec.split(","))


def parse_size(size: str) -> tuple[int, int]:
    """(width, height) from "768x1024" or a preset ("1:1", "3:4"); ValueError if out of range."""
    text = str(size).strip()
    if text in SIZE_PRESETS:
        return SIZE_PRESETS[text]
    match = _SIZE.fullmatch(text)
    if not match:
        presets = ", ".join(SIZE_PRESETS)
        raise ValueError(f"{quoted(size)} is not a size; use WIDTHxHEIGHT or a preset ({presets})")
    width, height = int(match["width"]), int(match["height"])
    for value in (width, height):
        if not SIZE_MIN <= value <= SIZE_MAX:
            raise ValueError(f"{quoted(size)}: each side must be {SIZE_MIN} … {SIZE_MAX} pixels")
    return width, height


# --- Error messages ------------------------------------------------------------------------


def _describe(
    exc: ValidationError, *, source: str, text: str | None, known: Iterable[str] = ()
) -> str:
    problems = []
    for err in exc.errors(include_url=False, include_context=False):
        field = str(err["loc"][0]) if err["loc"] else ""
        where = f"{field}" if field else "spec"
        line = _line_of(text, field) if text and field else None
        if line is not None:
            where += f" (line {line})"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown field; known fields: {', '.join(known or Sweep.model_fields)}"
        problems.append(f"{where}: {message}")
    return f"{source}: " + "; ".join(dict.fromkeys(problems))


def _line_of(text: str, field: str) -> int | None:
    pattern = re.compile(rf"^\s*{re.escape(field)}\s*=", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return repr(value)
