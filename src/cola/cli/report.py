"""``cola report``: HTML + Markdown report of one or more runs."""

from __future__ import annotations

from cola.cli.registry import command


def add_report_arguments(p) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (two or more are compared)")
    p.add_argument("--out", required=True, help="directory for report.html, report.md and figures")
    p.add_argument("--force", action="store_true", help="replace an earlier report at --out (nothing else)")


@command(
    "report",
    "HTML + Markdown report of one or more runs (oracle stats beside baseline, plots)",
    add_report_arguments,
)
def cmd_report(args) -> int:
    from cola.report.render import report

    written = report(args.runs, args.out, force=args.force)
    print(f"wrote {written['html']} and {written['markdown']}")
    return 0
