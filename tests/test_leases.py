"""Leases across processes: one owner per request key, dead or hung owners taken over."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from workbench.leases import Claim, Leases, Owner, clear_stale_leases, owner_alive, owners_dir

KEY = "ab" * 32
OTHER = "cd" * 32


def test_a_key_has_one_owner_until_released(layout):
    first, second = Owner(layout), Owner(layout)
    mine, theirs = Leases(layout, first), Leases(layout, second)
    assert mine.claim(KEY) is Claim.OURS
    assert mine.claim(KEY) is Claim.OURS  # claiming again is harmless
    assert theirs.claim(KEY) is Claim.HELD
    assert theirs.claim(OTHER) is Claim.OURS
    theirs.release([KEY])  # not theirs to release: nothing happens
    assert theirs.claim(KEY) is Claim.HELD
    lease = json.loads((layout.state / "leases" / f"{KEY}.lease").read_text())
    assert lease["owner"] == first.id and lease["expires"] > time.time()
    mine.release([KEY])
    assert theirs.claim(KEY) is Claim.OURS


def test_a_dead_owners_lease_is_taken_over(layout):
    # A real process that claims a key and dies without a word (kill -9).
    script = (
        "import os, sys\n"
        "from workbench.layout import DataLayout\n"
        "from workbench.leases import Leases, Owner\n"
        "layout = DataLayout.resolve(sys.argv[1])\n"
        "owner = Owner(layout)\n"
        "Leases(layout, owner).claim(sys.argv[2])\n"
        "print(owner.id, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(layout.root), KEY], capture_output=True, text=True
    )
    dead_id = done.stdout.strip()
    assert dead_id and done.returncode == -9
    assert not owner_alive(owners_dir(layout), dead_id)

    living = Owner(layout)
    assert owner_alive(owners_dir(layout), living.id)
    assert Leases(layout, living).claim(KEY) is Claim.TAKEN_OVER


def test_an_expired_lease_is_taken_over_and_stale_ones_cleared(layout):
    hung, waiting = Owner(layout), Owner(layout)
    Leases(layout, hung, ttl_s=0.0).claim(KEY)  # alive, but past its expiry (a hung process)
    assert Leases(layout, waiting).claim(KEY) is Claim.TAKEN_OVER

    gone = Owner(layout)
    Leases(layout, gone).claim(OTHER)
    gone.close()  # its process ended without releasing
    dead_owner = owners_dir(layout) / "deadhost-1-00000000.lock"
    dead_owner.write_text("")  # an owner file nobody holds: its process died
    assert clear_stale_leases(layout) == 1
    assert not dead_owner.exists()
    assert (owners_dir(layout) / f"{waiting.id}.lock").exists()
    assert not (layout.state / "leases" / f"{OTHER}.lease").exists()
    assert (layout.state / "leases" / f"{KEY}.lease").exists()  # `waiting` is alive
