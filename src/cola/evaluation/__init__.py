"""Evaluation: a chain on a sample -> prompt, chain forward, answer, reward.

Owns the scorer (:mod:`~cola.evaluation.scorer`: prefix-cached, lock-step batched,
exactly early-stopped), the naive reference it is checked against
(:mod:`~cola.evaluation.reference`), re-checking fast answers through it
(:mod:`~cola.evaluation.recheck`), the prefix trie of prompt states
(:mod:`~cola.evaluation.prefix_cache`), batching of several samples' searches
(:mod:`~cola.evaluation.batching`), the up-front context check
(:mod:`~cola.evaluation.limits`) and the :class:`~cola.evaluation.result.Evaluation`
record every search reads.

May import: cola.errors, cola.engine, cola.tasks
"""

from cola._lazy import lazy_exports

_EXPORTS = {
    "Evaluation": "result",
    "ChainScorer": "scorer",
    "EvalConfig": "config",
    "SampleEvaluator": "scorer",
    "naive_generate": "reference",
    "Recheck": "recheck",
    "recheck_sample": "recheck",
    "PrefixCache": "prefix_cache",
    "search_together": "batching",
    "check_prompts_fit": "limits",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
