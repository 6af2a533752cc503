"""What one running sweep shares with every other process on the same data folder: its owner
identity, the leases on the request keys it is sending, its journal of received results, and a
view of what the others have stored since it planned.

Every method does file I/O and may block briefly: the engine calls them in a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from workbench.catalogue import STATUS_OK, Catalogue, CatalogueRow
from workbench.journal import Journal, fold_orphans
from workbench.layout import DataLayout
from workbench.leases import Claim, Leases, Owner


class InFlight:
    """One running sweep's side of the cross-process bookkeeping. `close()` when done."""

    def __init__(
        self,
        layout: DataLayout,
        catalogue: Catalogue,
        *,
        parts_seen: set[str] | None = None,
    ):
        self.layout = layout
        self.catalogue = catalogue
        self.owner = Owner(layout)
        self.leases = Leases(layout, self.owner)
        self.journal = Journal(layout, self.owner)
        # Parts already read when the sweep was planned; None: read them all on first look.
        self._parts_seen = set(parts_seen) if parts_seen is not None else set()
        self._stored: set[str] = set()
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def begin(self, key: str) -> str:
        """Before sending `key`: "send" (claimed, and nobody stored it meanwhile), "wait"
        (another live sweep is sending it) or "stored" (another sweep stored it meanwhile)."""
        claim = self.claim(key)
        if claim is Claim.HELD:
            return "wait"
        if self.stored_meanwhile(key):
            self.release([key])
            return "stored"
        return "send"

    def claim(self, key: str) -> Claim:
        """Claim a key before sending it. HELD: another live sweep is sending it (wait)."""
        claim = self.leases.claim(key)
        if claim is Claim.TAKEN_OVER:
            # Its owner died: what it received may sit in its journal, not yet in a part.
            fold_orphans(self.layout, self.catalogue)
        if claim is not Claim.HELD:
            with self._lock:
                self._held.add(key)
        return claim

    def stored_meanwhile(self, key: str) -> bool:
        """Whether another process stored `key` since this sweep planned (call once claimed)."""
        names = self.catalogue.part_names()
        with self._lock:
            new = names - self._parts_seen
        if new:
            # Every key, not only the planned ones: a feed adds cells while it runs.
            found = self.catalogue.stored_keys(parts=new)
            with self._lock:
                self._stored |= found
                self._parts_seen |= new
        with self._lock:
            return key in self._stored

    def release(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self.leases.release(keys)
        with self._lock:
            self._held.difference_update(keys)

    def keep(self, rows: Sequence[CatalogueRow]) -> None:
        """Journal one request's rows: from here on they survive a kill."""
        self.journal.append(rows)

    def flush(self) -> list[CatalogueRow]:
        """Move the journal into a catalogue part; stored keys' leases go (others may look now)."""
        rows = self.journal.move_into(self.catalogue)
        self.release({row.request_key for row in rows if row.status == STATUS_OK})
        return rows

    def close(self) -> list[CatalogueRow]:
        """Flush what is left, drop every lease still held, and stop being an owner."""
        try:
            rows = self.journal.close(self.catalogue)
            with self._lock:
                held = list(self._held)
            self.release(held)
        finally:
            self.owner.close()
        return rows
