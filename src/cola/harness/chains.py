"""Which chain runs an lm-eval request: one fixed chain, or a predictor's label-free choice per input.

A chooser maps a request's context tokens to a chain. :class:`FixedChain` ignores them;
:class:`PredictedChain` embeds them (the model's own mid-layer states, as
:func:`cola.predict.embedding.prompt_embedding`) and takes the predictor's top-1 chain.
Only the context is read, never the continuation, so every answer option of a
multiple-choice question is scored with the same chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cola.engine.chain import Chain, full_chain, parse_chain
from cola.errors import ColaError
from cola.predict.embedding import prompt_embedding


def parse_chain_arg(spec, num_layers: int) -> Chain:
    """A chain from ``--model_args``: items separated by ``;`` or ``+``, since model_args split on commas.

    ``chain=0-9;11;11;12-29`` is ``0-9,11,11,12-29``; a list or a comma-separated string
    (the Python API) is accepted as is, and lm-eval's conversion of ``chain=5`` to an int too.
    """
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = str(spec)
    if isinstance(spec, str):
        spec = spec.replace(";", ",").replace("+", ",")
    return parse_chain(spec, num_layers)


@dataclass
class FixedChain:
    """The same chain for every request."""

    chain: Chain

    @property
    def fixed(self) -> Chain:
        return self.chain

    def choose(self, tokens: Sequence[int]) -> Chain:
        return self.chain


class PredictedChain:
    """A fitted :class:`~cola.predict.base.ChainPredictor`'s top-1 chain for each context.

    Predictors that ignore the input (``dataset``, the layer-drop baselines) give one
    chain for everything and are treated as fixed. Choices are memoised per context, so
    the options of one question embed their shared context once.
    """

    def __init__(self, model, predictor, info: dict | None = None):
        self.model = model
        self.predictor = predictor
        self.info = info or {}
        self._memo: dict[tuple[int, ...], Chain] = {}
        self._fixed = None if predictor.needs_embeddings() else predictor.rank(torch.zeros(1, 0), 1)[0][0]

    @property
    def fixed(self) -> Chain | None:
        return self._fixed

    def choose(self, tokens: Sequence[int]) -> Chain:
        if self._fixed is not None:
            return self._fixed
        key = tuple(tokens)
        if key not in self._memo:
            ids = torch.tensor([key], dtype=torch.long, device=self.model.device)
            embedding = prompt_embedding(self.model, ids, self.predictor.embedding_layer)[None]
            self._memo[key] = tuple(self.predictor.rank(embedding, 1)[0][0])
        return self._memo[key]


def build_chooser(
    model, chain=None, predictor=None, predictor_kind: str = "knn", drop=None, fit_seed: int = 0
):
    """A :class:`FixedChain` (``chain``, default the full model) or a :class:`PredictedChain` from a run."""
    if chain is not None and predictor is not None:
        raise ColaError("give either chain= or predictor=, not both")
    if predictor is None:
        return FixedChain(
            full_chain(model.num_layers) if chain is None else parse_chain_arg(chain, model.num_layers)
        )
    from cola.predict.base import load_training_run
    from cola.predict.fit import PREDICTORS, FitOptions, fit_predictor

    if predictor_kind not in PREDICTORS:
        raise ColaError(f"unknown predictor_kind {predictor_kind!r}; choose from {', '.join(PREDICTORS)}")
    run = load_training_run(str(predictor))
    if run.records[0].num_layers != model.num_layers:
        raise ColaError(
            f"run {predictor} was searched on a {run.records[0].num_layers}-layer model; "
            f"{model.name} has {model.num_layers} layers"
        )
    options = FitOptions(seed=int(fit_seed), drop=None if drop is None else int(drop))
    fitted = fit_predictor(predictor_kind, model, run, options)
    return PredictedChain(model, fitted.predictor, fitted.info)
