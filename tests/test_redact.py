"""The API key in any spelling a server might echo it: never kept in an error, a catalogue row,
a log or an export. The echoing server is real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import html
import json
import logging
import re
import textwrap
import threading
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote

import pytest

from workbench.catalogue import Catalogue
from workbench.client import HeadshotClient, RetryPolicy
from workbench.redact import WITHHELD, redact
from workbench.run import SweepRun
from workbench.sweep import Sweep

pytest_plugins = ["sweep_fixtures"]

KEY = "hs-live-Qx7pW2mZ-k9Tf4vRb-3nLs"
FAST_RETRY = RetryPolicy(attempts=2, timeout=10.0, wait_initial=0.01, wait_max=0.02)
ZERO_WIDTH = "\u200b"


def _entities(text: str) -> str:
    return "".join(f"&#{ord(char)};" for char in text)


def _all_percent(text: str) -> str:
    return "".join(f"%{ord(char):02X}" for char in text)


def _all_escaped(text: str) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in text)


# Each way a server might echo the key back (the list, and a few more).
ENCODINGS = {
    "html-entities": _entities,
    "base64": lambda key: base64.b64encode(key.encode()).decode(),
    "base64-of-the-body": lambda key: base64.b64encode(
        json.dumps({"apiKey": key}).encode()
    ).decode(),
    "reversed": lambda key: key[::-1],
    "zero-width": ZERO_WIDTH.join,
    "json-escaped-every-char": _all_escaped,
    "json-escaped-dash": lambda key: key.replace("-", "\\u002d"),
    "percent-every-char": _all_percent,
    "percent-twice": lambda key: quote(_all_percent(key), safe=""),
    "hex": lambda key: key.encode().hex(),
    "upper-case": str.upper,
    "reversed-entities": lambda key: _entities(key[::-1]),
    "rot13": lambda key: codecs.encode(key, "rot13"),
    "base32": lambda key: base64.b32encode(key.encode()).decode(),
    "html-tags-between": lambda key: "<b></b>".join(key),
    "base64-wrapped": lambda key: "\\n".join(
        textwrap.wrap(base64.b64encode(("x" * 40 + key).encode()).decode(), 20)
    ),
    "octal-escapes": lambda key: "".join(f"\\{ord(char):03o}" for char in key),
    "combining-marks": lambda key: "\u0332".join(key),
    "fullwidth": lambda key: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in key),
}


def _decodings(text: str) -> list[str]:
    """`text` as a reader would decode it, in every way the test knows (independently of the
    code under test): the pieces of the key must be absent from every one of these."""
    forms = [text, text.replace(ZERO_WIDTH, ""), html.unescape(text), unquote(unquote(text))]
    forms.append(re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text))
    forms.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text))
    forms += [codecs.encode(text, "rot13"), text.replace("<b></b>", ""), text.replace("\u0332", "")]
    forms.append(unicodedata.normalize("NFKC", text))
    text = text.replace("\\n", "")  # base64 wrapped into lines, as one run
    for run in re.findall(r"[A-Z2-7]{16,}", text):
        with contextlib.suppress(binascii.Error):
            forms.append(base64.b32decode(run + "=" * (-len(run) % 8)).decode("latin-1"))
    for run in re.findall(r"[A-Za-z0-9+/=]{12,}", text):
        for offset in range(4):
            chunk = run[offset:].rstrip("=")
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            forms.append(base64.b64decode(chunk + "==", validate=False).decode("latin-1"))
    for run in re.findall(r"(?:[0-9a-fA-F]{2}){8,}", text):
        forms.append(bytes.fromhex(run).decode("latin-1"))
    return forms


def _leaks(text: str, key: str = KEY) -> list[str]:
    """Every 8-character piece of `key`, forwards or reversed, readable in `text`."""
    pieces = {form[i : i + 8].lower() for form in (key, key[::-1]) for i in range(len(key) - 7)}
    return sorted({piece for form in _decodings(text) for piece in pieces if piece in form.lower()})


class EchoServer:
    """A loopback HTTP server answering every request with `status` and a body that echoes the
    request's apiKey in one encoding."""

    def __init__(self, encode, status: int = 400):
        encode_key, reply_status = encode, status

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = f'{{"error": "invalid apiKey", "got": "{encode_key(body["apiKey"])}"}}'
                payload = text.encode()
                self.send_response(reply_status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.mark.parametrize(
    ("encoding", "status"),
    [(name, 400) for name in sorted(ENCODINGS)] + [("base64-of-the-body", 401), ("hex", 401)],
)
async def test_a_key_echoed_in_any_encoding_reaches_no_row_log_file_or_export(
    panel_layout, caplog, tmp_path, encoding, status
):
    caplog.set_level(logging.DEBUG)
    sweep = Sweep.build(prompts=["studio"], seeds="1-2", sizes=["512x512"], concurrency=2)
    with EchoServer(ENCODINGS[encoding], status) as server:
        # The server really echoes this encoding (the test is not vacuous).
        assert _leaks(ENCODINGS[encoding](KEY))
        run = SweepRun.prepare(sweep, panel_layout, backend=server.url)
        async with HeadshotClient(server.url, KEY, retry=FAST_RETRY) as api:
            summary = await run.execute(api)
    rows = Catalogue(panel_layout.catalogue).runs()
    assert len(rows) >= 1 and set(rows["status"]) == {"failed"}
    for error in rows["error"]:
        assert error.startswith(("HTTP 400", "the API key was refused (HTTP 401"))
        assert _leaks(error) == [], error
    assert _leaks(summary.stop_reason or "") == []
    assert _leaks(caplog.text) == []
    for path in panel_layout.root.rglob("*"):
        if path.is_file():
            assert _leaks(path.read_bytes().decode("latin-1")) == [], path
    export = tmp_path / "export.csv"
    rows.to_csv(export, index=False)
    assert _leaks(export.read_text()) == []


def test_the_kept_text_is_decoded_and_masked_not_the_reply_as_it_came():
    echoed = (
        f'{{"detail": "bad key \\u0022{_all_escaped(KEY)}\\u0022", "hint": "&lt;= 4 per second"}}'
    )
    assert redact(echoed, [KEY]) == '{"detail": "bad key "***"", "hint": "<= 4 per second"}'
    # Text without the key stays readable, encoded runs that are not text stay as they are.
    plain = "quota exceeded for project 1f9a2c (100% used), see https://x.test/a%20b"
    assert (
        redact(plain, [KEY])
        == "quota exceeded for project 1f9a2c (100% used), see https://x.test/a b"
    )


def test_a_piece_readable_only_once_punctuation_is_dropped_withholds_the_text():
    assert redact("key was " + " ".join(KEY), [KEY]) == WITHHELD
    assert redact("key was " + ".".join(KEY[::-1]), [KEY]) == WITHHELD
    assert redact("nothing of it here", [KEY]) == "nothing of it here"


def test_a_key_that_itself_looks_encoded_is_masked_in_both_spellings():
    key = "k%41y-&amp;-long-enough-1234"
    assert _leaks(redact(f"raw {key} and decoded {unquote(key)}", [key]), key) == []
