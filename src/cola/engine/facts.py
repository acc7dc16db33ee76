"""What a chain forward must do besides "embed -> layers -> final norm -> LM head", as data.

Decoder-only architectures differ in a few small steps around the layer stack, and a
chain of layers must reproduce each of them or its logits are silently wrong: Granite
multiplies the embeddings and divides the logits, Cohere multiplies the logits, GPT-2 and
OPT add learned absolute positions (OPT's table is offset by 2 and projected in and out),
GPT-NeoX and Falcon name the layer's KV-cache argument ``layer_past``, Falcon without
ALiBi still wants an explicit ``alibi=None``. :func:`read_facts` finds each of these in
the loaded model's config and module tree through the tables below (names of config
attributes, decoder children and layer arguments), never from the model's class name.
Adding an architecture that uses a known step under a new name is one table entry.

What cannot be reproduced is refused up front by :func:`unsupported_reason` (one line:
encoder-decoders, state-space and recurrent stacks, ALiBi). Whatever the tables miss is
caught when the model is wrapped: :mod:`cola.engine.selfcheck` compares the chain with the
model's own forward and refuses the model if they differ.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

# The layer's KV-cache argument, under the names transformers has used for it.
CACHE_KEYWORDS = ("cache", "past_key_values", "past_key_value", "layer_past")
# Config attributes. Embeddings are multiplied by the first right after the lookup
# (Granite); logits are multiplied by the second (Cohere), divided by the third
# (Granite), and soft-capped by the fourth (Gemma-2: cap * tanh(logits / cap)).
EMBEDDING_MULTIPLIERS = ("embedding_multiplier",)
LOGIT_MULTIPLIERS = ("logit_scale",)
LOGIT_DIVISORS = ("logits_scaling",)
LOGIT_SOFTCAPS = ("final_logit_softcapping",)
# Children of the decoder. A learned absolute-position table added to the embeddings
# (GPT-2 ``wpe``, OPT ``embed_positions``; a table's ``offset`` attribute shifts the
# index, OPT: 2), and linear maps right after the embedding and right after the final
# norm (OPT's ``project_in`` / ``project_out`` when its embedding width differs).
POSITION_TABLES = ("wpe", "embed_positions")
INPUT_PROJECTIONS = ("project_in",)
OUTPUT_PROJECTIONS = ("project_out",)
# ALiBi: per-head linear position biases. Read from the config first, so the answer does
# not hang on a layer signature that transformers may change between releases (Falcon's
# layer dropped its ``alibi`` argument in 5.25 while ``FalconConfig.alibi`` stayed): a flag
# the config sets (Falcon's ``alibi``) decides; a model type built on ALiBi with no flag
# (Bloom) always uses it; failing both, a layer argument of that name means it is used.
ALIBI_FLAGS = ("alibi",)
ALIBI_MODEL_TYPES = ("bloom",)
ALIBI_ARGUMENTS = ("alibi",)
# Layer arguments cola supplies on every call (the hidden states come first, by position).
SUPPLIED_ARGUMENTS = frozenset({"attention_mask", "position_ids", "position_embeddings", *CACHE_KEYWORDS})
# Config flags that make a layer's arithmetic depend on its index in the stack (GPT-2's
# ``scale_attn_by_inverse_layer_idx`` divides attention scores by index + 1). A chain keeps
# each layer's own scale, but a checkpoint of the unrolled chain, once reloaded, would
# rescale every layer by its new position: such chains cannot be exported as checkpoints.
INDEX_DEPENDENT_FLAGS = ("scale_attn_by_inverse_layer_idx",)
# Per-layer attention kinds that run with a KV cache slot (``config.layer_types`` values).
ATTENTION_KINDS = ("full_attention", "sliding_attention")


@dataclass(frozen=True)
class LayerCall:
    """How to call one decoder layer: its cache keyword and what else it accepts."""

    cache_keyword: str
    accepts_any: bool  # the layer takes **kwargs
    accepted: frozenset[str]
    null_arguments: tuple[str, ...] = ()  # required arguments this config leaves unused (passed as None)

    def accepts(self, name: str) -> bool:
        return self.accepts_any or name in self.accepted


@dataclass(frozen=True)
class ModelFacts:
    """The steps around the layer stack, as found in one loaded model."""

    layer_call: LayerCall
    embedding_multiplier: float | None = None
    position_table: nn.Embedding | None = None  # indexed by position + position_offset
    position_offset: int = 0
    project_in: nn.Module | None = None
    project_out: nn.Module | None = None
    logit_multiplier: float | None = None
    logit_divisor: float | None = None
    logit_softcap: float | None = None
    index_dependent: str | None = None  # the INDEX_DEPENDENT_FLAGS entry the config sets, if any


def _config_value(config, names: Sequence[str]) -> float | None:
    """The first of ``names`` the config sets to a number (multiplying by 1.0 changes no bit)."""
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _child(decoder: nn.Module, names: Sequence[str], kind: type[nn.Module] = nn.Module) -> nn.Module | None:
    for name in names:
        module = getattr(decoder, name, None)
        if isinstance(module, kind):
            return module
    return None


def _parameters(layer: nn.Module) -> list[inspect.Parameter]:
    return list(inspect.signature(layer.forward).parameters.values())[1:]  # after hidden_states


def _uses_alibi(config, layer: nn.Module) -> bool:
    for flag in ALIBI_FLAGS:
        value = getattr(config, flag, None)
        if isinstance(value, bool):
            return value
    if getattr(config, "model_type", None) in ALIBI_MODEL_TYPES:
        return True
    return bool({p.name for p in _parameters(layer)} & set(ALIBI_ARGUMENTS))


def layer_call(config, layer: nn.Module) -> LayerCall | str:
    """How to call ``layer``, or why cola cannot (one line)."""
    params = _parameters(layer)
    names = {p.name for p in params}
    cache = next((name for name in CACHE_KEYWORDS if name in names), None)
    if cache is None:
        shown = ", ".join(p.name for p in params) or "nothing"
        return (
            f"its decoder layers take no KV-cache argument (they take {shown}): a recurrent or "
            "state-space stack, which cola does not run"
        )
    if _uses_alibi(config, layer):
        return "it uses ALiBi position biases, which cola does not support (rotary and learned positions are)"
    required = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    nulls = tuple(name for name in required if name in ALIBI_ARGUMENTS)
    unknown = [name for name in required if name not in SUPPLIED_ARGUMENTS and name not in nulls]
    if unknown:
        return f"its decoder layers need argument(s) {', '.join(unknown)}, which cola does not supply"
    return LayerCall(
        cache_keyword=cache,
        accepts_any=any(p.kind is p.VAR_KEYWORD for p in params),
        accepted=frozenset(names),
        null_arguments=nulls,
    )


def read_facts(config, decoder: nn.Module, call: LayerCall) -> ModelFacts:
    """The facts of a model whose decoder (owner of the layer stack) is ``decoder``."""
    table = _child(decoder, POSITION_TABLES, nn.Embedding)
    return ModelFacts(
        layer_call=call,
        embedding_multiplier=_config_value(config, EMBEDDING_MULTIPLIERS),
        position_table=table,
        position_offset=int(getattr(table, "offset", 0) or 0) if table is not None else 0,
        project_in=_child(decoder, INPUT_PROJECTIONS),
        project_out=_child(decoder, OUTPUT_PROJECTIONS),
        logit_multiplier=_config_value(config, LOGIT_MULTIPLIERS),
        logit_divisor=_config_value(config, LOGIT_DIVISORS),
        logit_softcap=_config_value(config, LOGIT_SOFTCAPS),
        index_dependent=next(
            (flag for flag in INDEX_DEPENDENT_FLAGS if getattr(config, flag, False) is True), None
        ),
    )


def unsupported_kinds(layer_types: Sequence[str]) -> str | None:
    """Why layers of these kinds cannot be chained (state-space, linear attention), or None."""
    other = sorted(set(layer_types) - set(ATTENTION_KINDS))
    if not other:
        return None
    return (
        f"its layers are of kind {', '.join(other)}: cola chains attention layers (full or sliding "
        "window) with a KV cache, not state-space, recurrent or linear-attention layers"
    )
