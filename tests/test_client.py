"""The client at the HTTP boundary: replies faked with httpx.MockTransport (no patched internals)."""

from __future__ import annotations

import base64
import io
import json
import logging

import httpx
import pytest
from PIL import Image

from workbench.client import Generation, HeadshotClient, RetryPolicy, parse_retry_after
from workbench.contract import JPEG_DATA_URI_PREFIX, make_params
from workbench.errors import (
    ApiError,
    AuthError,
    InvalidRequest,
    MalformedReply,
    OutOfCredits,
    RateLimited,
    TransientError,
)

KEY = "sk-test-UNIQUE-7c1e"
FAST = RetryPolicy(attempts=4, wait_initial=0.001, wait_max=0.01, wait_jitter=0.0, timeout=10)


def jpeg(size=(512, 512), color=(10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


FACE = jpeg((80, 100), (200, 160, 140))


def ok_reply(images: list[bytes]) -> httpx.Response:
    uris = [JPEG_DATA_URI_PREFIX + base64.b64encode(image).decode() for image in images]
    return httpx.Response(200, json={"outputImages": uris})


class Script:
    """A fake server answering from a list of replies, recording every request body."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply


def client_for(script: Script, *, key: str = KEY, **kwargs) -> HeadshotClient:
    kwargs.setdefault("retry", FAST)
    return HeadshotClient("http://api.test", key, transport=httpx.MockTransport(script), **kwargs)


PARAMS = make_params(prompt="studio", seed=42, sample_number=2, width=512, height=512)


async def test_returns_the_bytes_exactly_as_received():
    images = [jpeg(color=(1, 2, 3)), jpeg(color=(200, 100, 0))]
    script = Script(ok_reply(images))
    async with client_for(script) as client:
        result = await client.generate(PARAMS, FACE)
    assert isinstance(result, Generation)
    assert result.images == images
    assert result.attempts == 1 and result.seed == 42 and result.latency_ms > 0
    body = script.bodies[0]
    assert body["apiKey"] == KEY and body["sampleNumber"] == 2 and body["seed"] == 42
    assert base64.b64decode(body["inputImages"][0][len(JPEG_DATA_URI_PREFIX) :]) == FACE


async def test_invalid_request_sends_nothing():
    script = Script(ok_reply([jpeg()]))
    async with client_for(script) as client:
        with pytest.raises(InvalidRequest, match="inputImages"):
            await client.generate(PARAMS, FACE[:100])
    assert script.bodies == []


@pytest.mark.parametrize(
    ("status", "error", "calls"),
    [
        (400, InvalidRequest, 1),
        (422, InvalidRequest, 1),
        (401, AuthError, 1),
        (403, AuthError, 1),
        (402, OutOfCredits, 1),
        (500, TransientError, 4),
        (503, TransientError, 4),
        (404, ApiError, 1),
    ],
)
async def test_status_codes_map_to_typed_errors(status, error, calls):
    script = Script(httpx.Response(status, text="nope"))
    async with client_for(script) as client:
        with pytest.raises(error) as info:
            await client.generate(PARAMS, FACE)
    assert len(script.bodies) == calls
    assert info.value.attempts == calls and info.value.status == status
    assert f"HTTP {status}" in str(info.value)


async def test_transient_failures_heal_with_retries():
    script = Script(
        httpx.Response(502, text="bad gateway"),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("slow"),
        ok_reply([jpeg(), jpeg()]),
    )
    async with client_for(script) as client:
        result = await client.generate(PARAMS, FACE)
    assert result.attempts == 4 and len(result.images) == 2


async def test_gives_up_after_bounded_attempts():
    script = Script(httpx.ReadTimeout("slow"))
    async with client_for(script) as client:
        with pytest.raises(TransientError, match="no reply in time") as info:
            await client.generate(PARAMS, FACE)
    assert len(script.bodies) == FAST.attempts == info.value.attempts


async def test_rate_limit_honours_retry_after(monkeypatch):
    waits: list[float] = []
    script = Script(
        httpx.Response(429, headers={"Retry-After": "0.05"}, text="slow down"),
        ok_reply([jpeg(), jpeg()]),
    )
    client = client_for(script)
    original = client._backoff
    monkeypatch.setattr(client, "_backoff", lambda exc: waits.append(original(exc)) or waits[-1])
    async with client:
        result = await client.generate(PARAMS, FACE)
    assert result.attempts == 2
    assert waits == [0.05]


async def test_retry_after_is_capped():
    client = client_for(Script(ok_reply([])), retry=RetryPolicy(max_retry_after=2.0))
    assert client._backoff(RateLimited("x", retry_after=3600)) == 2.0
    await client.aclose()


def test_parse_retry_after_accepts_seconds_and_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (httpx.Response(200, text="<html>oops</html>"), "not JSON"),
        (httpx.Response(200, json={"images": []}), "no outputImages"),
        (ok_reply([jpeg()]), "has 1 images, sampleNumber asked for 2"),
        (
            httpx.Response(200, json={"outputImages": ["data:image/jpeg;base64,@@", "x"]}),
            "base64",
        ),
        (ok_reply([jpeg(), jpeg((512, 600))]), "image 1: JPEG is 512x600"),
        (ok_reply([jpeg(), jpeg()[:300]]), "image 1: JPEG does not decode"),
    ],
)
async def test_malformed_replies_are_never_returned_as_images(reply, reason):
    script = Script(reply)
    async with client_for(script) as client:
        with pytest.raises(MalformedReply, match=reason):
            await client.generate(PARAMS, FACE)
    assert len(script.bodies) == 1  # not retried: a broken reply may have been charged


async def test_concurrency_is_limited():
    import asyncio

    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return ok_reply([jpeg(), jpeg()])

    client = HeadshotClient(
        "http://api.test", KEY, transport=httpx.MockTransport(handler), max_concurrency=3
    )
    async with client:
        await asyncio.gather(*(client.generate(PARAMS, FACE) for _ in range(12)))
    assert peak == 3


async def test_the_key_reaches_no_log_exception_or_repr(caplog):
    caplog.set_level(logging.DEBUG)
    echo = httpx.Response(422, text=f'{{"detail": "bad apiKey {KEY}"}}')
    script = Script(echo, httpx.Response(500, text="err"), ok_reply([jpeg(), jpeg()]))
    texts = []
    async with client_for(script) as client:
        texts.append(repr(client))
        for _ in range(2):
            try:
                await client.generate(PARAMS, FACE)
            except ApiError as exc:
                texts.append(str(exc))
                texts.append(repr(exc))
    assert texts and all(KEY not in text for text in texts)
    assert KEY not in caplog.text
    assert "***" in texts[1]  # an echoed key is masked in the excerpt


async def test_a_face_is_encoded_once_and_sent_identically():
    script = Script(ok_reply([jpeg(), jpeg()]))
    async with client_for(script) as client:
        for seed in (1, 2, 3):
            await client.generate(PARAMS.model_copy(update={"seed": seed}), FACE)
        with pytest.raises(InvalidRequest, match="inputImages"):
            await client.generate(PARAMS, FACE[:-300])
    assert len(script.bodies) == 3
    assert len({body["inputImages"][0] for body in script.bodies}) == 1
    assert [body["seed"] for body in script.bodies] == [1, 2, 3]


def test_an_empty_key_is_refused_up_front():
    with pytest.raises(InvalidRequest, match="apiKey"):
        HeadshotClient("http://api.test", "  ")


ODD_KEY = 'sk-live/ä+key "q" &=%x9'


@pytest.mark.parametrize("form", ["raw", "json", "json-ascii", "url", "url-plus", "url-lower"])
@pytest.mark.parametrize("before_cut", [0, 1, 2, 5, len(ODD_KEY) // 2])
async def test_an_echoed_key_leaves_no_fragment_even_astride_the_cut(form, before_cut):
    from urllib.parse import quote, quote_plus

    from workbench.client import ERROR_EXCERPT_CHARS

    echoed = {
        "raw": ODD_KEY,
        "json": json.dumps(ODD_KEY, ensure_ascii=False)[1:-1],
        "json-ascii": json.dumps(ODD_KEY)[1:-1],
        "url": quote(ODD_KEY, safe=""),
        "url-plus": quote_plus(ODD_KEY),
        "url-lower": quote(ODD_KEY, safe="").lower(),
    }[form]
    # The key starts `before_cut` characters before the excerpt ends.
    padding = "x" * (ERROR_EXCERPT_CHARS - before_cut)
    script = Script(httpx.Response(400, text=padding + echoed + " tail"))
    async with client_for(script, key=ODD_KEY) as client:
        with pytest.raises(InvalidRequest) as caught:
            await client.generate(PARAMS, FACE)
    message = str(caught.value)
    excerpt = message.split(": ", 1)[1]
    assert excerpt.startswith("x" * 10)
    # No piece of any echoed form of the key, four characters or more, survives.
    for piece in (echoed[i : i + 4] for i in range(len(echoed) - 3)):
        assert piece not in message.replace("x" * len(padding), "")


async def test_credentials_in_the_url_are_sent_as_auth_and_never_printed(caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, text="busy, user=alice password=s3cr3t-pw")

    client = HeadshotClient(
        "https://alice:s3cr3t-pw@api.test/v1/?token=abc",
        KEY,
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=1),
    )
    async with client:
        with pytest.raises(TransientError) as caught:
            await client.generate(PARAMS, FACE)
    assert seen[0].url == "https://api.test/v1/api/generate-portrait"
    assert (
        seen[0].headers["authorization"] == "Basic " + base64.b64encode(b"alice:s3cr3t-pw").decode()
    )
    printed = [str(caught.value), repr(client), caplog.text, client.base_url]
    for text in printed:
        assert "s3cr3t-pw" not in text and "alice" not in text and "token" not in text
