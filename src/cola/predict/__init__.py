"""Label-free use of chains of layers on unseen inputs.

A search run (:mod:`cola.runs.runner`) finds, per *training* sample, chains that answer
correctly; it uses the gold label, so its numbers are an oracle. This package turns such
a run into something usable without labels on held-out samples:

* :class:`DatasetChainPredictor` - one chain for the whole task, searched on the train
  split for accuracy minus a length penalty (:func:`search_dataset_chain`).
* :class:`KNNPredictor` - retrieve the nearest training prompts (cosine over the model's
  own mid-layer hidden states) and propose their best chains.
* :class:`PolarPredictor` - a tiny MLP with one skip/keep/repeat head per layer, trained
  on the training samples' best chains (in the spirit of PoLar), decoded to chains.
* :func:`vote` - answer by majority over the answers of the top-m predicted chains.

:func:`evaluate_predictor` scores a predictor on a disjoint test split against the full
model; pass@k there uses labels to pick a chain and is reported as an oracle.

May import: cola.errors, cola.engine, cola.tasks, cola.evaluation, cola.search, cola.runs, cola.report
"""

from __future__ import annotations

from cola._lazy import lazy_exports

# Exports load on first use: importing this package must not pull in torch.
_EXPORTS = {
    "ChainPredictor": "base",
    "best_chain": "base",
    "record_chain_targets": "base",
    "DatasetChainPredictor": "dataset_chain",
    "DatasetEvaluator": "dataset_chain",
    "search_dataset_chain": "dataset_chain",
    "embed_prompts": "embedding",
    "prompt_embedding": "embedding",
    "PredictorReport": "evaluate",
    "evaluate_predictor": "evaluate",
    "vote": "evaluate",
    "KNNPredictor": "knn",
    "PolarPredictor": "polar",
    "chain_to_actions": "polar",
    "decode_topk": "polar",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "ChainPredictor",
    "DatasetChainPredictor",
    "DatasetEvaluator",
    "KNNPredictor",
    "PolarPredictor",
    "PredictorReport",
    "best_chain",
    "chain_to_actions",
    "decode_topk",
    "embed_prompts",
    "evaluate_predictor",
    "prompt_embedding",
    "record_chain_targets",
    "search_dataset_chain",
    "vote",
]
