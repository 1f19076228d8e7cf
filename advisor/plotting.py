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
    variant: str = "base",
) -> dict[str, Any]:
    """Points (memory GB, score, kind, interval) per family × format, plus the Pareto frontier.

    ``variant`` keeps base or instruct models ("any": both): a curve drawn through both
    zig-zags between a base model and its fine-tune at the same size."""
    if variant not in ("base", "instruct", "any"):
        raise ValueError(f"variant must be base, instruct or any, got {variant!r}")
    from advisor import profiles
    from advisor.evidence import resolve_task
    from advisor.recommender import candidates

    resolved = resolve_task(task)
    wanted = {f.lower() for f in families}
    archs = [
        a
        for a in profiles.architectures().values()
        if a.family_key in wanted and variant in ("any", a.deploy_variant)
    ]
    cands = candidates(archs, formats, context_tokens, "f16", "cuda", budget_bytes, resolved)
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    observed: list[dict[str, Any]] = []
    everything = []
    for c in cands:
        gb = c.footprint.total_bytes / 1e9
        for ev in c.evidence:
            row = {
                "model": c.arch.name, "family": c.arch.family_key, "format": c.format.name,
                "gb": gb, "score": ev.value, "kind": ev.kind, "metric": ev.metric,
                "low": ev.interval()[0], "high": ev.interval()[1],
                "higher_is_better": ev.higher_is_better, "source": ev.source,
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
        "variant": variant,
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


def _short_model(name: str, family_count: int) -> str:
    """A point's label: the model name without what the legend already says."""
    return name if family_count > 1 else name.split("/")[-1]


def draw(data: dict[str, Any], output: Path, title: str | None = None) -> Path:
    """Render :func:`plot_data` to an image (the suffix picks PNG, SVG or PDF).

    Measured and published points are labelled with their model and format; the legend
    sits to the right of the axes, never over the data.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12.5, 6.6), dpi=110)
    cmap = plt.get_cmap("viridis")
    formats = [f for f in PLOT_FORMATS if any(k.endswith(f" {f}") for k in data["lines"])]
    colors = {f: cmap(i / max(len(formats) - 1, 1)) for i, f in enumerate(formats)}
    families = sorted(
        {k.split(" ")[0] for k in data["lines"]} | {r["family"] for r in data["observed"]}
    )
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
            alpha=0.10,
            lw=0,
        )
    markers = {"published": ("o", "none"), "measured": ("s", "black")}
    for kind, (marker, face) in markers.items():
        pts = [r for r in data["observed"] if r["kind"] == kind]
        if not pts:
            continue
        ax.scatter(
            [r["gb"] for r in pts],
            [r["score"] for r in pts],
            marker=marker,
            facecolors=face,
            edgecolors="black",
            s=36,
            zorder=5,
            label=f"{kind} (labelled: model format)",
        )
    ax.set_xscale("log")
    _label_points(ax, data["observed"], len(families))
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
    ax.axvline(data["budget_gb"], color="black", ls="--", lw=1, label="budget")
    ax.text(
        data["budget_gb"],
        ax.get_ylim()[0],
        f" budget {data['budget_gb']:.0f} GB",
        rotation=90,
        va="bottom",
        ha="right",
        fontsize=8,
    )
    ax.set_xlabel("memory: weights + KV cache (4k tokens) + runtime, GB (10^9 bytes, log scale)")
    ax.set_ylabel(_y_label(data))
    variant = data.get("variant", "any")
    models = "" if variant == "any" else f" ({variant} models)"
    ax.set_title(title or f"{data['task']}: score vs memory — {', '.join(families)}{models}")
    ax.grid(alpha=0.3, which="both")
    # Outside the axes, to the right: the legend never hides a point or a curve.
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, bbox_inches="tight")
    plt.close(fig)
    return output


def _y_label(data: dict[str, Any]) -> str:
    """The metric's own label (advisor.evidence.metrics), e.g. "mmlu: accuracy %"."""
    from advisor.evidence.metrics import metric_info

    metrics = {r.get("metric") for r in data["observed"]}
    metrics |= {r.get("metric") for rows in data["lines"].values() for r in rows}
    labels = sorted({metric_info(m).label for m in metrics if m})
    if len(labels) == 1:
        return f"{data['task']}: {labels[0]}"
    return f"{data['task']} ({', '.join(labels) or 'accuracy %, perplexity as is'})"


def _label_points(ax: Any, points: Sequence[dict[str, Any]], family_count: int) -> None:
    """Each measured/published config named once ("model format", "×2" when several
    sources score it), labels moved down where they would overlap, and drawn to the left
    of points near the right edge so none runs out of the axes."""
    import math

    configs: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in sorted(points, key=lambda r: r["score"]):
        # sources within 2 points of each other share a label; farther apart, each its own
        key = (r["model"], r["format"], 0)
        while key in configs and r["score"] - configs[key][-1]["score"] > 2.0:
            key = (key[0], key[1], key[2] + 1)
        configs.setdefault(key, []).append(r)
    lo, hi = (math.log10(v) for v in ax.get_xlim())
    y_lo, y_hi = ax.get_ylim()
    placed: list[tuple[float, float]] = []  # label anchors in axes fractions
    for (model, fmt, _), rows in sorted(configs.items(), key=lambda kv: kv[1][0]["gb"]):
        top = max(rows, key=lambda r: r["score"])
        fx = (math.log10(top["gb"]) - lo) / (hi - lo)
        fy = (top["score"] - y_lo) / (y_hi - y_lo)
        drop = 0
        while any(abs(fx - x) < 0.09 and abs(fy - drop * 0.028 - y) < 0.025 for x, y in placed):
            drop += 1
        placed.append((fx, fy - drop * 0.028))
        text = f"{_short_model(model, family_count)} {fmt}" + (
            f" ×{len(rows)}" if len(rows) > 1 else ""
        )
        right_edge = fx > 0.85
        ax.annotate(
            text,
            (top["gb"], top["score"]),
            xytext=(-5 if right_edge else 5, -3 - 8 * drop),
            textcoords="offset points",
            ha="right" if right_edge else "left",
            fontsize=6,
            color="#333333",
        )
