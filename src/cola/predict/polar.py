"""A PoLar-style chain predictor: one skip/keep/repeat head per layer over the prompt embedding.

Each pretrained layer gets a 3-way action: 0 = skip, 1 = keep, 2 = repeat (run twice in a
row). A chain is decoded by walking the layers in order, so this family covers skips and
adjacent loops but not re-ordering; training targets are projected onto it by counting
how often a layer occurs (0, 1, 2 or more). The model is a tiny MLP trained with
cross-entropy, full batch, on CPU in seconds and fully seeded.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence

import torch
from torch import nn

from cola.engine.chain import Chain, full_chain
from cola.predict.base import ChainPredictor

SKIP, KEEP, REPEAT = 0, 1, 2


def chain_to_actions(chain: Sequence[int], num_layers: int) -> list[int]:
    """Per-layer action labels of a chain (order is dropped; 3+ occurrences count as repeat)."""
    counts = Counter(chain)
    return [min(counts.get(layer, 0), REPEAT) for layer in range(num_layers)]


def actions_to_chain(actions: Sequence[int]) -> Chain:
    """Layers in order; skipped layers are absent and repeated ones appear twice."""
    chain: list[int] = []
    for layer, action in enumerate(actions):
        chain.extend([layer] * int(action))
    return tuple(chain)


def decode_topk(log_probs: torch.Tensor, k: int) -> list[tuple[Chain, float]]:
    """The ``k`` most likely non-empty chains under independent per-layer actions.

    ``log_probs`` is ``[num_layers, 3]``. Beam search over layers is exact here: layers are
    independent, so a prefix outside the best ``k+1`` prefixes has ``k+1`` better prefixes,
    each completing with the same suffix into a better full assignment (one extra beam
    slot covers the excluded all-skip chain). Ties go to the lexicographically smaller
    action sequence.
    """
    width = k + 1
    beam: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]
    table = log_probs.double().tolist()
    for row in table:
        expanded = [(score + row[a], actions + (a,)) for score, actions in beam for a in (SKIP, KEEP, REPEAT)]
        beam = heapq.nsmallest(width, expanded, key=lambda item: (-item[0], item[1]))
    out = []
    for score, actions in beam:
        chain = actions_to_chain(actions)
        if chain:
            out.append((chain, score))
        if len(out) == k:
            break
    return out


class _Heads(nn.Module):
    def __init__(self, dim: int, num_layers: int, hidden: int):
        super().__init__()
        self.num_layers = num_layers
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, num_layers * 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0], self.num_layers, 3)


class PolarPredictor(ChainPredictor):
    """Per-layer skip/keep/repeat heads over standardised prompt embeddings."""

    name = "polar"

    def __init__(self, num_layers: int, dim: int, embedding_layer: int | None = None, hidden: int = 64):
        self.num_layers = num_layers
        self.embedding_layer = embedding_layer
        self.heads = _Heads(dim, num_layers, hidden)
        self.mean = torch.zeros(dim)
        self.scale = torch.ones(dim)
        self.train_loss: float | None = None

    @classmethod
    def fit(
        cls,
        embeddings: torch.Tensor,
        chains: Sequence[Chain],
        num_layers: int,
        embedding_layer: int | None = None,
        hidden: int = 64,
        epochs: int = 300,
        lr: float = 1e-2,
        weight_decay: float = 1e-3,
        seed: int = 0,
    ) -> PolarPredictor:
        """Train on (embedding, best chain) pairs; deterministic for a given ``seed``."""
        generator_state = torch.random.get_rng_state()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a tiny MLP: threads only add overhead (and results stay reproducible)
        torch.manual_seed(seed)
        try:
            predictor = cls(num_layers, embeddings.shape[1], embedding_layer, hidden)
            x = embeddings.float()
            if len(chains) > 1:
                predictor.mean = x.mean(0)
                predictor.scale = x.std(0).clamp_min(1e-6)
            if not chains:
                return predictor
            targets = torch.tensor([chain_to_actions(c, num_layers) for c in chains], dtype=torch.long)
            inputs = predictor._standardize(x)
            optimizer = torch.optim.AdamW(predictor.heads.parameters(), lr=lr, weight_decay=weight_decay)
            loss_fn = nn.CrossEntropyLoss()
            predictor.heads.train()
            for _ in range(epochs):
                optimizer.zero_grad()
                logits = predictor.heads(inputs)
                loss = loss_fn(logits.reshape(-1, 3), targets.reshape(-1))
                loss.backward()
                optimizer.step()
            predictor.heads.eval()
            predictor.train_loss = float(loss.detach())
            return predictor
        finally:
            torch.random.set_rng_state(generator_state)
            torch.set_num_threads(threads)

    def _standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.scale

    @torch.no_grad()
    def log_probs(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``[N, num_layers, 3]`` log-probabilities of skip/keep/repeat."""
        return torch.log_softmax(self.heads(self._standardize(embeddings)), dim=-1)

    def rank(self, embeddings: torch.Tensor | None, k: int) -> list[list[Chain]]:
        if embeddings is None:
            raise ValueError("the PoLar predictor needs prompt embeddings")
        ranked = []
        for row in self.log_probs(embeddings):
            chains = [chain for chain, _ in decode_topk(row, k)]
            ranked.append(chains or [full_chain(self.num_layers)])
        return ranked
