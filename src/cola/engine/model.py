"""Running a pretrained model as an arbitrary chain of its decoder layers.

:class:`ChainModel` wraps a loaded ``*ForCausalLM``. A chain like ``(0, 1, 2, 2, 3)``
runs layer 2 twice, each chain position with its own KV slot
(:class:`~cola.engine.state.ChainCache`); weights are shared, never copied.

The forward pass is split into :meth:`ChainModel.prepare` (positions, rotary tables,
masks: shared by every layer), :meth:`ChainModel.call_layer` (one layer at one chain
position), :meth:`ChainModel.run_layers` (a slice of the chain) and
:meth:`ChainModel.head`, so the evaluator can resume a chain from a cached prefix and
run many chains in lock-step (:mod:`cola.engine.lanes`). :meth:`ChainModel.generate`
decodes with the same lock-step decoder the evaluator uses (:mod:`cola.engine.decoding`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn
from transformers.cache_utils import Cache
from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

from cola.engine.anatomy import SLIDING, ModelAnatomy, inspect_model, text_config
from cola.engine.chain import Chain, full_chain, parse_chain
from cola.engine.decoding import Generation, decode_prompts
from cola.engine.state import ChainCache, SlotView, StepInputs
from cola.errors import ContextLengthError, UsageError


class ChainModel:
    """A causal LM whose forward pass runs a chain of its own decoder layers."""

    def __init__(self, model, tokenizer=None, name: str | None = None, self_check: bool = True):
        """Wrap ``model`` (put in eval mode) and, unless ``self_check=False``, verify it.

        The self-check (:mod:`cola.engine.selfcheck`) runs the full chain against the
        model's own forward on a small probe and raises
        :class:`~cola.errors.UnsupportedModelError` if they differ beyond the dtype's
        tolerance. Skipping it prints a warning: chains are then unverified.
        """
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", type(model).__name__)
        self.anatomy: ModelAnatomy = inspect_model(model)
        self.config = text_config(model.config)
        self.self_check_diff: float | None = None  # max |logit difference| the self-check measured
        if self_check:
            from cola.engine.selfcheck import check_against_stock

            self.self_check_diff = check_against_stock(self)
        else:
            warnings.warn(
                f"cola: self-check skipped for {type(model).__name__}: chain logits are not verified "
                "against the model's own forward",
                UserWarning,
                stacklevel=2,
            )

    @classmethod
    def from_pretrained(
        cls,
        name: str = "smollm2-135m",
        dtype: str | torch.dtype | None = "auto",
        device: str | None = "auto",
        self_check: bool = True,
    ) -> ChainModel:
        """Load an embedded model (``smollm2-135m``, ``gemma3-270m``), a local dir or a hub id.

        ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) and ``dtype`` (``auto``,
        ``float32``, ``bfloat16``, ``float16``): ``auto`` is CUDA in bfloat16 (float16 where
        bf16 is unsupported) when a GPU is present, else the CPU in float32.
        """
        from cola.engine.loading import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(name, dtype=dtype, device=device)
        return cls(model, tokenizer, name=name, self_check=self_check)

    # ----------------------------------------------------------------- basics
    @property
    def num_layers(self) -> int:
        return self.anatomy.num_layers

    @property
    def device(self) -> torch.device:
        return self.anatomy.embed.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.anatomy.embed.weight.dtype

    @property
    def context_length(self) -> int | None:
        """Token positions the model was trained for (``max_position_embeddings``), if its config says."""
        value = getattr(self.config, "max_position_embeddings", None)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    def check_fits(self, prompt_tokens: int, new_tokens: int = 0, what: str = "the prompt") -> None:
        """Refuse an empty prompt, or one that with ``new_tokens`` more runs past the context window.

        Positions past the trained context give silently degraded answers, so they are an
        error naming both lengths, never a truncation the user did not ask for.
        """
        if prompt_tokens < 1:
            raise ContextLengthError(f"{what} is empty: it encodes to no tokens")
        limit = self.context_length
        if limit is not None and prompt_tokens + new_tokens > limit:
            plus = f" + {new_tokens} new tokens" if new_tokens else ""
            raise ContextLengthError(
                f"{what} is {prompt_tokens} tokens{plus}, past the {limit}-token context of {self.name}; "
                f"shorten it{' or lower max_new_tokens' if new_tokens else ''}"
            )

    def chain(self, spec: str | Sequence[int] | None, max_length: int | None = None) -> Chain:
        """Parse and bound-check a chain spec against this model; ``None`` is the full model.

        A text spec may name at most ``max_length`` positions (default: 4 x the depth).
        """
        return full_chain(self.num_layers) if spec is None else parse_chain(spec, self.num_layers, max_length)

    def slot_types(self, chain: Chain) -> tuple[str, ...]:
        return tuple(self.anatomy.layer_types[layer] for layer in chain)

    def new_cache(self, chain: Chain) -> ChainCache:
        return ChainCache(self.slot_types(chain), self.anatomy.sliding_window)

    def eos_ids(self) -> list[int]:
        """Token ids that end a generation (the generation config's, else the tokenizer's)."""
        ids = self.model.generation_config.eos_token_id if self.model.generation_config else None
        if ids is None:
            ids = self.tokenizer.eos_token_id
        return list(ids) if isinstance(ids, (list, tuple)) else [ids]

    # ------------------------------------------------------------ forward parts
    def embed(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        """The hidden states entering layer 0 for tokens at ``position_ids``, as the model makes them.

        Besides the lookup: an embedding multiplier (Granite), an input projection (OPT)
        and learned absolute positions (GPT-2, OPT), as :class:`~cola.engine.facts.ModelFacts`
        found them.
        """
        facts = self.anatomy.facts
        hidden = self.anatomy.embed(input_ids)
        if facts.embedding_multiplier is not None:
            hidden = hidden * facts.embedding_multiplier
        if facts.project_in is not None:
            hidden = facts.project_in(hidden)
        if facts.position_table is not None:
            positions = position_ids + facts.position_offset
            hidden = hidden + nn.Embedding.forward(facts.position_table, positions).to(hidden.device)
        return hidden

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
                args = (
                    (hidden, position_ids, kind)
                    if self.anatomy.rotary_per_layer_type
                    else (hidden, position_ids)
                )
                position_embeddings[kind] = rotary(*args)
            slot = cache.first_slot_of(kind) if cache is not None else None
            masks[kind] = self.attention_mask(kind, hidden, attention_mask, position_ids, cache, slot or 0)
        return StepInputs(position_ids, position_embeddings, masks)

    def attention_mask(
        self,
        kind: str,
        hidden: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor,
        cache: Cache | None,
        slot: int,
    ) -> torch.Tensor | None:
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

    def call_layer(
        self, layer_index: int, hidden: torch.Tensor, step: StepInputs, cache: Cache | None, slot: int
    ) -> torch.Tensor:
        """Run pretrained layer ``layer_index`` at chain position ``slot`` (its KV goes to that slot)."""
        kind = self.anatomy.layer_types[layer_index]
        call = self.anatomy.facts.layer_call
        kwargs = {
            call.cache_keyword: SlotView(cache, slot) if cache is not None else None,
            "attention_mask": step.masks[kind],
        }
        rotary = step.position_embeddings.get(kind)
        if rotary is not None:
            kwargs["position_embeddings"] = rotary
        if call.accepts("position_ids"):
            kwargs["position_ids"] = step.position_ids
        for name in call.null_arguments:
            kwargs[name] = None
        output = self.anatomy.layers[layer_index](hidden, **kwargs)
        return output[0] if isinstance(output, tuple) else output

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
        for position in range(start, len(chain) if stop is None else stop):
            hidden = self.call_layer(chain[position], hidden, step, cache, position)
        return hidden

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final norm, output projection (OPT), LM head, logit scaling (Cohere, Granite), soft-capping (Gemma-2)."""
        anatomy, facts = self.anatomy, self.anatomy.facts
        if anatomy.norm is not None:
            hidden = anatomy.norm(hidden)
        if facts.project_out is not None:
            hidden = facts.project_out(hidden)
        logits = anatomy.lm_head(hidden)
        if facts.logit_multiplier is not None:
            logits = logits * facts.logit_multiplier
        if facts.logit_divisor is not None:
            logits = logits / facts.logit_divisor
        cap = facts.logit_softcap
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def head_rows(self, hidden: Sequence[torch.Tensor], separate: bool = False) -> torch.Tensor:
        """:meth:`head` of several ``[1, T, H]`` states: one batched call, or one call each (``separate``)."""
        if separate:
            return torch.cat([self.head(h) for h in hidden])
        return self.head(torch.cat(list(hidden)))

    @staticmethod
    def positions_for(
        attention_mask: torch.Tensor | None, length: int, past: int, batch: int, device
    ) -> torch.Tensor:
        """Token positions; with left padding a row's first real token is position 0."""
        if attention_mask is None:
            return (torch.arange(length, device=device) + past).unsqueeze(0).expand(batch, -1)
        positions = attention_mask.long().cumsum(-1) - 1
        return positions.clamp(min=0)[:, -length:]

    def prompt_step(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, StepInputs]:
        """Embeddings and step inputs of one unpadded prompt read from an empty cache."""
        positions = self.positions_for(None, input_ids.shape[1], 0, input_ids.shape[0], input_ids.device)
        hidden = self.embed(input_ids, positions)
        return hidden, self.prepare(hidden, None, positions, None, set(self.anatomy.layer_types))

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
        positions = self.positions_for(attention_mask, length, past, batch, input_ids.device)
        hidden = self.embed(input_ids, positions)
        step = self.prepare(hidden, attention_mask, positions, cache, self.slot_types(chain))
        hidden = self.run_layers(hidden, chain, step, cache)
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        return self.head(hidden)

    # --------------------------------------------------------------- generation
    def count_tokens(self, prompt: str) -> int:
        """How many tokens :meth:`encode` gives ``prompt`` (special tokens included)."""
        bos = self.tokenizer.bos_token
        add_special = not (bos and prompt.startswith(bos))
        return len(self.tokenizer(prompt, add_special_tokens=add_special)["input_ids"])

    def encode(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded token ids and mask; no second BOS when the text already starts with one."""
        tok = self.tokenizer
        bos = tok.bos_token
        add_special = not (bos and all(p.startswith(bos) for p in prompts))
        enc = tok(
            list(prompts),
            return_tensors="pt",
            padding=True,
            padding_side="left",
            add_special_tokens=add_special,
        )
        for row, length in enumerate(enc["attention_mask"].sum(-1).tolist() if prompts else []):
            self.check_fits(int(length), what="the prompt" if len(prompts) == 1 else f"prompt {row}")
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    @torch.inference_mode()
    def generate(
        self,
        prompts: str | Sequence[str],
        chain: Chain | str | Sequence[int] | None = None,
        max_new_tokens: int = 32,
        stop: Callable[[int, str], bool] | None = None,
        draft: bool = True,
    ) -> list[Generation]:
        """Greedy decoding of each prompt with the chain and its per-position KV cache.

        Each prompt is read on its own (no padding inside a prompt's prefill) and all of
        them decode together in lock-step. ``stop(row, text_so_far)`` may end a row early
        (e.g. once its answer is complete); rows also end at EOS or after ``max_new_tokens``.
        ``draft``: check drafted tokens several at a time (:mod:`cola.engine.drafting`);
        the greedy text is the same, in fewer sequential steps.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise UsageError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        chain = self.chain(chain) if not isinstance(chain, tuple) else chain
        stops = [
            None if stop is None else (lambda text, row=row: stop(row, text)) for row in range(len(prompts))
        ]
        encoded = [self.encode([p])[0] for p in prompts]
        for row, ids in enumerate(encoded):
            self.check_fits(
                ids.shape[1], max_new_tokens, "the prompt" if len(prompts) == 1 else f"prompt {row}"
            )
        return decode_prompts(self, chain, encoded, max_new_tokens, stops, draft=draft).generations
