"""Quantization ladders: from one source GGUF, the requested llama.cpp file types.

Files go to a cache folder (platformdirs ``user_cache_dir("advisor")/gguf``, or
``ADVISOR_CACHE``), one subfolder per source file hash. A type already made is reused; a
new one is written to a temporary name (``.<name>.<pid>.tmp``) and renamed into place, so an
interrupted quantization never leaves a file that looks finished. The quantization runs in
a helper thread so Ctrl-C and SIGTERM are handled at once and remove the temporary file; a
``kill -9`` leaves it behind, and the next ladder (or sweep) start removes temporary files
whose process is gone (:func:`clean_stale_temp_files`).

When the source is itself quantized (every GGUF shipped on PyPI is 4-bit), llama.cpp
dequantizes it and quantizes again (``allow_requantize``). The "F16" of a Q4_1 source is
then a *dequantized base*: 16 bits of storage holding 4-bit information. Every rung
records that in its provenance.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from advisor.errors import AdvisorError
from advisor.measure.files import cache_dir, file_sha256
from advisor.profiles.formats import GGUF_FILE_TYPES
from advisor.profiles.gguf_file import GGUFInfo, read_gguf


class LadderError(AdvisorError):
    """An unknown quantization type, or llama.cpp refused to quantize."""


@dataclass(frozen=True)
class Rung:
    """One produced (or reused) file of a ladder."""

    format: str
    path: Path
    bits_per_weight: float  # actual, from the file's tensors
    nominal_bits: int
    sha256: str
    provenance: list[str] = field(default_factory=list)


def parse_quants(spec: str | list[str]) -> list[str]:
    """``"Q8_0,q4_k_m"`` -> ``["Q8_0", "Q4_K_M"]``; unknown names raise :class:`LadderError`."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    known = {k.upper(): k for k in GGUF_FILE_TYPES}
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name.upper() not in known:
            raise LadderError(f"unknown quant type {name!r}; known: {', '.join(GGUF_FILE_TYPES)}")
        if known[name.upper()] not in out:
            out.append(known[name.upper()])
    if not out:
        raise LadderError("no quant types given")
    return out


def source_provenance(info: GGUFInfo, sha: str, target: str) -> list[str]:
    """Notes on what a rung made from ``info`` really contains."""
    src = info.file_type or "unknown"
    notes = [f"source {info.path.name} ({src}, sha256 {sha[:16]})"]
    quantized = src not in {"F32", "F16", "BF16", "ALL_F32"}
    if target == src:
        notes.append(f"the source file itself, as published ({src})")
    elif quantized and target in {"F32", "F16", "BF16"}:
        notes.append(
            f"base dequantized from {src} (source sha256 {sha[:16]}): "
            f"{target} storage of {src} information, not the original weights"
        )
    elif quantized:
        notes.append(f"requantized {src} -> {target} via a dequantized base (allow_requantize)")
    return notes


def make_rung(source: str | os.PathLike[str], fmt: str, out_dir: Path | None = None) -> Rung:
    """Produce (or reuse) ``fmt`` from ``source``; returns the rung with actual bits/weight."""
    (fmt,) = parse_quants([fmt])
    info = read_gguf(source)
    sha = file_sha256(info.path)
    notes = source_provenance(info, sha, fmt)
    ft = GGUF_FILE_TYPES[fmt]
    if info.file_type == fmt:
        return Rung(fmt, info.path, info.bits_per_weight, ft.nominal_bits, sha, notes)
    dest = expected_rung_path(info, sha, fmt, out_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        clean_stale_temp_files(dest.parent)
        _quantize(info, dest, ft.ftype)
    produced = read_gguf(dest)
    return Rung(fmt, dest, produced.bits_per_weight, ft.nominal_bits, file_sha256(dest), notes)


def expected_rung_path(info: GGUFInfo, sha: str, fmt: str, out_dir: Path | None = None) -> Path:
    """Where :func:`make_rung` puts (or finds) ``fmt`` made from ``info`` (hash ``sha``)."""
    folder = out_dir or cache_dir() / sha[:16]
    return folder / f"{info.path.name.removesuffix('.gguf')}.{fmt}.gguf"


# ".<rung>.gguf.<host>.<pid>.tmp" (and ".<rung>.gguf.<pid>.tmp" from older versions): the
# host keeps one machine from removing another's file in a shared cache.
_TEMP_NAME = re.compile(r"^\..+\.gguf\.(?:([A-Za-z0-9_-]+)\.)?(\d+)\.tmp$")


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temp_files(folder: Path | None = None) -> list[Path]:
    """Remove temporary ladder files whose quantizing process is gone (a ``kill -9``
    mid-quantization); ``folder`` or every ladder folder of the cache. Returns them."""
    root = cache_dir()
    folders = [folder] if folder is not None else []
    if folder is None and root.is_dir():
        folders = [root, *root.iterdir()]
    removed: list[Path] = []
    for d in folders:
        if not d.is_dir():
            continue
        for f in d.iterdir():
            m = _TEMP_NAME.match(f.name)
            if m and m.group(1) in (None, _host_tag()) and not _pid_alive(int(m.group(2))):
                with contextlib.suppress(OSError):
                    f.unlink()
                    removed.append(f)
    return removed


def _quantize(info: GGUFInfo, dest: Path, ftype: int) -> None:
    from advisor.measure.backends.llama_cpp import import_llama_cpp, silence_llama_logs

    ll = import_llama_cpp()
    silence_llama_logs(ll)
    params = ll.llama_model_quantize_default_params()
    params.ftype = ftype
    # A quantized source must be dequantized first; llama.cpp refuses unless allowed.
    params.allow_requantize = info.file_type not in {"F32", "F16", "BF16"}
    params.nthread = max(1, len(os.sched_getaffinity(0)))
    tmp = dest.with_name(f".{dest.name}.{_host_tag()}.{os.getpid()}.tmp")
    result: list[int] = []

    def work() -> None:  # ctypes drops the GIL: the main thread stays free for signals
        src, out = str(info.path).encode(), str(tmp).encode()
        result.append(ll.llama_model_quantize(src, out, ctypes.byref(params)))

    try:
        worker = threading.Thread(target=work, name="advisor-quantize", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
        rc = result[0] if result else -1
        if rc != 0 or not tmp.exists():
            raise LadderError(f"llama.cpp could not quantize {info.path.name} to {dest.name}")
        os.replace(tmp, dest)  # atomic: a reader sees no file or a whole one
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def make_ladder(
    source: str | os.PathLike[str], formats: list[str], out_dir: Path | None = None
) -> list[Rung]:
    """All rungs of ``formats`` (in order) from ``source``."""
    return [make_rung(source, f, out_dir) for f in parse_quants(formats)]
