"""What the decoder, the lanes and the self-check need from a chain model, as a protocol.

:class:`cola.engine.model.ChainModel` satisfies it. The modules that drive a chain forward
(:mod:`~cola.engine.lanes`, :mod:`~cola.engine.decoding`, :mod:`~cola.engine.selfcheck`)
type against this protocol rather than the class, so ``model`` can import them without
an import cycle, even one that only type checkers follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from cola.engine.anatomy import ModelAnatomy
from cola.engine.chain import Chain
from cola.engine.state import ChainCache, StepInputs


class ChainRunner(Protocol):
    """The forward parts of a chain model (see :class:`cola.engine.model.ChainModel` for each)."""

    model: Any  # the wrapped transformers model
    tokenizer: Any
    anatomy: ModelAnatomy

    @property
    def num_layers(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    def new_cache(self, chain: Chain) -> ChainCache: ...

    def eos_ids(self) -> list[int]: ...

    def embed(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor: ...

    def prepare(
        self,
        hidden: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor,
        cache: ChainCache | None,
        kinds: Sequence[str],
    ) -> StepInputs: ...

    def call_layer(
        self, layer_index: int, hidden: torch.Tensor, step: StepInputs, cache: Any, slot: int
    ) -> torch.Tensor: ...

    def head(self, hidden: torch.Tensor) -> torch.Tensor: ...

    def head_rows(self, hidden: Sequence[torch.Tensor], separate: bool = False) -> torch.Tensor: ...

    def prompt_step(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, StepInputs]: ...

    def forward(
        self,
        chain: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: ChainCache | None = None,
        logits_to_keep: int = 0,
    ) -> torch.Tensor: ...
