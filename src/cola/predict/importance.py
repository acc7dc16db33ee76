"""Layer-importance baselines: one shorter chain for a requested depth, the same for every input.

These are the standard training-free ways to drop layers, against which label-free chains
should be compared. Each removes ``n`` layers of the full model and keeps the rest in order:

* **block-influence** (ShortGPT, Men et al. 2024): layer ``i``'s influence is
  ``BI_i = 1 - E_{X,t}[cos(x_{i,t}, x_{i+1,t})]``, where ``x_i`` is the hidden state
  entering layer ``i`` and ``x_{i+1}`` the one leaving it, averaged over every token ``t``
  of every calibration prompt ``X``; the ``n`` layers of lowest influence are dropped.
* **angular** (Gromov et al. 2024, *The Unreasonable Ineffectiveness of the Deeper
  Layers*): ``d(l, n) = E_X[arccos(cos(x_{l,T}, x_{l+n,T})) / pi]`` on the last token
  ``T``; the block ``l*..l*+n-1`` with ``l* = argmin_l d(l, n)`` is dropped (no healing
  fine-tune: cola is training-free).
* **greedy-drop**: repeatedly drop the one layer whose removal leaves the highest
  accuracy on labelled validation samples (the training run's samples, never the test split).

Hidden states are the residual stream of the full model (before the final norm). Ties
drop the deeper layer (block), which both papers find more redundant; ties are rare with
real hidden states but the rule keeps results deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from cola.engine.chain import Chain, full_chain
from cola.predict.dataset_chain import DatasetChainPredictor


@torch.inference_mode()
def residual_states(model, input_ids: torch.Tensor) -> torch.Tensor:
    """``[L+1, T, d]`` float32: the state entering each layer of the full model, then its output.

    ``input_ids`` is one unpadded prompt (``[1, T]``). Row ``L`` is the last layer's
    output before the final norm, so every row is the same residual stream.
    """
    hidden, step = model.prompt_step(input_ids)
    states = [hidden[0].float()]
    for layer in range(model.num_layers):
        hidden = model.call_layer(layer, hidden, step, None, layer)
        states.append(hidden[0].float())
    return torch.stack(states)


@dataclass
class Calibration:
    """What the two hidden-state criteria need from calibration prompts, accumulated prompt by prompt.

    ``cos_sums[i]`` is the sum over all tokens seen of ``cos(x_i, x_{i+1})``; ``last`` holds
    each prompt's last-token states ``[L+1, d]``.
    """

    num_layers: int
    cos_sums: torch.Tensor = field(init=False)
    tokens: int = 0
    last: list[torch.Tensor] = field(default_factory=list)

    def __post_init__(self):
        self.cos_sums = torch.zeros(self.num_layers, dtype=torch.float64)

    def add(self, states: torch.Tensor) -> None:
        """One prompt's states ``[L+1, T, d]`` (see :func:`residual_states`)."""
        if states.ndim != 3 or states.shape[0] != self.num_layers + 1:
            raise ValueError(f"states must be [{self.num_layers + 1}, T, d], got {list(states.shape)}")
        states = states.double()
        cos = torch.nn.functional.cosine_similarity(states[:-1], states[1:], dim=-1)  # [L, T]
        self.cos_sums += cos.sum(dim=1)
        self.tokens += states.shape[1]
        self.last.append(states[:, -1])

    @classmethod
    def from_states(cls, states: Sequence[torch.Tensor]) -> Calibration:
        calibration = cls(states[0].shape[0] - 1)
        for item in states:
            calibration.add(item)
        return calibration

    def block_influence(self) -> torch.Tensor:
        """``BI_i = 1 - mean cos(x_i, x_{i+1})`` over every calibration token, one per layer."""
        if not self.tokens:
            raise ValueError("no calibration prompts")
        return 1.0 - self.cos_sums / self.tokens

    def angular_distances(self, n: int) -> torch.Tensor:
        """``d(l, n)`` for ``l = 0..L-n``: mean over prompts of arccos(last-token cosine) / pi."""
        if not self.last:
            raise ValueError("no calibration prompts")
        if not 1 <= n <= self.num_layers:
            raise ValueError(f"block length {n} is outside 1..{self.num_layers}")
        last = torch.stack(self.last)  # [N, L+1, d]
        cos = torch.nn.functional.cosine_similarity(last[:, : self.num_layers + 1 - n], last[:, n:], dim=-1)
        return (torch.arccos(cos.clamp(-1.0, 1.0)) / math.pi).mean(dim=0)


def calibrate(model, prompts: Sequence[str]) -> Calibration:
    """Run the full model over each prompt on its own (no padding) and accumulate the statistics."""
    calibration = Calibration(model.num_layers)
    for prompt in prompts:
        input_ids, _ = model.encode([prompt])
        calibration.add(residual_states(model, input_ids))
    return calibration


def _check_drop(n: int, num_layers: int) -> None:
    if not 0 <= n < num_layers:
        raise ValueError(f"cannot drop {n} of {num_layers} layers: drop 0..{num_layers - 1}")


def drop_lowest(scores: Sequence[float], n: int) -> Chain:
    """The full chain without the ``n`` lowest-scoring layers (ties: the deeper layer goes)."""
    num_layers = len(scores)
    _check_drop(n, num_layers)
    order = sorted(range(num_layers), key=lambda i: (float(scores[i]), -i))
    dropped = set(order[:n])
    return tuple(i for i in range(num_layers) if i not in dropped)


def drop_block(distances: Sequence[float], n: int, num_layers: int) -> Chain:
    """The full chain without layers ``l*..l*+n-1``, ``l*`` the argmin of ``distances`` (ties: deeper)."""
    _check_drop(n, num_layers)
    if n == 0:
        return full_chain(num_layers)
    if len(distances) != num_layers - n + 1:
        raise ValueError(f"need {num_layers - n + 1} block distances for n={n}, got {len(distances)}")
    start = min(range(len(distances)), key=lambda s: (float(distances[s]), -s))
    return tuple(i for i in range(num_layers) if not start <= i < start + n)


def criterion_chains(method: str, calibration: Calibration, drops: Sequence[int]) -> dict[int, Chain]:
    """``{n: chain}`` for block-influence or angular, from one calibration pass."""
    num_layers = calibration.num_layers
    if method == "block-influence":
        scores = calibration.block_influence().tolist()
        return {n: drop_lowest(scores, n) for n in drops}
    if method == "angular":
        return {
            n: drop_block(calibration.angular_distances(n).tolist(), n, num_layers)
            if n
            else full_chain(num_layers)
            for n in drops
        }
    raise ValueError(f"{method!r} is not a hidden-state criterion (block-influence, angular)")


@dataclass
class GreedyResult:
    chains: list[Chain]  # chains[k]: k layers dropped
    accuracies: list[float]  # validation accuracy of chains[k]
    chains_evaluated: int


def greedy_drop(accuracy: Callable[[list[Chain]], list[float]], num_layers: int, drops: int) -> GreedyResult:
    """Drop ``drops`` layers one at a time, each time the one whose removal keeps accuracy highest.

    ``accuracy(chains)`` returns each chain's validation accuracy. Ties drop the deeper layer.
    """
    _check_drop(drops, num_layers)
    chain = full_chain(num_layers)
    result = GreedyResult([chain], [accuracy([chain])[0]], 1)
    for _ in range(drops):
        candidates = [chain[:i] + chain[i + 1 :] for i in range(len(chain))]
        scores = accuracy(candidates)
        result.chains_evaluated += len(candidates)
        best = max(range(len(candidates)), key=lambda i: (scores[i], i))
        chain = candidates[best]
        result.chains.append(chain)
        result.accuracies.append(scores[best])
    return result


class LayerDropPredictor(DatasetChainPredictor):
    """Proposes one importance-chosen chain for every input (no embedding needed)."""

    def __init__(self, method: str, chain: Chain, num_layers: int):
        super().__init__([chain], num_layers)
        self.name = method
