"""How the app is served: who may sign in, where it listens, what files it may hand out.

`ServeOptions` is what `app.py` parses; `check_exposure` refuses to put the app beyond this
machine without sign-in; `launch_kwargs` turns the options into Gradio's `launch()` arguments
(files only from the image and thumbnail stores, upload size limit, no run history).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import ConfigError
from workbench.layout import DataLayout

AUTH_ENV = "WORKBENCH_APP_AUTH"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
# Face photos are resized to 1024 px anyway; 20 MB covers any honest phone photo.
MAX_UPLOAD = "20mb"

Credentials = tuple[str, str]


@dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    users: tuple[Credentials, ...] = field(default=(), repr=False)
    share: bool = False

    @property
    def exposed(self) -> bool:
        """Whether anyone but this machine could reach the app."""
        return self.share or not is_loopback(self.host)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def parse_credentials(text: str, *, source: str) -> tuple[Credentials, ...]:
    """`user:password` pairs separated by commas or new lines; blank lines and # comments skipped.

    The message of a mistake names the source and line, never the password.
    """
    users: list[Credentials] = []
    entries = [part for line in text.splitlines() for part in line.split(",")]
    for number, entry in enumerate(entries, 1):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        user, sep, password = entry.partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(f"{source}: entry {number} is not user:password")
        users.append((user.strip(), password))
    if not users:
        raise ConfigError(f"{source}: no user:password given")
    return tuple(users)


def resolve_users(
    auth: str | None, auth_file: str | os.PathLike[str] | None
) -> tuple[Credentials, ...]:
    """Sign-in users from --auth, else --auth-file, else $WORKBENCH_APP_AUTH; none: no sign-in."""
    if auth and auth_file:
        raise ConfigError("give --auth or --auth-file, not both")
    if auth:
        return parse_credentials(auth, source="--auth")
    if auth_file:
        path = Path(auth_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--auth-file {path}: cannot read ({exc.strerror})") from None
        return parse_credentials(text, source=str(path))
    from_env = os.environ.get(AUTH_ENV, "")
    if from_env.strip():
        return parse_credentials(from_env, source=f"${AUTH_ENV}")
    return ()


def check_exposure(options: ServeOptions) -> None:
    """Refuse to serve beyond loopback without sign-in (faces are personal data)."""
    if options.exposed and not options.users:
        where = "--share" if options.share else f"--host {options.host}"
        raise ConfigError(
            f"{where} exposes the app beyond this machine without sign-in; add --auth "
            f"user:password, --auth-file FILE or ${AUTH_ENV}"
        )


def served_folders(layout: DataLayout) -> list[str]:
    """The only folders whose files the app hands out: generated images and their thumbnails.

    Thumbnails first: Gradio checks each file handed out against these in order (resolving
    both paths each time), and grids hand out thumbnails by the hundred.
    """
    return [str(layout.thumbnails), str(layout.images)]


def blocked_folders(layout: DataLayout) -> list[str]:
    """Never served, never copied into Gradio's cache: the faces, the catalogue, app state."""
    served = {Path(folder) for folder in served_folders(layout)}
    blocked = [layout.faces, layout.catalogue]
    if layout.root.exists():
        blocked += [child for child in layout.root.iterdir() if child not in served]
    return sorted({str(path) for path in blocked})


def launch_kwargs(options: ServeOptions, layout: DataLayout) -> dict:
    """Arguments for `gr.Blocks.launch`."""
    return {
        "server_name": options.host,
        "server_port": options.port,
        "share": options.share,
        "auth": list(options.users) or None,
        "auth_message": "Headshot workbench: sign in with the account you were given.",
        "allowed_paths": served_folders(layout),
        "blocked_paths": blocked_folders(layout),
        "max_file_size": MAX_UPLOAD,
        # Run history would keep every call's inputs (face uploads included) in browsers.
        "run_history": False,
        "ssr_mode": False,
        "show_error": True,
        "quiet": True,
        "footer_links": ["gradio", "settings"],
    }
