"""Label-free use of chains of layers on unseen inputs.

A search run (:mod:`cola.runner`) finds, per *training* sample, chains that answer
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
"""

from cola.predict.base import ChainPredictor, best_chain, record_chain_targets
from cola.predict.dataset_chain import DatasetChainPredictor, DatasetEvaluator, search_dataset_chain
from cola.predict.embedding import embed_prompts, prompt_embedding
from cola.predict.evaluate import PredictorReport, evaluate_predictor, vote
from cola.predict.knn import KNNPredictor
from cola.predict.polar import PolarPredictor, chain_to_actions, decode_topk

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
