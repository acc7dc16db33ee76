"""The engine: running a pretrained decoder-only model as a chain of its own layers.

Owns chain specs (:mod:`~cola.engine.chain`), finding a model's parts
(:mod:`~cola.engine.anatomy`) and the steps its forward adds around the layer stack, as
data (:mod:`~cola.engine.facts`), the self-check against the model's own forward when a
model is wrapped (:mod:`~cola.engine.selfcheck`), device and dtype
(:mod:`~cola.engine.placement`), loading models (:mod:`~cola.engine.loading`), the chain
forward with one KV slot per chain position (:mod:`~cola.engine.model`,
:mod:`~cola.engine.state`), lock-step lanes and the greedy decoder
(:mod:`~cola.engine.lanes`, :mod:`~cola.engine.decoding`), its drafted tokens
(:mod:`~cola.engine.drafting`), what those need from a model (:mod:`~cola.engine.runner`)
and the physically unrolled reference (:mod:`~cola.engine.unroll`). It knows nothing of
tasks, search or runs.

May import: cola.errors
"""

from cola._lazy import lazy_exports

_EXPORTS = {
    "Chain": "chain",
    "format_chain": "chain",
    "full_chain": "chain",
    "parse_chain": "chain",
    "validate_chain": "chain",
    "ModelAnatomy": "anatomy",
    "inspect_model": "anatomy",
    "ModelFacts": "facts",
    "check_against_stock": "selfcheck",
    "Placement": "placement",
    "resolve_placement": "placement",
    "EMBEDDED_MODELS": "loading",
    "load_model_and_tokenizer": "loading",
    "ChainModel": "model",
    "ChainCache": "state",
    "Generation": "decoding",
    "unroll_model": "unroll",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
