"""The detail pane: memory bar, where it runs and how fast, evidence with sources, the
curve's prediction, the alternative at equal memory, what to download (or the recipe that
makes it) and the command that runs the selected config."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from advisor.evidence.metrics import metric_info
from advisor.recommender import Candidate, Recommendation
from advisor.tui.model import (
    EVIDENCE_GLYPH,
    SPEED_GLYPH,
    Segment,
    alternatives,
    bits_per_weight,
    cv_error,
    device_parts,
    gb,
    memory_segments,
    params_label,
    prediction,
    recipe,
    run_command,
    score_text,
)

# Theme variable per bar segment; "free" and "margin" are drawn with a light shade.
SEGMENT_COLOUR = {
    "weights": "primary",
    "kv": "secondary",
    "other": "warning",
    "bound": "accent",
    "free": "success",
    "margin": "foreground-muted",
    "over": "error",
}
SEGMENT_CHAR = {"bound": "▒", "free": "░", "margin": "░"}
EVIDENCE_COLOUR = {"measured": "success", "published": "primary", "predicted": "warning"}
SPEED_COLOUR = {"measured here": "success", "published": "primary", "predicted": "warning"}


class MemoryBar:
    """A one-line stacked bar that takes the width it is given."""

    def __init__(self, segments: Sequence[Segment], colours: dict[str, str]) -> None:
        self.segments = segments
        self.colours = colours

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(10, options.max_width)
        total = sum(s.n_bytes for s in self.segments) or 1
        bar = Text()
        used = 0
        for i, seg in enumerate(self.segments):
            cells = (
                round(seg.n_bytes / total * width) if i < len(self.segments) - 1 else width - used
            )
            cells = max(0, min(cells, width - used))
            if seg.n_bytes > 0 and cells == 0 and used < width:
                cells = 1
            used += cells
            colour = self.colours.get(SEGMENT_COLOUR[seg.role], "")
            bar.append(SEGMENT_CHAR.get(seg.role, "█") * cells, style=colour)
        yield bar
        legend = Text()
        for seg in self.segments:
            if seg.n_bytes <= 0 and seg.role in ("bound", "margin"):
                continue
            colour = self.colours.get(SEGMENT_COLOUR[seg.role], "")
            legend.append(f"{SEGMENT_CHAR.get(seg.role, '█')} ", style=colour)
            legend.append(f"{seg.label} {gb(seg.n_bytes, 2)}  ")
        yield legend


def _speed_lines(c: Candidate, rec: Recommendation, colours: dict[str, str]) -> list[Text]:
    """Where it runs and how fast, with the evidence behind the speed."""
    where = recipe(c).get("where")
    line = Text("Runs  ", style="bold")
    line.append(str(where) if where else "where: not placed")
    speed = c.speed
    if speed is None:
        line.append(" · no speed estimate for this config", style="dim")
        return [line]
    kind = str(speed.evidence.kind)
    line.append(" · decode ")
    line.append(f"{speed.decode} tok/s", style="bold")
    colour = colours.get(SPEED_COLOUR.get(kind, ""), "")
    line.append(f" {SPEED_GLYPH.get(kind, '?')} {kind}", style=colour)
    line.append(
        f" · first token {speed.time_to_first_token_s} s for a {rec.context_tokens}-token prompt"
    )
    source = Text(f"  {speed.evidence.source}", style="dim")
    return [line, source]


def _recipe_lines(c: Candidate, rec: Recommendation, colours: dict[str, str],
                  local_path: str | None) -> list[Text]:  # fmt: skip
    """What to download (or the steps that make it), then the command that runs it."""
    found = recipe(c)
    out: list[Text] = []
    make = found.get("make") or {}
    if local_path:
        out.append(Text.assemble(("Local  ", "bold"), local_path))
    elif make.get("command") and make["command"] != found.get("run"):
        out.append(Text.assemble(("Make  ", "bold"), str(make["command"])))
    elif make.get("note") and not found.get("artifact"):
        out.append(Text.assemble(("Get  ", "bold"), str(make["note"])))
    elif found.get("get"):
        art = found.get("artifact") or {}
        size = art.get("size_bytes") or art.get("size_approx_bytes")
        exact = "" if art.get("size_exact") else ", approx."
        text = str(found["get"]) + (f" ({size / 1e9:.2f} GB{exact})" if size else "")
        out.append(Text.assemble(("Get  ", "bold"), text))
    command = run_command(c, rec, local_path)
    out.append(Text("Run it  (y copies)", style="bold"))
    if command is None:
        out.append(Text("  no artifact and no recipe known for this config", style="dim"))
    else:
        out.append(Text(command, style=colours.get("accent", "")))
    return out


def detail_renderable(
    c: Candidate,
    rec: Recommendation,
    colours: dict[str, str],
    local_path: str | None = None,
) -> Group:
    """Everything the pane shows about one config, as Rich renderables."""
    fp = c.footprint
    head = Text()
    head.append(f"{c.arch.name} · {c.format.name}", style="bold")
    head.append(
        f"  {params_label(c.arch.params_total)} params · {c.format.backend} · "
        f"{c.format.nominal_bits}-bit ({bits_per_weight(c):.2f} bits/w)"
    )
    fits = c.memory_bytes <= rec.usable_bytes
    on_device = sum(device_parts(c))
    host = fp.total_bytes - on_device if fp.device != "cpu" else 0
    summary = Text(
        f"budgeted at {gb(c.memory_bytes, 2)} (the calibrated upper bound of the predicted "
        f"{gb(on_device, 2)}) at {rec.context_tokens} tokens, KV {rec.kv_cache_type}"
        + (f"; {gb(host, 2)} more in host RAM" if host > 0 else "")
        + f" · {gb(rec.usable_bytes, 2)} usable of {gb(rec.budget_bytes, 2)}"
    )
    if not fits:
        summary.append("  does not fit", style=f"bold {colours.get('error', 'red')}")
    parts: list[object] = [head, summary, MemoryBar(memory_segments(c, rec), colours)]
    parts.extend(_speed_lines(c, rec, colours))

    parts.append(Text(f"Evidence on {rec.task}", style="bold"))
    est = c.estimate
    if est is not None:
        line = Text("  estimate ")
        line.append(
            f"{EVIDENCE_GLYPH.get(est.kind, '?')} {est.kind} ",
            style=colours.get(EVIDENCE_COLOUR.get(est.kind, ""), ""),
        )
        line.append(f"{score_text(est)} {metric_info(est.metric).label}", style="bold")
        if len(est.basis) > 1:
            line.append(f" ({' + '.join(e.kind for e in est.basis)} combined)")
        parts.append(line)
    if not c.evidence:
        parts.append(Text("  none yet: no measurement, published score or curve", style="dim"))
    for e in c.evidence:
        line = Text("  ")
        line.append(
            f"{EVIDENCE_GLYPH[e.kind]} {e.kind} ", style=colours.get(EVIDENCE_COLOUR[e.kind], "")
        )
        line.append(f"{score_text(e)} {metric_info(e.metric).label}", style="bold")
        line.append(f" — {e.source}")
        parts.append(line)
    if c.disagreement:
        parts.append(
            Text(f"  ⚠ sources disagree: {c.disagreement}", style=colours.get("warning", ""))
        )

    predicted = prediction(c)
    curve = Text("Curve  ", style="bold")
    if predicted is None:
        curve.append("no prediction for this config yet", style="dim")
    else:
        curve.append(f"predicts {score_text(predicted)} {metric_info(predicted.metric).label}")
        err = cv_error(predicted)
        if err is not None:
            curve.append(f" · CV error {err:.2f}")
    parts.append(curve)

    parts.append(Text("At equal memory (±15%)", style="bold"))
    pool = (*rec.ranked, *rec.excluded)
    alts = alternatives(c, pool)
    if not alts:
        parts.append(
            Text("  no bigger-lower-bit or smaller-higher-bit config near this size", style="dim")
        )
    for alt in alts:
        a = alt.candidate
        line = Text(f"  {alt.kind}: ")
        line.append(a.label, style="bold")
        line.append(f"  {gb(a.memory_bytes)} · {score_text(a.best)}")
        if alt.score_delta is not None:
            sign_colour = colours.get("success" if alt.score_delta > 0 else "error", "")
            line.append(f" ({alt.score_delta:+.1f})", style=sign_colour)
        elif a.best is None:
            line.append(" (no evidence)", style="dim")
        parts.append(line)

    parts.extend(_recipe_lines(c, rec, colours, local_path))
    return Group(*parts)  # type: ignore[arg-type]


class DetailPane(VerticalScroll):
    """Scrollable detail of the selected config."""

    can_focus = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.candidate: Candidate | None = None
        self.command: str | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("Select a config to see where its memory goes.", id="detail-body")

    def on_mount(self) -> None:
        self.border_title = "detail"

    def show(
        self, c: Candidate | None, rec: Recommendation | None, local_path: str | None = None
    ) -> None:
        """Show ``c`` (or a hint when nothing is selected)."""
        body = self.query_one("#detail-body", Static)
        self.candidate = c
        if c is None or rec is None:
            self.command = None
            self.border_title = "detail"
            body.update("Nothing fits: raise the budget, shorten the context or press x.")
            return
        self.command = run_command(c, rec, local_path)
        self.border_title = f"detail · {c.label}"
        body.update(detail_renderable(c, rec, self.app.theme_variables, local_path))
