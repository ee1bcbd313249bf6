"""Content-addressed evidence store: media files copied once, named by their SHA-256.

Blobs live at `<root>/sha256/<aa>/<bb>/<hex>`.  Writing is atomic (temporary file, then
rename) so a crash never leaves a half-written blob under a valid name.  An import that fails
can `discard` the blobs it added, leaving the folder as it was before.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1 << 20
SMALL_FILE = 32 << 20


class EvidenceStore:
    """Stores files by content hash and remembers which blobs this session created."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._created: list[Path] = []
        self._known: set[str] = set()

    def blob_path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def add_file(self, source: str | Path) -> tuple[str, int]:
        """Store `source` (unless a blob with its hash exists); return (sha256 hex, size)."""
        with open(source, "rb") as handle:
            data = handle.read(SMALL_FILE + 1)
            if len(data) > SMALL_FILE:
                return self._add_large(Path(source))
        sha = hashlib.sha256(data).hexdigest()
        if sha not in self._known:
            target = self.blob_path(sha)
            if not target.exists():
                self._write_atomically(target, data)
            if len(self._known) < 1_000_000:
                self._known.add(sha)
        return sha, len(data)

    def _write_atomically(self, target: Path, data: bytes) -> None:
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, target)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
        self._created.append(target)

    def _add_large(self, source: Path) -> tuple[str, int]:
        """Hash a large file while copying it in, never holding it in memory."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            sha = digest.hexdigest()
            target = self.blob_path(sha)
            if target.exists():
                os.unlink(tmp_name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_name, target)
                self._created.append(target)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
        return sha, size

    @property
    def created(self) -> list[Path]:
        """Blobs this session added since the last commit."""
        return list(self._created)

    def adopt(self, paths: Iterable[Path]) -> None:
        """Take responsibility for blobs another process added (they go on `discard`)."""
        self._created.extend(paths)

    def commit(self) -> None:
        """Forget the blobs created so far: they now belong to stored records."""
        self._created.clear()

    def discard(self) -> None:
        """Remove blobs created since the last commit (their records were rolled back)."""
        for path in self._created:
            path.unlink(missing_ok=True)
        self._created.clear()
        self._known.clear()
