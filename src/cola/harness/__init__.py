"""cola inside lm-evaluation-harness: the ``cola`` model type.

``--model cola --model_args pretrained=<name|dir|hub id>,chain=<spec>`` scores a chain of
layers on any lm-eval task; ``predictor=<run dir>,predictor_kind=<kind>`` lets a
label-free predictor fitted on a search run choose a chain per input instead. The model
is lm-eval's own Hugging Face model (``hf``) with its forward and greedy decoding replaced
by cola's chain forward (:mod:`~cola.harness.lm`), so tokenisation, batching, truncation
and scoring are lm-eval's and the weights are never copied. Chain choice lives in
:mod:`~cola.harness.chains`; :mod:`~cola.harness.entry` registers the model with lm-eval
and provides the ``cola-lm-eval`` command.

lm-eval is an optional dependency (``pip install 'cola[harness]'``): nothing else in cola
imports this package, and it imports lm-eval only when a model is built or registered.
This is its own part of cola rather than part of ``evaluation`` because per-input chains
come from ``predict``, which sits above ``evaluation``.

May import: cola.errors, cola.engine, cola.predict
"""

from cola._lazy import lazy_exports

_EXPORTS = {
    "ColaLM": "lm",
    "parse_chain_arg": "chains",
    "register": "entry",
    "main": "entry",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
