"""cola: test-time depth adaptation of pretrained LLMs (chains of layers).

Data flows one way through the packages, and each may import only those before it:
``engine`` (run a model as a chain of its layers) -> ``tasks`` (benchmarks, prompts,
grading) -> ``evaluation`` (a chain on a sample -> reward) -> ``search`` (chains per
sample) -> ``runs`` (resumable run directories of records) -> ``report`` (statistics
beside their nulls) -> ``predict`` (label-free chains), with ``export`` beside them and
``cli`` on top. The most used names are exported here, loaded on first use.
"""

from cola._lazy import lazy_exports

_EXPORTS = {
    "ColaError": "errors",
    "ChainSpecError": "errors",
    "DatasetError": "errors",
    "ModelNotFoundError": "errors",
    "UnsupportedModelError": "errors",
    "Chain": "engine.chain",
    "format_chain": "engine.chain",
    "parse_chain": "engine.chain",
    "ChainModel": "engine.model",
    "get_task": "tasks",
    "ChainScorer": "evaluation.scorer",
    "EvalConfig": "evaluation.config",
    "SearchConfig": "search",
    "get_strategy": "search",
    "RunConfig": "runs.config",
    "run_search": "runs.runner",
    "SampleRecord": "runs.records",
    "format_summary": "report.text",
    "summarize": "report.stats",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"
