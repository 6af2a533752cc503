"""The Headshot API contract as ONE schema: the client validates with it before spending, the
simulator enforces it, and it is served as OpenAPI. See `shared/headshot-api.md`.

`PortraitParams` is what shapes a portrait minus the person and the key (what a template saves);
`PortraitRequest` is the wire body (`apiKey`, `inputImages` added); `PortraitResponse` the reply.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from typing import Annotated, Any

from PIL import Image, UnidentifiedImageError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from workbench.errors import InvalidRequest, MalformedReply

ENDPOINT = "/api/generate-portrait"
# Not in the provider's contract: the simulator names the seed it picked for seed -1 here, and
# the client records it where a reply carries it.
SEED_HEADER = "X-Seed"
# Not in the provider's contract either: every simulator reply carries this header, so a client
# reaching a simulator through HEADSHOT_API_URL records and announces it as the simulator.
SIMULATOR_HEADER = "X-Headshot-Simulator"
# The simulator's model: the version `workbench.simulator` renders unless told otherwise. It is
# bumped whenever the simulator's images change (2: the drift reaches saturation, split tone,
# fade, grain and focus). Unlike a real API, the simulator can say which model made an image,
# so its backend identity names it: "simulator@2". Request keys and catalogue rows record the
# identity, so images of two models never dedupe or resume as each other, and `workbench
# catalogue` shows which made each. Model 1's rows say plain "simulator", as they always did.
SIMULATOR_MODEL_VERSION = 2


def simulator_identity(model_version: int = SIMULATOR_MODEL_VERSION) -> str:
    """The backend identity of the simulator's model `model_version`, however it is reached."""
    return "simulator" if model_version == 1 else f"simulator@{model_version}"


def is_simulator_identity(identity: str) -> bool:
    """Whether a backend identity names a model of the simulator (any version)."""
    return identity == "simulator" or (
        identity.startswith("simulator@") and identity.removeprefix("simulator@").isdigit()
    )


def simulator_model_of(header_value: str) -> int:
    """The model a simulator names in its `SIMULATOR_HEADER` ("simulator@2; not real
    portraits"); a simulator that names none is model 1, from before models were named."""
    first = header_value.split(";", 1)[0].strip()
    version = first.removeprefix("simulator@")
    return int(version) if first.startswith("simulator@") and version.isdigit() else 1


# The backend identity of the default simulator, however it is reached (request keys and
# catalogue rows record it); a real API's identity is its base URL without credentials.
SIMULATOR_BACKEND = simulator_identity()
SEED_RANDOM = -1
SEED_MAX = 2_147_483_647
SIZE_MIN = 512
SIZE_MAX = 2024  # sic: the provider's page says 2024, not 2048
SAMPLES_MAX = 8
DEFAULT_SEED = SEED_RANDOM
DEFAULT_SAMPLES = 1
DEFAULT_IDENTITY_SCALE = 0.8
DEFAULT_WIDTH = 768
DEFAULT_HEIGHT = 1024
SIZE_PRESETS: dict[str, tuple[int, int]] = {"1:1": (768, 768), "3:4": (768, 1024)}
JPEG_DATA_URI_PREFIX = "data:image/jpeg;base64,"
# The image formats the workbench ever decodes from a file it did not make: each is decoded by
# Pillow's own code. Naming them keeps exotic plugins out of the path of untrusted bytes (EPS,
# for one, hands the file to Ghostscript). JPEG covers MPO too.
SAFE_IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")

# The largest image the client or simulator will decode; bigger inputs are refused before decoding.
MAX_INPUT_PIXELS = 50_000_000

Width = Annotated[int, Field(ge=SIZE_MIN, le=SIZE_MAX)]


def check_seed(seed: int) -> int:
    """The seed rule, for every place that takes seeds: -1 (random) or 1 … SEED_MAX."""
    if seed != SEED_RANDOM and not 1 <= seed <= SEED_MAX:
        raise ValueError(f"seed {seed} must be -1 (random) or an integer from 1 to {SEED_MAX}")
    return seed


class PortraitParams(BaseModel):
    """The style-relevant part of a request: prompt, seed, samples, identity scale, size."""

    model_config = ConfigDict(
        populate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )

    prompt: str = Field(description="Text prompt guiding the style; non-empty after trimming.")
    seed: int = Field(
        DEFAULT_SEED,
        description="-1 lets the server pick a random seed (not reproducible); else 1 … 2147483647.",
    )
    sample_number: int = Field(
        DEFAULT_SAMPLES, ge=1, le=SAMPLES_MAX, alias="sampleNumber", description="Images, 1 … 8."
    )
    identity_scale: float = Field(
        DEFAULT_IDENTITY_SCALE,
        ge=0.0,
        le=1.0,
        alias="identityScale",
        description="0 … 1; higher keeps more of the person's identity.",
    )
    width: Width = Field(DEFAULT_WIDTH, alias="outputImageWidth", description="512 … 2024 pixels.")
    height: Width = Field(
        DEFAULT_HEIGHT, alias="outputImageHeight", description="512 … 2024 pixels."
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("seed")
    @classmethod
    def _seed_in_range(cls, value: int) -> int:
        return check_seed(value)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def reproducible(self) -> bool:
        """A fixed seed promises the same style again; seed -1 does not."""
        return self.seed != SEED_RANDOM


class PortraitRequest(PortraitParams):
    """The JSON body of `POST /api/generate-portrait`.

    The key travels in the body, so this object never shows it: `repr`, `str` and validation
    errors mask it, and `wire_body()` is the only way to get it back, for the HTTP send alone.
    """

    api_key: SecretStr = Field(alias="apiKey", min_length=1, description="API key (in the body).")
    input_images: list[str] = Field(
        alias="inputImages",
        min_length=1,
        max_length=1,
        description="Exactly one reference face as a data:image/jpeg;base64 URI.",
    )

    @field_validator("input_images")
    @classmethod
    def _one_decodable_jpeg(cls, value: list[str]) -> list[str]:
        for uri in value:
            try:
                check_jpeg(decode_data_uri(uri))
            except MalformedReply as exc:
                raise ValueError(str(exc)) from None
        return value

    def __repr_args__(self):
        for name, value in super().__repr_args__():
            if name == "input_images":
                value = [f"<{len(uri)} chars of data URI>" for uri in value]
            yield name, value

    def params(self) -> PortraitParams:
        return PortraitParams(**{name: getattr(self, name) for name in PortraitParams.model_fields})

    def face_jpeg(self) -> bytes:
        return decode_data_uri(self.input_images[0])

    def wire_body(self) -> dict[str, Any]:
        body = self.model_dump(by_alias=True)
        body["apiKey"] = self.api_key.get_secret_value()
        return body


class PortraitResponse(BaseModel):
    """The 200 reply: `outputImages`, one data URI per sample."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    output_images: list[str] = Field(alias="outputImages")


class ErrorBody(BaseModel):
    """What the simulator answers on an error (the real API's error bodies are not documented)."""

    error: str
    detail: list[dict[str, Any]] | str | None = None


# Errors always name the wire field, whichever name the caller used.
_WIRE_NAMES = {
    name: info.alias for name, info in PortraitRequest.model_fields.items() if info.alias
}

# --- Building and checking requests --------------------------------------------------------


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the wire field; input values are never quoted (key safety)."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = [_WIRE_NAMES.get(part, part) for part in err["loc"]]
        field = ".".join(str(part) for part in loc) or "body"
        lines.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def build_request(params: PortraitParams, face: bytes, api_key: str) -> PortraitRequest:
    """The wire request for one face, validated before any spending.

    `face` is the photo's bytes: a JPEG is sent exactly as it is, PNG/WebP are converted to JPEG.
    Raises InvalidRequest naming the field.
    """
    try:
        uri = encode_input_image(face)
        return PortraitRequest.model_validate(
            {**params.model_dump(by_alias=True), "apiKey": api_key, "inputImages": [uri]}
        )
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from None


def make_params(**fields: Any) -> PortraitParams:
    """PortraitParams from Python names or wire names, with InvalidRequest naming the field."""
    try:
        return PortraitParams.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from None


def encode_input_image(data: bytes) -> str:
    """A `data:image/jpeg;base64,…` URI for a face photo; non-JPEG inputs become JPEG.

    Raises InvalidRequest (field `inputImages`) for bytes that are not a complete image.
    """
    image = _open_fully(data, field="inputImages")
    if image.format == "JPEG":
        payload = data
    else:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=95)
        payload = buffer.getvalue()
    return JPEG_DATA_URI_PREFIX + base64.b64encode(payload).decode("ascii")


def _open_fully(data: bytes, *, field: str) -> Image.Image:
    if not data:
        raise InvalidRequest(f"{field}: the image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=SAFE_IMAGE_FORMATS)
            if image.width * image.height > MAX_INPUT_PIXELS:
                raise InvalidRequest(
                    f"{field}: {image.width}x{image.height} is too large to decode "
                    f"(limit {MAX_INPUT_PIXELS:,} pixels)"
                )
            image.load()  # the whole file, not just the header: catches truncation
    except InvalidRequest:
        raise
    except UnidentifiedImageError:
        kinds = ", ".join(SAFE_IMAGE_FORMATS)
        raise InvalidRequest(f"{field}: not an image we accept ({kinds} expected)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning) as exc:
        raise InvalidRequest(f"{field}: not a complete, decodable image ({exc})") from None
    return image


# --- Data URIs and JPEG checks (shared by client replies and simulator inputs) -------------


def decode_data_uri(uri: object) -> bytes:
    """The bytes of a `data:image/jpeg;base64,…` URI; MalformedReply says what is wrong."""
    if not isinstance(uri, str) or not uri.startswith(JPEG_DATA_URI_PREFIX):
        shown = uri[:30] if isinstance(uri, str) else type(uri).__name__
        raise MalformedReply(f"not a data:image/jpeg;base64 URI (starts {shown!r})")
    try:
        return base64.b64decode(uri[len(JPEG_DATA_URI_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedReply(f"bad base64 in data URI ({exc})") from None


def check_jpeg(data: bytes, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """Check that `data` is a complete JPEG (of `size`, if given) and return its size.

    The entropy-coded data is decoded at 1/8 scale (libjpeg's DCT scaling): every byte is read,
    so truncation and corruption are caught, for a fraction of a full decode's cost.
    """
    if data[:3] != b"\xff\xd8\xff":
        raise MalformedReply("not a JPEG (missing the JPEG start-of-image marker)")
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as image:
            if image.format != "JPEG":
                raise MalformedReply(f"not a JPEG ({image.format})")
            actual = image.size
            if actual[0] * actual[1] > MAX_INPUT_PIXELS:
                raise MalformedReply(f"JPEG of {actual[0]}x{actual[1]} is too large")
            image.draft("RGB", (max(1, actual[0] // 8), max(1, actual[1] // 8)))
            image.load()
    except MalformedReply:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MalformedReply(f"JPEG does not decode ({exc})") from None
    if size is not None and actual != tuple(size):
        raise MalformedReply(
            f"JPEG is {actual[0]}x{actual[1]}, the request asked for {size[0]}x{size[1]}"
        )
    return actual
