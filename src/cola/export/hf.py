"""The ``hf`` format: a materialized Hugging Face checkpoint of the chain.

The model is physically unrolled with :func:`cola.engine.unroll.unroll_model` (its
config's ``num_hidden_layers`` and, for mixed sliding/full attention models,
``layer_types`` rewritten) and saved with its tokenizer, so it loads with plain
``AutoModelForCausalLM.from_pretrained(dir)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cola.engine.chain import Chain, format_chain, validate_chain
from cola.errors import ColaError

if TYPE_CHECKING:
    from cola.engine.model import ChainModel


def check_exportable(model: ChainModel, chain: Chain) -> None:
    """Refuse a checkpoint export that would not compute the chain once reloaded.

    A model whose attention scale depends on the layer index (``model.anatomy.facts``
    names the config flag) would rescale every moved layer after a reload; only the full
    chain is safe to save as weights.
    """
    flag = model.anatomy.facts.index_dependent
    if flag and chain != tuple(range(model.num_layers)):
        raise ColaError(
            f"chain {format_chain(chain)} cannot be exported as a checkpoint: this model sets {flag}, so a "
            "layer's attention scale depends on its index and the reloaded model would rescale moved layers"
        )


def export_hf(model: ChainModel, chain: Sequence[int], out_dir: str | Path) -> Path:
    """Save the physically unrolled chain as a plain transformers checkpoint (+ tokenizer)."""
    from cola.engine.unroll import unroll_model

    chain = model.chain(chain) if not isinstance(chain, tuple) else validate_chain(chain, model.num_layers)
    check_exportable(model, chain)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unrolled = unroll_model(model.model, chain)
    unrolled.config.cola_chain = list(chain)  # provenance; transformers keeps unknown config keys
    unrolled.save_pretrained(out)
    if model.tokenizer is not None:
        model.tokenizer.save_pretrained(out)
    del unrolled
    return out
