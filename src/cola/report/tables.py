"""Tables of a report, as ``(header, rows)`` of strings: one column per run and strategy."""

from __future__ import annotations

import html
import math

from cola.engine.chain import distinct_layers, format_chain
from cola.report.breakdowns import THIRDS, TRANSITIONS
from cola.report.data import ReportData, RunReport, SummaryRow, chain_key


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
    """Strategy columns of the breakdown tables: the search and its baseline, per run."""
    return [(run, which) for run in data.runs for which in run.strategies]


def _column_title(run: RunReport, which: str) -> str:
    return f"{run.name}: {run.strategies[which].strategy}"


def summary_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Header and body of the side-by-side summary table (per run: each arm vs the gold and the decoy label)."""
    columns = [(run, key) for run in data.runs for key in run.rows]
    header = ["statistic"] + [run.titles[key] for run, key in columns]
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
    body.append(["samples"] + [str(_summary_n(run, key)) for run, key in columns])
    body.append(["layers in the model"] + [str(run.num_layers) for run, _ in columns])
    return header, body


def _summary_n(run: RunReport, key: str) -> int:
    return dict(run.summary.columns())[key].n


def reach_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Where each strategy looked: edit counts and lengths of every chain it evaluated."""
    header = [
        "run: strategy",
        "chains",
        "mean edits",
        "median edits",
        "max edits",
        "shortest chain",
        "mean length",
    ]
    body = []
    for run, which in _columns(data):
        s = run.strategies[which]
        edits = sorted(s.edits)
        body.append(
            [
                _column_title(run, which),
                str(len(s.evaluated_lengths)),
                _num(sum(edits) / len(edits)) if edits else "–",
                str(edits[len(edits) // 2]) if edits else "–",
                str(edits[-1]) if edits else "–",
                str(min(s.evaluated_lengths)) if s.evaluated_lengths else "–",
                _num(sum(s.evaluated_lengths) / len(s.evaluated_lengths)) if s.evaluated_lengths else "–",
            ]
        )
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


def md_table(header: list[str], body: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def html_table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def best_examples(data: ReportData, limit: int = 5) -> list[list[str]]:
    rows = []
    for run in data.runs:
        s = run.strategies["search"]
        shortest = sorted((b for b in s.best_chains if b is not None), key=chain_key)[:limit]
        for chain in shortest:
            rows.append([run.name, str(len(chain)), str(distinct_layers(chain)), format_chain(chain)])
    return rows
