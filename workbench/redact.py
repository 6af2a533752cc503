"""What of a server's reply text may be kept: decoded to plain text, with no piece of a secret.

A server may echo the request (and so the API key) back in any spelling: JSON escapes, percent-
encoding, HTML entities, base64, base32, hex, octal escapes, reversed, ROT13, fullwidth, with
zero-width characters, combining marks or HTML tags between the letters.
`redact` first undoes every such encoding it knows (repeatedly, for nested ones), then masks
every 8-character piece of each secret, forwards and reversed, ignoring case. If a piece can
still be found after that (in a base64 reading at any offset, or with all punctuation dropped),
the whole text is withheld: a reply excerpt is worth less than a key.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"
WITHHELD = "(reply text withheld: it carried a secret)"
PIECE = 8  # the length of the pieces masked: shorter ones are too common in plain text
# Reply text beyond this is never read: the 200-character excerpt comes from far less of any
# encoding (the longest spend under 40 characters per character), and decoding a hostile 64 KB
# reply took 0.7 s of the event loop where 8 KB takes 0.06 s.
MAX_TEXT_CHARS = 8_192
_ROUNDS = 6  # nested encodings undone (base64 of percent-encoded JSON escapes, ...)

# Invisible characters a server may slip between the key's letters: every format character
# (zero-width space/joiners, soft hyphen, BOM, bidi marks) plus a few invisible letters.
_INVISIBLE_EXTRA = {"\u034f", "\u115f", "\u1160", "\u3164", "\uffa0", "\u180e"}
_JSON_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE = re.compile(
    r"\\u([0-9a-fA-F]{4})|\\u\{([0-9a-fA-F]{1,6})\}|\\x([0-9a-fA-F]{2})|%u([0-9a-fA-F]{4})"
    r"|\\U([0-9a-fA-F]{8})|\\([0-7]{3})|\\([\\/\"'bfnrt])"
)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
_BASE32_RUN = re.compile(r"[A-Z2-7]{16,}={0,6}")
# Base64 wrapped into lines (MIME, PEM): the lines are one run.
_WRAPPED_BASE64 = re.compile(r"(?<=[A-Za-z0-9+/]{16})\r?\n(?=[A-Za-z0-9+/]{4})")
# HTML or XML tags slipped between the key's letters (`s<b></b>k-…`).
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,60}>")
_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}){6,}")


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` decoded to plain text with every piece of each secret replaced by `***`."""
    secrets = [secret for secret in secrets if secret]
    text = normalise(text[:MAX_TEXT_CHARS])
    for secret in secrets:
        text = _mask(text, secret)
    if any(_still_there(text, secret) for secret in secrets):
        return WITHHELD
    return text


def normalise(text: str) -> str:
    """`text` with the encodings a server might use undone, until nothing more changes."""
    for _ in range(_ROUNDS):
        before = text
        # Compatibility forms (fullwidth letters) folded, accents and other combining marks
        # dropped, invisible characters too.
        text = unicodedata.normalize("NFKD", text)
        text = "".join(char for char in text if not _invisible(char))
        text = _ESCAPE.sub(_unescape, text)
        text = _join_surrogates(text)
        text = unquote(text, errors="replace")
        text = html.unescape(text)
        text = _TAG.sub("", text)
        text = _WRAPPED_BASE64.sub("", text)
        text = _BASE64_RUN.sub(
            lambda match: _readable(_base64(match.group())) or match.group(), text
        )
        text = _HEX_RUN.sub(lambda match: _readable(_hex(match.group())) or match.group(), text)
        text = _BASE32_RUN.sub(
            lambda match: _readable(_base32(match.group())) or match.group(), text
        )
        if text == before:
            break
    return text


def pieces(secret: str) -> set[str]:
    """Every `PIECE`-character piece of `secret`, forwards and reversed (the whole secret if
    shorter), in the comparison form of `_fold`."""
    found = set()
    # The secret as given and as it reads once normalised: a key holding `%41` or `&amp;`
    # is echoed in a form that normalises to something else.
    spellings = {secret, unicodedata.normalize("NFKC", secret), normalise(secret)}
    # ROT13 too: the one letter cipher a server (or a prankster's proxy) might apply.
    for spelling in spellings | {codecs.encode(spelling, "rot13") for spelling in spellings}:
        folded = _fold(spelling)
        size = min(PIECE, len(folded))
        for form in (folded, folded[::-1]):
            found.update(form[i : i + size] for i in range(len(form) - size + 1))
    return found


def _mask(text: str, secret: str) -> str:
    folded = _fold(text)
    covered = bytearray(len(text))
    for piece in pieces(secret):
        start = folded.find(piece)
        while start >= 0:
            covered[start : start + len(piece)] = b"\x01" * len(piece)
            start = folded.find(piece, start + 1)
    if not any(covered):
        return text
    out, index = [], 0
    while index < len(text):
        if covered[index]:
            while index < len(text) and covered[index]:
                index += 1
            out.append(MASK)
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def _still_there(text: str, secret: str) -> bool:
    """Whether a piece of `secret` can still be read out of masked `text`: with punctuation and
    spaces dropped (for secrets long enough that this cannot match by chance), or in any base64
    reading of a run at any of the four offsets."""
    letters = "".join(char for char in _fold(secret) if char.isalnum())
    if len(letters) >= PIECE:
        plain = "".join(char for char in _fold(text) if char.isalnum())
        if any(piece in plain for piece in pieces(letters)):
            return True
    wanted = [piece.encode() for piece in pieces(secret)]
    for run in _BASE64_RUN.findall(text):
        for offset in range(4):
            decoded = _fold(_base64(run[offset:]).decode("latin-1")).encode("latin-1", "replace")
            utf8 = _fold(_base64(run[offset:]).decode("utf-8", "replace")).encode()
            if any(piece in decoded or piece in utf8 for piece in wanted):
                return True
    return False


def _fold(text: str) -> str:
    # Comparison form, one character for one (so positions match the text): case folded,
    # and `+` read as the space it stands for in a form-encoded echo.
    return "".join(
        " " if char == "+" else (low if len(low := char.lower()) == 1 else char) for char in text
    )


def _invisible(char: str) -> bool:
    return unicodedata.category(char) in ("Cf", "Mn") or char in _INVISIBLE_EXTRA


def _unescape(match: re.Match) -> str:
    code = match.group(1) or match.group(2) or match.group(3) or match.group(4) or match.group(5)
    if code is not None:
        value = int(code, 16)
        return chr(value) if value <= 0x10FFFF else match.group()
    if match.group(6) is not None:
        return chr(int(match.group(6), 8))
    simple = match.group(7)
    return _JSON_SIMPLE.get(simple, simple)


def _join_surrogates(text: str) -> str:
    # `\ud83d\ude00` decodes to two lone surrogates; pair them into the character they spell.
    if not any("\ud800" <= char <= "\udfff" for char in text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _base64(run: str) -> bytes:
    run = run.rstrip("=")
    run = run[: len(run) - len(run) % 4] if len(run) % 4 == 1 else run
    padded = run + "=" * (-len(run) % 4)
    altchars = b"-_" if ("-" in run or "_" in run) else b"+/"
    try:
        return base64.b64decode(padded, altchars=altchars)
    except (binascii.Error, ValueError):
        return b""


def _base32(run: str) -> bytes:
    run = run.rstrip("=")
    try:
        return base64.b32decode(run + "=" * (-len(run) % 8))
    except (binascii.Error, ValueError):
        return b""


def _hex(run: str) -> bytes:
    try:
        return bytes.fromhex(run)
    except ValueError:
        return b""


def _readable(data: bytes) -> str | None:
    """`data` as text if it reads as text (UTF-8, nearly all printable), else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(char.isprintable() or char in "\n\t" for char in text)
    return text if len(text) >= 4 and printable >= 0.95 * len(text) else None
