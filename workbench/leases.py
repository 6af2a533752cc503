"""Who is sending what, across processes: so that the CLI, the app and a notebook running one
sweep into one data folder buy each request once.

An `Owner` is one running sweep. It holds an exclusive `flock` on `<data>/state/owners/<id>.lock`
while it lives; the kernel drops that lock when the process dies (even on kill -9), so any other
process can tell a live owner from a dead one by trying the lock.

A `Leases` claims a request key before sending it: `<data>/state/leases/<key>.lease`, a small
JSON file naming the owner and an expiry, created atomically (a hard link of a finished temp
file, which fails if the lease exists). A lease whose owner died, or whose expiry passed (a hung
process), is stale and is taken over under a lock, so two takers never both win. The owner keeps
a key's lease until the result is in the catalogue, then removes it.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.layout import (
    PRIVATE_FILE_MODE,
    TMP_SUFFIX,
    DataLayout,
    file_lock,
    make_private_dir,
    remove_stale_temp_files,
)

# Longer than any one request can take (the client's retry policy bounds a request at 300 s),
# so only a hung process ever outlives its lease.
LEASE_SECONDS = 900.0
LEASE_SUFFIX = ".lease"
# A live owner stays live; a dead one stays dead. Checking each costs a file open, so a
# verdict is reused this long.
LIVENESS_CACHE_S = 1.0
# A temp file this old belongs to a process that died between writing it and linking it.
STALE_TMP_SECONDS = 3600.0


def owners_dir(layout: DataLayout) -> Path:
    return layout.state / "owners"


def leases_dir(layout: DataLayout) -> Path:
    return layout.state / "leases"


class Owner:
    """One running sweep, visible to other processes while it lives. Close it when done."""

    def __init__(self, layout: DataLayout):
        self.layout = layout
        host = "".join(c if c.isalnum() else "-" for c in socket.gethostname())[:40]
        self.id = f"{host}-{os.getpid()}-{secrets.token_hex(4)}"
        folder = make_private_dir(owners_dir(layout))
        self.path = folder / f"{self.id}.lock"
        # Locked before it gets its name: nobody can find it unlocked and call it dead.
        tmp = folder / f".{self.id}.lock.tmp"
        self._fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(tmp, self.path)

    def __repr__(self) -> str:
        return f"Owner({self.id!r})"

    def close(self) -> None:
        if self._fd < 0:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)  # releases the lock
        self._fd = -1


class Liveness:
    """Tells live owners from dead ones, remembering each verdict for a moment."""

    def __init__(self, layout: DataLayout):
        self.folder = owners_dir(layout)
        self._seen: dict[str, tuple[float, bool]] = {}

    def alive(self, owner_id: str) -> bool:
        now = time.monotonic()
        cached = self._seen.get(owner_id)
        if cached and now - cached[0] < LIVENESS_CACHE_S:
            return cached[1]
        verdict = owner_alive(self.folder, owner_id)
        self._seen[owner_id] = (now, verdict)
        return verdict


def owner_alive(folder: Path, owner_id: str) -> bool:
    """Whether the owner `owner_id` still runs: its lock file exists and is locked."""
    if "/" in owner_id or owner_id.startswith("."):
        return False
    path = folder / f"{owner_id}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False  # closed cleanly, or its dead lock was already cleared
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        path.unlink(missing_ok=True)  # a dead owner's leftover; we hold its lock, so it is ours
        return False
    finally:
        os.close(fd)


class Claim(enum.Enum):
    OURS = "ours"  # nobody had it: send it
    TAKEN_OVER = "taken over"  # its owner died or hung: its results may sit in a journal
    HELD = "held"  # a live owner is sending it: wait for its result


@dataclass(frozen=True)
class Lease:
    owner: str
    expires: float  # Unix time

    def stale(self, liveness: Liveness, now: float) -> bool:
        return self.expires <= now or not liveness.alive(self.owner)


class Leases:
    """The request keys one owner claims; `claim` never blocks on another owner."""

    def __init__(self, layout: DataLayout, owner: Owner, *, ttl_s: float = LEASE_SECONDS):
        self.owner = owner
        self.ttl_s = ttl_s
        self.folder = make_private_dir(leases_dir(layout))
        self.liveness = Liveness(layout)
        self._takeover_lock = self.folder / ".takeover.lock"

    def claim(self, key: str) -> Claim:
        path = self._path(key)
        for _ in range(10):
            tmp = self._write_tmp(key)
            try:
                os.link(tmp, path)  # atomic, with its content: fails if the lease exists
                return Claim.OURS
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
            lease = read_lease(path)
            if lease is None:
                continue  # released meanwhile: try again
            if lease.owner == self.owner.id:
                return Claim.OURS
            if not lease.stale(self.liveness, time.time()):
                return Claim.HELD
            with file_lock(self._takeover_lock):
                # Only one taker at a time, and only if nobody took it over meanwhile.
                if read_lease(path) == lease:
                    tmp = self._write_tmp(key)
                    os.replace(tmp, path)
                    return Claim.TAKEN_OVER
        return Claim.HELD

    def release(self, keys) -> None:
        """Give up leases this owner holds (a key stored, or failed and left to the next run)."""
        for key in keys:
            path = self._path(key)
            lease = read_lease(path)
            if lease is not None and lease.owner == self.owner.id:
                path.unlink(missing_ok=True)

    def holder(self, key: str) -> Lease | None:
        return read_lease(self._path(key))

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"{key!r} is not a request key")
        return self.folder / f"{key}{LEASE_SUFFIX}"

    def _write_tmp(self, key: str) -> Path:
        lease = {"owner": self.owner.id, "expires": time.time() + self.ttl_s}
        tmp = self.folder / f".{key}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(lease))
        return tmp


def read_lease(path: Path) -> Lease | None:
    try:
        data = json.loads(path.read_text())
        return Lease(owner=str(data["owner"]), expires=float(data["expires"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        # Not ours to understand: treat it as expired, so it is taken over, never trusted.
        return Lease(owner="(unreadable)", expires=0.0)


def clear_stale_leases(layout: DataLayout) -> int:
    """Remove leases of owners that died (what a kill -9 leaves), their owner files and temp
    files left half-way; returns how many leases went."""
    owners = owners_dir(layout)
    if owners.exists():
        for path in owners.glob("*.lock"):
            owner_alive(owners, path.name[: -len(".lock")])  # a dead owner's file goes
        remove_stale_temp_files(owners, f"*{TMP_SUFFIX}", STALE_TMP_SECONDS)
    folder = leases_dir(layout)
    if not folder.exists():
        return 0
    remove_stale_temp_files(folder, f"*{TMP_SUFFIX}", STALE_TMP_SECONDS)
    liveness, now, removed = Liveness(layout), time.time(), 0
    with file_lock(folder / ".takeover.lock"):
        for path in folder.glob(f"*{LEASE_SUFFIX}"):
            lease = read_lease(path)
            if lease is not None and lease.stale(liveness, now):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
    return removed
