"""``cola report``: HTML + Markdown report of one or more runs."""

from __future__ import annotations

from cola.cli.registry import command


def add_report_arguments(p) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (two or more are compared)")
    p.add_argument("--out", required=True, help="directory for report.html, report.md and figures")


@command(
    "report",
    "HTML + Markdown report of one or more runs (oracle stats beside baseline, plots)",
    add_report_arguments,
)
def cmd_report(args) -> int:
    from cola.report.render import report

    written = report(args.runs, args.out)
    print(f"wrote {written['html']} and {written['markdown']}")
    return 0
