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
from typing import Annotated, Any, Literal

from PIL import Image, UnidentifiedImageError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

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
# The project's choice, not the provider's (its page sets no limit): the longest prompt anything
# sends. Every path that spends checks it before the first request: sweeps, hunts, grids, templates,
# the app and `generate`. 4,000 characters is the cap templates had, far past any prompt a person
# writes, and it keeps a crafted file's 10 MB "prompt" from ever reaching the API or the catalogue.
PROMPT_MAX_CHARS = 4000
# "Non-empty after trimming" as a pattern: one character that str.strip() keeps. The class lists
# exactly the characters Python counts as whitespace (str.isspace), in escapes that ECMA-262, Python
# and Rust regexes read alike (JSON Schema, schemathesis, pydantic-core).
PROMPT_PATTERN = r"[^\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# A JPEG as a data URI: every JPEG starts FF D8 FF ("/9j/" in base64), then whole, correctly padded
# base64 quads, which is what base64.b64decode(validate=True) accepts.
JPEG_DATA_URI_PATTERN = (
    r"^data:image/jpeg;base64,/9j/(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
)
# The OpenAPI `format` of that string. Whether the bytes decode is more than a pattern can say:
# generic tools treat an unknown format as a plain string; the suite's schemathesis run registers
# a strategy of real JPEGs for it.
JPEG_DATA_URI_FORMAT = "jpeg-data-uri"
# The documented shape of a Retry-After the simulator sends: seconds, maybe with a fraction.
RETRY_AFTER_PATTERN = r"^[0-9]+(\.[0-9]+)?$"


def _prompt_rule(value: Any, handler: ValidatorFunctionWrapHandler) -> str:
    # pydantic-core checks the length and the pattern (the same ones the JSON Schema states); this
    # only says what is wrong in words, never quoting the prompt, and trims it.
    try:
        return handler(value).strip()
    except ValidationError as exc:
        kinds = {error["type"] for error in exc.errors()}
        if "string_too_long" in kinds:
            raise PydanticCustomError(
                "prompt_too_long",
                "is {length} characters long; the limit is {limit}",
                {"length": f"{len(value):,}", "limit": f"{PROMPT_MAX_CHARS:,}"},
            ) from None
        if "string_pattern_mismatch" in kinds:
            raise PydanticCustomError("prompt_empty", "must not be empty") from None
        raise


def _seed_rule(value: Any, handler: ValidatorFunctionWrapHandler) -> int:
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError(
            "seed_range",
            "must be -1 (random) or an integer from 1 to {maximum}",
            {"maximum": SEED_MAX},
        ) from None


def _jpeg_uri_rule(value: Any, handler: ValidatorFunctionWrapHandler) -> str:
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError(
            "jpeg_data_uri",
            "not a data:image/jpeg;base64 URI of a JPEG (it must start "
            "'data:image/jpeg;base64,/9j/' and hold whole, padded base64)",
        ) from None


def _whole_number(value: Any) -> Any:
    # JSON Schema counts 2.0 as an integer, so the wire does too; 2.5, "2" and true stay refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def whole_number(minimum: int, maximum: int) -> Any:
    """An integer in minimum … maximum as JSON Schema means it: a number with no fraction, never
    a bool or a string (the range first, so the schema states it)."""
    return Annotated[int, Field(ge=minimum, le=maximum), BeforeValidator(_whole_number)]


Prompt = Annotated[
    str,
    Field(max_length=PROMPT_MAX_CHARS, pattern=PROMPT_PATTERN),
    WrapValidator(_prompt_rule),
]
# -1 is SEED_RANDOM (a Literal needs the value itself).
Seed = Annotated[
    Literal[-1] | Annotated[int, Field(ge=1, le=SEED_MAX)],
    BeforeValidator(_whole_number),
    WrapValidator(_seed_rule),
]
Width = whole_number(SIZE_MIN, SIZE_MAX)
SampleNumber = whole_number(1, SAMPLES_MAX)
JpegDataUri = Annotated[
    str,
    Field(pattern=JPEG_DATA_URI_PATTERN, json_schema_extra={"format": JPEG_DATA_URI_FORMAT}),
    WrapValidator(_jpeg_uri_rule),
]

_PROMPT = TypeAdapter(Prompt)
_SEED = TypeAdapter(Seed, config=ConfigDict(strict=True))


def check_prompt(prompt: str) -> str:
    """The prompt rule, for every place that takes prompts: non-empty after trimming and at most
    PROMPT_MAX_CHARS characters. Returns it trimmed; the ValueError never quotes the prompt."""
    try:
        return _PROMPT.validate_python(prompt)
    except ValidationError as exc:
        raise ValueError(exc.errors(include_url=False)[0]["msg"]) from None


def check_seed(seed: int) -> int:
    """The seed rule, for every place that takes seeds: -1 (random) or 1 … SEED_MAX."""
    try:
        return _SEED.validate_python(seed)
    except ValidationError:
        shown = seed if isinstance(seed, int) and abs(seed) < 10**12 else "of 13+ digits"
        raise ValueError(
            f"seed {shown} must be -1 (random) or an integer from 1 to {SEED_MAX}"
        ) from None


class PortraitParams(BaseModel):
    """The style-relevant part of a request: prompt, seed, samples, identity scale, size."""

    model_config = ConfigDict(
        populate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )

    prompt: Prompt = Field(
        description=(
            "Text prompt guiding the style: not empty after trimming (it is sent trimmed), at "
            f"most {PROMPT_MAX_CHARS:,} characters (the project's limit)."
        )
    )
    seed: Seed = Field(
        DEFAULT_SEED,
        description="-1 lets the server pick a random seed (not reproducible); else 1 … 2147483647.",
    )
    sample_number: SampleNumber = Field(
        DEFAULT_SAMPLES, alias="sampleNumber", description="Images, 1 … 8."
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
    Whether the face decodes is more than a schema can say: `face_jpeg()` checks it (the client
    when it encodes the face, the simulator after the key).
    """

    api_key: SecretStr = Field(alias="apiKey", min_length=1, description="API key (in the body).")
    input_images: list[JpegDataUri] = Field(
        alias="inputImages",
        min_length=1,
        max_length=1,
        description=(
            "Exactly one reference face as a data:image/jpeg;base64 URI. It must also decode as "
            f"a complete JPEG of at most {MAX_INPUT_PIXELS:,} pixels, which the simulator checks "
            "after the key (422 naming inputImages)."
        ),
    )

    def __repr_args__(self):
        for name, value in super().__repr_args__():
            if name == "input_images":
                value = [f"<{len(uri)} chars of data URI>" for uri in value]
            yield name, value

    def params(self) -> PortraitParams:
        return PortraitParams(**{name: getattr(self, name) for name in PortraitParams.model_fields})

    def face_jpeg(self) -> bytes:
        """The face's JPEG bytes, checked to decode in full; InvalidRequest (inputImages) if not."""
        try:
            data = decode_data_uri(self.input_images[0])
            check_jpeg(data)
        except MalformedReply as exc:
            raise InvalidRequest(f"inputImages: {exc}") from None
        return data

    def wire_body(self) -> dict[str, Any]:
        body = self.model_dump(by_alias=True)
        body["apiKey"] = self.api_key.get_secret_value()
        return body


class PortraitResponse(BaseModel):
    """The 200 reply: `outputImages`, one data URI per sample.

    What a schema cannot say, the client checks: exactly `sampleNumber` images, each a complete
    JPEG of the requested size. A reply that breaks it is a `MalformedReply` (the simulator's
    malformed-reply fault sends such replies, within this schema).
    """

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, extra="forbid")

    output_images: list[Annotated[str, Field(pattern=r"^data:image/jpeg;base64,")]] = Field(
        alias="outputImages",
        min_length=1,
        max_length=SAMPLES_MAX,
        description=(
            "sampleNumber images, each a data:image/jpeg;base64 URI of a JPEG of the requested "
            "size (the client checks the count, the base64, the JPEG and its size)."
        ),
    )


class FieldProblem(BaseModel):
    """One problem of a refused request."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(
        description="The wire field (`inputImages.0` for an item), or `body` for the whole body."
    )
    msg: str = Field(description="What is wrong; never quotes the input (key and face).")


class ErrorBody(BaseModel):
    """An error reply of the simulator (the real API's error bodies are not documented)."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="What went wrong, in a few words.")


class InvalidRequestBody(ErrorBody):
    """The 422 reply: `error` and one `detail` entry per problem, naming the wire field."""

    detail: list[FieldProblem] = Field(min_length=1)


_SECONDS = {"type": "string", "pattern": RETRY_AFTER_PATTERN}
# The replies of `POST /api/generate-portrait` besides 200, as OpenAPI documents them, and how the
# client treats each (`shared/headshot-api.md`, "What the page does not say"; docs/contract.md).
ERROR_REPLIES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "The API key is refused. Not retried: a sweep stops (AuthError).",
    },
    402: {
        "model": ErrorBody,
        "description": (
            "Out of credits. Not retried: a sweep stops (OutOfCredits). The simulator never "
            "sends it; the real API may."
        ),
    },
    422: {
        "model": InvalidRequestBody,
        "description": (
            "The request breaks the contract: one detail entry per problem, naming the wire "
            "field, never quoting the input. Not retried (InvalidRequest)."
        ),
    },
    429: {
        "model": ErrorBody,
        "description": "Rate limited: retried after Retry-After, capped (RateLimited).",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before the next request.",
                "required": True,
                "schema": _SECONDS,
            }
        },
    },
    "5XX": {
        "model": ErrorBody,
        "description": (
            "Server error (the simulator's injected faults: 500, 502, 503, and 504 after a "
            "hang). Retried with exponential backoff and jitter, bounded (TransientError)."
        ),
    },
}
# The simulator's own header on a 200 (not the provider's contract).
SEED_REPLY_HEADERS = {
    SEED_HEADER: {
        "description": "The seed used (the simulator's; for seed -1, the one it picked).",
        "schema": {"type": "string", "pattern": r"^[0-9]+$"},
    }
}


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
