"""Ranking: the candidates that fit the usable budget, ranked by what the evidence
supports — by default the pessimistic end of each estimate's 90 % interval, so a wide
guess never outranks a near-equal narrow one — and the one-line pick that says what it
traded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from advisor import profiles
from advisor.evidence import UnknownTaskError, resolve_task, task_info
from advisor.evidence.metrics import metric_info
from advisor.evidence.model import Estimate, Evidence, combine
from advisor.memory import DEFAULT_CONTEXT_TOKENS, KV_CACHE_BYTES
from advisor.recommender.budget import Budget, RecommendError, make_budget
from advisor.recommender.candidates import (
    VARIANTS,
    Candidate,
    build_candidates,
    formats_for,
    resolve_models,
    select_families,
    variant_of,
)
from advisor.recommender.placement import Machine, machine_for, placement_for, speed_of
from advisor.recommender.points import caller_evidence
from advisor.speed import SpeedInputError

# The fit test is the memory model's calibrated upper bound; on top of it, system RAM keeps
# a share for the operating system and other programs. GPU memory and Apple's Metal working
# set (already a limit below the whole) keep none unless asked.
DEFAULT_SAFETY_MARGIN: dict[str, float] = {"cuda": 0.0, "cpu": 0.10, "apple": 0.0}
RISKS = ("averse", "neutral")
MAX_CONTEXT_TOKENS = 10_000_000  # beyond every model's limit: a typo, not a question


@dataclass(frozen=True)
class Recommendation:
    """The ranked configs that fit, with the question that produced them."""

    budget: Budget
    task: str
    requested_task: str
    context_tokens: int
    kv_cache_type: str
    backend: str
    variant: str
    risk: str
    safety_margin: float
    ranked: tuple[Candidate, ...]  # fits, best first
    excluded: tuple[Candidate, ...]  # does not fit, smallest first
    considered: int
    smallest: Candidate | None  # the smallest candidate, for "nothing fits" messages
    notes: tuple[str, ...] = ()
    sources: tuple[dict[str, Any], ...] = ()
    limits: dict[str, int] = field(default_factory=dict)  # configs left out, and why

    @property
    def budget_bytes(self) -> int:
        return self.budget.total_bytes

    @property
    def budget_label(self) -> str:
        return self.budget.label

    @property
    def device(self) -> str:
        return self.budget.device

    @property
    def usable_bytes(self) -> int:
        return int(self.budget.usable_limit_bytes * (1 - self.safety_margin))

    @property
    def pick(self) -> Candidate | None:
        """The chosen config: the best-ranked one with evidence (None without any)."""
        return next((c for c in self.ranked if c.estimate is not None), None)

    def best_per_model(self) -> tuple[Candidate, ...]:
        """Each model once, in its best-ranked format (the ranking's order is kept)."""
        seen: set[str] = set()
        out = []
        for c in self.ranked:
            if c.arch.model_id not in seen:
                seen.add(c.arch.model_id)
                out.append(c)
        return tuple(out)

    def explanation(self) -> str | None:
        """The pick in one line: what it scores, what the ranking traded for it (a higher
        mean with a wider interval), and the best config on the other side of the
        size–precision trade-off at about equal memory."""
        pick = self.pick
        if pick is None or pick.estimate is None:
            return None
        est = pick.estimate
        where = pick.to_dict().get("where")
        speed = pick.speed
        runs = "".join(
            [
                f", {where}" if where else "",
                f", {speed.decode.mean:.3g} tok/s ({speed.evidence.kind})" if speed else "",
            ]
        )
        line = (
            f"{pick.label}: {pick.footprint.total_bytes / 1e9:.1f} GB{runs}, {est.kind} "
            f"{est.notation()} on {self.task}"
        )
        scored = [c for c in self.ranked if c.estimate is not None]
        if self.risk == "averse":
            hib = est.higher_is_better
            # A higher mean worth naming: half a point of accuracy, or 2 % of a perplexity.
            margin = 0.5 if hib else 0.02 * est.value
            better_mean = [
                c
                for c in scored
                if c is not pick
                and c.estimate is not None
                and (
                    c.estimate.value > est.value + margin
                    if hib
                    else c.estimate.value < est.value - margin
                )
            ]
            if better_mean:
                top = max(better_mean, key=lambda c: c.estimate.risk_value("neutral"))  # type: ignore[union-attr]
                assert top.estimate is not None
                line += (
                    f"; ranked above {top.label} ({top.estimate.kind} "
                    f"{top.estimate.notation()}), whose mean is higher but whose 90% interval "
                    f"reaches lower (ranking by the interval's lower end; --risk neutral "
                    f"ranks by the mean)"
                )
        rivals = [
            c
            for c in scored
            if c.arch.model_id != pick.arch.model_id
            and c.format.nominal_bits != pick.format.nominal_bits
            and abs(c.footprint.total_bytes - pick.footprint.total_bytes)
            <= 0.25 * pick.footprint.total_bytes
        ]
        if not rivals:
            return line
        rival = rivals[0]
        assert rival.estimate is not None
        r = rival.estimate
        overlap = not (est.low > r.high or r.low > est.high)
        verb = "is within uncertainty of" if overlap else "beats"
        return (
            f"{line}; {verb} {rival.label} ({r.kind} {r.notation()}, "
            f"{rival.footprint.total_bytes / 1e9:.1f} GB) at about equal memory"
        )

    def to_dict(self, top: int | None = None, per_model: bool = False) -> dict[str, Any]:
        shown = self.best_per_model() if per_model else self.ranked
        pick = self.pick
        return {
            "budget_bytes": self.budget_bytes,
            "budget": self.budget_label,
            "memory_kind": self.budget.memory_kind,
            "usable_bytes": self.usable_bytes,
            "safety_margin": self.safety_margin,
            "device": self.device,
            "hardware": self.budget.hardware_id,
            "task": self.task,
            "requested_task": self.requested_task,
            "context_tokens": self.context_tokens,
            "kv_cache_type": self.kv_cache_type,
            "backend": self.backend,
            "variant": self.variant,
            "risk": self.risk,
            "considered": self.considered,
            "fits": len(self.ranked),
            "left_out": dict(self.limits),
            "notes": list(self.notes),
            "sources": list(self.sources),
            "explanation": self.explanation(),
            "pick": None if pick is None else pick.to_dict(),
            "per_model": per_model,
            "candidates": [c.to_dict() for c in shown[:top]],
            "smallest": None if self.smallest is None else self.smallest.to_dict(),
        }


def _machine(plan: Budget, notes: list[str], needed: bool) -> Machine | None:
    """The machine behind the budget, for placement and speed (None when not needed, or
    when no bundled profile stands for it — said in a note)."""
    if not needed:
        return None
    try:
        machine = machine_for(
            plan.device, plan.per_device_bytes, plan.gpu_count, plan.ram_bytes, plan.hardware_id
        )
    except (SpeedInputError, ValueError) as exc:
        notes.append(f"no speed estimates: {exc}")
        return None
    if machine.assumed:
        notes.append(
            f"speeds assume {machine.assumed}; pass --hardware ID for your own "
            "(see `advisor profiles hardware`)"
        )
    return machine


def _with_speed(
    fitting: list[Candidate], machine: Machine, context: int, kv: str, min_speed: float | None,
    top: int, limits: dict[str, int],
) -> list[Candidate]:  # fmt: skip
    """Speed estimates for the best-ranked configs (each model's best formats first), or for
    all of them when a minimum speed filters."""
    wanted: set[int] = set()
    if min_speed is None:
        seen: set[str] = set()
        for i, c in enumerate(fitting):
            if c.arch.model_id not in seen:
                seen.add(c.arch.model_id)
                wanted.add(i)
            if len(seen) >= top:
                break
        wanted.update(range(min(top, len(fitting))))
    else:
        wanted = set(range(len(fitting)))
    out = []
    slow = 0
    for i, c in enumerate(fitting):
        if i in wanted:
            c = _timed(c, machine, context, kv)
            est = c.speed
            if min_speed is not None and (est is None or est.decode.mean < min_speed):
                slow += 1
                continue
        out.append(c)
    if min_speed is not None:
        limits[f"slower than {min_speed:g} tokens/s"] = slow
    return out


def _timed(c: Candidate, machine: Machine, context: int, kv: str) -> Candidate:
    """The candidate with its speed estimate (and the placement the estimate chose)."""
    est = speed_of(c.arch, c.format, machine, c.extras.get("placement"), context, kv)
    extras = {**c.extras, "speed": est}
    if est is not None and extras.get("placement") is None:
        extras["placement"] = est.placement
    return replace(c, extras=extras)


def equal_on_evidence(est: Estimate) -> float:
    """How close two formats of one model must rank to count as equally good: half an
    accuracy point (the resolution of published tables), or 2 % of a perplexity."""
    return 0.5 if est.higher_is_better else 0.02 * abs(est.value)


def _prefer_faster_equals(
    fitting: list[Candidate], risk: str, machine: Machine | None, context: int, kv: str,
    timed_models: int,
) -> list[Candidate]:  # fmt: skip
    """Within each model, the formats that rank within :func:`equal_on_evidence` of its best
    are equally good on the evidence: the fastest of them (then the smallest) moves up to the
    model's first place, so int8 at 10 tok/s never stands in front of Q8_0 at 48 over 0.2
    points. Everything between shifts down by one; the order of models is kept."""
    out = list(fitting)
    seen: set[str] = set()
    for i in range(len(out)):
        model_id = out[i].arch.model_id
        if model_id in seen:
            continue
        seen.add(model_id)
        head = out[i].estimate
        if head is None:
            continue
        best, tie = head.risk_value(risk), equal_on_evidence(head)
        equals = [
            j
            for j in range(i, len(out))
            if out[j].arch.model_id == model_id
            and (est := out[j].estimate) is not None
            and best - est.risk_value(risk) <= tie
        ]
        if len(equals) < 2:
            continue
        if machine is not None and len(seen) <= timed_models:
            for j in equals:
                if out[j].speed is None:
                    out[j] = _timed(out[j], machine, context, kv)
        timed = all(out[j].speed is not None for j in equals)

        def preference(j: int, timed: bool = timed) -> tuple[float, int]:
            speed = out[j].speed
            return (-speed.decode.mean if timed and speed else 0.0, out[j].memory_bytes)

        chosen = min(equals, key=preference)
        if chosen != i:
            out.insert(i, out.pop(chosen))
    return out


def _rank_key(candidate: Candidate, risk: str) -> tuple[int, float, float, int]:
    est = candidate.estimate
    if est is None:
        return (1, 0.0, 0.0, -candidate.arch.params_total)
    mean = est.value if est.higher_is_better else -est.value
    return (0, -est.risk_value(risk), -mean, -candidate.arch.params_total)


def _with_estimates(built: Sequence[Candidate], task: str) -> list[Candidate]:
    """Each candidate's estimate from the evidence of the task's quantity (a perplexity
    change never stands in for a perplexity), published sources ordered by how many of
    the candidates' models each covers (one harness for all beats several)."""
    info = task_info(task)
    quantity = info.quantity if info is not None else None
    usable: dict[int, list[Evidence]] = {}
    for i, c in enumerate(built):
        usable[i] = [
            e
            for e in c.evidence
            if quantity is None
            or metric_info(e.metric).quantity == quantity
            or (e.kind == "predicted")
        ]
    coverage: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(built):
        for e in usable[i]:
            if e.kind == "published" and (e.source_key, c.arch.model_id) not in seen:
                seen.add((e.source_key, c.arch.model_id))
                coverage[e.source_key] += 1
    out = []
    for i, c in enumerate(built):
        evidence = sorted(
            usable[i],
            key=lambda e: (
                -coverage[e.source_key] if e.kind == "published" else 0,
                str(e.detail.get("file")) != "base_scores.csv",
                e.source,
            ),
        )
        out.append(replace(c, estimate=combine(evidence)))
    return out


def _sources(ranked: Sequence[Candidate]) -> tuple[dict[str, Any], ...]:
    """The published evaluations and curves the ranked estimates rest on."""
    found: dict[str, dict[str, Any]] = {}
    for c in ranked:
        est = c.estimate
        if est is None:
            continue
        for e in est.basis:
            if e.kind == "published":
                key = e.source_key
                entry = found.setdefault(
                    key,
                    {
                        "kind": "published",
                        "source_key": key,
                        "evaluator": e.detail.get("evaluator", ""),
                        "harness": e.detail.get("harness", ""),
                        "shots": e.detail.get("shots", ""),
                        "prompt_style": e.detail.get("prompt_style", ""),
                        "table": e.detail.get("table", ""),
                        "file": e.detail.get("file", ""),
                        "configs": 0,
                    },
                )
            elif e.kind == "predicted":
                key = f"anchor:{e.detail.get('anchor_source', '')}"
                entry = found.setdefault(
                    key,
                    {"kind": "predicted", "source_key": key, "curve": e.detail.get("curve"),
                     "anchor": e.detail.get("anchor_source"), "configs": 0},
                )  # fmt: skip
            else:
                key = e.source_key
                entry = found.setdefault(key, {"kind": e.kind, "source_key": key, "configs": 0})
            entry["configs"] += 1
    return tuple(sorted(found.values(), key=lambda s: -int(s["configs"])))


def _check_arguments(
    task: object, context: object, kv_cache: object, backend: object, variant: object,
    risk: object, safety_margin: object, families: object, models: object, formats: object,
) -> None:  # fmt: skip
    if not isinstance(task, str):
        raise TypeError(f"task must be a task or group name (a string), got {task!r}")
    if isinstance(context, bool) or not isinstance(context, int):
        raise TypeError(f"context must be a whole number of tokens, got {context!r}")
    if not 0 < context <= MAX_CONTEXT_TOKENS:
        raise RecommendError(
            f"context must be between 1 and {MAX_CONTEXT_TOKENS:,} tokens, got {context}"
        )
    if not isinstance(kv_cache, str) or kv_cache.lower() not in KV_CACHE_BYTES:
        raise RecommendError(f"unknown KV cache type {kv_cache!r}: use f16, q8_0 or q4_0")
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, got {backend!r}")
    if variant not in VARIANTS:
        raise RecommendError(f"unknown variant {variant!r}: use one of {', '.join(VARIANTS)}")
    if risk not in RISKS:
        raise RecommendError(f"unknown risk {risk!r}: use one of {', '.join(RISKS)}")
    if isinstance(safety_margin, bool) or not isinstance(safety_margin, (int, float)):
        raise TypeError(f"safety_margin must be a number in [0, 1), got {safety_margin!r}")
    if not 0 <= safety_margin < 1:
        raise RecommendError(f"safety margin must be in [0, 1), got {safety_margin}")
    for name, value in (("families", families), ("models", models), ("formats", formats)):
        if value is not None and (
            isinstance(value, (str, bytes)) or not isinstance(value, Sequence)
        ):
            raise TypeError(f"{name} must be a list of names, not {value!r}")


def recommend(
    budget: str | int | float | None = None,
    task: str = "mmlu",
    context: int = DEFAULT_CONTEXT_TOKENS,
    kv_cache: str = "f16",
    backend: str = "any",
    device: str | None = None,
    safety_margin: float | None = None,
    families: Sequence[str] | None = None,
    *,
    models: Sequence[str] | None = None,
    formats: Sequence[str] | None = None,
    points: Sequence[Mapping[str, Any]] | None = None,
    variant: str = "instruct",
    risk: str = "averse",
    hardware: str | None = None,
    curve_data: Mapping[str, Any] | None = None,
    published: bool = True,
    ram: str | int | float | None = None,
    min_speed: float | None = None,
    speed: bool = True,
    speed_top: int = 40,
) -> Recommendation:
    """Rank the configs that fit ``budget`` ("24GB", "16GiB", or bytes) for ``task``.

    ``device`` is "cuda" (GPU memory), "cpu" (system RAM) or "apple" (unified memory);
    ``hardware`` a bundled profile id instead of a budget; with neither, the detected
    hardware decides. ``models``/``formats`` restrict the candidates (catalogue names);
    ``points`` are the caller's own measurements (the dicts :func:`advisor.curves.fit`
    takes): measured evidence for exactly the configs they describe, and 16-bit points
    anchor their model's curve. ``variant`` picks instruct (default), base or any models
    (ignored for named ``models``). ``risk="averse"`` ranks by the lower end of the 90 %
    interval, ``"neutral"`` by the mean. ``curve_data`` replaces the committed curve
    coefficients (a refit, e.g. without one family); ``published=False`` ranks on the
    measurements, the caller's points and the curves only (no bundled published scores).

    ``budget`` may name several GPUs ("2x24GB"); ``ram`` adds system RAM a GPU may offload
    to (llama.cpp layers or MoE experts). Each config gets its placement and, with
    ``speed``, its decode speed and time to first token (the ``speed_top`` best-ranked, or
    every fitting config when ``min_speed`` keeps only those at least that many tokens/s).
    """
    notes: list[str] = []
    plan = make_budget(budget, device, hardware, notes, ram=ram)
    if min_speed is not None and (
        isinstance(min_speed, bool)
        or not isinstance(min_speed, (int, float))
        or not 0 < min_speed < 1e6
    ):
        raise RecommendError(f"min_speed must be a positive number of tokens/s, got {min_speed!r}")
    if safety_margin is None:
        safety_margin = DEFAULT_SAFETY_MARGIN[plan.device]
    _check_arguments(
        task, context, kv_cache, backend, variant, risk, safety_margin, families, models, formats
    )
    try:
        resolved = resolve_task(task)
    except UnknownTaskError as exc:
        raise RecommendError(str(exc)) from None
    if resolved != task.strip().lower():
        notes.append(f"task group {task!r} ranked on {resolved}")
    mine = caller_evidence(points, resolved) if points else None
    limits: dict[str, int] = {}
    if models:
        archs = resolve_models(models)
    else:
        archs = list(profiles.architectures().values())
        if variant != "any":
            kept = [a for a in archs if variant_of(a) == variant]
            limits[f"not {variant} models"] = len(archs) - len(kept)
            archs = kept
    if mine is not None:
        archs += [a for a in mine.extra_archs if a.model_id not in {b.model_id for b in archs}]
    if families:
        archs = select_families(archs, families, notes)
    too_long = [a for a in archs if a.max_context is not None and a.max_context < context]
    if too_long:
        limits[f"max context below {context} tokens"] = len(too_long)
        archs = [a for a in archs if a.max_context is None or a.max_context >= context]
        notes.append(
            f"{len(too_long)} models left out: their maximum context is below {context} tokens"
        )
    names = formats_for(backend, plan.device)
    if formats is not None:
        from advisor.profiles.formats import all_format_names, get_format

        wanted = []
        for name in formats:
            try:
                wanted.append(get_format(str(name)).name)
            except KeyError:
                raise RecommendError(
                    f"unknown format {name!r}: one of {', '.join(all_format_names())}"
                ) from None
        names = tuple(wanted)
    if plan.device != "cuda":
        notes.append(
            f"{plan.memory_kind}: GGUF (llama.cpp) formats only"
            + ("" if backend != "bnb" else "; bitsandbytes on CPU as asked (slow: 2–7 tok/s)")
        )
    built = build_candidates(
        archs, names, context, kv_cache.lower(), plan.device, plan.total_bytes, resolved,
        caller_evidence=None if mine is None else mine.evidence,
        anchors=None if mine is None else mine.anchors,
        curve_data=curve_data, published=published, shipped=formats is None,
    )  # fmt: skip
    scored = _with_estimates(built, resolved)
    usable = int(plan.usable_limit_bytes * (1 - safety_margin))
    # Formats the caller names are kept (a research grid, a format they make themselves).
    obtainable = [
        c for c in scored if formats is not None or c.source is None or c.source.obtainable
    ]
    if len(obtainable) < len(scored):
        limits["no artifact and no way to make it"] = len(scored) - len(obtainable)
        scored = obtainable
    machine = _machine(
        plan, notes, needed=speed or plan.gpu_count > 1 or plan.ram_bytes is not None
    )
    kv = kv_cache.lower()
    placed: list[Candidate] = []
    excluded: list[Candidate] = []
    for c in scored:
        if machine is None:
            fits, where = c.memory_bytes <= usable, None
        else:
            fits, where = placement_for(c.arch, c.format, c.footprint, machine, usable, context, kv)
        extras = dict(c.extras)
        extras["placement"] = where
        extras["machine"] = machine
        (placed if fits else excluded).append(replace(c, extras=extras))
    fitting = sorted(placed, key=lambda c: _rank_key(c, risk))
    excluded.sort(key=lambda c: c.memory_bytes)
    timed = machine if speed else None
    if min_speed is not None and not speed:
        raise RecommendError("min_speed needs speed estimates: do not turn speed off")
    if timed is not None:
        fitting = _with_speed(fitting, timed, context, kv, min_speed, speed_top, limits)
        if min_speed is not None:
            notes.append(f"only configs decoding at least {min_speed:g} tokens/s")
    elif min_speed is not None:
        notes.append(
            f"no speed estimates for this budget: the {min_speed:g} tokens/s floor is not applied"
        )
    fitting = _prefer_faster_equals(fitting, risk, timed, context, kv, timed_models=speed_top)
    smallest = min(scored, key=lambda c: c.memory_bytes, default=None)
    sources = _sources(fitting[:50])
    published_keys = [s for s in sources if s["kind"] == "published"]
    if len(published_keys) > 1:
        notes.append(
            f"scores come from {len(published_keys)} published evaluations "
            "(different evaluators, harnesses or shots; see sources): across them they "
            "compare only roughly"
        )
    if not archs:
        raise RecommendError(
            "no candidate models: the filters left none (variant, family, context)"
        )
    return Recommendation(
        budget=plan,
        task=resolved,
        requested_task=task,
        context_tokens=context,
        kv_cache_type=kv_cache.lower(),
        backend=backend,
        variant=variant,
        risk=risk,
        safety_margin=float(safety_margin),
        ranked=tuple(fitting),
        excluded=tuple(excluded),
        considered=len(scored),
        smallest=smallest,
        notes=tuple(notes),
        sources=sources,
        limits=limits,
    )


__all__ = ["DEFAULT_SAFETY_MARGIN", "RISKS", "Estimate", "Recommendation", "recommend"]
