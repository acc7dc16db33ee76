"""The ``mergekit`` format: a mergekit *passthrough* recipe that stacks the chain's layers.

One slice per maximal run of consecutive ascending layers (:func:`cola.export.ranges.chain_ranges`),
each ``layer_range: [a, b]`` half-open, as mergekit reads it. Any chain can be written this
way (a lone, repeated or out-of-order layer is a slice of length one).
:func:`chain_from_mergekit_yaml` reads such a recipe back. Writing one needs only the
model's config (its depth and attention kinds), never its weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cola.engine.chain import Chain, format_chain, parse_chain, validate_chain
from cola.errors import ColaError, ModelNotFoundError
from cola.export.ranges import chain_from_ranges, chain_ranges

if TYPE_CHECKING:
    from cola.engine.model import ChainModel

MERGEKIT_DTYPES = ("float32", "float16", "bfloat16")


def mergekit_config(model_ref: str, chain: Sequence[int], dtype: str = "float32") -> dict[str, Any]:
    """The passthrough merge recipe (as a dict) that builds ``chain`` from ``model_ref``."""
    if dtype not in MERGEKIT_DTYPES:
        raise ColaError(f"unknown dtype {dtype!r} for mergekit; use one of {', '.join(MERGEKIT_DTYPES)}")
    return {
        "slices": [
            {"sources": [{"model": str(model_ref), "layer_range": [start, end]}]}
            for start, end in chain_ranges(chain)
        ],
        "merge_method": "passthrough",
        "dtype": dtype,
    }


def mergekit_yaml(
    model_ref: str, chain: Sequence[int], dtype: str = "float32", notes: Sequence[str] = ()
) -> str:
    """The passthrough recipe as YAML text, with a header comment naming the chain.

    The header's first line (``# cola chain ...``) is also how :mod:`cola.outputs`
    recognises an earlier recipe that ``--force`` may replace.
    """
    import yaml

    chain = validate_chain(chain)
    header = [
        f"# cola chain {format_chain(chain)} ({len(chain)} layers)",
        "# layer_range is half-open [start, end), as mergekit reads it",
        *(f"# NOTE: {note}" for note in notes),
    ]
    body = yaml.safe_dump(mergekit_config(model_ref, chain, dtype), sort_keys=False, default_flow_style=None)
    return "\n".join(header) + "\n" + body


def chain_from_mergekit_yaml(text: str, num_layers: int | None = None) -> Chain:
    """Read the chain back from a mergekit passthrough recipe (one source per slice)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ColaError(f"not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("slices"), list) or not data["slices"]:
        raise ColaError("not a mergekit slices recipe: it needs a non-empty 'slices' list")
    method = data.get("merge_method")
    if method != "passthrough":
        raise ColaError(f"merge_method is {method!r}; only a passthrough merge is a chain of layers")
    ranges = []
    models = set()
    for index, piece in enumerate(data["slices"]):
        sources = piece.get("sources") if isinstance(piece, dict) else None
        if not isinstance(sources, list) or len(sources) != 1 or not isinstance(sources[0], dict):
            raise ColaError(f"slice {index} must have exactly one source for a passthrough chain")
        source = sources[0]
        if "layer_range" not in source:
            raise ColaError(f"slice {index} has no layer_range")
        models.add(str(source.get("model")))
        ranges.append(list(source["layer_range"]))
    if len(models) > 1:
        raise ColaError(f"the recipe stacks layers of several models ({sorted(models)}); a chain uses one")
    return chain_from_ranges(ranges, num_layers)


def position_type_notes(chain: Chain, layer_types: Sequence[str]) -> list[str]:
    """Notes for the recipe when a passthrough merge would leave a mixed-attention config inconsistent.

    mergekit copies the base config's per-position ``layer_types``; when the chain moves a
    layer to a position of another attention kind (or runs past the model's depth) the
    merged config must be fixed by hand, so the recipe says what to set.
    """
    if len(set(layer_types)) <= 1:
        return []
    if len(chain) <= len(layer_types) and all(layer_types[c] == layer_types[p] for p, c in enumerate(chain)):
        return []
    wanted = ", ".join(layer_types[c] for c in chain)
    return [
        "this model mixes attention kinds and mergekit keeps the base config's layer_types;",
        f"set layer_types in the merged config.json to: [{wanted}]",
    ]


def mergekit_text(
    ref: str,
    chain_spec: str | Sequence[int],
    dtype: str,
    model: ChainModel | None = None,
    max_length: int | None = None,
) -> str:
    """The recipe text; the depth comes from ``model`` or, without one, from the config alone.

    Reading only ``config.json`` keeps a recipe export from loading (or even downloading)
    the weights it never writes.
    """
    from transformers import AutoConfig

    from cola.engine.anatomy import layer_types_of, text_config

    if model is not None:
        num_layers, layer_types = model.num_layers, model.anatomy.layer_types
    else:
        try:
            config = text_config(AutoConfig.from_pretrained(ref))
        except (OSError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelNotFoundError(
                f"model {ref!r} not found: no config.json to read its depth from ({reason})"
            ) from None
        num_layers = int(config.num_hidden_layers)
        layer_types = layer_types_of(config, num_layers)
    chain = parse_chain(chain_spec, num_layers, max_length)
    return mergekit_yaml(ref, chain, dtype, notes=position_type_notes(chain, layer_types))
