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
* :class:`LayerDropPredictor` - the layer-importance baselines a shorter model is
  compared against (:mod:`~cola.predict.importance`: ShortGPT's block influence, the
  angular distance of consecutive blocks, greedy dropping on validation accuracy), one
  chain for a requested depth (:mod:`~cola.predict.depth`).

:data:`PREDICTORS` (:mod:`~cola.predict.registry`) names every predictor, and
:func:`fit_predictor` fits any of them from a run. :func:`load_heldout` gives a run's
test split (samples disjoint from the run's) and :func:`predict_chains` the chains a
predictor proposes on it. :func:`evaluate_predictor` scores a predictor on a disjoint test split against the full
model (it refuses test samples the predictor was fitted on, by id or normalised question);
pass@k there uses labels to pick a chain and is reported as an oracle. :func:`depth_sweep`
scores every method at every depth on the same held-out samples.

May import: cola.errors, cola.outputs, cola.engine, cola.tasks, cola.evaluation, cola.search, cola.runs, cola.report
"""

from __future__ import annotations

from cola._lazy import lazy_exports

# Exports load on first use: importing this package must not pull in torch.
_EXPORTS = {
    "ChainPredictor": "base",
    "FitOptions": "options",
    "PREDICTORS": "registry",
    "fit_predictor": "fit",
    "load_heldout": "heldout",
    "predict_chains": "heldout",
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
    "depth_chains": "depth",
    "LayerDropPredictor": "importance",
    "depth_sweep": "sweep",
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
    "FitOptions",
    "KNNPredictor",
    "PREDICTORS",
    "LayerDropPredictor",
    "PolarPredictor",
    "PredictorReport",
    "best_chain",
    "chain_to_actions",
    "decode_topk",
    "depth_chains",
    "depth_sweep",
    "embed_prompts",
    "evaluate_predictor",
    "fit_predictor",
    "load_heldout",
    "predict_chains",
    "prompt_embedding",
    "record_chain_targets",
    "search_dataset_chain",
    "vote",
]
