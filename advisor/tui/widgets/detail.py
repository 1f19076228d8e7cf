"""The detail pane: memory bar, evidence with sources, the curve's prediction, the
alternative at equal memory, and the command that runs the selected config."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from advisor.recommender import Candidate, Recommendation
from advisor.tui.model import (
    EVIDENCE_GLYPH,
    Segment,
    alternatives,
    bits_per_weight,
    cv_error,
    gb,
    memory_segments,
    params_label,
    prediction,
    run_command,
    score_text,
)

# Theme variable per bar segment; "free" and "margin" are drawn with a light shade.
SEGMENT_COLOUR = {
    "weights": "primary",
    "kv": "secondary",
    "other": "warning",
    "free": "success",
    "margin": "foreground-muted",
    "over": "error",
}
SEGMENT_CHAR = {"free": "░", "margin": "░"}
EVIDENCE_COLOUR = {"measured": "success", "published": "primary", "predicted": "warning"}


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
            colour = self.colours.get(SEGMENT_COLOUR[seg.role], "")
            legend.append(f"{SEGMENT_CHAR.get(seg.role, '█')} ", style=colour)
            legend.append(f"{seg.label} {gb(seg.n_bytes, 2)}  ")
        yield legend


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
    fits = fp.total_bytes <= rec.usable_bytes
    summary = Text(
        f"needs {gb(fp.total_bytes, 2)} at {rec.context_tokens} tokens, KV {rec.kv_cache_type}"
        f" · {gb(rec.usable_bytes, 2)} usable of {gb(rec.budget_bytes, 2)}"
    )
    if not fits:
        summary.append("  does not fit", style=f"bold {colours.get('error', 'red')}")
    parts: list[object] = [head, summary, MemoryBar(memory_segments(c, rec), colours)]

    parts.append(Text(f"Evidence on {rec.task}", style="bold"))
    if not c.evidence:
        parts.append(Text("  none yet: no measurement, published score or curve", style="dim"))
    for e in c.evidence:
        line = Text("  ")
        line.append(
            f"{EVIDENCE_GLYPH[e.kind]} {e.kind} ", style=colours.get(EVIDENCE_COLOUR[e.kind], "")
        )
        line.append(f"{score_text(e)} {e.metric}", style="bold")
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
        curve.append(f"predicts {score_text(predicted)} {predicted.metric}")
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
        line.append(f"  {gb(a.footprint.total_bytes)} · {score_text(a.best)}")
        if alt.score_delta is not None:
            sign_colour = colours.get("success" if alt.score_delta > 0 else "error", "")
            line.append(f" ({alt.score_delta:+.1f})", style=sign_colour)
        elif a.best is None:
            line.append(" (no evidence)", style="dim")
        parts.append(line)

    parts.append(Text("Run it  (y copies)", style="bold"))
    parts.append(Text(run_command(c, rec, local_path), style=colours.get("accent", "")))
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
