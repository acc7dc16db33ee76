"""Tables of a report, as ``(header, rows)`` of strings: one column per run and strategy."""

from __future__ import annotations

from cola.engine.chain import distinct_layers, format_chain
from cola.report.breakdowns import THIRDS, TRANSITIONS
from cola.report.data import ReportData, RunReport, SummaryRow, chain_key
from cola.report.format import DASH, num, pct, proportion


def format_row_value(row: SummaryRow) -> str:
    if not row.percent:
        return num(row.value)
    text = pct(row.value)
    if row.rate is not None and row.rate.n:
        text += f" [{pct(row.rate.low)}, {pct(row.rate.high)}] ({row.rate.successes}/{row.rate.n})"
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
            line.append(format_row_value(row) if row is not None else DASH)
        body.append(line)
    body.append(
        ["chance rate: a random guesser with as many tries (oracle)"]
        + [
            pct(run.chance[which]) if run.chance[which] is not None else "n/a (free-form)"
            for run, which in columns
        ]
    )
    body.append(["samples"] + [str(_summary_n(run, key)) for run, key in columns])
    body.append(["layers in the model"] + [str(run.num_layers) for run, _ in columns])
    return header, body


def nulls_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Per run, every arm and null against the gold label, one row each (oracle rates beside their nulls)."""
    header = ["run", "arm", "any chain answers it", "orig. correct: shorter", "orig. wrong: fixed"]
    body = [
        [run.name, row.arm, proportion(row.found), proportion(row.shorter), proportion(row.fixed)]
        for run in data.runs
        for row in run.summary.rate_rows()
        if row.target == "gold"
    ]
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
                num(sum(edits) / len(edits)) if edits else DASH,
                str(edits[len(edits) // 2]) if edits else DASH,
                str(edits[-1]) if edits else DASH,
                str(min(s.evaluated_lengths)) if s.evaluated_lengths else DASH,
                num(sum(s.evaluated_lengths) / len(s.evaluated_lengths)) if s.evaluated_lengths else DASH,
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
            line.append(f"{count} ({pct(count / s.n)})")
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
                f"{pct(s.thirds[t]['present'])} / {s.thirds[t]['executions']:.2f} / {pct(s.thirds[t]['share'])}"
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
                    f"{pct(lv.original.value)} [{pct(lv.original.low)}, {pct(lv.original.high)}]",
                    f"{pct(lv.oracle.value)} [{pct(lv.oracle.low)}, {pct(lv.oracle.high)}]",
                    num(lv.mean_best_length),
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
                    pct(s.skipped[layer]),
                    pct(s.kept[layer]),
                    pct(s.repeated[layer]),
                    f"{s.executions[layer]:.2f}",
                ]
            )
    return header, body


def best_examples(data: ReportData, limit: int = 5) -> list[list[str]]:
    rows = []
    for run in data.runs:
        s = run.strategies["search"]
        shortest = sorted((b for b in s.best_chains if b is not None), key=chain_key)[:limit]
        for chain in shortest:
            rows.append([run.name, str(len(chain)), str(distinct_layers(chain)), format_chain(chain)])
    return rows
