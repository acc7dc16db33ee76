"""kNN chain retrieval: propose the best chains of the most similar training prompts."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from cola.engine.chain import Chain, full_chain
from cola.predict.base import ChainPredictor


class KNNPredictor(ChainPredictor):
    """Cosine nearest neighbours over (centred) prompt embeddings.

    Embeddings are centred by the training mean before the cosine: prompts of one task
    share a long template, so raw mean-pooled states all point the same way and the
    cosine would barely separate them. For a query, training samples are visited from
    nearest to farthest and their target chains collected (duplicates dropped) until
    ``k`` distinct chains are found. Samples with no correct chain are not stored
    (see :func:`cola.predict.base.record_chain_targets`). If there is nothing to
    retrieve, the full chain is proposed.
    """

    name = "knn"

    def __init__(
        self,
        embeddings: torch.Tensor,
        chains: Sequence[Chain],
        num_layers: int,
        embedding_layer: int | None = None,
        center: bool = True,
    ):
        if embeddings.ndim != 2 or embeddings.shape[0] != len(chains):
            raise ValueError("embeddings must be [N, d] with one row per chain")
        self.num_layers = num_layers
        self.embedding_layer = embedding_layer
        self.chains = [tuple(c) for c in chains]
        embeddings = embeddings.float()
        self.mean = embeddings.mean(0) if center and len(chains) > 1 else torch.zeros(embeddings.shape[1])
        self.keys = self._normalize(embeddings)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(x.float() - self.mean, dim=-1)

    def neighbors(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(similarities, indices) of all training samples, nearest first, per query row.

        Ties in similarity go to the lower training index (stable sort).
        """
        sims = self._normalize(embeddings) @ self.keys.T
        order = torch.sort(sims, dim=-1, descending=True, stable=True)
        return order.values, order.indices

    def rank(self, embeddings: torch.Tensor | None, k: int) -> list[list[Chain]]:
        if embeddings is None:
            raise ValueError("the kNN predictor needs prompt embeddings")
        if not self.chains:
            return [[full_chain(self.num_layers)] for _ in range(embeddings.shape[0])]
        _, indices = self.neighbors(embeddings)
        ranked = []
        for row in indices.tolist():
            chains: list[Chain] = []
            for index in row:
                chain = self.chains[index]
                if chain not in chains:
                    chains.append(chain)
                if len(chains) == k:
                    break
            ranked.append(chains)
        return ranked
