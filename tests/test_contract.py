"""The one contract schema: every range and default of the spec, clear errors naming the field."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from workbench.contract import (
    JPEG_DATA_URI_PREFIX,
    PROMPT_MAX_CHARS,
    PROMPT_PATTERN,
    PortraitParams,
    PortraitRequest,
    build_request,
    check_jpeg,
    check_prompt,
    decode_data_uri,
    encode_input_image,
    make_params,
)
from workbench.errors import InvalidRequest, MalformedReply


def jpeg_of(size=(64, 80), color=(120, 90, 60), fmt="JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def test_defaults_follow_the_spec():
    params = make_params(prompt="studio portrait")
    assert (params.seed, params.sample_number, params.identity_scale) == (-1, 1, 0.8)
    assert params.size == (768, 1024)
    assert not params.reproducible


def test_wire_names_round_trip():
    params = make_params(
        prompt="x", seed=7, sampleNumber=3, identityScale=0.5, outputImageWidth=512
    )
    wire = params.model_dump()
    assert wire == {
        "prompt": "x",
        "seed": 7,
        "sampleNumber": 3,
        "identityScale": 0.5,
        "outputImageWidth": 512,
        "outputImageHeight": 1024,
    }
    assert PortraitParams.model_validate(wire) == params


def test_prompt_is_trimmed():
    assert make_params(prompt="  office  ").prompt == "office"


def test_the_prompt_pattern_is_exactly_what_trimming_keeps():
    # The schema's "not empty after trimming" must agree with str.strip() on every character,
    # or a schema-valid prompt would be refused (or an empty one sent).
    for code in range(0x3100):
        char = chr(code)
        assert bool(re.search(PROMPT_PATTERN, char)) == bool(char.strip()), hex(code)
        if 0xD800 <= code < 0xE000:
            continue
        assert (check_prompt(f" {char} ") == char) if char.strip() else True


def test_the_prompt_limit_is_one_constant_checked_without_quoting_the_prompt():
    assert check_prompt("x" * PROMPT_MAX_CHARS) == "x" * PROMPT_MAX_CHARS
    with pytest.raises(InvalidRequest) as info:
        make_params(prompt="secret-prompt " * 1000)
    assert str(info.value) == "prompt: is 14,000 characters long; the limit is 4,000"
    with pytest.raises(ValueError, match="must not be empty"):
        check_prompt(" \u3000\n")
    schema = PortraitParams.model_json_schema()["properties"]["prompt"]
    assert (schema["maxLength"], schema["pattern"]) == (PROMPT_MAX_CHARS, PROMPT_PATTERN)


def test_whole_numbers_are_integers_as_json_schema_says():
    # JSON Schema counts 2.0 as an integer; a bool, a string or 2.5 is not one.
    params = make_params(prompt="x", seed=7.0, sampleNumber=2.0, outputImageWidth=600.0)
    assert (params.seed, params.sample_number, params.width) == (7, 2, 600)
    assert isinstance(params.seed, int) and isinstance(params.width, int)
    for fields in ({"sampleNumber": 2.5}, {"sampleNumber": True}, {"outputImageWidth": "600"}):
        with pytest.raises(InvalidRequest):
            make_params(prompt="x", **fields)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x", "seed": 0}, "seed"),
        ({"prompt": "x", "seed": -2}, "seed"),
        ({"prompt": "x", "seed": 2_147_483_648}, "seed"),
        ({"prompt": "x", "seed": 1.5}, "seed"),
        ({"prompt": "x", "seed": True}, "seed"),
        ({"prompt": "x", "seed": "5"}, "seed"),
        ({"prompt": "x", "sampleNumber": 0}, "sampleNumber"),
        ({"prompt": "x", "sampleNumber": 9}, "sampleNumber"),
        ({"prompt": "x", "identityScale": -0.01}, "identityScale"),
        ({"prompt": "x", "identityScale": 1.01}, "identityScale"),
        ({"prompt": "x", "outputImageWidth": 511}, "outputImageWidth"),
        ({"prompt": "x", "outputImageWidth": 2025}, "outputImageWidth"),
        ({"prompt": "x", "outputImageHeight": 511}, "outputImageHeight"),
        ({"prompt": "x", "outputImageHeight": 2025}, "outputImageHeight"),
        ({"prompt": "x", "colour": "red"}, "colour"),
    ],
)
def test_out_of_range_fields_are_named(fields, field):
    with pytest.raises(InvalidRequest) as info:
        make_params(**fields)
    assert str(info.value).startswith(f"{field}:")


def test_extreme_valid_values_are_accepted():
    params = make_params(
        prompt="x", seed=2_147_483_647, sampleNumber=8, identityScale=0, width=2024, height=512
    )
    assert params.size == (2024, 512)


def test_jpeg_face_is_sent_byte_for_byte():
    face = jpeg_of()
    request = build_request(make_params(prompt="x"), face, "k")
    assert decode_data_uri(request.input_images[0]) == face


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_faces_become_jpeg(fmt):
    request = build_request(make_params(prompt="x"), jpeg_of(fmt=fmt), "k")
    assert request.input_images[0].startswith(JPEG_DATA_URI_PREFIX)
    assert check_jpeg(request.face_jpeg()) == (64, 80)


@pytest.mark.parametrize(
    ("face", "expected"),
    [
        (b"", "empty"),
        (b"this is a text file, not a face", "not an image"),
        (jpeg_of()[:200], "not a complete, decodable image"),
    ],
)
def test_bad_faces_are_refused_before_sending(face, expected):
    with pytest.raises(InvalidRequest, match=expected) as info:
        build_request(make_params(prompt="x"), face, "k")
    assert str(info.value).startswith("inputImages:")


def test_two_input_images_are_refused():
    uri = encode_input_image(jpeg_of())
    body = {"prompt": "x", "apiKey": "k", "inputImages": [uri, uri]}
    with pytest.raises(ValueError, match="inputImages"):
        PortraitRequest.model_validate(body)


def test_a_png_inside_a_jpeg_data_uri_is_refused_by_the_schema():
    uri = JPEG_DATA_URI_PREFIX + base64.b64encode(jpeg_of(fmt="PNG")).decode()
    with pytest.raises(ValueError, match="inputImages.0\n  not a data:image/jpeg;base64 URI"):
        PortraitRequest.model_validate({"prompt": "x", "apiKey": "k", "inputImages": [uri]})


def test_a_jpeg_that_does_not_decode_passes_the_schema_but_not_face_jpeg():
    # What the schema's pattern cannot say (the bytes decode) is face_jpeg's to check.
    truncated = jpeg_of()[:200]
    uri = JPEG_DATA_URI_PREFIX + base64.b64encode(truncated).decode()
    request = PortraitRequest.model_validate({"prompt": "x", "apiKey": "k", "inputImages": [uri]})
    with pytest.raises(InvalidRequest, match="^inputImages: JPEG does not decode"):
        request.face_jpeg()


def test_the_key_never_shows_in_repr_str_or_errors():
    key = "sk-live-UNIQUE-3f9a"
    request = build_request(make_params(prompt="x"), jpeg_of(), key)
    assert key not in repr(request) and key not in str(request)
    assert request.wire_body()["apiKey"] == key
    with pytest.raises(ValueError) as info:
        PortraitRequest.model_validate({"prompt": "", "apiKey": key, "inputImages": ["bad"]})
    with pytest.raises(InvalidRequest) as named:
        build_request(make_params(prompt="x"), b"junk", key)
    assert key not in str(info.value) and key not in str(named.value)


def test_check_jpeg_catches_every_malformation():
    good = jpeg_of((512, 600))
    assert check_jpeg(good, (512, 600)) == (512, 600)
    with pytest.raises(MalformedReply, match="requested|asked"):
        check_jpeg(good, (600, 512))
    with pytest.raises(MalformedReply, match="not a JPEG"):
        check_jpeg(jpeg_of(fmt="PNG"))
    with pytest.raises(MalformedReply, match="does not decode"):
        check_jpeg(good[: len(good) // 2])
    with pytest.raises(MalformedReply, match="base64"):
        decode_data_uri(JPEG_DATA_URI_PREFIX + "@@@")
    with pytest.raises(MalformedReply, match="data:image/jpeg"):
        decode_data_uri("data:image/png;base64,AAAA")


def test_openapi_schema_uses_wire_names():
    schema = PortraitRequest.model_json_schema(by_alias=True)
    assert set(schema["properties"]) == {
        "apiKey",
        "prompt",
        "seed",
        "sampleNumber",
        "identityScale",
        "inputImages",
        "outputImageWidth",
        "outputImageHeight",
    }
    assert schema["properties"]["outputImageWidth"]["maximum"] == 2024


def test_only_safe_formats_are_decoded_so_eps_never_reaches_ghostscript(monkeypatch):
    from PIL import EpsImagePlugin

    def ghostscript(*args, **kwargs):
        raise AssertionError("an untrusted EPS reached Ghostscript")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    eps = (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 200 200\n"
        b"newpath 0 0 moveto 200 200 lineto stroke\nshowpage\n%%EOF\n"
    )
    with pytest.raises(InvalidRequest, match="not an image we accept"):
        build_request(make_params(prompt="x"), eps, "k")
