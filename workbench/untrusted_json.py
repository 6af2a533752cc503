"""JSON from a file someone else made (an imported template file, a grid PNG's metadata): parsed
with bounds, so a crafted file gives one clear reason instead of a traceback or gigabytes.

`json.loads` alone fails on such files with a RecursionError (nesting 200,000 deep), a
ValueError (a 5,000-digit number, past Python's own limit) or by building millions of objects.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Every number in the workbench's files fits in 64 bits; a longer run of digits is refused
# before Python converts it.
MAX_NUMBER_DIGITS = 20
# How much of a value from such a file an error line quotes.
QUOTED_CHARS = 40


class UnreadableJson(ValueError):
    """The text is not JSON the workbench will read; the message says why, in a few words."""


class TooManyObjects(UnreadableJson):
    """The text holds more JSON objects or arrays than the caller allows."""


# A JSON string (escapes included), or an opening bracket outside one.
_STRING_OR = {
    "{": re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|\{'),
    "[": re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|\['),
}


def _more_than(data: bytes | str, bracket: str, limit: int) -> bool:
    """Whether `data` opens more than `limit` objects (`{`) or arrays (`[`): counted in C first,
    and only if that count (which includes brackets inside strings) is over the limit, again
    outside strings, stopping at the first past it. No copy of the text is made."""
    if isinstance(data, bytes):
        needle: bytes | str = bracket.encode()
        pattern: re.Pattern = re.compile(_STRING_OR[bracket].pattern.encode())
    else:
        needle, pattern = bracket, _STRING_OR[bracket]
    if data.count(needle) <= limit:
        return False
    count = 0
    for match in pattern.finditer(data):
        if len(match.group()) == 1:
            count += 1
            if count > limit:
                return True
    return False


def load_untrusted_json(data: bytes | str, *, max_objects: int, max_arrays: int) -> Any:
    """`json.loads(data)`, refused before parsing if the text holds more than `max_objects`
    objects or `max_arrays` arrays (each costs ~60 bytes of memory or more for 2-3 bytes of text:
    a 9 MB file of `[],` took 267 MB), and stopped at a number longer than MAX_NUMBER_DIGITS or
    nesting too deep for the parser. Raises UnreadableJson (TooManyObjects for the first), or
    json.JSONDecodeError / UnicodeDecodeError for text that is not JSON."""
    if _more_than(data, "{", max_objects):
        raise TooManyObjects(f"more than {max_objects} JSON objects")
    if _more_than(data, "[", max_arrays):
        raise TooManyObjects(f"more than {max_arrays} JSON arrays")
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
