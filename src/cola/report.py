"""``cola report``: an HTML page and a Markdown summary of one or more search runs.

Everything shown is computed first, from the records alone, into a :class:`ReportData`
(:func:`build_report_data` is a pure function, so tests can check every number); the
renderers (:func:`render_html`, :func:`render_markdown`) only format it, and
:mod:`cola.plots` draws its figures.

Vocabulary. A sample's *best chain* under a strategy is the shortest correct chain it
found (ties: fewest distinct layers), where the original full chain counts as found when
it is correct. Every statistic that looks at the gold answer to pick a chain is an
*oracle* statistic: it says a good chain exists, not that one could be chosen without
the label. Headline numbers (accuracy, oracle accuracy, fixes, shortenings, chance) come
from :func:`cola.stats.summarize`; this module adds the breakdowns a report needs
(lengths, per-layer usage, thirds of the depth, difficulty levels, transitions).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cola.chain import Chain, distinct_layers, format_chain
from cola.errors import ColaError
from cola.records import SampleRecord
from cola.stats import (
    Proportion,
    RunSummary,
    StrategySummary,
    format_summary,
    oracle_best_chain,
    strategy_pairs,
    summarize,
    summarize_by_level,
)

TRANSITIONS = (
    ("correct_shorter", "correct → correct, shorter chain found (oracle)"),
    ("correct_optimal", "correct → correct, original is optimal (no shorter correct chain)"),
    ("wrong_fixed", "wrong → correct (oracle)"),
    ("wrong_wrong", "wrong → wrong (no correct chain found)"),
)
THIRDS = ("early", "middle", "late")


# --------------------------------------------------------------------- the data
@dataclass
class SummaryRow:
    """One line of the summary table; ``oracle`` marks statistics that use the gold answer."""

    key: str
    label: str
    value: float | None
    rate: Proportion | None = None  # for proportions: counts and Wilson interval (cola.stats)
    oracle: bool = False
    percent: bool = True


@dataclass
class LevelStats:
    """One difficulty level (``meta["level"]``) of one strategy."""

    level: Any
    n: int
    original: Proportion  # full-model accuracy at this level
    oracle: Proportion  # oracle accuracy (any correct chain) at this level
    mean_best_length: float | None  # over the level's samples with a correct chain (oracle)
    mean_best_distinct: float | None


@dataclass
class StrategyReport:
    """The breakdowns of one strategy (the main search, or its random baseline) on one run.

    Only records that ran this strategy count (all records for the search; those with a
    baseline for the baseline), as in :func:`cola.stats.summarize_strategy`.
    """

    strategy: str
    n: int
    num_layers: int
    sample_ids: list[str]  # the records counted, in record order
    best_chains: list[Chain | None]  # per counted record: stats.oracle_best_chain
    lengths_correct: list[int]  # best-chain lengths of originally-correct samples
    lengths_wrong: list[int]  # best-chain lengths of originally-wrong samples a chain fixed (oracle)
    transitions: dict[str, int]  # keys of TRANSITIONS
    skipped: list[float]  # per layer: fraction of best chains that do not use it
    kept: list[float]  # ... use it exactly once
    repeated: list[float]  # ... use it more than once
    executions: list[float]  # per layer: mean times it runs in a best chain
    thirds: dict[str, dict[str, float]]  # third -> {"present", "executions", "share"}
    levels: list[LevelStats]

    @property
    def with_best(self) -> int:
        return sum(chain is not None for chain in self.best_chains)


@dataclass
class RunReport:
    """One run: its summary table (search and baseline) and per-strategy breakdowns."""

    name: str
    n: int
    num_layers: int
    task: str
    model: str | None
    summary: RunSummary
    summary_text: str  # cola.stats.format_summary
    rows: dict[str, list[SummaryRow]]  # "search" / "baseline" -> rows
    strategies: dict[str, StrategyReport]
    chance: dict[str, float | None]  # per strategy (None: free-form answers)


@dataclass
class ReportData:
    runs: list[RunReport]
    figures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG, filled by write_report

    @property
    def has_levels(self) -> bool:
        return any(s.levels for run in self.runs for s in run.strategies.values())


# ------------------------------------------------------------------ computation
def _chain_key(chain: Chain) -> tuple[int, int]:
    return (len(chain), distinct_layers(chain))


def transition(record: SampleRecord, best: Chain | None) -> str:
    """Which of :data:`TRANSITIONS` a sample makes under its oracle best chain."""
    if record.original.correct:
        shorter = best is not None and len(best) < record.num_layers
        return "correct_shorter" if shorter else "correct_optimal"
    return "wrong_fixed" if best is not None else "wrong_wrong"


def third_of(layer: int, num_layers: int) -> str:
    """Early / middle / late third of the depth (layer ``i`` is in third ``floor(3 i / L)``)."""
    return THIRDS[min(2, 3 * layer // num_layers)]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _layer_usage(used: list[Chain], num_layers: int):
    """Per-layer skipped / kept / repeated fractions and mean runs, and the thirds' usage."""
    counts = [[chain.count(layer) for layer in range(num_layers)] for chain in used]
    m = len(used)

    def per_layer(fn) -> list[float]:
        return [sum(fn(c[i]) for c in counts) / m if m else 0.0 for i in range(num_layers)]

    thirds: dict[str, dict[str, float]] = {}
    for third in THIRDS:
        members = [i for i in range(num_layers) if third_of(i, num_layers) == third]
        if not m or not members:
            thirds[third] = {"present": 0.0, "executions": 0.0, "share": 0.0}
            continue
        runs = sum(c[i] for c in counts for i in members)
        thirds[third] = {
            "present": sum(c[i] > 0 for c in counts for i in members) / (m * len(members)),
            "executions": runs / (m * len(members)),  # mean runs per layer of the third
            "share": runs / sum(len(b) for b in used),  # fraction of all chain positions
        }
    return (
        per_layer(lambda c: c == 0),
        per_layer(lambda c: c == 1),
        per_layer(lambda c: c > 1),
        per_layer(float),
        thirds,
    )


def strategy_report(records: Sequence[SampleRecord], which: str) -> StrategyReport | None:
    """Breakdowns of ``which`` ("search" or "baseline"); ``None`` if no record ran it."""
    pairs = strategy_pairs(records, which)
    if not pairs and which != "search":  # the main search is always summarized, even over no records
        return None
    chosen = [r for r, _ in pairs]
    num_layers = chosen[0].num_layers
    strategy = next((o.strategy for _, o in pairs if o is not None), which)
    bests = [oracle_best_chain(r, o) for r, o in pairs]
    transitions = {key: 0 for key, _ in TRANSITIONS}
    for record, best in zip(chosen, bests):
        transitions[transition(record, best)] += 1
    used = [b for b in bests if b is not None]
    skipped, kept, repeated, executions, thirds = _layer_usage(used, num_layers)
    best_of = {r.sample_id: b for r, b in zip(chosen, bests)}
    levels = []
    for level, summary in summarize_by_level(chosen).items():
        group = summary.search if which == "search" else summary.baseline
        # Mean best-chain length over all fixed-or-kept samples of the level: not in cola.stats
        # (it splits correct / fixed), so computed here from the same oracle best chains.
        found = [best_of[r.sample_id] for r in chosen if r.meta.get("level") == level]
        found = [b for b in found if b is not None]
        levels.append(
            LevelStats(
                level=level,
                n=summary.n,
                original=summary.original,
                oracle=group.oracle_found,
                mean_best_length=_mean([len(b) for b in found]),
                mean_best_distinct=_mean([distinct_layers(b) for b in found]),
            )
        )
    return StrategyReport(
        strategy=strategy,
        n=len(chosen),
        num_layers=num_layers,
        sample_ids=[r.sample_id for r in chosen],
        best_chains=bests,
        lengths_correct=[len(b) for r, b in zip(chosen, bests) if r.original.correct and b is not None],
        lengths_wrong=[len(b) for r, b in zip(chosen, bests) if not r.original.correct and b is not None],
        transitions=transitions,
        skipped=skipped,
        kept=kept,
        repeated=repeated,
        executions=executions,
        thirds=thirds,
        levels=levels,
    )


def summary_rows(original: Proportion, group: StrategySummary) -> list[SummaryRow]:
    """The summary table of one strategy, straight from :func:`cola.stats.summarize`.

    ``original`` is the full model's accuracy over the records this strategy ran on (all of
    them for the search, ``summary.original``; a baseline may cover fewer).
    """
    return [
        SummaryRow("original_accuracy", "original accuracy (full model)", original.value, original),
        SummaryRow(
            "oracle_accuracy",
            "oracle accuracy (any correct chain)",
            group.oracle_found.value,
            group.oracle_found,
            oracle=True,
        ),
        SummaryRow(
            "shorter_of_correct",
            "originally correct with a shorter correct chain (oracle)",
            group.oracle_shorter.value,
            group.oracle_shorter,
            oracle=True,
        ),
        SummaryRow(
            "fixed_of_wrong",
            "originally wrong fixed by some chain (oracle)",
            group.oracle_fixed.value,
            group.oracle_fixed,
            oracle=True,
        ),
        SummaryRow(
            "mean_len_correct",
            "mean best-chain length, originally correct (oracle)",
            group.oracle_mean_length_correct,
            oracle=True,
            percent=False,
        ),
        SummaryRow(
            "mean_len_wrong",
            "mean best-chain length, originally wrong fixed (oracle)",
            group.oracle_mean_length_fixed,
            oracle=True,
            percent=False,
        ),
        SummaryRow(
            "mean_distinct_correct",
            "mean distinct layers, originally correct (oracle)",
            group.oracle_mean_distinct_correct,
            oracle=True,
            percent=False,
        ),
        SummaryRow(
            "mean_distinct_wrong",
            "mean distinct layers, originally wrong fixed (oracle)",
            group.oracle_mean_distinct_fixed,
            oracle=True,
            percent=False,
        ),
        SummaryRow(
            "evaluations", "distinct chains evaluated per sample", group.mean_evaluations, percent=False
        ),
    ]


def run_report(name: str, records: Sequence[SampleRecord], config: dict[str, Any] | None = None) -> RunReport:
    records = list(records)
    if not records:
        raise ColaError(f"run {name!r} has no records")
    sizes = {r.num_layers for r in records}
    if len(sizes) > 1:
        raise ColaError(
            f"run {name!r} mixes models with {sorted(sizes)} layers; report them as separate runs"
        )
    summary = summarize(records)
    strategies: dict[str, StrategyReport] = {}
    rows: dict[str, list[SummaryRow]] = {}
    chance: dict[str, float | None] = {}
    for which in ("search", "baseline"):
        group = summary.search if which == "search" else summary.baseline
        report = strategy_report(records, which)
        if report is None or group is None:
            continue
        strategies[which] = report
        ran = [r for r in records if getattr(r, which) is not None]
        original = (
            summary.original
            if len(ran) == len(records)
            else Proportion(sum(r.original.correct for r in ran), len(ran))
        )
        rows[which] = summary_rows(original, group)
        chance[which] = group.chance
    config = config or {}
    return RunReport(
        name=name,
        n=len(records),
        num_layers=records[0].num_layers,
        task=records[0].task,
        model=config.get("model"),
        summary=summary,
        summary_text=format_summary(summary),
        rows=rows,
        strategies=strategies,
        chance=chance,
    )


def build_report_data(runs: Sequence[tuple]) -> ReportData:
    """All numbers of a report for runs given as ``(name, records)`` or ``(name, records, config)``.

    A pure function of the records; figures are drawn later by :func:`write_report`.
    """
    reports = [run_report(item[0], item[1], item[2] if len(item) > 2 else None) for item in runs]
    if not reports:
        raise ColaError("nothing to report: no runs given")
    return ReportData(runs=reports)


# ------------------------------------------------------------------- loading
def load_run(path: str | Path) -> tuple[str, list[SampleRecord], dict[str, Any]]:
    """``(name, records, config)`` of a run directory, read through :class:`cola.runstore.RunStore`."""
    from cola.runstore import RECORDS_FILE, RunStore

    path = Path(path)
    if not (path / RECORDS_FILE).exists():
        raise ColaError(f"no run at {path}: {RECORDS_FILE} not found")
    store = RunStore(path)
    try:
        records = store.load_records()
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ColaError(f"{path / RECORDS_FILE}: not a list of sample records ({exc})") from None
    if not records:
        raise ColaError(f"no records in {path}")
    return path.resolve().name, records, store.load_config() or {}


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


# -------------------------------------------------------------------- rendering
def _pct(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def format_row_value(row: SummaryRow) -> str:
    if not row.percent:
        return _num(row.value)
    text = _pct(row.value)
    if row.rate is not None and row.rate.n:
        text += f" [{_pct(row.rate.low)}, {_pct(row.rate.high)}] ({row.rate.successes}/{row.rate.n})"
    return text


def _columns(data: ReportData) -> list[tuple[RunReport, str]]:
    return [(run, which) for run in data.runs for which in run.rows]


def _column_title(run: RunReport, which: str) -> str:
    return f"{run.name}: {run.strategies[which].strategy}"


def summary_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Header and body of the side-by-side summary table (one column per run and strategy)."""
    columns = _columns(data)
    header = ["statistic"] + [_column_title(run, which) for run, which in columns]
    body = []
    labels = [(row.key, row.label) for row in columns[0][0].rows[columns[0][1]]] if columns else []
    for key, label in labels:
        line = [label]
        for run, which in columns:
            row = next((r for r in run.rows[which] if r.key == key), None)
            line.append(format_row_value(row) if row is not None else "–")
        body.append(line)
    body.append(
        ["chance rate: a random guesser with as many tries (oracle)"]
        + [
            _pct(run.chance[which]) if run.chance[which] is not None else "n/a (free-form)"
            for run, which in columns
        ]
    )
    body.append(["samples"] + [str(run.strategies[which].n) for run, which in columns])
    body.append(["layers in the model"] + [str(run.num_layers) for run, _ in columns])
    return header, body


def transition_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    columns = _columns(data)
    header = ["transition"] + [_column_title(run, which) for run, which in columns]
    body = []
    for key, label in TRANSITIONS:
        line = [label]
        for run, which in columns:
            s = run.strategies[which]
            count = s.transitions[key]
            line.append(f"{count} ({_pct(count / s.n)})")
        body.append(line)
    return header, body


def thirds_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    header = ["run: strategy"] + [f"{t}: layers used / runs per layer / share of positions" for t in THIRDS]
    body = []
    for run, which in _columns(data):
        s = run.strategies[which]
        body.append(
            [_column_title(run, which)]
            + [
                f"{_pct(s.thirds[t]['present'])} / {s.thirds[t]['executions']:.2f} / {_pct(s.thirds[t]['share'])}"
                for t in THIRDS
            ]
        )
    return header, body


def level_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    header = [
        "run: strategy",
        "level",
        "n",
        "original accuracy",
        "oracle accuracy",
        "mean best-chain length (oracle)",
    ]
    body = []
    for run, which in _columns(data):
        for lv in run.strategies[which].levels:
            body.append(
                [
                    _column_title(run, which),
                    str(lv.level),
                    str(lv.n),
                    f"{_pct(lv.original.value)} [{_pct(lv.original.low)}, {_pct(lv.original.high)}]",
                    f"{_pct(lv.oracle.value)} [{_pct(lv.oracle.low)}, {_pct(lv.oracle.high)}]",
                    _num(lv.mean_best_length),
                ]
            )
    return header, body


def layer_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Per-layer skipped / kept / repeated fractions of the main search's best chains."""
    header = ["run", "layer", "skipped", "kept (once)", "repeated", "mean runs"]
    body = []
    for run in data.runs:
        s = run.strategies["search"]
        for layer in range(run.num_layers):
            body.append(
                [
                    run.name,
                    str(layer),
                    _pct(s.skipped[layer]),
                    _pct(s.kept[layer]),
                    _pct(s.repeated[layer]),
                    f"{s.executions[layer]:.2f}",
                ]
            )
    return header, body


def _md_table(header: list[str], body: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def _html_table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


ORACLE_NOTE = (
    "Statistics marked (oracle) use the gold answer to pick the chain: they show that a good chain "
    "exists for a sample, not that it could be chosen without the label. Intervals are 95% Wilson "
    "score intervals. A sample's best chain is its shortest correct chain (ties: fewest distinct "
    "layers, then first tried), the original full chain included when it is correct. The chance "
    "rate is the probability that a random guesser over the k answer choices is right at least once "
    "in as many tries as distinct chains were evaluated (n/a for free-form answers): read oracle "
    "accuracy against it."
)

FIGURE_TITLES = {
    "lengths": "Best-chain length, originally correct vs originally wrong (oracle)",
    "layers": "Per-layer usage in best chains: skipped / kept / repeated (oracle)",
    "thirds": "Usage by thirds of the depth (oracle)",
    "transitions": "Transitions from the original answer (oracle)",
    "levels": "Accuracy and best-chain length by difficulty level",
}


def _best_examples(data: ReportData, limit: int = 5) -> list[list[str]]:
    rows = []
    for run in data.runs:
        s = run.strategies["search"]
        shortest = sorted((b for b in s.best_chains if b is not None), key=_chain_key)[:limit]
        for chain in shortest:
            rows.append([run.name, str(len(chain)), str(distinct_layers(chain)), format_chain(chain)])
    return rows


def _sections(
    data: ReportData,
) -> list[tuple[str, str, tuple[list[str], list[list[str]]] | None, str | None]]:
    """(title, intro, table, figure name) in report order."""
    sections = [
        ("Summary", ORACLE_NOTE, summary_table(data), None),
        (
            "Transitions",
            "How each sample's original outcome changes under the oracle best chain.",
            transition_table(data),
            "transitions",
        ),
        (
            "Best-chain length",
            "Lengths of the best chains; the full model has "
            + ", ".join(f"{r.num_layers} layers ({r.name})" for r in data.runs)
            + ".",
            None,
            "lengths",
        ),
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
    ]
    if data.has_levels:
        sections.append(
            (
                "By difficulty level",
                "Records with meta.level (e.g. MATH levels 1-5).",
                level_table(data),
                "levels",
            )
        )
    sections.append(
        (
            "Shortest best chains",
            "A few of the shortest correct chains the search found (oracle).",
            (["run", "length", "distinct layers", "chain"], _best_examples(data)),
            None,
        )
    )
    sections.append(("Per-layer table", "", layer_table(data), None))
    return sections


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
            out += [_md_table(*table), ""]
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
            parts.append(_html_table(*table))
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


def write_report(data: ReportData, out_dir: str | Path, figures: bool = True) -> dict[str, Path]:
    """Write ``report.html``, ``report.md`` and the figures' PNG files into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if figures and not data.figures:
        from cola.plots import render_figures

        data.figures = render_figures(data)
    written: dict[str, Path] = {}
    files: dict[str, str] = {}
    for name, png in data.figures.items():
        path = out / f"{name}.png"
        path.write_bytes(png)
        files[name] = path.name
        written[name] = path
    (out / "report.md").write_text(render_markdown(data, files))
    (out / "report.html").write_text(render_html(data))
    written["markdown"] = out / "report.md"
    written["html"] = out / "report.html"
    return written


def report(runs: Sequence[str | Path], out_dir: str | Path) -> dict[str, Path]:
    """Load run directories, compute the report and write it; returns the written paths."""
    loaded = [load_run(path) for path in runs]
    names = _unique_names([name for name, _, _ in loaded])
    data = build_report_data([(name, records, config) for name, (_, records, config) in zip(names, loaded)])
    return write_report(data, out_dir)


# --------------------------------------------------------------------------- cli
def add_report_arguments(p) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (two or more are compared)")
    p.add_argument("--out", required=True, help="directory for report.html, report.md and figures")


def cmd_report(args) -> int:
    written = report(args.runs, args.out)
    print(f"wrote {written['html']} and {written['markdown']}")
    return 0


cmd_report.add_arguments = add_report_arguments
