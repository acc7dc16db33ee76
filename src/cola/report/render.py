"""Rendering a report: Markdown and self-contained HTML, figures written beside them."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from cola.outputs import REPORT, check_target, output_path, staged_dir
from cola.report.data import ReportData, build_report_data, load_run, unique_names
from cola.report.figures import render_figures
from cola.report.format import html_table, md_table
from cola.report.levels import level_sections
from cola.report.tables import (
    best_examples,
    layer_table,
    level_table,
    nulls_table,
    reach_table,
    summary_table,
    thirds_table,
    transition_table,
)

NULLS_NOTE = (
    "Each arm's oracle rates against the gold label, one row per arm: the search, its reach-matched and "
    "length-matched random nulls (the same budget), sampling pass@E (the full model sampled as many times "
    "as the search evaluated distinct chains, some answer right) and, when the run was given a train run, "
    "the fixed menu of that run's K most frequent correct chains applied to every sample."
)
ORACLE_NOTE = (
    "Statistics marked (oracle) use the gold answer to pick the chain: they show that a good chain "
    "exists for a sample, not that it could be chosen without the label. Intervals are 95% Wilson "
    "score intervals. A sample's best chain is its shortest correct chain (ties: fewest distinct "
    "layers, then first tried), the original full chain included when it is correct. The chance "
    "rate is the probability that a random guesser over the k answer choices is right at least once "
    "in as many tries as distinct chains were evaluated (n/a for free-form answers): read oracle "
    "accuracy against it. Columns marked 'vs decoy (control)' measure the same statistics against each "
    "sample's decoy label, a wrong answer (the full model's own answer where it is wrong, a seeded wrong "
    "answer where it is right), and the decoy row of the search comes from the same search rewarded by "
    "the decoy: what picking chains by a label finds when the label says nothing about correctness. "
    "The baseline is random search with the search's budget and reach (the same edit counts)."
)

FIGURE_TITLES = {
    "budget": "Oracle shorter-chain and fix rates against the search budget, search vs baseline",
    "reach": "Edits from the full chain and length of every chain evaluated, search vs baseline",
    "lengths": "Best-chain length, originally correct vs originally wrong (oracle)",
    "layers": "Per-layer usage in best chains: skipped / kept / repeated (oracle)",
    "thirds": "Usage by thirds of the depth (oracle)",
    "transitions": "Transitions from the original answer (oracle)",
    "levels": "Accuracy and best-chain length by difficulty level",
}


Table = tuple[list[str], list[list[str]]]


def _sections(data: ReportData) -> list[tuple[str, str, Table | None, str | None]]:
    """(title, intro, table, figure name) in report order."""
    sections = _run_sections(data)
    if data.has_levels:
        sections.append(
            (
                "By difficulty level",
                "Records with meta.level (e.g. MATH levels 1-5).",
                level_table(data),
                "levels",
            )
        )
        sections += level_sections(data.runs)
    if data.budget_curves():
        sections.append(
            (
                "Search budget",
                "The same model and task at several search budgets: the search "
                "against its reach-matched random baseline (95% Wilson intervals).",
                None,
                "budget",
            )
        )
    examples = (["run", "length", "distinct layers", "chain"], best_examples(data))
    sections.append(
        (
            "Shortest best chains",
            "A few of the shortest correct chains the search found (oracle).",
            examples,
            None,
        )
    )
    sections.append(("Per-layer table", "", layer_table(data), None))
    return sections


def _run_sections(data: ReportData) -> list[tuple[str, str, Table | None, str | None]]:
    """The sections every report has, whatever its runs hold."""
    depths = ", ".join(f"{r.num_layers} layers ({r.name})" for r in data.runs)
    return [
        ("Summary", ORACLE_NOTE, summary_table(data), None),
        ("Oracle rates beside their nulls", NULLS_NOTE, nulls_table(data), None),
        (
            "Transitions",
            "How each sample's original outcome changes under the oracle best chain.",
            transition_table(data),
            "transitions",
        ),
        ("Best-chain length", f"Lengths of the best chains; the full model has {depths}.", None, "lengths"),
        (
            "Per-layer usage",
            "How often each layer is skipped (absent), kept (once) or repeated (more than "
            "once) across the main search's best chains.",
            None,
            "layers",
        ),
        (
            "Usage by thirds of the depth",
            "Per third: fraction of its layers a best chain uses, mean runs "
            "per layer, and share of all chain positions.",
            thirds_table(data),
            "thirds",
        ),
        (
            "Reach",
            "Where each strategy looked, whatever it found: the edits from the full chain and the "
            "length of every chain it evaluated. A baseline that cannot reach as far as the search is no "
            "null for it.",
            reach_table(data),
            "reach",
        ),
    ]


def render_markdown(data: ReportData, figure_files: dict[str, str] | None = None) -> str:
    """The Markdown report; ``figure_files`` maps figure names to image paths relative to it."""
    figure_files = figure_files or {}
    names = ", ".join(f"`{r.name}` ({r.model or 'model ?'}, task {r.task}, {r.n} samples)" for r in data.runs)
    out = ["# cola report", "", f"Runs: {names}.", ""]
    for title, intro, table, figure in _sections(data):
        out += [f"## {title}", ""]
        if intro:
            out += [intro, ""]
        if table is not None and table[1]:
            out += [md_table(*table), ""]
        if figure in figure_files:
            out += [f"![{FIGURE_TITLES[figure]}]({figure_files[figure]})", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}
img{max-width:100%}
p.note{color:#555}
pre{background:#f7f7f7;padding:1em;overflow-x:auto}
"""


def render_html(data: ReportData) -> str:
    """A self-contained HTML page: tables inline, figures as base64 PNG data URIs."""
    names = ", ".join(
        html.escape(f"{r.name} ({r.model or 'model ?'}, task {r.task}, {r.n} samples)") for r in data.runs
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>cola report</title>',
        f"<style>{_CSS}</style></head><body>",
        "<h1>cola report</h1>",
        f"<p>Runs: {names}.</p>",
    ]
    for title, intro, table, figure in _sections(data):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if intro:
            parts.append(f'<p class="note">{html.escape(intro)}</p>')
        if table is not None and table[1]:
            parts.append(html_table(*table))
        if figure in data.figures:
            encoded = base64.b64encode(data.figures[figure]).decode("ascii")
            parts.append(
                f'<img alt="{html.escape(FIGURE_TITLES[figure])}" src="data:image/png;base64,{encoded}">'
            )
    for run in data.runs:
        parts.append(
            f"<h2>cola summary: {html.escape(run.name)}</h2><pre>{html.escape(run.summary_text)}</pre>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    data: ReportData, out_dir: str | Path, figures: bool = True, force: bool = False
) -> dict[str, Path]:
    """Write ``report.html``, ``report.md`` and the figures' PNG files as the directory ``out_dir``.

    Under the output rule (:mod:`cola.outputs`): an existing ``out_dir`` is replaced only
    with ``force`` and only if it is an earlier report; the report is staged and renamed
    into place, so ``out_dir`` is never half old and half new.
    """
    out = output_path(out_dir)
    check_target(out, force, kind=REPORT)
    if figures and not data.figures:
        data.figures = render_figures(data)
    files = {name: f"{name}.png" for name in data.figures}
    with staged_dir(out, force, REPORT) as staging:
        for name, png in data.figures.items():
            (staging / files[name]).write_bytes(png)
        (staging / "report.md").write_text(render_markdown(data, files), encoding="utf-8")
        (staging / "report.html").write_text(render_html(data), encoding="utf-8")
    written = {name: out / file for name, file in files.items()}
    written["markdown"] = out / "report.md"
    written["html"] = out / "report.html"
    return written


def report(runs: Sequence[str | Path], out_dir: str | Path, force: bool = False) -> dict[str, Path]:
    """Load run directories, compute the report and write it; returns the written paths.

    The target is checked before any run is read, so a refused report costs nothing.
    """
    check_target(out_dir, force, kind=REPORT)
    loaded = [load_run(path) for path in runs]
    names = unique_names([name for name, _, _ in loaded])
    data = build_report_data([(name, records, config) for name, (_, records, config) in zip(names, loaded)])
    return write_report(data, out_dir, force=force)
