"""The check run when a model is wrapped: the full chain equals the model's own forward.

cola's promise (a chain's logits equal those of a physically unrolled model) rests on
reproducing every step of the model's forward around its layers
(:mod:`cola.engine.facts`). A step the tables miss (a new multiplier, another position
scheme, a renamed layer argument) would make every chain silently wrong, so wrapping a
model runs the identity chain against the model's own ``forward`` on a small built-in
probe: two token sequences of different lengths, left-padded into one batch, then a few
cached decoding steps. Both use the same weights in the same dtype, so they agree up to
rounding; a larger difference refuses the model with one line
(:class:`~cola.errors.UnsupportedModelError`). The cost is one prefill and three one-token
steps of a batch of two, twice.
"""

from __future__ import annotations

import inspect

import torch
from transformers import DynamicCache

from cola.engine.chain import full_chain
from cola.engine.facts import CACHE_KEYWORDS
from cola.engine.runner import ChainRunner
from cola.errors import UnsupportedModelError

# Allowed |chain - stock| per dtype: absolute + relative to the largest |logit|. Both sides
# run the same kernels, so real differences are far below; a missed step (a scale, the
# positions, the cache) moves logits by a sizeable fraction of their range.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float32: (1e-4, 1e-5),
    torch.bfloat16: (2e-2, 2e-2),
    torch.float16: (5e-3, 5e-3),
}
PROBE_LENGTHS = (7, 4)  # two prompts of different lengths: the second is left-padded
DECODE_STEPS = 3


def probe(vocab_size: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ids and mask of the probe prompts, and the tokens fed in while decoding."""
    longest = max(PROBE_LENGTHS)
    ids = torch.zeros(len(PROBE_LENGTHS), longest, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(PROBE_LENGTHS):
        tokens = (3 + 37 * torch.arange(length) + 101 * row) % vocab_size
        ids[row, longest - length :] = tokens
        mask[row, longest - length :] = 1
    steps = (5 + 53 * torch.arange(DECODE_STEPS * len(PROBE_LENGTHS))) % vocab_size
    return ids.to(device), mask.to(device), steps.view(DECODE_STEPS, len(PROBE_LENGTHS), 1).to(device)


def _stock_logits(model, ids, mask, steps) -> list[torch.Tensor]:
    """The model's own forward with its own cache: the prefill, then one token at a time."""
    params = inspect.signature(model.forward).parameters
    cache_kw = next(name for name in CACHE_KEYWORDS if name in params)
    cache = DynamicCache(config=model.config)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)

    def call(tokens, mask, positions):
        kwargs = {"attention_mask": mask, "use_cache": True, cache_kw: cache}
        if "position_ids" in params:
            kwargs["position_ids"] = positions
        return model(input_ids=tokens, **kwargs).logits

    out = [call(ids, mask, positions)]
    for tokens in steps:
        mask = torch.cat([mask, torch.ones_like(tokens)], dim=1)
        positions = positions[:, -1:] + 1
        out.append(call(tokens, mask, positions))
    return out


def _chain_logits(cm: ChainRunner, ids, mask, steps) -> list[torch.Tensor]:
    chain = full_chain(cm.num_layers)
    cache = cm.new_cache(chain)
    out = [cm.forward(chain, ids, mask, cache=cache)]
    for tokens in steps:
        mask = torch.cat([mask, torch.ones_like(tokens)], dim=1)
        out.append(cm.forward(chain, tokens, mask, cache=cache))
    return out


def max_difference(cm: ChainRunner) -> tuple[float, float]:
    """``(max |chain - stock| over real tokens, max |stock logit|)`` on the probe."""
    ids, mask, steps = probe(int(cm.anatomy.embed.weight.shape[0]), cm.device)
    with torch.inference_mode():
        stock = _stock_logits(cm.model, ids, mask, steps)
        ours = _chain_logits(cm, ids, mask, steps)
    real = mask.bool()
    diff = (ours[0] - stock[0]).float().abs()[real].max()
    scale = stock[0].float().abs()[real].max()
    for a, b in zip(ours[1:], stock[1:]):
        diff = torch.maximum(diff, (a - b).float().abs().max())
        scale = torch.maximum(scale, b.float().abs().max())
    return float(diff), float(scale)


def check_against_stock(cm: ChainRunner) -> float:
    """Refuse ``cm`` unless its full chain reproduces the model's own forward; returns the max difference."""
    name = type(cm.model).__name__
    try:
        diff, scale = max_difference(cm)
    except Exception as error:  # a forward that cannot even run this way is unsupported, not a crash
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UnsupportedModelError(
            f"{name}: the self-check could not run the chain forward ({type(error).__name__}: {reason})"
        ) from error
    atol, rtol = TOLERANCES.get(cm.dtype, TOLERANCES[torch.float16])
    limit = atol + rtol * scale
    if not diff <= limit:  # also refuses NaN
        raise UnsupportedModelError(
            f"{name}: chain forward differs from the model's own forward by {diff:.3g} (tolerance {limit:.3g} "
            f"in {str(cm.dtype).removeprefix('torch.')}) on the built-in probe, so cola would compute wrong "
            "logits for this architecture; ChainModel(..., self_check=False) / --no-self-check skips this check"
        )
    return diff
