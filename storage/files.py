"""Files that hold personal data (the SQLite database, ledgers, exports): readable by the
owner only (0600), in folders only the owner can enter (0700)."""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create a folder (and missing parents) as 0700; an existing folder is left as it is,
    since it may be shared (the working directory)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        # mkdir's mode is filtered by the umask; the folder must be 0700 whatever it is.
        os.chmod(folder, DIR_MODE)


def private_file(path: Path) -> None:
    """Make sure `path` exists and only its owner may read or write it."""
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
    os.close(fd)
    os.chmod(path, FILE_MODE)


def write_private(path: Path, content: bytes) -> None:
    """Write `content` to `path` as a 0600 file (never world-readable, not even briefly)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(content)
    finally:
        os.close(fd)
