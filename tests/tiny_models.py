"""Tiny random-initialised causal LMs of many architectures, built from configs (no downloads).

Each entry names a transformers ``model_type`` and the config settings that make it tiny
(hidden 64, 4 layers, vocabulary 128) or select a variant (a sliding window of 8 tokens,
Granite's multipliers, Falcon's new decoder architecture, ALiBi, SmolLM3's NoPE layers, a
dense layer among MoE layers). The weights are random
but real: the tests compare cola's chains with the stock transformers forward and with
physically unrolled copies, never with cola itself. Tokens are ids; where a tokenizer is
needed (decoding, saved model directories) :func:`tiny_tokenizer` is a real word-level
tokenizer over the same 128 ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

WINDOW = 8  # sliding window of the sliding variants: test prompts are longer
BASE = dict(
    hidden_size=64,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    vocab_size=128,
    max_position_embeddings=256,
    head_dim=16,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    initializer_range=0.2,
)
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


@dataclass(frozen=True)
class Arch:
    """One architecture (or variant) of the matrix; ``refusal`` is the expected one-line refusal, if any."""

    name: str
    model_type: str
    settings: dict = field(default_factory=dict)
    refusal: str | None = None

    @property
    def sliding(self) -> bool:
        return "sliding_window" in self.settings


MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)
SLIDING = dict(sliding_window=WINDOW)
GPT_STYLE = dict(n_inner=128, head_dim=None, num_key_value_heads=None)

SUPPORTED = [
    Arch("llama", "llama"),
    Arch("mistral-sliding", "mistral", SLIDING),
    Arch("mixtral", "mixtral", dict(num_local_experts=4, num_experts_per_tok=2)),
    Arch("qwen2", "qwen2"),
    Arch("qwen2-sliding", "qwen2", dict(SLIDING, use_sliding_window=True, max_window_layers=2)),
    Arch("qwen2-moe", "qwen2_moe", dict(MOE, shared_expert_intermediate_size=32)),
    Arch("qwen3", "qwen3"),
    Arch("qwen3-moe", "qwen3_moe", MOE),
    Arch("qwen3-moe-dense-layer", "qwen3_moe", dict(MOE, mlp_only_layers=[1])),  # layer 1: a plain MLP
    Arch("phi3", "phi3"),
    Arch("olmo", "olmo"),
    Arch("olmo2", "olmo2"),
    Arch("olmoe", "olmoe", dict(num_experts=4, num_experts_per_tok=2)),
    Arch("stablelm", "stablelm"),
    Arch("starcoder2", "starcoder2"),
    Arch("gemma2-sliding", "gemma2", SLIDING),
    Arch(
        "gemma3-sliding",
        "gemma3_text",
        dict(
            SLIDING,
            layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"],
        ),
    ),
    Arch("smollm3-nope", "smollm3", dict(no_rope_layers=[1, 0, 1, 1])),  # layer 1 has no rotary embedding
    Arch("gpt-oss-sliding", "gpt_oss", dict(SLIDING, num_local_experts=4, num_experts_per_tok=2)),
    Arch("cohere2-sliding", "cohere2", SLIDING),
    # the architectures whose forward adds a step around the layer stack (engine/facts.py)
    Arch(
        "granite",
        "granite",
        dict(
            embedding_multiplier=12.0,
            logits_scaling=8.0,
            residual_multiplier=0.22,
            attention_multiplier=0.015625,
        ),
    ),
    Arch(
        "granitemoe",
        "granitemoe",
        dict(num_local_experts=4, num_experts_per_tok=2, embedding_multiplier=12.0, logits_scaling=8.0),
    ),
    Arch("cohere", "cohere", dict(logit_scale=0.0625)),
    Arch("gpt2", "gpt2", GPT_STYLE),
    Arch("gpt-neox", "gpt_neox", dict(head_dim=None)),
    Arch("falcon", "falcon", dict(head_dim=None)),
    Arch("falcon-new-decoder", "falcon", dict(head_dim=None, new_decoder_architecture=True, num_kv_heads=2)),
    Arch("opt", "opt", dict(ffn_dim=128, word_embed_proj_dim=32, head_dim=None)),
    Arch("gptj", "gptj", dict(GPT_STYLE, rotary_dim=8)),
]

UNSUPPORTED = [
    Arch("bloom", "bloom", dict(head_dim=None), refusal="ALiBi"),
    Arch("falcon-alibi", "falcon", dict(head_dim=None, alibi=True), refusal="ALiBi"),
    Arch("mpt", "mpt", dict(head_dim=None), refusal="position_bias"),
    Arch("mamba", "mamba", dict(head_dim=None), refusal="not state-space"),
    Arch("rwkv", "rwkv", dict(head_dim=None), refusal="no KV-cache argument"),
]


def tiny_config(arch: Arch):
    from transformers import AutoConfig

    settings = {k: v for k, v in {**BASE, **arch.settings}.items() if v is not None}
    return AutoConfig.for_model(arch.model_type, **settings)


def tiny_model(arch: Arch, seed: int = 0):
    """The architecture's ``*ForCausalLM`` with random weights (seeded), in eval mode, float32."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.set_verbosity_error()  # tiny configs trip warnings about unusual sizes
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(tiny_config(arch)).eval()


def tiny_tokenizer(vocab_size: int = BASE["vocab_size"]):
    """A real word-level tokenizer: ids 0-3 are pad/bos/eos/unk, id i >= 4 is the word ``w<i>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS)}
    vocab.update({f"w{i}": i for i in range(len(SPECIALS), vocab_size)})
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
