"""Reports: statistics of run records (oracle numbers beside their nulls), tables, figures.

Owns the statistics (:mod:`~cola.report.stats`: oracle rates, baselines, chance, Wilson
intervals), the report data computed from records (:mod:`~cola.report.data`), its tables
(:mod:`~cola.report.tables`), figures (:mod:`~cola.report.figures`) and rendering to
Markdown and HTML (:mod:`~cola.report.render`), and the fast-vs-naive re-check line
(:mod:`~cola.report.recheck`). Everything is recomputed from records.

May import: cola.errors, cola.outputs, cola.engine, cola.evaluation, cola.search, cola.runs
"""

from cola._lazy import lazy_exports

_EXPORTS = {
    "Proportion": "proportion",
    "RunSummary": "stats",
    "format_summary": "text",
    "summarize": "stats",
    "wilson_interval": "proportion",
    "ReportData": "data",
    "build_report_data": "data",
    "format_recheck": "recheck",
    "render_html": "render",
    "render_markdown": "render",
    "report": "render",
    "write_report": "render",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
