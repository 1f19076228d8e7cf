"""Model files on disk: their identity (sha256, memoized) and where derived files are cached."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path


def cache_dir() -> Path:
    """Where ladders are kept (``ADVISOR_CACHE`` overrides the platform cache folder)."""
    env = os.environ.get("ADVISOR_CACHE")
    if env:
        return Path(env).expanduser() / "gguf"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("advisor")) / "gguf"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, memoized in a sidecar keyed on (size, mtime) so a sweep over
    eight formats hashes each file once."""
    p = Path(path)
    st = p.stat()
    stamp = f"{st.st_size}:{st.st_mtime_ns}"
    side = _sidecar(p)
    with contextlib.suppress(OSError, ValueError, KeyError):
        data = json.loads(side.read_text())
        if data["stamp"] == stamp:
            return str(data["sha256"])
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with contextlib.suppress(OSError):
        side.parent.mkdir(parents=True, exist_ok=True)
        side.write_text(json.dumps({"stamp": stamp, "sha256": digest, "path": str(p)}))
    return digest


def _sidecar(p: Path) -> Path:
    key = hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:24]
    return cache_dir().parent / "sha256" / f"{key}.json"
