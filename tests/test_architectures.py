"""The architecture matrix: every supported decoder-only architecture is exact, the rest are refused.

For each tiny random-initialised model (``tests/tiny_models.py``), chains that skip,
repeat and re-order layers are checked against a physically unrolled copy
(:func:`cola.engine.unroll_model`, plain transformers code): the prefill with and without
the cache, a left-padded batch of two prompts, cached greedy decoding (tokens and
per-step logits), the lock-step decoder the search uses, and the HF export reloaded by
plain ``from_pretrained`` (its per-layer config lists, e.g. SmolLM3's NoPE layers, follow the chain). Prompts are longer than the sliding window of the sliding
variants, and the chains repeat a sliding layer. Unsupported architectures must be
refused with one line, and the self-check must catch a chain forward that misses a step.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tiny_models import SUPPORTED, UNSUPPORTED, WINDOW, Arch, tiny_model, tiny_tokenizer
from transformers import AutoModelForCausalLM, DynamicCache

from cola.engine import ChainModel, facts, unroll_model
from cola.engine.anatomy import SLIDING, text_config
from cola.engine.unroll import INDEX_LISTS, per_layer_keys
from cola.errors import ColaError, UnsupportedModelError
from cola.export import export_hf

CHAINS = [(0, 2, 2, 1, 3), (0, 1, 1, 3)]  # re-order + repeat, skip + repeat
LENGTHS = (WINDOW + 6, WINDOW + 1)  # both prompts are longer than the sliding window
STEPS = 4


# Tiny models run on one intra-op thread: handing a 64-wide matmul to two threads costs more
# than the matmul (on a busy 2-core machine, 100x more).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ids(length: int, seed: int) -> torch.Tensor:
    return (4 + (torch.arange(length) * 29 + seed * 13) % 124).unsqueeze(0)


def _close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    diff = (ours - ref).abs().max().item()
    assert diff <= 1e-4 + 1e-5 * ref.abs().max().item(), f"max logit difference {diff:.3g}"


def _call(model, ids, cache=None, mask=None, positions=None) -> torch.Tensor:
    kwargs = {"cache": cache, "use_cache": cache is not None}
    if mask is not None:
        kwargs.update(attention_mask=mask, position_ids=positions)
    return model(input_ids=ids, **kwargs).logits


def _check_cached_decoding(cm: ChainModel, unrolled, chain, ids) -> None:
    """Prefill (with and without cache), then greedy steps: same tokens and logits every step."""
    ref_cache = DynamicCache(config=unrolled.config)
    ref = _call(unrolled, ids, ref_cache)
    cache = cm.new_cache(chain)
    ours = cm.forward(chain, ids, cache=cache)
    _close(ours, ref)
    _close(cm.forward(chain, ids), ref)
    for _ in range(STEPS):
        token = ref[:, -1:].argmax(-1)
        assert torch.equal(ours[:, -1:].argmax(-1), token)
        ref = _call(unrolled, token, ref_cache)
        ours = cm.forward(chain, token, cache=cache)
        _close(ours, ref)


def _check_left_padded_batch(cm: ChainModel, unrolled, chain) -> None:
    rows = [_ids(n, seed) for seed, n in enumerate(LENGTHS)]
    longest = max(LENGTHS)
    ids = torch.zeros(len(rows), longest, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(rows):
        ids[row, longest - prompt.shape[1] :] = prompt[0]
        mask[row, longest - prompt.shape[1] :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    real = mask.bool()
    _close(cm.forward(chain, ids, mask)[real], _call(unrolled, ids, mask=mask, positions=positions)[real])


def _greedy(unrolled, ids, steps: int, eos: set[int]) -> list[int]:
    cache = DynamicCache(config=unrolled.config)
    logits = _call(unrolled, ids, cache)
    tokens: list[int] = []
    while len(tokens) < steps:
        token = int(logits[0, -1].argmax())
        if token in eos:
            break
        tokens.append(token)
        logits = _call(unrolled, torch.tensor([[token]]), cache)
    return tokens


def _check_lockstep_generation(cm: ChainModel, unrolled, chain) -> None:
    """Two prompts of different lengths decode together (left-padded lane calls) as alone."""
    prompts = [_ids(n, seed) for seed, n in enumerate(LENGTHS)]
    texts = [cm.tokenizer.decode(p[0]) for p in prompts]
    generated = cm.generate(texts, chain=chain, max_new_tokens=STEPS)
    eos = set(cm.eos_ids())
    assert [g.token_ids for g in generated] == [_greedy(unrolled, p, STEPS, eos) for p in prompts]


@pytest.mark.parametrize("arch", SUPPORTED, ids=lambda a: a.name)
def test_chains_equal_unrolled_model(arch: Arch, tmp_path):
    model = tiny_model(arch)
    cm = ChainModel(model, tiny_tokenizer())  # the self-check against the stock forward runs here
    if arch.sliding:
        assert cm.anatomy.sliding_window == WINDOW and SLIDING in cm.anatomy.layer_types
        assert any(cm.anatomy.layer_types[layer] == SLIDING for layer in (2, 1))  # a repeated layer slides
    with torch.inference_mode():
        for chain in CHAINS:
            unrolled = unroll_model(model, chain).eval()
            _check_cached_decoding(cm, unrolled, chain, _ids(LENGTHS[0], 0))
            _check_left_padded_batch(cm, unrolled, chain)
            _check_lockstep_generation(cm, unrolled, chain)
        export_hf(cm, CHAINS[0], tmp_path)
        reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
        _check_layer_lists(model, reloaded, CHAINS[0])
        ids = _ids(LENGTHS[0], 3)
        _close(cm.forward(CHAINS[0], ids), reloaded(input_ids=ids).logits)


def _check_layer_lists(model, reloaded, chain) -> None:
    """The exported config lists each per-layer setting of the chain's layers, in chain order."""
    before, after = text_config(model.config), text_config(reloaded.config)
    assert after.num_hidden_layers == len(chain)
    for key in per_layer_keys(before):
        assert list(getattr(after, key)) == [getattr(before, key)[i] for i in chain], key
    for key in INDEX_LISTS:
        if getattr(before, key, None):
            listed = set(getattr(before, key))
            assert list(getattr(after, key)) == [p for p, i in enumerate(chain) if i in listed], key


def test_smollm3_nope_layers_follow_the_chain_into_the_export(tmp_path):
    """SmolLM3 builds layer i with or without rotary embeddings from ``no_rope_layers[i]``: an export
    that kept the 4-entry list for its 5 layers failed in ``from_pretrained`` with an IndexError."""
    smollm3 = next(a for a in SUPPORTED if a.model_type == "smollm3")
    model = tiny_model(smollm3)
    assert list(model.config.no_rope_layers) == [1, 0, 1, 1]  # layer 1 is the NoPE layer
    export_hf(ChainModel(model, tiny_tokenizer()), CHAINS[0], tmp_path)  # (0, 2, 2, 1, 3)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert list(reloaded.config.no_rope_layers) == [1, 1, 1, 0, 1]
    assert [bool(layer.self_attn.use_rope) for layer in reloaded.model.layers] == [
        True,
        True,
        True,
        False,
        True,
    ]


@pytest.mark.parametrize("arch", UNSUPPORTED, ids=lambda a: a.name)
def test_unsupported_architecture_is_refused_in_one_line(arch: Arch):
    model = tiny_model(arch)
    for attempt in (lambda: ChainModel(model), lambda: unroll_model(model, (0, 1))):
        with pytest.raises(UnsupportedModelError) as info:
            attempt()
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{type(model).__name__}: ")
        assert arch.refusal in message


def test_encoder_decoder_is_refused_in_one_line():
    from transformers import T5Config, T5ForConditionalGeneration

    model = T5ForConditionalGeneration(
        T5Config(d_model=32, d_ff=64, num_layers=2, num_heads=2, vocab_size=64)
    )
    with pytest.raises(UnsupportedModelError, match=r"^T5ForConditionalGeneration: encoder-decoder models"):
        ChainModel(model)


SKIPPED_STEPS = [  # (architecture, the facts table emptied so the chain forward misses that step)
    ("cohere", "LOGIT_MULTIPLIERS"),
    ("granite", "LOGIT_DIVISORS"),
    ("granite", "EMBEDDING_MULTIPLIERS"),
    ("gpt2", "POSITION_TABLES"),
]


@pytest.mark.parametrize(("name", "table"), SKIPPED_STEPS)
def test_self_check_refuses_a_chain_forward_that_misses_a_step(monkeypatch, name: str, table: str):
    arch = next(a for a in SUPPORTED if a.name == name)
    model = tiny_model(arch)
    monkeypatch.setattr(facts, table, ())
    with pytest.raises(
        UnsupportedModelError, match=r"chain forward differs from the model's own forward by"
    ) as info:
        ChainModel(model)
    assert "\n" not in str(info.value)
    # the opt-out wraps the model anyway, with a warning, and its logits are then wrong
    with pytest.warns(UserWarning, match="self-check skipped"):
        unchecked = ChainModel(model, self_check=False)
    ids = _ids(6, 0)
    with torch.inference_mode():
        assert (unchecked.forward(None, ids) - model(input_ids=ids).logits).abs().max() > 1e-2


def test_self_check_refuses_a_deliberately_wrong_scale(monkeypatch):
    arch = next(a for a in SUPPORTED if a.name == "llama")
    model = tiny_model(arch)
    head = ChainModel.head
    monkeypatch.setattr(ChainModel, "head", lambda self, hidden: head(self, hidden) * 1.01)
    with pytest.raises(UnsupportedModelError, match=r"^LlamaForCausalLM: chain forward differs .* float32"):
        ChainModel(model)


def test_index_dependent_layers_run_exactly_but_are_not_exported_moved(tmp_path):
    """GPT-2 with scale_attn_by_inverse_layer_idx: chains are exact, a moved layer's checkpoint is refused."""
    gpt2 = next(a for a in SUPPORTED if a.name == "gpt2")
    model = tiny_model(
        dataclasses.replace(gpt2, settings={**gpt2.settings, "scale_attn_by_inverse_layer_idx": True})
    )
    cm = ChainModel(model, tiny_tokenizer())
    with torch.inference_mode():
        _check_cached_decoding(cm, unroll_model(model, CHAINS[0]).eval(), CHAINS[0], _ids(LENGTHS[0], 0))
    with pytest.raises(ColaError, match="scale_attn_by_inverse_layer_idx"):
        export_hf(cm, CHAINS[0], tmp_path / "moved")
    export_hf(cm, (0, 1, 2, 3), tmp_path / "full")  # the full chain keeps every index


def test_alibi_is_read_from_the_config_whatever_the_layer_signature():
    """Falcon's layer took an ``alibi`` argument up to transformers 5.24 and not from 5.25;
    the config flag decides either way, so the refusal names ALiBi on both releases."""
    from torch import nn
    from transformers import BloomConfig, FalconConfig

    from cola.engine.facts import layer_call

    class OldSignature(nn.Module):  # the 5.24 shape of Falcon's layer call
        def forward(self, hidden_states, alibi, attention_mask, position_ids=None, layer_past=None):
            return hidden_states

    class NewSignature(nn.Module):  # the 5.25 shape
        def forward(self, hidden_states, attention_mask=None, position_ids=None, layer_past=None):
            return hidden_states

    for layer in (OldSignature(), NewSignature()):
        refusal = layer_call(FalconConfig(alibi=True), layer)
        assert isinstance(refusal, str) and "ALiBi" in refusal
        assert not isinstance(layer_call(FalconConfig(alibi=False), layer), str)
    assert "ALiBi" in layer_call(BloomConfig(), NewSignature())  # Bloom has no flag: always ALiBi
