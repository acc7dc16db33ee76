"""Lock-step lanes across different prompts: padded batched decoding == one lane at a time."""

from __future__ import annotations

import pytest
import torch

from cola.engine import ChainModel
from cola.engine.chain import parse_chain
from cola.engine.lanes import Lane, decode_step_inputs, run_lanes


def _reference_and_lanes(model: ChainModel, prompts: list[str], specs: list[str], steps: int):
    """Per lane: reference logits of ``steps`` greedy tokens (plain forward with its own cache)
    and the logits lock-step lanes of all prompts produce together, one token at a time."""
    chains = [parse_chain(spec, model.num_layers) for spec in specs]
    encoded = [model.encode([p])[0] for p in prompts]
    with torch.inference_mode():
        reference, tokens = [], []
        for ids, chain in zip(encoded, chains):
            cache = model.new_cache(chain)
            logits = model.forward(chain, ids, cache=cache, logits_to_keep=1)[:, -1]
            row_tokens, row_logits = [], []
            for _ in range(steps):
                token = int(logits.argmax(-1))
                row_tokens.append(token)
                logits = model.forward(chain, torch.tensor([[token]]), cache=cache)[:, -1]
                row_logits.append(logits)
            reference.append(row_logits)
            tokens.append(row_tokens)
        # lock-step: prefill each prompt alone, then decode every lane together
        caches = []
        for ids, chain in zip(encoded, chains):
            cache = model.new_cache(chain)
            model.forward(chain, ids, cache=cache, logits_to_keep=1)
            caches.append(cache)
        together = [[] for _ in chains]
        groups = [object() for _ in chains]  # one group per prompt: no state sharing across prompts
        for step in range(steps):
            lanes = []
            for i, (chain, cache) in enumerate(zip(chains, caches)):
                position = encoded[i].shape[1] + step
                hidden = model.embed(torch.tensor([[tokens[i][step]]]), torch.tensor([[position]]))
                lane = Lane(chain, cache, hidden, history=tuple(tokens[i][: step + 1]), group=groups[i])
                lane.step = decode_step_inputs(model, [lane], hidden, position)
                lanes.append(lane)
            run_lanes(model, lanes)
            logits = model.head(torch.cat([lane.hidden for lane in lanes]))[:, -1]
            for i in range(len(chains)):
                together[i].append(logits[i : i + 1])
    return reference, together


def _assert_close(reference, together):
    for row_ref, row_got in zip(reference, together):
        for ref, got in zip(row_ref, row_got):
            assert (ref - got).abs().max().item() < 1e-3
            assert int(ref.argmax()) == int(got.argmax())


def test_lanes_of_different_prompts_decode_as_one_at_a_time(smollm: ChainModel):
    prompts = [
        "The capital of France is",
        "Count: one, two, three, four, five, six, seven, eight,",
        "2 + 2 =",
    ]
    # the same chain for two prompts (must not be shared across prompts), repeats, a skip
    specs = ["0-12,12,13-29", "0-12,12,13-29", "0-5,3-5,6-20,22-29"]
    reference, together = _reference_and_lanes(smollm, prompts, specs, steps=3)
    _assert_close(reference, together)


def test_padded_lanes_keep_sliding_windows_exact(gemma: ChainModel):
    """One prompt longer than Gemma's sliding window, one short: the padded call must trim
    each row's sliding slot to its own window and mask the other row's padding."""
    window = gemma.anatomy.sliding_window
    long_prompt = " ".join(["word"] * (window + 10))
    assert gemma.encode([long_prompt])[0].shape[1] > window
    prompts = [long_prompt, "The sky is"]
    specs = ["0-4,3,4,4,5-17", "0-4,3,4,4,5-17"]  # repeats a sliding layer (3, 4) and runs full layer 5
    reference, together = _reference_and_lanes(gemma, prompts, specs, steps=3)
    _assert_close(reference, together)


def test_padded_lanes_need_step_inputs_for_each_of_their_tokens(smollm: ChainModel):
    chain = parse_chain("0-29", smollm.num_layers)
    lanes = []
    for length in (3, 5):
        ids = torch.arange(1, length + 1).unsqueeze(0)
        cache = smollm.new_cache(chain)
        with torch.inference_mode():
            smollm.forward(chain, ids, cache=cache)
            hidden = smollm.embed(torch.tensor([[7, 8]]), torch.tensor([[length, length + 1]]))
            lane = Lane(chain, cache, hidden, group=object())
            positions = torch.tensor([[length]])  # step inputs of one token, for two
            lane.step = smollm.prepare(hidden[:, :1], None, positions, cache, ["full_attention"])
        lanes.append(lane)
    with pytest.raises(ValueError, match="cover 1 tokens but it carries 2"), torch.inference_mode():
        run_lanes(smollm, lanes)
