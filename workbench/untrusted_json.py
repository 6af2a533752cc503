"""JSON from a file someone else made (an imported template file, a grid PNG's metadata): parsed
with bounds, so a crafted file gives one clear reason instead of a traceback or gigabytes.

`json.loads` alone fails on such files with a RecursionError (nesting 200,000 deep), a
ValueError (a 5,000-digit number, past Python's own limit) or by building millions of objects.
"""

from __future__ import annotations

import json
from typing import Any

# Every number in the workbench's files fits in 64 bits; a longer run of digits is refused
# before Python converts it.
MAX_NUMBER_DIGITS = 20
# How much of a value from such a file an error line quotes.
QUOTED_CHARS = 40


class UnreadableJson(ValueError):
    """The text is not JSON the workbench will read; the message says why, in a few words."""


class TooManyObjects(UnreadableJson):
    """The text holds more JSON objects than the caller allows."""


def load_untrusted_json(data: bytes | str, *, max_objects: int) -> Any:
    """`json.loads(data)`, stopped at the first JSON object past `max_objects` (so a file of a
    million costs no more than one of `max_objects`), a number longer than MAX_NUMBER_DIGITS, or
    nesting too deep for the parser. Raises UnreadableJson (TooManyObjects for the first), or
    json.JSONDecodeError / UnicodeDecodeError for text that is not JSON."""
    objects = 0

    def counted(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal objects
        objects += 1
        if objects > max_objects:
            raise TooManyObjects(f"more than {max_objects} JSON objects")
        return dict(pairs)

    def number(text: str) -> int:
        digits = len(text.lstrip("-"))
        if digits > MAX_NUMBER_DIGITS:
            raise UnreadableJson(f"a number of {digits} digits (at most {MAX_NUMBER_DIGITS})")
        return int(text)

    try:
        return json.loads(data, object_pairs_hook=counted, parse_int=number)
    except RecursionError:
        raise UnreadableJson("nested too deeply") from None


def quoted(value: object) -> str:
    """`value` for an error line: repr'd and cut, so a file cannot fill the line."""
    text = repr(value)
    return text if len(text) <= QUOTED_CHARS else text[: QUOTED_CHARS - 1] + "…"
