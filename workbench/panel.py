"""The panel of reference faces: the workbench's measuring stick for cross-face consistency.

Each face is a normalised JPEG `<data>/faces/<id>.jpg` plus one row of `<data>/faces/manifest.csv`.
Photos enter only through the import pipeline here (decode, orient, strip metadata, convert,
downscale, detect exactly one face), so everything downstream can trust a stored face.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from workbench.contract import SAFE_IMAGE_FORMATS
from workbench.errors import InputError
from workbench.face_models import DLIB_LOCK, face_detector
from workbench.layout import (
    DataLayout,
    file_lock,
    make_private_dir,
    read_regular_file,
    write_atomically,
)

if TYPE_CHECKING:
    import pandas as pd

MANIFEST_NAME = "manifest.csv"
LOCK_NAME = ".lock"

ACCEPTED_FORMATS = SAFE_IMAGE_FORMATS  # what an import decodes (contract.SAFE_IMAGE_FORMATS)
# A photo file is read whole into memory: bigger than any camera's JPEG or a 90 MP PNG.
MAX_PHOTO_BYTES = 200_000_000
MAX_EDGE = 1024  # stored faces never exceed this; the API gets a portrait, not a poster
MIN_EDGE = 128  # below this neither the detector nor identity scoring has enough pixels
MAX_SOURCE_PIXELS = 90_000_000  # checked from the header, before anything is decoded (~9500²)
JPEG_QUALITY = 92
# dlib HOG scores: real faces in the bundled public-domain photos score 1.0-1.6; skimage's full
# astronaut.png has a false positive at 0.12 on her mission patch next to the real face at 1.16.
MIN_FACE_SCORE = 0.5
DETECTOR_UPSAMPLE = 1  # finds faces down to ~40 px wide, which a 1024 px portrait always clears

AGE_BANDS = ("under-18", "18-29", "30-44", "45-59", "60-74", "75+")
YES_NO = {"yes": "yes", "y": "yes", "true": "yes", "1": "yes"}
YES_NO |= {"no": "no", "n": "no", "false": "no", "0": "no"}
# Always used with fullmatch: `$` alone lets a trailing newline through ("zed\n").
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
BOX_PATTERN = re.compile(r"\d{1,6},\d{1,6},\d{1,6},\d{1,6}")


@dataclass(frozen=True)
class Face:
    """One reference person. `hash` is the SHA-256 of the stored JPEG's bytes."""

    id: str
    source_name: str
    hash: str
    width: int
    height: int
    face_box: str = ""  # "left,top,right,bottom" in stored-image pixels, from the detector
    face_score: str = ""  # the detector's score for that box
    source_hash: str = ""  # SHA-256 of the file as given, so a re-import is caught before work
    consent: str = ""  # who allowed this face to be used, or its licence
    age_band: str = ""
    monk_skin_tone: str = ""  # Monk scale 1-10, or empty
    gender_presentation: str = ""
    glasses: str = ""  # "yes", "no" or empty
    facial_hair: str = ""  # "yes", "no" or empty
    notes: str = ""

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        if not self.face_box:
            return None
        left, top, right, bottom = (int(v) for v in self.face_box.split(","))
        return left, top, right, bottom


FACE_COLUMNS = [f.name for f in fields(Face)]
# What `Panel.set_attributes` may change; everything else comes from the import pipeline.
ATTRIBUTES = (
    "consent",
    "age_band",
    "monk_skin_tone",
    "gender_presentation",
    "glasses",
    "facial_hair",
    "notes",
)


@dataclass(frozen=True)
class FaceBox:
    """A detection in stored-image pixels, clipped to the image."""

    left: int
    top: int
    right: int
    bottom: int
    score: float

    @property
    def area(self) -> int:
        return (self.right - self.left) * (self.bottom - self.top)

    def as_field(self) -> str:
        return f"{self.left},{self.top},{self.right},{self.bottom}"


@dataclass(frozen=True)
class NormalisedPhoto:
    """A photo after the pipeline: upright RGB, at most MAX_EDGE, re-encoded without metadata."""

    image: Image.Image
    jpeg: bytes
    box: FaceBox

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.jpeg).hexdigest()


@dataclass(frozen=True)
class ImportResult:
    """What happened to one file of an import: added, a duplicate (not added), or rejected."""

    source: str
    status: Literal["added", "duplicate", "rejected"]
    message: str
    face: Face | None = None

    @property
    def failed(self) -> bool:
        return self.status == "rejected"


# --- The import pipeline: bytes in, a normalised photo with one face box out -------------------


def decode_photo(data: bytes, name: str) -> Image.Image:
    """Fully decode an untrusted file into an upright RGB image no larger than MAX_EDGE.

    The format is judged by content, not by extension: a PNG named `.jpg` is a PNG.
    """
    if not data:
        raise InputError(f"{name} is empty (0 bytes); choose the photo file itself")
    Image.init()  # registers every plugin, so `formats=` can name them
    try:
        # Pillow warns between its limit and twice it; both mean "do not decode this".
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{name} claims a size too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        kinds = ", ".join(ACCEPTED_FORMATS)
        raise InputError(f"{name} is not an image we can read; use one of: {kinds}") from exc
    except Exception as exc:
        # Malformed files make Pillow's parsers raise almost anything (struct.error, IndexError,
        # ...); for an untrusted file every one of them means "damaged", never a traceback.
        raise InputError(f"{name} has a damaged header ({exc}); export the photo again") from exc

    width, height = image.size
    if width * height > MAX_SOURCE_PIXELS:
        raise InputError(
            f"{name} claims {width}x{height} pixels, over the {MAX_SOURCE_PIXELS:,} limit; "
            "downscale it before importing"
        )
    if min(width, height) < MIN_EDGE:
        raise InputError(
            f"{name} is {width}x{height}; a face photo needs at least {MIN_EDGE} px on each side"
        )
    if image.format in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result still covers MAX_EDGE.
        image.draft(None, (MAX_EDGE, MAX_EDGE))
    try:
        image.load()  # the whole file, so truncation and corrupt data show up now
        upright = ImageOps.exif_transpose(image)
    except Exception as exc:  # as above: any decoder failure on untrusted bytes is "damaged"
        raise InputError(
            f"{name} is damaged or truncated ({exc}); copy or export the photo again"
        ) from exc
    rgb = _to_rgb(_to_srgb(upright, image.info.get("icc_profile")), name)
    if max(rgb.size) > MAX_EDGE:
        rgb.thumbnail((MAX_EDGE, MAX_EDGE), Image.Resampling.LANCZOS)
    # A fresh image carries no `info`: no EXIF, GPS, XMP, ICC profile or comment can follow it.
    return Image.fromarray(np.asarray(rgb, dtype=np.uint8), mode="RGB")


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Apply the photo's colour profile before it is dropped with the rest of the metadata.

    Phones shoot in wide-gamut spaces (Display P3); stripping that profile without converting
    would leave faces duller and skin tones shifted in every generated portrait.
    """
    if not icc or image.mode not in ("RGB", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(image, source, _srgb_profile(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # Broken profiles are common in the wild; the pixels are still a usable photo.
        return image


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    """Any mode to 8-bit RGB; transparency is flattened onto white, as a photo booth would."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale: Pillow's own convert clips at 255 and turns the photo white.
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
        grey = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        span = float(values.max() - values.min()) or 1.0
        grey = ((values - values.min()) / span * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    try:
        if has_alpha:
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(background, rgba).convert("RGB")
        return image.convert("RGB")
    except ValueError as exc:
        raise InputError(f"{name} uses colour mode {mode}, which we cannot convert to RGB") from exc


def detect_faces(image: Image.Image, min_score: float = MIN_FACE_SCORE) -> list[FaceBox]:
    """Frontal faces scoring at least `min_score`, largest first, in `image`'s pixels."""
    pixels = np.asarray(image.convert("RGB"))
    with DLIB_LOCK:  # one dlib object, one thread at a time (see face_models)
        boxes, scores, _ = face_detector().run(pixels, DETECTOR_UPSAMPLE, 0.0)
    width, height = image.size
    found = [
        FaceBox(
            left=max(0, box.left()),
            top=max(0, box.top()),
            right=min(width, box.right()),
            bottom=min(height, box.bottom()),
            score=round(float(score), 3),
        )
        for box, score in zip(boxes, scores, strict=True)
        if score >= min_score
    ]
    return sorted(found, key=lambda b: b.area, reverse=True)


def encode_jpeg(image: Image.Image) -> bytes:
    """The stored form: baseline JPEG, no metadata. Deterministic for the same pixels."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def normalise_photo(data: bytes, name: str, *, keep_largest: bool = False) -> NormalisedPhoto:
    """Run the whole pipeline on one file's bytes; raises InputError naming `name`."""
    image = decode_photo(data, name)
    boxes = detect_faces(image)
    if not boxes:
        raise InputError(
            f"no face found in {name} (detector score >= {MIN_FACE_SCORE}); "
            "use a well-lit photo with one face looking at the camera"
        )
    if len(boxes) > 1:
        if not keep_largest:
            raise InputError(
                f"{len(boxes)} faces found in {name}; crop the photo to one person, "
                "or import with --largest to keep only the largest face"
            )
        image = _crop_around(image, boxes[0])
        boxes = detect_faces(image)
        if len(boxes) != 1:
            raise InputError(
                f"{name}: the largest face cannot be cropped away from the others "
                f"({len(boxes)} faces remain); crop the photo by hand"
            )
    return NormalisedPhoto(image=image, jpeg=encode_jpeg(image), box=boxes[0])


def _crop_around(image: Image.Image, box: FaceBox) -> Image.Image:
    """A head-and-shoulders crop: the face plus one face-width each side, 1.5 below."""
    size = box.right - box.left
    crop = (
        max(0, box.left - size),
        max(0, box.top - size),
        min(image.width, box.right + size),
        min(image.height, box.bottom + int(size * 1.5)),
    )
    return image.crop(crop)


def face_id_from_name(name: str) -> str:
    """A slug from a file name: `Grace Hopper (1984).JPG` -> `grace-hopper-1984`."""
    stem = Path(name).stem.lower()
    slug = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:48].strip("-")
    return slug or "face"


def validate_attributes(attributes: dict[str, str]) -> dict[str, str]:
    """Clean attribute values; raises InputError naming the attribute and what is allowed.

    An empty value clears the attribute.
    """
    clean: dict[str, str] = {}
    for key, raw in attributes.items():
        name = key.strip().lower().replace("-", "_")
        if name not in ATTRIBUTES:
            raise InputError(f"unknown attribute {key!r}; use one of: {', '.join(ATTRIBUTES)}")
        value = str(raw).strip()
        if value and name == "monk_skin_tone":
            if not value.isdigit() or not 1 <= int(value) <= 10:
                raise InputError(
                    f"monk_skin_tone must be a whole number from 1 to 10 (Monk scale), not {raw!r}"
                )
            value = str(int(value))
        elif value and name == "age_band":
            if value not in AGE_BANDS:
                raise InputError(f"age_band {raw!r} is not one of: {', '.join(AGE_BANDS)}")
        elif value and name in ("glasses", "facial_hair"):
            if value.lower() not in YES_NO:
                raise InputError(f"{name} must be yes or no, not {raw!r}")
            value = YES_NO[value.lower()]
        elif name == "gender_presentation":
            value = value.lower()
        clean[name] = value
    return clean


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """`key=value` strings (as typed on the command line) to a dict."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{pair!r} is not key=value; for example monk_skin_tone=6")
        result[key.strip()] = value
    return result


# --- The demo panel: real public-domain portraits that ship inside installed packages ---------


@dataclass(frozen=True)
class DemoSource:
    """One demo face: a file inside an installed package, with its licence and attributes."""

    face_id: str
    package: str
    resource: str  # path inside the package
    consent: str
    attributes: tuple[tuple[str, str], ...] = ()


# Only photographs whose licence allows any use. Monk skin tone is left for a person to judge.
DEMO_SOURCES = (
    DemoSource(
        face_id="grace-hopper",
        package="matplotlib",
        resource="mpl-data/sample_data/grace_hopper.jpg",
        consent=(
            "Public domain: US Navy photograph of Commodore Grace M. Hopper, c. 1984 (work of the "
            "US federal government); file from matplotlib mpl-data/sample_data/grace_hopper.jpg"
        ),
        attributes=(
            ("age_band", "75+"),
            ("gender_presentation", "feminine"),
            ("glasses", "yes"),
            ("facial_hair", "no"),
        ),
    ),
    DemoSource(
        face_id="eileen-collins",
        package="skimage",
        resource="data/astronaut.png",
        consent=(
            "Public domain: NASA portrait of astronaut Eileen Collins, STS-93 crew, 1999 "
            "(scikit-image: 'No known copyright restrictions, released into the public domain'); "
            "file from scikit-image skimage/data/astronaut.png"
        ),
        attributes=(
            ("age_band", "30-44"),
            ("gender_presentation", "feminine"),
            ("glasses", "no"),
            ("facial_hair", "no"),
        ),
    ),
)


# Synthetic people (MIT), the closest thing to a varied panel that ships inside a package: each
# has an `amateur_selfie`, the kind of photo users upload to a headshot service. P003 resembles a
# real actress and is left out; P009's selfie is a borderline detection (score ~0.53), so her
# clear frontal studio portrait stands in, rather than a face the simulator and scorer would
# half-see (which would make her, one of the darker-skinned people, look like a style failure).
OPENPEOPLE_EXCLUDED = ("P003",)
OPENPEOPLE_PHOTO = "amateur_selfie"
OPENPEOPLE_PHOTO_INSTEAD = {"P009": "studio_portrait"}
OPENPEOPLE_CONSENT = "synthetic person, openpeople (MIT)"
# openpeople labels skin on the Fitzpatrick scale; the panel uses Monk's 10 tones. There is no
# official mapping: this one spreads I-VI over 1-10 (groups 1-3, 4-7, 8-10). A note on each face
# says the value came from here, so a person can judge it with `faces set`.
FITZPATRICK_TO_MONK = {"I": 2, "II": 3, "III": 4, "IV": 6, "V": 8, "VI": 10}
PRESENTATION_FROM_SEX = {"female": "feminine", "male": "masculine"}


def openpeople_sources() -> list[DemoSource]:
    """The openpeople people (minus P003) as demo sources, attributes from their metadata."""
    import importlib.resources
    import json

    curated = importlib.resources.files("openpeople").joinpath("data/curated")
    people = sorted(entry.name for entry in curated.iterdir() if entry.name.startswith("P"))
    sources = []
    for person in people:
        if person in OPENPEOPLE_EXCLUDED:
            continue
        metadata = json.loads(curated.joinpath(person, "metadata.json").read_text("utf-8"))
        photo = OPENPEOPLE_PHOTO_INSTEAD.get(person, OPENPEOPLE_PHOTO)
        sources.append(
            DemoSource(
                face_id=f"openpeople-{person.lower()}",
                package="openpeople",
                resource=f"data/curated/{person}/assets/{photo}.jpg",
                consent=OPENPEOPLE_CONSENT,
                attributes=_openpeople_attributes(person, photo, metadata),
            )
        )
    return sources


def _openpeople_attributes(person: str, photo: str, metadata: dict) -> tuple[tuple[str, str], ...]:
    details = metadata.get("character_details", {})
    demographics = details.get("demographics", {})
    attributes: dict[str, str] = {}
    low, _, high = str(demographics.get("age_range", "")).partition("-")
    if low.isdigit() and high.isdigit():
        attributes["age_band"] = _age_band((int(low) + int(high)) // 2)
    if demographics.get("sex") in PRESENTATION_FROM_SEX:
        attributes["gender_presentation"] = PRESENTATION_FROM_SEX[demographics["sex"]]
    fitzpatrick = str(demographics.get("skin_tone", "")).removeprefix("Fitzpatrick").strip()
    if fitzpatrick in FITZPATRICK_TO_MONK:
        attributes["monk_skin_tone"] = str(FITZPATRICK_TO_MONK[fitzpatrick])
    hair = str(details.get("visible_traits", {}).get("hair", {}).get("description", ""))
    if "beard" in hair.lower():
        attributes["facial_hair"] = "yes"
    attributes["notes"] = (
        f"openpeople {person} {photo}; its metadata: age {demographics.get('age_range', '?')}, "
        f"sex {demographics.get('sex', '?')}, skin {demographics.get('skin_tone', '?')} "
        "(monk_skin_tone approximated from it, not judged by a person)"
    )
    return tuple(attributes.items())


def _age_band(age: int) -> str:
    bounds = (18, 30, 45, 60, 75)
    return AGE_BANDS[sum(age >= bound for bound in bounds)]


def demo_sources() -> list[DemoSource]:
    """Every demo face: the public-domain portraits, then the synthetic openpeople people.

    Raises ModuleNotFoundError when openpeople is not installed."""
    return [*DEMO_SOURCES, *openpeople_sources()]


def build_demo_panel(layout: DataLayout) -> list[ImportResult]:
    """(Re)build the demo panel from the packaged photos, through the normal import pipeline.

    Faces already present are reported as duplicates, so running it twice changes nothing.
    """
    import importlib.resources

    panel = Panel(layout)
    results = []
    try:
        sources = demo_sources()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        sources = list(DEMO_SOURCES)
        results.append(
            ImportResult(
                "openpeople",
                "rejected",
                f"cannot read the openpeople people ({exc}); "
                "install the dev extras: pip install -e '.[dev]'",
            )
        )
    for source in sources:
        try:
            path = importlib.resources.files(source.package).joinpath(source.resource)
            data = path.read_bytes()
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            results.append(
                ImportResult(
                    f"{source.package}/{source.resource}",
                    "rejected",
                    f"cannot read {source.resource} from {source.package} ({exc}); "
                    "install the dev extras: pip install -e '.[dev]'",
                )
            )
            continue
        results.append(
            panel.import_one(
                data,
                face_id=source.face_id,
                source_name=Path(source.resource).name,
                attributes=dict(source.attributes),
                consent=source.consent,
            )
        )
    return results


# --- The panel on disk -------------------------------------------------------------------------


class Panel:
    """The faces under `<data>/faces/`: read, import, describe, remove."""

    def __init__(self, layout: DataLayout):
        self.layout = layout
        self.root = layout.faces

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    def faces(self, order_by: str | Sequence[str] | None = None) -> list[Face]:
        """Every face, in manifest order or sorted by attributes (empty values last)."""
        if not self.manifest_path.exists():
            return []
        with self.manifest_path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        faces = [_face_from_row(row, self.manifest_path, n) for n, row in enumerate(rows, 2)]
        if order_by:
            keys = [order_by] if isinstance(order_by, str) else list(order_by)
            unknown = [k for k in keys if k not in FACE_COLUMNS]
            if unknown:
                raise InputError(f"cannot order faces by {unknown}; use: {', '.join(FACE_COLUMNS)}")
            faces.sort(key=lambda face: tuple(_sort_key(face, k) for k in keys))
        return faces

    def to_frame(self) -> pd.DataFrame:
        """The manifest as a typed pandas frame, for grouping grids and reports by attribute."""
        import pandas as pd

        frame = pd.DataFrame([asdict(face) for face in self.faces()], columns=FACE_COLUMNS)
        frame["monk_skin_tone"] = pd.to_numeric(frame["monk_skin_tone"]).astype("Int64")
        frame["face_score"] = pd.to_numeric(frame["face_score"]).astype("Float64")
        for column in ("glasses", "facial_hair"):
            frame[column] = frame[column].map({"yes": True, "no": False}).astype("boolean")
        frame["age_band"] = pd.Categorical(
            frame["age_band"].replace("", None), categories=list(AGE_BANDS), ordered=True
        )
        return frame

    def get(self, face_id: str) -> Face:
        faces = self.faces()
        found = _find(faces, id=face_id)
        if found:
            return found
        known = ", ".join(face.id for face in faces) or "none"
        raise InputError(f"no face with id {face_id!r} in {self.root} (known: {known})")

    def image_path(self, face: Face | str) -> Path:
        """`<data>/faces/<id>.jpg`, for a well-formed id, resolved inside the data root."""
        face_id = face.id if isinstance(face, Face) else face
        check_face_id(face_id)
        return self.layout.inside(self.root / f"{face_id}.jpg")

    def jpeg_bytes(self, face: Face | str) -> bytes:
        """The stored JPEG, checked against the manifest's hash."""
        face = face if isinstance(face, Face) else self.get(face)
        data = self.image_path(face).read_bytes()
        if hashlib.sha256(data).hexdigest() != face.hash:
            raise InputError(
                f"{self.image_path(face)} does not match its manifest hash; re-add the face"
            )
        return data

    def thumbnail_jpeg(self, face: Face | str, size: int = 160) -> bytes:
        """A small JPEG of a face for a page (at most `size` px on its longer side)."""
        with Image.open(io.BytesIO(self.jpeg_bytes(face))) as image:
            image.draft("RGB", (size, size))
            image = image.convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()

    # --- import ---

    def add(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        face_id: str | None = None,
        source_name: str | None = None,
        attributes: dict[str, str] | None = None,
        consent: str = "",
        keep_largest: bool = False,
    ) -> Face:
        """Import one photo; raises InputError if it is rejected or already in the panel."""
        result = self.import_one(
            source,
            face_id=face_id,
            source_name=source_name,
            attributes=attributes,
            consent=consent,
            keep_largest=keep_largest,
        )
        if result.status != "added" or result.face is None:
            raise InputError(result.message)
        return result.face

    def add_many(
        self,
        sources: Iterable[str | os.PathLike[str]],
        *,
        attributes: dict[str, str] | None = None,
        consent: str = "",
        keep_largest: bool = False,
    ) -> list[ImportResult]:
        """Import each file on its own: one bad file never stops or spoils the others."""
        return [
            self.import_one(
                source, attributes=attributes, consent=consent, keep_largest=keep_largest
            )
            for source in sources
        ]

    def import_one(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        face_id: str | None = None,
        source_name: str | None = None,
        attributes: dict[str, str] | None = None,
        consent: str = "",
        keep_largest: bool = False,
    ) -> ImportResult:
        """Import one photo and say what happened; never raises for a bad photo.

        Either the face's JPEG and manifest row are both written, or neither is.
        """
        if isinstance(source, bytes):
            data, name = source, source_name or "photo"
        else:
            path = Path(source)
            name = source_name or path.name
            try:
                data = read_regular_file(path, limit=MAX_PHOTO_BYTES, what="photo")
            except InputError as exc:
                return ImportResult(str(source), "rejected", str(exc))
        label = str(source) if not isinstance(source, bytes) else name
        try:
            attrs = validate_attributes({**(attributes or {}), "consent": consent})
            source_hash = hashlib.sha256(data).hexdigest()
            existing = _find(self.faces(), source_hash=source_hash)
            if existing:
                return _duplicate(label, existing)
            photo = normalise_photo(data, name, keep_largest=keep_largest)
            # Checks and writes under one lock: two imports at once (CLI and app) must neither
            # both take an id nor drop each other's manifest row.
            with self._lock():
                faces = self.faces()
                existing = _find(faces, source_hash=source_hash) or _find(faces, hash=photo.hash)
                if existing:
                    return _duplicate(label, existing)
                face = Face(
                    id=_new_id(faces, face_id, name),
                    source_name=name,
                    hash=photo.hash,
                    width=photo.image.width,
                    height=photo.image.height,
                    face_box=photo.box.as_field(),
                    face_score=f"{photo.box.score:.3f}",
                    source_hash=source_hash,
                    **attrs,
                )
                self._store(face, photo.jpeg, faces)
        except InputError as exc:
            return ImportResult(label, "rejected", str(exc))
        return ImportResult(
            label, "added", f"added as {face.id} ({face.width}x{face.height})", face=face
        )

    def _store(self, face: Face, jpeg: bytes, faces: list[Face]) -> None:
        """JPEG first (temp + rename), then the manifest; undo the JPEG if the manifest fails."""
        make_private_dir(self.root)
        target = self.image_path(face)
        write_atomically(target, jpeg, durable=True)
        try:
            self._write_manifest([*faces, face])
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    # --- describe ---

    def set_attributes(self, face_id: str, **attributes: str) -> Face:
        """Change a face's optional attributes or consent; an empty value clears one."""
        clean = validate_attributes(attributes)
        with self._lock():
            self.get(face_id)  # a clear error for an unknown id
            updated = [replace(f, **clean) if f.id == face_id else f for f in self.faces()]
            self._write_manifest(updated)
        return next(f for f in updated if f.id == face_id)

    # --- remove ---

    def remove(self, face_id: str) -> Face:
        """Drop a face's manifest row, then its JPEG. Use `workbench.erase` to erase a person."""
        with self._lock():
            face = self.get(face_id)
            self._write_manifest([f for f in self.faces() if f.id != face_id])
            self.image_path(face).unlink(missing_ok=True)
            # A crashed import of this id may have left its JPEG under a temp name.
            for leftover in self.root.glob(f".{face_id}.jpg.*.tmp"):
                leftover.unlink(missing_ok=True)
        return face

    def _lock(self):
        return file_lock(self.root / LOCK_NAME)

    def _write_manifest(self, faces: list[Face]) -> None:
        """Replace the manifest atomically (temp file + rename)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FACE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for face in faces:
            writer.writerow(asdict(face))
        make_private_dir(self.root)
        write_atomically(self.manifest_path, buffer.getvalue().encode("utf-8"), durable=True)


def _find(faces: list[Face], **match: str) -> Face | None:
    for face in faces:
        if all(getattr(face, key) == value for key, value in match.items()):
            return face
    return None


def _new_id(faces: list[Face], requested: str | None, name: str) -> str:
    taken = {face.id for face in faces}
    if requested is not None:
        if not ID_PATTERN.fullmatch(requested):
            raise InputError(
                f"face id {requested!r} must be 1-64 lowercase letters, digits, - or _ "
                "(starting with a letter or digit)"
            )
        if requested in taken:
            raise InputError(f"face id {requested!r} is already in the panel; choose another")
        return requested
    base = face_id_from_name(name)
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _duplicate(label: str, existing: Face) -> ImportResult:
    return ImportResult(
        label, "duplicate", f"already in the panel as {existing.id}; not added again", existing
    )


def _sort_key(face: Face, column: str) -> tuple[int, object]:
    value = getattr(face, column)
    if value in ("", None):
        return (1, "")
    if column == "age_band" and value in AGE_BANDS:
        return (0, AGE_BANDS.index(value))
    if column in ("monk_skin_tone", "width", "height"):
        return (0, int(value))
    if column == "face_score":
        return (0, float(value))
    return (0, str(value))


def _face_from_row(row: dict[str, str], manifest: Path, line: int) -> Face:
    """A manifest row, validated: a hand-edited or planted row must not become a path outside
    the panel (`../../victim/keep`) or a value nothing downstream expects."""
    values = {name: row.get(name, "") or "" for name in FACE_COLUMNS}

    def bad(what: str) -> InputError:
        return InputError(f"{manifest} line {line}: {what}; fix the row or re-add the face")

    if not ID_PATTERN.fullmatch(values["id"]):
        raise bad(f"id {values['id']!r} is not a face id (lowercase letters, digits, - or _)")
    if not HASH_PATTERN.fullmatch(values["hash"]):
        raise bad("hash must be the SHA-256 of the stored JPEG (64 lowercase hex digits)")
    if values["source_hash"] and not HASH_PATTERN.fullmatch(values["source_hash"]):
        raise bad("source_hash must be empty or 64 lowercase hex digits")
    if values["face_box"] and not BOX_PATTERN.fullmatch(values["face_box"]):
        raise bad("face_box must be empty or left,top,right,bottom")
    try:
        width, height = int(values["width"]), int(values["height"])
        if values["face_score"]:
            float(values["face_score"])
    except ValueError:
        raise bad("width and height must be whole numbers, face_score a number") from None
    try:
        attributes = validate_attributes({name: values[name] for name in ATTRIBUTES})
    except InputError as exc:
        raise bad(str(exc)) from None
    return Face(**{**values, **attributes, "width": width, "height": height})


def check_face_id(face_id: str) -> str:
    """`face_id` if it is well-formed (the whole string), else InputError."""
    if not isinstance(face_id, str) or not ID_PATTERN.fullmatch(face_id):
        raise InputError(
            f"{face_id!r} is not a face id: 1-64 lowercase letters, digits, - or _, "
            "starting with a letter or digit"
        )
    return face_id
