"""How the app is served: sign-in users, refusing to go public without them, what is served."""

from __future__ import annotations

import pytest

from workbench.app.server import (
    AUTH_ENV,
    ServeOptions,
    check_exposure,
    launch_kwargs,
    parse_credentials,
    resolve_users,
)
from workbench.errors import ConfigError


def test_credentials_come_from_the_option_a_file_or_the_environment(tmp_path, monkeypatch):
    assert resolve_users("ada:s3cret", None) == (("ada", "s3cret"),)
    users = tmp_path / "users.txt"
    users.write_text("# team\nada:one\n\ngrace:two:with:colons\n")
    assert resolve_users(None, users) == (("ada", "one"), ("grace", "two:with:colons"))
    monkeypatch.setenv(AUTH_ENV, "ada:env-pass, bob:other")
    assert resolve_users(None, None) == (("ada", "env-pass"), ("bob", "other"))
    monkeypatch.delenv(AUTH_ENV)
    assert resolve_users(None, None) == ()


def test_a_bad_credentials_entry_is_named_without_echoing_any_password(tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_credentials("ada:fine\nnocolon-hunter2", source="users.txt")
    assert "users.txt: entry 2 is not user:password" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="--auth or --auth-file, not both"):
        resolve_users("a:b", tmp_path / "x")
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_users(None, tmp_path / "missing.txt")


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        (ServeOptions(), False),
        (ServeOptions(host="localhost"), False),
        (ServeOptions(host="::1"), False),
        (ServeOptions(host="0.0.0.0"), True),
        (ServeOptions(host="192.168.1.5"), True),
        (ServeOptions(host="workbench.example.com"), True),
        (ServeOptions(share=True), True),
        (ServeOptions(host="0.0.0.0", users=(("ada", "pw"),)), False),
        (ServeOptions(share=True, users=(("ada", "pw"),)), False),
    ],
)
def test_beyond_loopback_without_sign_in_is_refused_in_one_line(options, refused):
    if not refused:
        check_exposure(options)
        return
    with pytest.raises(ConfigError) as caught:
        check_exposure(options)
    message = str(caught.value)
    assert "\n" not in message
    assert "without sign-in" in message and "--auth" in message


def test_only_the_image_and_thumbnail_stores_are_served(layout):
    for folder in (layout.faces, layout.images, layout.thumbnails, layout.catalogue):
        folder.mkdir(parents=True)
    (layout.root / "state").mkdir()
    kwargs = launch_kwargs(ServeOptions(users=(("ada", "pw"),)), layout)
    assert kwargs["allowed_paths"] == [str(layout.thumbnails), str(layout.images)]
    blocked = kwargs["blocked_paths"]
    assert str(layout.faces) in blocked and str(layout.catalogue) in blocked
    assert str(layout.root / "state") in blocked
    assert str(layout.images) not in blocked
    assert kwargs["run_history"] is False  # face uploads never kept in browsers
    assert kwargs["max_file_size"]
    assert kwargs["auth"] == [("ada", "pw")]
    assert "pw" not in repr(ServeOptions(users=(("ada", "pw"),)))
