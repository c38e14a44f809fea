"""Change detection for database files, so a running process reloads them without restart."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

Signature = tuple[int, int, int]


def file_signature(path: Path) -> Signature | None:
    """(st_mtime_ns, st_size, st_ino) of a file, None when it does not exist or is unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class DatabaseWatcher:
    """Reports database files replaced or rewritten since the previous check.

    The inode catches an ``os.replace`` even within one mtime tick and at the same size.
    A file that disappears is not reported (the loaded table stays valid); it is reported
    again when a file appears at that path.
    """

    def __init__(self, paths: Iterable[Path]) -> None:
        self._seen: dict[Path, Signature | None] = {p: file_signature(p) for p in paths}

    @property
    def paths(self) -> list[Path]:
        """The watched paths."""
        return list(self._seen)

    def changed(self) -> list[Path]:
        """Paths whose file changed since the last call (or since construction)."""
        out: list[Path] = []
        for path, before in self._seen.items():
            now = file_signature(path)
            if now != before:
                self._seen[path] = now
                if now is not None:
                    out.append(path)
        return out

    def rearm(self, path: Path) -> None:
        """Report ``path`` again on the next check, e.g. after a reload of it failed."""
        if path in self._seen:
            self._seen[path] = None
