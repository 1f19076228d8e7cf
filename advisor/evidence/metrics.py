"""Every metric the advisor shows, in one table: its direction, unit and label.

Local records store accuracy as a fraction (0–1, lm-eval's convention); everything the
advisor shows or writes as JSON is in percent. ``stored_scale`` converts. A perplexity
*change* (``delta_ppl``) is its own quantity and is never ranked against a perplexity.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    quantity: str  # "accuracy", "accuracy_above_chance", "perplexity", "perplexity_change",
    # "divergence", "other": evidence of one quantity is never ranked against another
    unit: str  # "percent", "ppl", "nats", "bits", "ratio"
    label: str
    stored_scale: float = 1.0  # local store value × stored_scale = shown value

    @property
    def lower_is_better(self) -> bool:
        return not self.higher_is_better


def _accuracy(name: str, label: str) -> Metric:
    return Metric(name, True, "accuracy", "percent", label, stored_scale=100.0)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        _accuracy("acc", "accuracy %"),
        _accuracy("acc_norm", "accuracy (length-normalized) %"),
        _accuracy("acc_char", "accuracy (per character) %"),
        _accuracy("exact_match", "exact match %"),
        _accuracy("pass@1", "pass@1 %"),
        _accuracy("f1", "F1 %"),
        _accuracy("mc1", "MC1 accuracy %"),
        _accuracy("mc2", "MC2 score %"),
        _accuracy("score", "score %"),
        _accuracy("cons@64", "consensus@64 %"),
        _accuracy("maj@4", "majority@4 %"),
        _accuracy("maj@8", "majority@8 %"),
        _accuracy("win_rate", "win rate %"),
        # The Open LLM Leaderboard's normalised score: accuracy above chance, rescaled to
        # 0-100 (BBH, MuSR and its average cannot be turned back into raw accuracy).
        Metric(
            "acc_norm_chance",
            True,
            "accuracy_above_chance",
            "percent",
            "accuracy above chance %",
            stored_scale=100.0,
        ),
        Metric("ppl", False, "perplexity", "ppl", "perplexity"),
        Metric("perplexity", False, "perplexity", "ppl", "perplexity"),
        Metric("word_perplexity", False, "perplexity", "ppl", "word perplexity"),
        Metric("bits_per_byte", False, "other", "bits", "bits per byte"),
        Metric("target_nll", False, "other", "nats", "target NLL"),
        Metric("delta_ppl", False, "perplexity_change", "ppl", "perplexity increase"),
        Metric("delta_ppl_pct", False, "perplexity_change", "percent", "perplexity increase %"),
        Metric("ppl_ratio", False, "perplexity_change", "ratio", "perplexity ratio"),
        Metric("mean_kld", False, "divergence", "nats", "mean KL divergence"),
        Metric("kld_p99", False, "divergence", "nats", "KL divergence, 99th percentile"),
        Metric("same_top_p", True, "divergence", "percent", "same top token %"),
        Metric("mean_delta_p", True, "divergence", "percent", "mean Δp %"),
        Metric("rms_delta_p", False, "divergence", "percent", "RMS Δp %"),
        Metric("ppl_correlation", True, "other", "percent", "perplexity correlation %"),
    ]
}


@cache
def metric_info(name: str) -> Metric:
    """The metric's entry; a name the table lacks is taken as an accuracy-like fraction
    (the convention of lm-eval metrics) and says so in its label."""
    found = METRICS.get(name)
    if found is not None:
        return found
    return Metric(name, True, "other", "percent", f"{name} (not in the metric table)", 100.0)


def higher_is_better(name: str) -> bool:
    return metric_info(name).higher_is_better


def in_shown_units(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record (or a sweep's result row) as every --json document gives it: accuracy
    in percent, not the store's fraction. ``value``/``stderr`` and each entry of
    ``metrics`` the table knows are scaled; ``unit`` names the primary value's unit. The
    store itself is never rewritten."""
    out = dict(record)
    metric = out.get("metric")
    if isinstance(metric, str) and metric:
        info = metric_info(metric)
        for key in ("value", "stderr"):
            if isinstance(out.get(key), (int, float)):
                out[key] = out[key] * info.stored_scale
        out["unit"] = info.unit
    inner = out.get("metrics")
    if isinstance(inner, dict):
        scaled: dict[str, Any] = {}
        for name, entry in inner.items():
            known = METRICS.get(name)
            if known is None or known.stored_scale == 1.0 or not isinstance(entry, dict):
                scaled[name] = entry
                continue
            scaled[name] = {
                k: (v * known.stored_scale if isinstance(v, (int, float)) else v)
                for k, v in entry.items()
            }
        out["metrics"] = scaled
    return out
