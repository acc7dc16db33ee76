"""Running a pretrained model as an arbitrary chain of its decoder layers.

A chain like ``(0, 1, 2, 2, 3)`` runs layer 2 twice. Each *chain position* gets its own KV
cache slot (:class:`ChainCache`), so the second pass through layer 2 attends to the keys
and values it wrote on its second pass, exactly as a physically unrolled copy of the
model with five distinct layers would. Weights are shared, never copied. A slot's kind
(full attention or sliding window) follows the pretrained layer it runs, so Gemma-3's
sliding-window layers stay sliding wherever they appear in the chain.

The forward pass is split into :meth:`ChainModel.prepare` (positions, rotary tables,
masks: shared by every layer), :meth:`ChainModel.run_layers` (any slice of the chain) and
:meth:`ChainModel.head` so the search engine can resume a chain from a cached prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from transformers.cache_utils import Cache, DynamicLayer, DynamicSlidingWindowLayer
from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

from cola.anatomy import SLIDING, ModelAnatomy, inspect_model, text_config
from cola.chain import Chain, full_chain, parse_chain


class ChainCache(Cache):
    """A KV cache with one slot per chain position (not per pretrained layer)."""

    def __init__(self, slot_types: Sequence[str], sliding_window: int | None):
        layers = [
            DynamicSlidingWindowLayer(sliding_window=sliding_window) if kind == SLIDING else DynamicLayer()
            for kind in slot_types
        ]
        super().__init__(layers=layers)
        self.slot_types = tuple(slot_types)

    def first_slot_of(self, kind: str) -> int | None:
        return self.slot_types.index(kind) if kind in self.slot_types else None


class _SlotView:
    """Routes a layer's cache writes to its chain position's slot.

    Attention modules call ``cache.update(k, v, self.layer_idx)`` with their *pretrained*
    index; a looped layer would then overwrite its own earlier pass (the bug in public CoLa
    code). The view substitutes the chain position; everything else passes through.
    """

    __slots__ = ("_cache", "_slot")

    def __init__(self, cache: ChainCache, slot: int):
        self._cache = cache
        self._slot = slot

    def update(self, key_states, value_states, layer_idx=None, *args, **kwargs):
        return self._cache.update(key_states, value_states, self._slot, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._cache, name)


@dataclass
class StepInputs:
    """What every layer of one forward call shares: positions, rotary tables and masks."""

    position_ids: torch.Tensor
    position_embeddings: dict[str, tuple[torch.Tensor, torch.Tensor]]
    masks: dict[str, torch.Tensor | None]


@dataclass
class Generation:
    """A greedy continuation of one prompt."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    stopped_early: bool = False  # the caller's stop rule ended it before EOS / max_new_tokens


class ChainModel:
    """A causal LM whose forward pass runs a chain of its own decoder layers."""

    def __init__(self, model, tokenizer=None, name: str | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", type(model).__name__)
        self.anatomy: ModelAnatomy = inspect_model(model)
        self.config = text_config(model.config)

    @classmethod
    def from_pretrained(cls, name: str = "smollm2-135m", dtype=None, device: str | None = None) -> ChainModel:
        """Load an embedded model (``smollm2-135m``, ``gemma3-270m``), a local dir or a hub id."""
        from cola.models import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(name, dtype=dtype, device=device)
        return cls(model, tokenizer, name=name)

    # ----------------------------------------------------------------- basics
    @property
    def num_layers(self) -> int:
        return self.anatomy.num_layers

    @property
    def device(self) -> torch.device:
        return self.anatomy.embed.weight.device

    def chain(self, spec: str | Sequence[int] | None) -> Chain:
        """Parse and bound-check a chain spec against this model; ``None`` is the full model."""
        return full_chain(self.num_layers) if spec is None else parse_chain(spec, self.num_layers)

    def slot_types(self, chain: Chain) -> tuple[str, ...]:
        return tuple(self.anatomy.layer_types[layer] for layer in chain)

    def new_cache(self, chain: Chain) -> ChainCache:
        return ChainCache(self.slot_types(chain), self.anatomy.sliding_window)

    # ------------------------------------------------------------ forward parts
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.anatomy.embed(input_ids)

    def prepare(
        self,
        hidden: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor,
        cache: ChainCache | None,
        kinds: Sequence[str],
    ) -> StepInputs:
        """Rotary tables and attention masks for the attention kinds a chain uses."""
        rotary = self.anatomy.rotary
        position_embeddings = {}
        masks: dict[str, torch.Tensor | None] = {}
        for kind in sorted(set(kinds)):
            if rotary is not None:
                args = (hidden, position_ids, kind) if self.anatomy.rotary_per_layer_type else (hidden, position_ids)
                position_embeddings[kind] = rotary(*args)
            slot = cache.first_slot_of(kind) if cache is not None else None
            masks[kind] = self.attention_mask(kind, hidden, attention_mask, position_ids, cache, slot or 0)
        return StepInputs(position_ids, position_embeddings, masks)

    def attention_mask(self, kind: str, hidden: torch.Tensor, attention_mask: torch.Tensor | None,
                       position_ids: torch.Tensor, cache: Cache | None, slot: int) -> torch.Tensor | None:
        """The mask of one attention kind, in the format the model's attention implementation wants.

        Built by transformers' own mask functions (sized by ``cache`` slot ``slot``), so
        padding, sliding windows and eager/SDPA formats follow the library exactly.
        """
        make_mask = create_sliding_window_causal_mask if kind == SLIDING else create_causal_mask
        return make_mask(
            config=self.config,
            inputs_embeds=hidden,
            attention_mask=attention_mask,
            cache=cache,
            position_ids=position_ids,
            layer_idx=slot,
        )

    def run_layers(
        self,
        hidden: torch.Tensor,
        chain: Chain,
        step: StepInputs,
        cache: ChainCache | None,
        start: int = 0,
        stop: int | None = None,
    ) -> torch.Tensor:
        """Run chain positions ``start..stop-1``; slot ``p`` of ``cache`` belongs to position ``p``."""
        layers = self.anatomy.layers
        types = self.anatomy.layer_types
        for position in range(start, len(chain) if stop is None else stop):
            layer_index = chain[position]
            kind = types[layer_index]
            output = layers[layer_index](
                hidden,
                attention_mask=step.masks[kind],
                position_embeddings=step.position_embeddings.get(kind),
                position_ids=step.position_ids,
                cache=_SlotView(cache, position) if cache is not None else None,
            )
            hidden = output[0] if isinstance(output, tuple) else output
        return hidden

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final norm, LM head and (Gemma-style) logit soft-capping."""
        logits = self.anatomy.lm_head(self.anatomy.norm(hidden))
        cap = self.anatomy.final_logit_softcapping
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return logits

    @staticmethod
    def positions_for(attention_mask: torch.Tensor | None, length: int, past: int, batch: int,
                      device) -> torch.Tensor:
        """Token positions; with left padding a row's first real token is position 0."""
        if attention_mask is None:
            return (torch.arange(length, device=device) + past).unsqueeze(0).expand(batch, -1)
        positions = attention_mask.long().cumsum(-1) - 1
        return positions.clamp(min=0)[:, -length:]

    @torch.inference_mode()
    def forward(
        self,
        chain: Chain | str | Sequence[int] | None,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: ChainCache | None = None,
        logits_to_keep: int = 0,
    ) -> torch.Tensor:
        """Logits of ``input_ids`` through ``chain``; with ``cache``, continues from what it holds.

        ``attention_mask`` covers past and new tokens (2D, 1 = real token), as in transformers.
        """
        chain = self.chain(chain) if not isinstance(chain, tuple) else chain
        batch, length = input_ids.shape
        past = cache.get_seq_length(0) if cache is not None else 0
        hidden = self.embed(input_ids)
        positions = self.positions_for(attention_mask, length, past, batch, input_ids.device)
        step = self.prepare(hidden, attention_mask, positions, cache, self.slot_types(chain))
        hidden = self.run_layers(hidden, chain, step, cache)
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        return self.head(hidden)

    # --------------------------------------------------------------- generation
    def encode(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded token ids and mask; no second BOS when the text already starts with one."""
        tok = self.tokenizer
        bos = tok.bos_token
        add_special = not (bos and all(p.startswith(bos) for p in prompts))
        enc = tok(list(prompts), return_tensors="pt", padding=True, padding_side="left",
                  add_special_tokens=add_special)
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    @torch.inference_mode()
    def generate(
        self,
        prompts: str | Sequence[str],
        chain: Chain | str | Sequence[int] | None = None,
        max_new_tokens: int = 32,
        stop: Callable[[int, str], bool] | None = None,
    ) -> list[Generation]:
        """Greedy decoding with the chain and its per-position KV cache.

        ``stop(row, text_so_far)`` may end a row early (e.g. once its answer is complete);
        rows also end at EOS or after ``max_new_tokens``.
        """
        single = isinstance(prompts, str)
        prompts = [prompts] if single else list(prompts)
        chain = self.chain(chain) if not isinstance(chain, tuple) else chain
        input_ids, attention_mask = self.encode(prompts)
        results = self.greedy_decode(chain, input_ids, attention_mask, max_new_tokens, stop)
        return results

    def greedy_decode(self, chain, input_ids, attention_mask, max_new_tokens, stop=None,
                      cache: ChainCache | None = None, first_logits: torch.Tensor | None = None):
        """Decode from a prompt, or from a prefilled ``cache`` + ``first_logits`` (last position)."""
        batch = input_ids.shape[0]
        if cache is None:
            cache = self.new_cache(chain)
            first_logits = self.forward(chain, input_ids, attention_mask, cache, logits_to_keep=1)[:, -1]
        eos = set(self._eos_ids())
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        tokens: list[list[int]] = [[] for _ in range(batch)]
        done = [False] * batch
        early = [False] * batch
        logits = first_logits
        for step_index in range(max_new_tokens):
            next_ids = logits.argmax(-1)
            for row in range(batch):
                if done[row]:
                    continue
                token = int(next_ids[row])
                if token in eos:
                    done[row] = True
                    continue
                tokens[row].append(token)
                if stop is not None and stop(row, self.tokenizer.decode(tokens[row])):
                    done[row] = early[row] = True
            if all(done) or step_index == max_new_tokens - 1:
                break
            feed = torch.tensor([[pad if done[r] else int(next_ids[r])] for r in range(batch)],
                                device=input_ids.device)
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(batch, 1)], dim=1)
            logits = self.forward(chain, feed, attention_mask, cache, logits_to_keep=1)[:, -1]
        return [Generation(self.tokenizer.decode(t), t, e) for t, e in zip(tokens, early)]

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id if self.model.generation_config else None
        if ids is None:
            ids = self.tokenizer.eos_token_id
        return list(ids) if isinstance(ids, (list, tuple)) else [ids]


def load_slot(cache: ChainCache, slot: int, keys: torch.Tensor, values: torch.Tensor, seen: int) -> None:
    """Fill one slot of a fresh cache with KV computed earlier (tensors are shared, not copied).

    Safe to share: cache layers grow by concatenation into new tensors, never in place.
    """
    layer = cache.layers[slot]
    if not layer.is_initialized:
        layer.lazy_initialization(keys, values)
    layer.keys, layer.values = keys, values
    if hasattr(layer, "cumulative_length"):
        layer.cumulative_length = seen
