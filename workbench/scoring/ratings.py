"""Human judgement: star ratings (1-5) and "winner" marks, on one image or on a whole candidate.

Kept as their own append-only Parquet table beside the catalogue; a rater changes their mind by
rating again, and for each (image or candidate, rater) the latest rating wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.catalogue import STATUS_OK, Catalogue
from workbench.errors import InputError
from workbench.layout import DataLayout
from workbench.parts import PartFolder
from workbench.scoring.candidates import Candidate

RATINGS_SCHEMA_VERSION = 1
TARGET_IMAGE = "image"
TARGET_CANDIDATE = "candidate"
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MIN_PREFIX = 6
MAX_RATER_CHARS = 64


def _column(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


RATINGS_SCHEMA = pa.schema(
    [
        _column("schema_version", pa.int16(), "Schema version the row was written with."),
        _column("target", pa.string(), '"image" or "candidate": what was rated.'),
        _column("image_hash", pa.string(), "The rated image (target image).", True),
        _column("prompt", pa.string(), "The rated candidate's prompt (target candidate).", True),
        _column("seed", pa.int64(), "The rated candidate's seed.", True),
        _column("identity_scale", pa.float64(), "The rated candidate's identityScale.", True),
        _column("width", pa.int32(), "The rated candidate's width.", True),
        _column("height", pa.int32(), "The rated candidate's height.", True),
        _column("rater", pa.string(), "Who rated (free text)."),
        _column("rated_at", pa.timestamp("us", tz="UTC"), "When (UTC); the latest wins."),
        _column("stars", pa.int8(), "1-5; null for a winner mark without stars.", True),
        _column("winner", pa.bool_(), "Marked as a winner by this rater."),
    ]
)
TARGET_KEY = ["target", "image_hash", "prompt", "seed", "identity_scale", "width", "height"]


@dataclass(frozen=True)
class Rating:
    """One judgement as stored."""

    target: str
    rater: str
    rated_at: datetime
    stars: int | None
    winner: bool
    image_hash: str | None = None
    candidate: Candidate | None = None


class RatingStore:
    """`<data>/catalogue/ratings`: append-only Parquet parts (`pd.read_parquet` reads it)."""

    def __init__(self, layout: DataLayout):
        self.layout = layout
        self.dataset = PartFolder(
            layout.ratings,
            RATINGS_SCHEMA,
            quarantine=layout.quarantine,
            version_column="schema_version",
            version=RATINGS_SCHEMA_VERSION,
        )

    def rate(self, image_hash: str, stars: int | None, *, winner: bool = False, by: str) -> Rating:
        """Rate one image (1-5 stars and/or a winner mark) as rater `by`."""
        if not HASH_PATTERN.match(image_hash or ""):
            raise InputError(
                f"image hash {image_hash!r} must be 64 lowercase hex digits "
                "(see `workbench catalogue show`)"
            )
        rating = Rating(TARGET_IMAGE, _rater(by), _now(), _stars(stars, winner), winner, image_hash)
        self._append(rating)
        return rating

    def rate_candidate(
        self, candidate: Candidate, stars: int | None, *, winner: bool = False, by: str
    ) -> Rating:
        """Rate a whole candidate (prompt, seed, identity scale, size) as rater `by`."""
        rating = Rating(
            TARGET_CANDIDATE, _rater(by), _now(), _stars(stars, winner), winner, None, candidate
        )
        self._append(rating)
        return rating

    def history(self) -> pd.DataFrame:
        """Every rating ever given, oldest first."""
        frame = self.dataset.table().to_pandas()
        return frame.sort_values("rated_at", kind="stable").reset_index(drop=True)

    def latest(self) -> pd.DataFrame:
        """One row per (image or candidate, rater): that rater's latest judgement."""
        frame = self.history()
        if frame.empty:
            return frame
        keys = [*TARGET_KEY, "rater"]
        return frame.drop_duplicates(keys, keep="last").reset_index(drop=True)

    def remove_images(self, image_hashes: set[str]) -> int:
        """Delete every rating of these images (erasure)."""
        if not image_hashes:
            return 0
        return self.dataset.remove_rows(pc.field("image_hash").isin(sorted(image_hashes)))

    def _append(self, rating: Rating) -> None:
        candidate = rating.candidate
        row = {
            "schema_version": [RATINGS_SCHEMA_VERSION],
            "target": [rating.target],
            "image_hash": [rating.image_hash],
            "prompt": [candidate.prompt if candidate else None],
            "seed": [candidate.seed if candidate else None],
            "identity_scale": [candidate.identity_scale if candidate else None],
            "width": [candidate.width if candidate else None],
            "height": [candidate.height if candidate else None],
            "rater": [rating.rater],
            "rated_at": [rating.rated_at],
            "stars": [rating.stars],
            "winner": [rating.winner],
        }
        self.dataset.append(pa.Table.from_pydict(row, schema=RATINGS_SCHEMA))


def resolve_image_hash(layout: DataLayout, text: str) -> str:
    """A full image hash from a hash or a unique prefix of one (as `git` takes commits)."""
    prefix = text.strip().lower()
    if len(prefix) < MIN_PREFIX or not re.fullmatch(r"[0-9a-f]+", prefix):
        raise InputError(
            f"image hash {text!r} must be at least {MIN_PREFIX} hex digits of an image's SHA-256"
        )
    table = Catalogue(layout.catalogue).table(
        ["image_hash"], filter=pc.field("status") == STATUS_OK
    )
    hashes = pc.unique(table["image_hash"]).to_pylist()
    found = sorted(h for h in hashes if h and h.startswith(prefix))
    if not found:
        raise InputError(f"no image {text!r} in {layout.catalogue}; see `workbench catalogue show`")
    if len(found) > 1:
        raise InputError(f"image hash {text!r} matches {len(found)} images; give more digits")
    return found[0]


def _stars(stars: int | None, winner: bool) -> int | None:
    if stars is None:
        if not winner:
            raise InputError("a rating needs stars (1-5), a winner mark, or both")
        return None
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InputError(f"stars must be a whole number from 1 to 5, not {stars!r}")
    return stars


def _rater(by: str) -> str:
    name = (by or "").strip()
    if not name or len(name) > MAX_RATER_CHARS or any(not c.isprintable() for c in name):
        raise InputError(
            f"rater name (--by) must be 1-{MAX_RATER_CHARS} printable characters, not {by!r}"
        )
    return name


def _now() -> datetime:
    return datetime.now(UTC)
