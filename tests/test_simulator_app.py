"""The simulator over real HTTP on loopback: the contract enforced, faults injected, the client's
retries and typed errors against them, and the API key kept out of everything."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest

from workbench.client import HeadshotClient, RetryPolicy
from workbench.contract import (
    JPEG_DATA_URI_PREFIX,
    PROMPT_MAX_CHARS,
    SIMULATOR_HEADER,
    SIMULATOR_MODEL_VERSION,
    check_jpeg,
    encode_input_image,
    make_params,
)
from workbench.errors import AuthError, MalformedReply, RateLimited, TransientError
from workbench.simulator import Faults, SimulatorConfig, SimulatorServer

pytestmark = pytest.mark.e2e

KEY = "sim-test-key-UNIQUE-91b2"
FAST = RetryPolicy(attempts=3, wait_initial=0.001, wait_max=0.01, wait_jitter=0.0, timeout=20)
PARAMS = make_params(
    prompt="studio portrait, soft light", seed=1234, sample_number=2, width=512, height=640
)


@pytest.fixture(scope="module")
def simulator():
    with SimulatorServer(SimulatorConfig(api_key=KEY)) as server:
        yield server


def faulty(**rates) -> SimulatorServer:
    return SimulatorServer(SimulatorConfig(api_key=KEY, faults=Faults(**rates)))


def body_for(face: bytes, **overrides) -> dict:
    body = {
        "apiKey": KEY,
        "prompt": "office",
        "seed": 5,
        "inputImages": [encode_input_image(face)],
    }
    body.update(overrides)
    return body


async def generate(server: SimulatorServer, face: bytes, params=PARAMS, **kwargs):
    kwargs.setdefault("retry", FAST)
    async with HeadshotClient(server.url, server.api_key, **kwargs) as client:
        return await client.generate(params, face)


async def test_answers_with_the_requested_jpegs_deterministically(simulator, hopper_jpeg):
    first = await generate(simulator, hopper_jpeg)
    second = await generate(simulator, hopper_jpeg)
    assert len(first.images) == 2
    assert all(check_jpeg(image, (512, 640)) for image in first.images)
    assert first.images == second.images, "same prompt + seed + face must give the same bytes"
    assert first.images[0] != first.images[1], "samples are distinct variations"
    assert b"simulator" in first.images[0][:4096].lower(), "output is labelled as simulated"


async def test_seed_minus_one_picks_and_reports_a_random_seed(simulator, hopper_jpeg):
    params = make_params(prompt="office", seed=-1, width=512, height=512)
    seeds = {(await generate(simulator, hopper_jpeg, params)).seed for _ in range(3)}
    assert len(seeds) == 3 and all(seed > 0 for seed in seeds)


def test_defaults_apply_when_fields_are_omitted(simulator, hopper_jpeg):
    reply = httpx.post(f"{simulator.url}/api/generate-portrait", json=body_for(hopper_jpeg))
    assert reply.status_code == 200
    (uri,) = reply.json()["outputImages"]
    assert check_jpeg(base64.b64decode(uri[len(JPEG_DATA_URI_PREFIX) :])) == (768, 1024)


def test_wrong_key_is_401(simulator, hopper_jpeg):
    reply = httpx.post(
        f"{simulator.url}/api/generate-portrait", json=body_for(hopper_jpeg, apiKey="other")
    )
    assert reply.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"prompt": "  "}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"seed": 0}, "seed"),
        ({"seed": 3.5}, "seed"),
        ({"sampleNumber": 9}, "sampleNumber"),
        ({"identityScale": 2}, "identityScale"),
        ({"outputImageWidth": 4096}, "outputImageWidth"),
        ({"outputImageHeight": 100}, "outputImageHeight"),
        ({"apiKey": ""}, "apiKey"),
        ({"inputImages": []}, "inputImages"),
        ({"inputImages": ["data:image/jpeg;base64,aGVsbG8="]}, "inputImages"),
        ({"inputImages": ["https://example.com/face.jpg"]}, "inputImages"),
    ],
)
def test_contract_violations_are_422_naming_the_field(simulator, hopper_jpeg, overrides, field):
    reply = httpx.post(
        f"{simulator.url}/api/generate-portrait", json=body_for(hopper_jpeg, **overrides)
    )
    assert reply.status_code == 422
    assert field in {item["field"].split(".")[0] for item in reply.json()["detail"]}
    assert KEY not in reply.text


def test_two_images_and_truncated_jpeg_are_422(simulator, hopper_jpeg):
    uri = encode_input_image(hopper_jpeg)
    truncated = JPEG_DATA_URI_PREFIX + base64.b64encode(hopper_jpeg[:5000]).decode()
    for images in ([uri, uri], [truncated]):
        reply = httpx.post(
            f"{simulator.url}/api/generate-portrait",
            json=body_for(hopper_jpeg, inputImages=images),
        )
        assert reply.status_code == 422, images[0][:40]
        assert "inputImages" in reply.text


def test_missing_body_fields_and_bad_json_are_422(simulator):
    url = f"{simulator.url}/api/generate-portrait"
    assert httpx.post(url, json={}).status_code == 422
    json_type = {"content-type": "application/json"}
    for content in (b"{not json", b"\xff\xfe not UTF-8 \x80"):
        reply = httpx.post(url, content=content, headers=json_type)
        # One documented shape for every refused request, the unreadable body included.
        assert reply.status_code == 422, content
        assert reply.json() == {"error": "invalid request", "detail": [reply.json()["detail"][0]]}
        assert reply.json()["detail"][0]["field"] == "body"


def test_the_face_is_decoded_only_after_the_key(simulator, hopper_jpeg):
    # A JPEG start and valid base64 pass the schema; whether it decodes, only the key holder
    # learns (422 naming inputImages); without the key it is 401 like any schema-valid request.
    truncated = JPEG_DATA_URI_PREFIX + base64.b64encode(hopper_jpeg[:5000]).decode()
    url = f"{simulator.url}/api/generate-portrait"
    with_key = httpx.post(url, json=body_for(hopper_jpeg, inputImages=[truncated]))
    without = httpx.post(url, json=body_for(hopper_jpeg, inputImages=[truncated], apiKey="x"))
    assert with_key.status_code == 422 and without.status_code == 401
    assert with_key.json()["detail"] == [
        {"field": "inputImages", "msg": with_key.json()["detail"][0]["msg"]}
    ]
    assert "does not decode" in with_key.json()["detail"][0]["msg"]


def test_a_prompt_over_the_limit_is_422_without_rendering(simulator, hopper_jpeg):
    url = f"{simulator.url}/api/generate-portrait"
    before = simulator.stats.as_dict().get("ok", 0)
    reply = httpx.post(url, json=body_for(hopper_jpeg, prompt="x" * (PROMPT_MAX_CHARS + 1)))
    assert reply.status_code == 422
    assert reply.json()["detail"] == [
        {"field": "prompt", "msg": "is 4,001 characters long; the limit is 4,000"}
    ]
    assert simulator.stats.as_dict().get("ok", 0) == before


def test_openapi_serves_the_contract_and_never_the_stability(simulator):
    spec = httpx.get(f"{simulator.url}/openapi.json").json()
    operation = spec["paths"]["/api/generate-portrait"]["post"]
    schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request_schema = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert request_schema["properties"]["sampleNumber"]["maximum"] == 8
    assert "SIMULATOR" in spec["info"]["description"]
    assert "stability" not in httpx.get(f"{simulator.url}/openapi.json").text.lower()


async def test_5xx_is_retried_then_given_up_with_a_typed_error(hopper_jpeg):
    with faulty(error_rate=1.0) as server:
        with pytest.raises(TransientError, match="server error") as info:
            await generate(server, hopper_jpeg)
        assert info.value.attempts == FAST.attempts == server.stats.requests


async def test_429_carries_retry_after(hopper_jpeg):
    with faulty(rate_limit_rate=1.0, retry_after_s=0.01) as server:
        with pytest.raises(RateLimited) as info:
            await generate(server, hopper_jpeg)
    assert info.value.retry_after == pytest.approx(0.01)
    assert info.value.attempts == FAST.attempts


async def test_a_hang_times_out_as_transient(hopper_jpeg):
    with faulty(hang_rate=1.0) as server:
        with pytest.raises(TransientError, match="no reply in time"):
            await generate(server, hopper_jpeg, timeout=0.3)


async def test_malformed_replies_are_never_images(hopper_jpeg):
    reasons = set()
    with faulty(malformed_rate=1.0) as server:
        for seed in range(1, 13):
            params = PARAMS.model_copy(update={"seed": seed})
            with pytest.raises(MalformedReply) as info:
                await generate(server, hopper_jpeg, params)
            reasons.add(str(info.value).split("(")[0][:25])
    assert len(reasons) >= 3, reasons


async def test_mixed_faults_heal_with_retries(hopper_jpeg):
    rates = {"error_rate": 0.2, "rate_limit_rate": 0.1, "retry_after_s": 0.01, "fault_seed": 3}
    retry = RetryPolicy(attempts=8, wait_initial=0.001, wait_max=0.01, wait_jitter=0, timeout=30)
    with faulty(**rates) as server:
        results = [
            await generate(server, hopper_jpeg, PARAMS.model_copy(update={"seed": s}), retry=retry)
            for s in range(1, 21)
        ]
    assert all(len(result.images) == 2 for result in results)
    assert sum(result.attempts for result in results) > 20, "some faults were injected"


async def test_the_key_appears_in_no_log_exception_or_file(tmp_path, caplog, hopper_jpeg):
    caplog.set_level(logging.DEBUG)
    secret = "sk-live-LEAKCHECK-5d0c9e"
    texts = []
    config = SimulatorConfig(
        api_key=secret, faults=Faults(error_rate=0.5, malformed_rate=0.2, fault_seed=9)
    )
    with SimulatorServer(config) as server:
        for seed in range(1, 9):
            params = PARAMS.model_copy(update={"seed": seed})
            try:
                result = await generate(server, hopper_jpeg, params)
                for index, image in enumerate(result.images):
                    (tmp_path / f"{seed}-{index}.jpg").write_bytes(image)
            except Exception as exc:  # noqa: BLE001 - we inspect every failure's text
                texts += [str(exc), repr(exc)]
        async with HeadshotClient(server.url, "wrong-" + secret, retry=FAST) as client:
            with pytest.raises(AuthError) as info:
                await client.generate(PARAMS, hopper_jpeg)
            texts += [str(info.value), repr(client)]
        texts.append(repr(server) + repr(config))
    assert texts, "some requests failed"
    written = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert written, "some requests succeeded"
    for text in [*texts, caplog.text]:
        assert secret not in text
    assert secret.encode() not in written


def test_the_sync_wrapper_serves_scripts(simulator, hopper_jpeg):
    from workbench.client import SyncHeadshotClient

    client = SyncHeadshotClient(simulator.url, simulator.api_key, retry=FAST)
    result = client.generate(PARAMS, hopper_jpeg)
    assert len(result.images) == 2 and result.seed == PARAMS.seed
    assert simulator.api_key not in repr(client)


async def test_model_version_changes_the_answer_but_not_the_contract(hopper_jpeg, simulator):
    later = SIMULATOR_MODEL_VERSION + 1
    with SimulatorServer(SimulatorConfig(api_key=KEY, model_version=later)) as updated:
        before = await generate(simulator, hopper_jpeg)
        after = await generate(updated, hopper_jpeg)
        # Every reply names the model that made it.
        header = httpx.get(updated.url + "/").headers[SIMULATOR_HEADER]
    assert header == f"simulator@{later}; not real portraits"
    assert len(after.images) == 2 and check_jpeg(after.images[0], (512, 640))
    assert after.images != before.images


def test_model_version_is_the_current_model_or_a_later_one():
    assert SimulatorConfig().model_version == SIMULATOR_MODEL_VERSION == 2
    # Model 1's images are no longer made: asking for it is an error, not new images under
    # its name (its catalogue rows say "simulator", and must not be resumed with others).
    for old in (0, 1):
        with pytest.raises(ValueError, match="model_version must be 2 or more"):
            SimulatorConfig(model_version=old)


def test_render_processes_are_a_count_and_reach_workbench_simulate():
    from workbench.simulator.server import SimulatorProcess

    with pytest.raises(ValueError, match="render_processes"):
        SimulatorConfig(render_processes=-1)
    command = SimulatorProcess(SimulatorConfig(render_processes=0)).command()
    assert command[command.index("--processes") + 1] == "0"
    assert "--processes" not in SimulatorProcess(SimulatorConfig()).command()  # one per core
