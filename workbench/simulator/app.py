"""The simulator's HTTP face: an ASGI app enforcing the one contract schema, with fault injection.

`POST /api/generate-portrait` validates with `workbench.contract.PortraitRequest` (422 naming the
field, never echoing inputs), checks the key (401), then that the face decodes (422), waits the
configured latency, maybe injects a fault, then renders. `GET /openapi.json` serves the contract
with every reply documented (`contract.ERROR_REPLIES`); `GET /_simulator/stats` counts requests.
The hidden stability is never served.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from workbench.contract import (
    ENDPOINT,
    ERROR_REPLIES,
    JPEG_DATA_URI_PREFIX,
    SEED_HEADER,
    SEED_MAX,
    SEED_REPLY_HEADERS,
    SIMULATOR_HEADER,
    SIMULATOR_MODEL_VERSION,
    ErrorBody,
    FieldProblem,
    InvalidRequestBody,
    PortraitParams,
    PortraitRequest,
    PortraitResponse,
    simulator_identity,
)
from workbench.errors import InvalidRequest
from workbench.simulator import pool
from workbench.simulator.cache import BoundedCache
from workbench.simulator.config import Faults, SimulatorConfig
from workbench.simulator.pool import default_processes
from workbench.simulator.render import render_portrait

BANNER = "Headshot API SIMULATOR — not real portraits"
RENDER_CACHE_BYTES = 256 * 1024 * 1024


def simulator_header_value(model_version: int) -> bytes:
    """What every reply's SIMULATOR_HEADER says: the simulator's model, and what it is not."""
    return f"{simulator_identity(model_version)}; not real portraits".encode()


@dataclass
class SimulatorStats:
    """What the simulator saw; tests count requests with it (e.g. after a killed sweep)."""

    requests: int = 0
    images: int = 0
    outcomes: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, outcome: str, images: int = 0) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            self.images += images

    def as_dict(self) -> dict:
        with self.lock:
            return {"requests": self.requests, "images": self.images, **dict(self.outcomes)}


class RenderCache:
    """Rendered data URIs by (face, params, sample), bounded in bytes; what is missing is
    rendered in the simulator's worker processes (`workbench.simulator.pool`).

    Output is a pure function of those inputs, so caching changes no answer; it lets benchmarks
    measure the client and the network rather than the renderer.
    """

    def __init__(
        self,
        max_bytes: int = RENDER_CACHE_BYTES,
        *,
        model_version: int = SIMULATOR_MODEL_VERSION,
        processes: int | None = None,
    ):
        self._uris: BoundedCache[str] = BoundedCache(max_bytes, len)
        self.model_version = model_version
        self.processes = default_processes() if processes is None else processes

    async def data_uris(self, face: bytes, params: PortraitParams) -> list[str]:
        """Every sample of the request, as data URIs, rendering only those not kept."""
        digest, request = hashlib.sha256(face).digest(), params.model_dump_json()
        keys = [(digest, request, sample) for sample in range(params.sample_number)]
        uris = [self._uris.peek(key) for key in keys]
        missing = [sample for sample, uri in enumerate(uris) if uri is None]
        if missing:
            images = await pool.render(
                face, params, missing, model_version=self.model_version, processes=self.processes
            )
            for sample, image in zip(missing, images, strict=True):
                uris[sample] = _data_uri(image)
                self._uris.put(keys[sample], uris[sample])
        return uris  # type: ignore[return-value]


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    """The simulator as an ASGI app; `app.state.stats` holds its counters."""
    config = config or SimulatorConfig()
    faults = config.faults
    stats = SimulatorStats()
    cache = RenderCache(model_version=config.model_version, processes=config.render_processes)
    app = FastAPI(
        title="Headshot API (simulator)",
        version="1",
        description=(
            f"{BANNER}. Enforces the Headshot API contract and answers with JPEGs whose style "
            "is a deterministic function of (prompt, seed); the person comes from the input face."
        ),
    )
    app.state.stats = stats
    app.state.config = config
    app.add_middleware(SaySimulator, value=simulator_header_value(config.model_version))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        with stats.lock:
            stats.requests += 1
        stats.record("invalid")
        # Never echo inputs: the body carries the key and a face photo.
        detail = [
            FieldProblem(field=_field_of(err), msg=err["msg"].removeprefix("Value error, "))
            for err in exc.errors()
        ]
        return _invalid(detail)

    @app.exception_handler(HTTPException)
    async def unreadable_body(request: Request, exc: HTTPException) -> Response:
        # FastAPI answers 400 for a body it cannot read (not UTF-8, say); the contract
        # documents one shape for every refused request: a 422 naming the field, here `body`.
        if exc.status_code != 400:
            return await http_exception_handler(request, exc)
        with stats.lock:
            stats.requests += 1
        stats.record("invalid")
        return _invalid([FieldProblem(field="body", msg="not a JSON document in UTF-8")])

    @app.get("/")
    async def index() -> dict:
        return {"service": BANNER, "endpoint": ENDPOINT, "openapi": "/openapi.json"}

    @app.get("/_simulator/stats")
    async def read_stats() -> dict:
        return stats.as_dict()

    @app.post(
        ENDPOINT,
        response_model=PortraitResponse,
        responses={200: {"headers": SEED_REPLY_HEADERS}, **ERROR_REPLIES},
        summary="Generate portrait photos from one reference face and a prompt",
    )
    async def generate_portrait(body: PortraitRequest, request: Request) -> Response:
        with stats.lock:
            stats.requests += 1
            number = stats.requests
        if not secrets.compare_digest(
            body.api_key.get_secret_value().encode(), config.api_key.encode()
        ):
            stats.record("unauthorized")
            return _error(401, "invalid API key")
        # Whether the face decodes is checked after the key (no schema can say it): a caller
        # without the key learns nothing about how its images are read.
        try:
            face = body.face_jpeg()
        except InvalidRequest as exc:
            stats.record("invalid")
            field, _, msg = str(exc).partition(": ")
            return _invalid([FieldProblem(field=field, msg=msg)])
        # One generator per request number: the fault sequence is reproducible from fault_seed.
        draw = random.Random(f"{faults.fault_seed}:{number}")
        fault = _fault(draw.random(), faults)
        rendering = None
        if fault in (None, "malformed"):
            # Rendered while the latency runs, as a real API generates during its latency: a
            # request then takes the configured latency, not the latency plus the render.
            params = body.params()
            seed = params.seed if params.reproducible else secrets.randbelow(SEED_MAX) + 1
            params = params.model_copy(update={"seed": seed})
            rendering = asyncio.ensure_future(cache.data_uris(face, params))
        if config.latency_ms > 0:
            await asyncio.sleep(config.latency_ms / 1000)

        if fault == "error":
            stats.record("error")
            return _error(draw.choice((500, 502, 503)), "injected server error")
        if fault == "rate_limited":
            stats.record("rate_limited")
            return _error(
                429, "injected rate limit", headers={"Retry-After": _seconds(faults.retry_after_s)}
            )
        if fault == "hang":
            stats.record("hang")
            await _hang_until_disconnect(request, config.hang_max_s)
            return _error(504, "injected hang ended")
        malformed = fault == "malformed"
        uris = await rendering
        if malformed:
            stats.record("malformed")
            uris = _corrupt(uris, draw, face, params)
        else:
            stats.record("ok", images=len(uris))
        content = json.dumps({"outputImages": uris}, separators=(",", ":"))
        return Response(content, media_type="application/json", headers={SEED_HEADER: str(seed)})

    return app


class SaySimulator:
    """ASGI middleware: every reply, errors and 404s included, carries SIMULATOR_HEADER, so a
    client probing the base URL learns what it talks to, and which of its models."""

    def __init__(self, app, value: bytes):
        self.app = app
        self.value = value

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_marked(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((SIMULATOR_HEADER.lower().encode(), self.value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_marked)


def _invalid(detail: list[FieldProblem]) -> JSONResponse:
    body = InvalidRequestBody(error="invalid request", detail=detail)
    return JSONResponse(status_code=422, content=body.model_dump())


def _field_of(error: dict) -> str:
    """The wire field a validation error is about (`inputImages.0`), or `body` for the body."""
    if error["type"] == "json_invalid":  # its location is an offset into the text
        return "body"
    return ".".join(str(part) for part in error["loc"] if part != "body") or "body"


def _seconds(value: float) -> str:
    """Seconds as Retry-After carries them: digits, a fraction only if there is one (no 1e-05)."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _fault(roll: float, faults: Faults) -> str | None:
    """Which injected fault a request's roll (uniform in [0, 1)) lands on, if any."""
    for kind, rate in (
        ("error", faults.error_rate),
        ("rate_limited", faults.rate_limit_rate),
        ("hang", faults.hang_rate),
        ("malformed", faults.malformed_rate),
    ):
        if roll < rate:
            return kind
        roll -= rate
    return None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content=ErrorBody(error=message).model_dump(), headers=headers
    )


async def _hang_until_disconnect(request: Request, limit_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while loop.time() < deadline and not await request.is_disconnected():
        await asyncio.sleep(0.05)


def _corrupt(
    uris: list[str], draw: random.Random, face: bytes, params: PortraitParams
) -> list[str]:
    """A reply that breaks the contract in one of the ways a real service might."""
    kind = draw.choice(("count", "base64", "not_jpeg", "truncated", "size"))
    if kind == "count":
        return uris + uris[:1] if len(uris) < 8 else uris[:-1]
    if kind == "base64":
        return [JPEG_DATA_URI_PREFIX + "!!not*base64!!" + uri[40:] for uri in uris]
    if kind == "not_jpeg":
        fake = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
        return [_data_uri(fake) for _ in uris]
    if kind == "truncated":
        return [_data_uri(_payload(uri)[: len(_payload(uri)) // 2]) for uri in uris]
    width = params.width - 8 if params.width > 520 else params.width + 8
    wrong = params.model_copy(update={"width": width})
    return [_data_uri(render_portrait(face, wrong, sample)) for sample in range(len(uris))]


def _data_uri(data: bytes) -> str:
    return JPEG_DATA_URI_PREFIX + base64.b64encode(data).decode("ascii")


def _payload(uri: str) -> bytes:
    return base64.b64decode(uri[len(JPEG_DATA_URI_PREFIX) :])
