"""JSON from files someone else made: bounded before and while it is parsed."""

from __future__ import annotations

import json

import pytest

from workbench.untrusted_json import (
    TooManyObjects,
    UnreadableJson,
    load_untrusted_json,
    quoted,
)


def test_a_file_within_the_bounds_reads_as_json_loads_reads_it():
    text = json.dumps({"a": [1, -2, 3.5, {"b": "[{ not structure }]"}], "c": None})
    for data in (text, text.encode()):
        assert load_untrusted_json(data, max_objects=2, max_arrays=1) == json.loads(text)


def test_brackets_inside_strings_do_not_count_but_real_ones_do():
    prompt = '[a:b:0.5] {soft} \\" [x]' * 50  # A1111-style prompt syntax, escapes and all
    text = json.dumps({"templates": [{"prompt": prompt}]})
    assert load_untrusted_json(text, max_objects=2, max_arrays=1)["templates"][0]["prompt"] == (
        prompt
    )
    with pytest.raises(TooManyObjects, match="more than 1 JSON objects"):
        load_untrusted_json(json.dumps([{}, {}]), max_objects=1, max_arrays=5)
    with pytest.raises(TooManyObjects, match="more than 2 JSON arrays"):
        load_untrusted_json(b"[[], [], []]", max_objects=0, max_arrays=2)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 200_000 + "]" * 200_000, "more than 10 JSON arrays"),
        ("[" * 5_000 + "]" * 5_000, "nested too deeply"),
        ('{"seed": ' + "9" * 5_000 + "}", "a number of 5000 digits"),
        ('{"seed": -' + "9" * 21 + "}", "a number of 21 digits"),
    ],
)
def test_crafted_text_gets_a_reason_not_a_traceback(text, reason):
    max_arrays = 10 if len(text) > 100_000 else 10_000
    with pytest.raises(UnreadableJson, match=reason):
        load_untrusted_json(text, max_objects=10, max_arrays=max_arrays)


def test_a_quoted_value_is_cut():
    assert quoted("short") == "'short'"
    assert len(quoted("x" * 10_000)) == 40 and quoted("x" * 10_000).endswith("…")
