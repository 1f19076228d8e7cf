"""Accuracy vs memory plots (matplotlib is imported here only, and only when plotting).

Compute (:func:`plot_data`) is separate from drawing (:func:`draw`) so tests can check the
numbers without a display or matplotlib.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PLOT_FORMATS = ("F16", "Q8_0", "Q6_K", "Q4_K_M", "Q3_K_M", "Q2_K")


def plot_data(
    task: str,
    budget_bytes: int,
    families: Sequence[str],
    formats: Sequence[str] = PLOT_FORMATS,
    context_tokens: int = 4096,
) -> dict[str, Any]:
    """Points (memory GB, score, kind, interval) per family × format, plus the Pareto frontier."""
    from advisor import profiles
    from advisor.evidence import resolve_task
    from advisor.recommender import candidates

    resolved = resolve_task(task)
    wanted = {f.lower() for f in families}
    archs = [a for a in profiles.architectures().values() if a.family_key in wanted]
    cands = candidates(archs, formats, context_tokens, "f16", "cuda", budget_bytes, resolved)
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    observed: list[dict[str, Any]] = []
    everything = []
    for c in cands:
        gb = c.footprint.total_bytes / 1e9
        for ev in c.evidence:
            row = {
                "model": c.arch.name, "family": c.arch.family_key, "format": c.format.name,
                "gb": gb, "score": ev.value, "kind": ev.kind,
                "low": ev.detail.get("low", ev.value), "high": ev.detail.get("high", ev.value),
                "higher_is_better": ev.higher_is_better,
            }  # fmt: skip
            if ev.kind == "predicted":
                lines[f"{c.arch.family_key} {c.format.name}"].append(row)
            else:
                observed.append(row)
        if c.best is not None:
            everything.append(
                {"model": c.arch.name, "format": c.format.name, "gb": gb,
                 "score": c.best.value, "kind": c.best.kind,
                 "higher_is_better": c.best.higher_is_better}
            )  # fmt: skip
    for rows in lines.values():
        rows.sort(key=lambda r: r["gb"])
    return {
        "task": resolved,
        "budget_gb": budget_bytes / 1e9,
        "lines": dict(sorted(lines.items())),
        "observed": sorted(observed, key=lambda r: r["gb"]),
        "frontier": pareto(everything),
    }


def pareto(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Configs no other config beats on both memory and score (best evidence of each)."""
    if not rows:
        return []
    sign = 1.0 if rows[0]["higher_is_better"] else -1.0
    frontier: list[dict[str, Any]] = []
    best = float("-inf")
    for r in sorted(rows, key=lambda r: (r["gb"], -sign * r["score"])):
        if sign * r["score"] > best:
            frontier.append(r)
            best = sign * r["score"]
    return frontier


def draw(data: dict[str, Any], output: Path, title: str | None = None) -> Path:
    """Render :func:`plot_data` to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6.2), dpi=110)
    cmap = plt.get_cmap("viridis")
    formats = [f for f in PLOT_FORMATS if any(k.endswith(f" {f}") for k in data["lines"])]
    colors = {f: cmap(i / max(len(formats) - 1, 1)) for i, f in enumerate(formats)}
    families = sorted({k.split(" ")[0] for k in data["lines"]})
    styles = ["-", "--", ":", "-."]
    for key, rows in data["lines"].items():
        family, fmt = key.split(" ", 1)
        xs = [r["gb"] for r in rows]
        style = styles[families.index(family) % len(styles)]
        label = fmt if len(families) == 1 else f"{family} {fmt}"
        ax.plot(
            xs,
            [r["score"] for r in rows],
            style,
            marker=".",
            color=colors.get(fmt, "grey"),
            label=f"{label} (predicted)",
            lw=1.4,
        )
        ax.fill_between(
            xs,
            [r["low"] for r in rows],
            [r["high"] for r in rows],
            color=colors.get(fmt, "grey"),
            alpha=0.12,
            lw=0,
        )
    for kind, marker, face in (("published", "o", "none"), ("measured", "s", "black")):
        pts = [r for r in data["observed"] if r["kind"] == kind]
        if pts:
            ax.scatter(
                [r["gb"] for r in pts],
                [r["score"] for r in pts],
                marker=marker,
                facecolors=face,
                edgecolors="black",
                s=36,
                zorder=5,
                label=kind,
            )
    front = data["frontier"]
    if front:
        ax.step(
            [r["gb"] for r in front],
            [r["score"] for r in front],
            where="post",
            color="crimson",
            lw=2,
            alpha=0.7,
            label="Pareto frontier (best evidence)",
        )
    ax.axvline(data["budget_gb"], color="black", ls="--", lw=1)
    ax.text(
        data["budget_gb"],
        ax.get_ylim()[0],
        f" budget {data['budget_gb']:.0f} GB",
        rotation=90,
        va="bottom",
        ha="right",
        fontsize=8,
    )
    ax.set_xscale("log")
    ax.set_xlabel("memory: weights + KV cache (4k tokens) + runtime, GB (10^9 bytes, log scale)")
    ax.set_ylabel(f"{data['task']} (accuracy %, perplexity as is)")
    ax.set_title(title or f"{data['task']}: score vs memory — {', '.join(families)}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)
    return output
