"""The naive reference path: what public CoLa code does, kept to check the fast path against.

One chain at a time, the whole prompt re-encoded from the embeddings, then plain greedy
decoding to ``max_new_tokens`` or an end-of-sequence token, with no early stop. It
shares nothing with the fast path (:mod:`cola.engine.decoding`, prefix tries, lock-step
lanes) beyond :meth:`ChainModel.forward`, so "fast == naive" tests compare two
independent implementations.
"""

from __future__ import annotations

import torch

from cola.engine.chain import Chain
from cola.engine.decoding import Generation
from cola.engine.model import ChainModel


@torch.inference_mode()
def naive_generate(
    model: ChainModel, chain: Chain, input_ids: torch.Tensor, max_new_tokens: int
) -> Generation:
    """Greedy continuation of one unpadded prompt (``[1, T]`` ids) through ``chain``."""
    eos = set(model.eos_ids())
    cache = model.new_cache(chain)
    logits = model.forward(chain, input_ids, cache=cache, logits_to_keep=1)[0, -1]
    tokens: list[int] = []
    while len(tokens) < max_new_tokens:
        token = int(logits.argmax())
        if token in eos:
            break
        tokens.append(token)
        if len(tokens) == max_new_tokens:
            break
        logits = model.forward(chain, torch.tensor([[token]], device=input_ids.device), cache=cache)[0, -1]
    return Generation(model.tokenizer.decode(tokens), tokens)
