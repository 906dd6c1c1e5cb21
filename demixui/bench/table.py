"""Bench results as rows of named figures, and their rendering as terminal text, Markdown and JSON.

A row either has every figure of its table as a finite number or says why not in `reason` (a peer that cannot
be installed, a system that cannot keep up, a part of the app that is missing, a part skipped by --quick).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# table -> (title, [(figure key, column heading, format)])
TABLES: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "speed": ("Speed and latency, one CPU thread, same audio", [
        ("params_m", "params (M)", "{:.2f}"),
        ("offline_rtf", "offline RTF", "{:.3f}"),
        ("chunk_ms", "RT chunk (ms)", "{:.1f}"),
        ("chunk_compute_ms", "chunk compute (ms)", "{:.1f}"),
        ("overlap_ms", "overlap (ms)", "{:.1f}"),
        ("min_latency_ms", "min RT latency (ms)", "{:.1f}"),
    ]),
    "ours": ("Our model in detail (onnxruntime, one thread)", [
        ("latency_ms", "algorithmic latency (ms)", "{:.1f}"),
        ("hop_budget_ms", "hop budget (ms)", "{:.2f}"),
        ("hop_p50_pct", "hop p50 (% budget)", "{:.1f}"),
        ("hop_p99_pct", "hop p99 (% budget)", "{:.1f}"),
        ("hop_max_pct", "hop max (% budget)", "{:.1f}"),
        ("streamed_rtf", "RTF hop by hop", "{:.3f}"),
        ("offline_rtf", "RTF offline", "{:.3f}"),
        ("peak_rss_mb", "peak RSS (MB)", "{:.0f}"),
        ("traced_peak_mb", "traced peak (MB)", "{:.1f}"),
    ]),
    "engine": ("Engine, null backend (paced by a clock, no sound device)", [
        ("seconds", "run (s)", "{:.0f}"),
        ("total_latency_ms", "total latency (ms)", "{:.1f}"),
        ("infer_p50_pct", "inference p50 (% budget)", "{:.1f}"),
        ("infer_p99_pct", "inference p99 (% budget)", "{:.1f}"),
        ("app_underruns", "app underruns", "{:.0f}"),
        ("device_underruns", "device underruns", "{:.0f}"),
    ]),
    "live": ("Live input, JACK dummy server (period = block), per model", [
        ("model_ms", "model (ms)", "{:.1f}"),
        ("buffer_ms", "buffer (ms)", "{:.1f}"),
        ("model_buffer_ms", "model + buffer (ms)", "{:.1f}"),
        ("device_ms", "device (ms)", "{:.1f}"),
        ("hop_budget_ms", "hop budget (ms)", "{:.2f}"),
        ("hop_p50_pct", "hop p50 (% budget)", "{:.0f}"),
        ("hop_p99_pct", "hop p99 (% budget)", "{:.0f}"),
        ("app_underruns", "app underruns", "{:.0f}"),
        ("device_underruns", "device underruns", "{:.0f}"),
        ("seconds", "run (s)", "{:.0f}"),
        ("load_1min", "load after", "{:.1f}"),
    ]),
    "live-compute": ("Compute per model hop, one hop per call, one thread (CPU time), per model", [
        ("hop_budget_ms", "hop budget (ms)", "{:.2f}"),
        ("hop_p50_pct", "hop p50 (% budget)", "{:.1f}"),
        ("hop_p99_pct", "hop p99 (% budget)", "{:.1f}"),
        ("hop_max_pct", "hop max (% budget)", "{:.1f}"),
        ("hops", "hops", "{:.0f}"),
        ("load_1min", "load after", "{:.1f}"),
    ]),
    "cores": ("Offline separation per number of cores (wall clock, `separate --jobs N`)", [
        ("cores", "cores", "{:.0f}"),
        ("speed_x", "x real time", "{:.1f}"),
        ("wall_rtf", "RTF (wall clock)", "{:.4f}"),
        ("scaling", "vs --jobs 1", "{:.2f}"),
        ("load_1min", "load average before", "{:.2f}"),
    ]),
    "quality": ("Quality, challenge SDR (dB), mean over the test tracks", [
        ("vocals", "vocals", "{:.2f}"),
        ("drums", "drums", "{:.2f}"),
        ("bass", "bass", "{:.2f}"),
        ("other", "other", "{:.2f}"),
        ("mean", "mean", "{:.2f}"),
    ]),
}


@dataclass
class Row:
    """One line of a table: `figures` maps the table's figure keys to finite numbers."""

    table: str
    name: str
    figures: dict[str, float]
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    raw: dict | None = None  # the measuring function's own JSON-ready output, kept in --json

    def __post_init__(self) -> None:
        assert self.table in TABLES, self.table
        self.figures = {k: float(v) for k, v in self.figures.items() if v is not None and math.isfinite(v)}

    def to_json(self) -> dict:
        columns = [key for key, _, _ in TABLES[self.table][1]]
        return {"table": self.table, "name": self.name,
                "figures": {key: self.figures.get(key) for key in columns},
                "reason": self.reason, "notes": list(self.notes), "raw": self.raw}


def _grouped(rows: list[Row], text) -> list[tuple[str, str]]:
    """(names, text(row)) with rows of the same non-empty text together, in first-seen order."""
    grouped: dict[str, list[str]] = {}
    for row in rows:
        if text(row):
            grouped.setdefault(text(row), []).append(row.name)
    return [(", ".join(names), value) for value, names in grouped.items()]


def _reasons(rows: list[Row]) -> list[tuple[str, str]]:
    return _grouped(rows, lambda row: row.reason)


def _cells(row: Row) -> list[str]:
    columns = TABLES[row.table][1]
    return [fmt.format(row.figures[key]) if key in row.figures else "-" for key, _, fmt in columns]


def render_text(rows: list[Row]) -> str:
    """Plain aligned tables for the terminal, one per table kind, with reasons and notes under each."""
    blocks = []
    for table, (title, columns) in TABLES.items():
        selected = [row for row in rows if row.table == table]
        if not selected:
            continue
        header = ["", *(heading for _, heading, _ in columns)]
        body = [[row.name, *_cells(row)] for row in selected]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        lines = [title, "=" * len(title)]
        for line in [header, *body]:
            lines.append("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                                   for i, cell in enumerate(line)))
        lines += [f"  {names}: {reason}" for names, reason in _reasons(selected)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_markdown(rows: list[Row], with_notes: bool = True) -> str:
    """GitHub Markdown tables, one per table kind; reasons (and notes) as a list under each."""
    blocks = []
    for table, (title, columns) in TABLES.items():
        selected = [row for row in rows if row.table == table]
        if not selected:
            continue
        lines = [f"### {title}", "", "| | " + " | ".join(h for _, h, _ in columns) + " |",
                 "|---|" + "---:|" * len(columns)]
        lines += [f"| {row.name} | " + " | ".join(_cells(row)) + " |" for row in selected]
        extra = [f"- **{names}**: {reason}" for names, reason in _reasons(selected)]
        if with_notes:
            notes = _grouped(selected, lambda row: "; ".join(row.notes))
            extra += [f"- {names}: {text}" for names, text in notes]
        if extra:
            lines += ["", *extra]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
