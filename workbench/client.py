"""The Headshot API client: validates before spending, checks every reply, retries what may heal.

One `httpx.AsyncClient` under a concurrency limit; retries (429 honouring Retry-After, 5xx,
timeouts, dropped connections) go through stamina with exponential backoff and jitter, bounded in
attempts and total time. Every failure surfaces as one of `workbench.errors`' ApiError types.
The API key lives in the JSON body only; it is never logged, put in an exception or a repr.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import stamina

from workbench.contract import (
    ENDPOINT,
    SEED_HEADER,
    SIMULATOR_HEADER,
    PortraitParams,
    build_request,
    check_jpeg,
    decode_data_uri,
)
from workbench.errors import (
    ApiError,
    AuthError,
    InvalidRequest,
    MalformedReply,
    OutOfCredits,
    RateLimited,
    TransientError,
)
from workbench.redact import redact

logger = logging.getLogger(__name__)

ERROR_EXCERPT_CHARS = 200
# Checked face data URIs kept per client: a sweep sends each panel face many times, and
# re-encoding and re-checking it every time cost more CPU than the rest of the request.
FACE_CACHE_SIZE = 64
JSON_HEADERS = {"Content-Type": "application/json"}
# Connections per httpx pool. httpcore scans every connection of a pool for each queued request,
# so one pool of 64 spends more CPU per image than the image itself; pools of 8 keep it flat.
POOL_SIZE = 8


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request before giving up with its typed error."""

    attempts: int = 5
    timeout: float = 300.0  # bound on all attempts and waits together, seconds
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    max_retry_after: float = 120.0  # a longer Retry-After is capped, not obeyed blindly


@dataclass(frozen=True)
class Generation:
    """A successful call: JPEG bytes exactly as received, in sample order."""

    images: list[bytes] = field(repr=False)
    latency_ms: float  # wall time of the call, retries and waits included
    attempts: int
    seed: int  # the seed the run had: the requested one, or the server's pick where it says
    simulator: bool = False  # the reply said it came from the workbench's simulator


class HeadshotClient:
    """Async client for `POST /api/generate-portrait`. Use as `async with HeadshotClient(...)`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | httpx.Timeout = 120.0,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if not api_key.strip():
            raise InvalidRequest("apiKey: must not be empty")
        # Credentials written into the URL (https://user:pass@host) travel as basic auth and
        # are never part of a URL we print or log.
        self.base_url, auth = split_credentials(base_url)
        self._api_key = api_key
        url = httpx.URL(base_url.strip())
        self._secrets = [secret for secret in (api_key, url.username, url.password) if secret]
        # id(face) -> (the face bytes, its data URI as a JSON string): see _wire_body.
        self._face_uris: OrderedDict[int, tuple[bytes, str]] = OrderedDict()
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max_concurrency
        # Slot i of max_concurrency uses pool i // POOL_SIZE: no pool ever has more requests
        # in flight than connections.
        self._free_slots: asyncio.Queue[int] = asyncio.Queue()
        for slot in range(max_concurrency):
            self._free_slots.put_nowait(slot)
        pools = 1 if transport is not None else math.ceil(max_concurrency / POOL_SIZE)
        per_pool = min(max_concurrency, POOL_SIZE) if pools > 1 else max_concurrency
        self._pools = [
            httpx.AsyncClient(
                base_url=self.base_url,
                timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
                limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool),
                transport=transport,
                auth=auth,
            )
            for _ in range(pools)
        ]

    def __repr__(self) -> str:
        return f"HeadshotClient(base_url={self.base_url!r}, max_concurrency={self.max_concurrency})"

    async def __aenter__(self) -> HeadshotClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    async def generate(self, params: PortraitParams, face: bytes) -> Generation:
        """Portraits of `face` (JPEG, PNG or WebP bytes) in the style of `params`.

        Raises InvalidRequest before sending anything if the request breaks the contract, and
        the typed ApiError of the last attempt once retries are exhausted.
        """
        body = self._wire_body(params, face)
        started = time.perf_counter()
        attempts = 0
        slot = await self._free_slots.get()
        http = self._pools[slot * len(self._pools) // self.max_concurrency]
        try:
            async for attempt in stamina.retry_context(
                on=self._backoff,
                attempts=self.retry.attempts,
                timeout=self.retry.timeout,
                wait_initial=self.retry.wait_initial,
                wait_max=self.retry.wait_max,
                wait_jitter=self.retry.wait_jitter,
            ):
                with attempt:
                    attempts = attempt.num
                    images, seed, simulator = await self._send_once(http, body, params)
        except ApiError as exc:
            exc.attempts = attempts
            exc.latency_ms = (time.perf_counter() - started) * 1000
            raise
        finally:
            self._free_slots.put_nowait(slot)
        latency_ms = (time.perf_counter() - started) * 1000
        return Generation(
            images=images, latency_ms=latency_ms, attempts=attempts, seed=seed, simulator=simulator
        )

    def _wire_body(self, params: PortraitParams, face: bytes) -> bytes:
        """The JSON body, as bytes. The full contract check and the encoding of the face run
        once per face object: a sweep sends the same bytes object for every cell of a face,
        and hashing or JSON-escaping ~100 KB on each request cost the event loop a millisecond.
        (The cache holds the face, so its id cannot be reused while cached.)"""
        cached = self._face_uris.get(id(face))
        if cached is None or cached[0] is not face:
            uri = build_request(params, face, self._api_key).wire_body()["inputImages"][0]
            cached = (face, json.dumps(uri))
            self._face_uris[id(face)] = cached
            if len(self._face_uris) > FACE_CACHE_SIZE:
                self._face_uris.popitem(last=False)
        else:
            self._face_uris.move_to_end(id(face))
        # `params` is a validated, frozen PortraitParams and the face was checked above.
        fields = json.dumps({**params.model_dump(by_alias=True), "apiKey": self._api_key})
        return f'{fields[:-1]}, "inputImages": [{cached[1]}]}}'.encode()

    def _backoff(self, exc: Exception) -> bool | float:
        """stamina's hook: retry or not, and for 429 how long the server asked us to wait."""
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.retry.max_retry_after)
        retry = isinstance(exc, ApiError) and exc.retryable
        if retry:
            logger.info("retrying after %s: %s", type(exc).__name__, exc)
        return retry

    async def _send_once(
        self, http: httpx.AsyncClient, body: bytes, params: PortraitParams
    ) -> tuple[list[bytes], int, bool]:
        try:
            response = await http.post(ENDPOINT, content=body, headers=JSON_HEADERS)
        except httpx.TimeoutException as exc:
            connect = isinstance(exc, httpx.ConnectTimeout)
            raise TransientError(
                f"no reply in time ({type(exc).__name__})", connection=connect
            ) from None
        except httpx.TransportError as exc:
            reason = self._masked(f"{type(exc).__name__}: {exc}")
            connect = isinstance(exc, httpx.ConnectError)
            raise TransientError(f"connection failed ({reason})", connection=connect) from None
        if response.status_code != 200:
            raise self._status_error(response)
        # Parsing and checking a reply costs milliseconds of CPU (the JPEG decode releases the
        # GIL): off the event loop, so the app's other users and the next requests never wait.
        images = await asyncio.to_thread(self._read_images, response, params)
        return images, self._seed_of(response, params), SIMULATOR_HEADER in response.headers

    def _status_error(self, response: httpx.Response) -> ApiError:
        status = response.status_code
        excerpt = self._excerpt(response.text)
        where = f"HTTP {status} from {self.base_url}{ENDPOINT}: {excerpt}"
        if status in (400, 422):
            return InvalidRequest(where, status=status)
        if status in (401, 403):
            return AuthError(f"the API key was refused ({where})", status=status)
        if status == 402:
            return OutOfCredits(f"out of credits ({where})", status=status)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return RateLimited(f"rate limited ({where})", retry_after=retry_after, status=status)
        if status >= 500:
            return TransientError(f"server error ({where})", status=status)
        return ApiError(f"unexpected reply ({where})", status=status)

    def _excerpt(self, text: str) -> str:
        # A server may echo the body back, the key in it in any encoding: the reply is never
        # kept as it is, only decoded and masked (workbench.redact). Masking comes before the
        # cut, so a key straddling it cannot leave a fragment behind.
        text = self._masked(" ".join(self._masked(text).split()))
        return text[:ERROR_EXCERPT_CHARS] or "(empty body)"

    def _masked(self, text: str) -> str:
        return redact(text, self._secrets)

    @staticmethod
    def _read_images(response: httpx.Response, params: PortraitParams) -> list[bytes]:
        try:
            payload = response.json()
        except ValueError:
            raise MalformedReply("reply is not JSON") from None
        uris = payload.get("outputImages") if isinstance(payload, dict) else None
        if not isinstance(uris, list):
            raise MalformedReply("reply has no outputImages list")
        if len(uris) != params.sample_number:
            raise MalformedReply(
                f"reply has {len(uris)} images, sampleNumber asked for {params.sample_number}"
            )
        images = []
        for index, uri in enumerate(uris):
            try:
                data = decode_data_uri(uri)
                check_jpeg(data, params.size)
            except MalformedReply as exc:
                raise MalformedReply(f"image {index}: {exc}") from None
            images.append(data)
        return images

    @staticmethod
    def _seed_of(response: httpx.Response, params: PortraitParams) -> int:
        if params.reproducible:
            return params.seed
        try:
            return int(response.headers.get(SEED_HEADER, params.seed))
        except ValueError:
            return params.seed


def split_credentials(url: str) -> tuple[str, httpx.BasicAuth | None]:
    """A base URL without user info, query or fragment, and basic auth from its user info.

    `https://user:pass@api.example.com/v1/?x=1` gives `https://api.example.com/v1` and
    BasicAuth("user", "pass"): what is safe to print, and what travels in a header instead.
    """
    parsed = httpx.URL(url.strip())
    auth = httpx.BasicAuth(parsed.username, parsed.password) if parsed.userinfo else None
    clean = parsed.copy_with(username=None, password=None, query=None, fragment=None)
    return str(clean).rstrip("/"), auth


def public_url(url: str) -> str:
    """`url` as it may be printed or recorded: no credentials, query or fragment."""
    try:
        return split_credentials(url)[0]
    except httpx.InvalidURL:
        return "(an invalid URL)"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class SyncHeadshotClient:
    """A blocking wrapper for scripts: `SyncHeadshotClient(url, key).generate(params, face)`."""

    def __init__(self, base_url: str, api_key: str, **kwargs):
        self._args = (base_url, api_key)
        self._kwargs = kwargs

    def __repr__(self) -> str:
        return f"SyncHeadshotClient(base_url={self._args[0]!r})"

    def generate(self, params: PortraitParams, face: bytes) -> Generation:
        async def once() -> Generation:
            async with HeadshotClient(*self._args, **self._kwargs) as client:
                return await client.generate(params, face)

        return asyncio.run(once())
