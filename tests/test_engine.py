"""Chain execution equals a physically unrolled model, with and without the KV cache."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from cola.engine import ChainModel
from cola.engine.chain import parse_chain
from cola.engine.unroll import unroll_model
from cola.errors import ChainSpecError, ModelNotFoundError

TOL = 1e-4
PROMPT = "Question: Which gas do plants take in from the air to make food?\nAnswer:"


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal to float32 tolerance: 1e-4 absolute plus 1e-5 of the logits' scale."""
    return _max_diff(a, b) <= TOL + 1e-5 * b.abs().max().item()


def test_identity_chain_matches_stock_model(smollm: ChainModel, gemma: ChainModel):
    for cm in (smollm, gemma):
        ids, _ = cm.encode([PROMPT])
        with torch.inference_mode():
            stock = cm.model(input_ids=ids).logits
        assert _close(cm.forward(None, ids), stock)


def _check_against_unrolled(cm: ChainModel, spec: str, prompt: str, steps: int = 6) -> None:
    chain = parse_chain(spec, cm.num_layers)
    unrolled = unroll_model(cm.model, chain)
    ids, _ = cm.encode([prompt])
    with torch.inference_mode():
        # prefill: cola vs unrolled (no cache) vs unrolled (with cache)
        ref_cache = DynamicCache(config=unrolled.config)
        ref = unrolled(input_ids=ids, cache=ref_cache, use_cache=True).logits
        cache = cm.new_cache(chain)
        ours = cm.forward(chain, ids, cache=cache)
        assert _close(ours, ref)
        assert _close(cm.forward(chain, ids), ref)
        sequence = ids
        for _ in range(steps):  # greedy decoding, step by step, three ways
            token = ours[:, -1:].argmax(-1)
            assert torch.equal(token, ref[:, -1:].argmax(-1))
            sequence = torch.cat([sequence, token], dim=1)
            ref = unrolled(input_ids=token, cache=ref_cache, use_cache=True).logits
            ours = cm.forward(chain, token, cache=cache)
            full = cm.forward(chain, sequence)[:, -1:]
            assert _close(ours, ref)
            assert _close(ours, full)
        assert cache.get_seq_length(0) == sequence.shape[1]


@pytest.mark.parametrize(
    "spec",
    [
        "0-9,11,11,12-29",  # skip 10, loop 11
        "0-5,3-5,3-5,6-29",  # loop a block twice more
        "0-4,6,5,7-20,25-29",  # re-order and skip
        "0,1,29,2-28",  # far re-order
    ],
)
def test_smollm_chain_equals_unrolled_model(smollm: ChainModel, spec: str):
    _check_against_unrolled(smollm, spec, PROMPT)


def test_gemma_repeated_sliding_layer_equals_unrolled(gemma: ChainModel):
    # layers 3 and 4 are sliding-window layers, 5 is full attention
    assert gemma.anatomy.layer_types[3] == "sliding_attention"
    assert gemma.anatomy.layer_types[5] == "full_attention"
    _check_against_unrolled(gemma, "0-4,3,4,4,5,5,6-17", PROMPT)


def test_gemma_sliding_window_is_enforced_past_the_window(gemma: ChainModel):
    """With more tokens than the window, sliding slots must drop old keys, as the unrolled model does."""
    window = gemma.anatomy.sliding_window
    long_prompt = " ".join(["word"] * (window + 20))
    ids, _ = gemma.encode([long_prompt])
    assert ids.shape[1] > window
    _check_against_unrolled(gemma, "0-4,4,4,5-11,16,17", long_prompt, steps=3)
    # and the window really matters: treating every slot as full attention changes the logits
    chain = parse_chain("0-4,4,4,5-11,16,17", gemma.num_layers)
    sliding = gemma.forward(chain, ids)
    with torch.inference_mode():
        unrolled = unroll_model(gemma.model, chain)
        unrolled.config.layer_types = ["full_attention"] * len(chain)
        all_full = unrolled(input_ids=ids).logits
    assert _max_diff(sliding, all_full) > 1e-2


def test_batch_with_left_padding_equals_one_at_a_time(smollm: ChainModel):
    prompts = ["What is 2 + 2?", "Name a color of the sky on a clear day, please answer briefly:", "Hi"]
    chain = "0-12,12,13-29"
    batched = smollm.generate(prompts, chain=chain, max_new_tokens=8)
    single = [smollm.generate(p, chain=chain, max_new_tokens=8)[0] for p in prompts]
    assert [g.token_ids for g in batched] == [g.token_ids for g in single]
    ids, mask = smollm.encode(prompts)
    logits = smollm.forward(chain, ids, mask)
    for row, prompt in enumerate(prompts):
        alone_ids, _ = smollm.encode([prompt])
        alone = smollm.forward(chain, alone_ids)
        n = alone_ids.shape[1]
        assert _max_diff(logits[row, -n:], alone[0]) < 1e-3


def test_generate_stop_rule_and_weights_shared(smollm: ChainModel):
    params_before = sum(p.numel() for p in smollm.model.parameters())
    out = smollm.generate(
        "Count: one, two, three,", chain="0-29", max_new_tokens=12, stop=lambda row, text: "," in text
    )
    assert out[0].stopped_early and out[0].text.count(",") == 1
    assert sum(p.numel() for p in smollm.model.parameters()) == params_before


def test_bad_chain_for_model(smollm: ChainModel):
    with pytest.raises(ChainSpecError, match="unknown layer index 30"):
        smollm.generate("hi", chain="0-30")


def test_unknown_model_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="not found"):
        ChainModel.from_pretrained("no-such-org/no-such-model-xyz")


def test_anatomy_is_discovered(smollm: ChainModel, gemma: ChainModel):
    assert smollm.num_layers == 30 and set(smollm.anatomy.layer_types) == {"full_attention"}
    assert gemma.num_layers == 18
    assert gemma.anatomy.layer_types.count("full_attention") == 3
    assert gemma.anatomy.rotary_per_layer_type and not smollm.anatomy.rotary_per_layer_type
