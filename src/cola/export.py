"""Exporting a chain of layers so other tools can run it without cola.

Three formats (``cola export --format ...``):

``mergekit``
    A mergekit *passthrough* recipe: one slice per maximal run of consecutive ascending
    layers, each ``layer_range: [a, b]`` half-open, as mergekit reads it. Any chain can be
    written this way (a lone, repeated or out-of-order layer is a slice of length one).
    :func:`chain_from_mergekit_yaml` reads such a recipe back.

``hf``
    A materialized Hugging Face checkpoint: the model physically unrolled with
    :func:`cola.engine.unroll.unroll_model` (its config's ``num_hidden_layers`` and, for mixed
    sliding/full attention models, ``layer_types`` rewritten), saved with its tokenizer.
    It loads with plain ``AutoModelForCausalLM.from_pretrained(dir)``.

``peft``
    A PEFT LoRA adapter whose ``layer_replication`` stacks the chain's runs of layers
    (weights shared with the base model). The LoRA update starts at zero (``B = 0``), so
    the adapter computes exactly the chain. Every chain is a concatenation of half-open
    ranges, but PEFT only rebuilds the layer list and ``num_hidden_layers``: it leaves the
    config's per-position ``layer_types`` alone, and models with mixed attention kinds
    (Gemma-3: sliding window + full) choose each position's mask from that list. Such a
    chain is expressible only if it is no longer than the model and every position keeps
    the attention kind of the original layer at that position; otherwise
    :func:`peft_layer_replication` raises :class:`~cola.errors.ColaError` saying so.

Every format refuses a non-empty ``--out`` unless ``--force``, which replaces it whole:
the export is written to a staging directory and renamed into place (:mod:`cola.outputs`),
so a target is never a merge of two exports.

May import: cola.errors, cola.engine, cola.outputs
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cola.engine.chain import Chain, format_chain, parse_chain, validate_chain
from cola.errors import ColaError, ModelNotFoundError
from cola.outputs import EXPORT, MERGEKIT_RECIPE, check_target, output_path, staged_dir, write_file_atomic

FORMATS = ("mergekit", "hf", "peft")
MERGEKIT_DTYPES = ("float32", "float16", "bfloat16")


# ------------------------------------------------------------------------ ranges
def chain_ranges(chain: Sequence[int]) -> list[tuple[int, int]]:
    """Half-open ``[start, end)`` ranges, one per maximal run of consecutive ascending layers.

    ``(0, 1, 2, 2, 3, 7, 5)`` gives ``[(0, 3), (2, 4), (7, 8), (5, 6)]``; concatenating
    ``range(start, end)`` over the result gives the chain back.
    """
    items = validate_chain(chain)
    ranges: list[tuple[int, int]] = []
    start = prev = items[0]
    for layer in items[1:]:
        if layer == prev + 1:
            prev = layer
            continue
        ranges.append((start, prev + 1))
        start = prev = layer
    ranges.append((start, prev + 1))
    return ranges


def chain_from_ranges(ranges: Sequence[Sequence[int]], num_layers: int | None = None) -> Chain:
    """The chain that stacks half-open ``[start, end)`` ranges in order."""
    layers: list[int] = []
    for item in ranges:
        if len(item) != 2:
            raise ColaError(f"layer range {list(item)!r} must be a pair [start, end)")
        start, end = item
        if (
            isinstance(start, bool)
            or isinstance(end, bool)
            or not isinstance(start, int)
            or not isinstance(end, int)
        ):
            raise ColaError(f"layer range {list(item)!r} must hold integers")
        if end <= start:
            raise ColaError(f"layer range [{start}, {end}) is empty: ranges are half-open, end > start")
        layers.extend(range(start, end))
    return validate_chain(layers, num_layers)


# ---------------------------------------------------------------------- mergekit
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
    """The passthrough recipe as YAML text, with a header comment naming the chain."""
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


# -------------------------------------------------------------------------- peft
def peft_layer_replication(chain: Sequence[int], layer_types: Sequence[str] | None = None) -> list[list[int]]:
    """PEFT ``LoraConfig.layer_replication`` ranges for ``chain``, or a ColaError why not.

    ``layer_types`` are the model's per-layer attention kinds. When they are mixed, PEFT's
    replicated model still picks each *position*'s attention mask from the unchanged
    ``config.layer_types``, so the chain must not be longer than the model and position
    ``p`` must run a layer of the same kind as layer ``p``.
    """
    chain = validate_chain(chain, len(layer_types) if layer_types else None)
    if layer_types and len(set(layer_types)) > 1:
        num_layers = len(layer_types)
        if len(chain) > num_layers:
            raise ColaError(
                f"chain {format_chain(chain)} cannot be a PEFT layer_replication: it has {len(chain)} "
                f"positions but this model mixes attention kinds ({', '.join(sorted(set(layer_types)))}) and "
                f"PEFT keeps the config's {num_layers}-entry layer_types, so positions past {num_layers - 1} "
                f"have no attention kind; use --format hf (which rewrites layer_types) instead"
            )
        clashes = [
            (position, layer)
            for position, layer in enumerate(chain)
            if layer_types[layer] != layer_types[position]
        ]
        if clashes:
            shown = ", ".join(
                f"position {p} runs layer {layer} ({layer_types[layer]}) where the config says {layer_types[p]}"
                for p, layer in clashes[:3]
            )
            more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
            raise ColaError(
                f"chain {format_chain(chain)} cannot be a PEFT layer_replication: this model mixes attention "
                f"kinds and PEFT leaves config.layer_types unchanged, so each position keeps the original "
                f"position's mask: {shown}{more}; use --format hf (which rewrites layer_types) instead"
            )
    return [[start, end] for start, end in chain_ranges(chain)]


def _lora_target(layer) -> str:
    """A Linear sub-module name of a decoder layer, to hang the (zero) LoRA update on."""
    from torch import nn

    for name, module in layer.named_modules():
        if isinstance(module, nn.Linear):
            return name.rsplit(".", 1)[-1]
    raise ColaError("the decoder layers have no Linear module for a LoRA adapter")


def _check_peft_layout(model) -> None:
    """PEFT finds the stack at ``model(.model)*.layers``; make sure that is cola's stack."""
    from cola.engine.anatomy import inspect_model

    anatomy = inspect_model(model)
    inner = model
    while hasattr(inner, "model"):
        inner = inner.model
    if getattr(inner, "layers", None) is not anatomy.layers:
        raise ColaError(
            f"PEFT layer_replication cannot find the decoder stack of {type(model).__name__} "
            f"(it looks for model.model...layers); use --format hf instead"
        )


def peft_adapter_config(
    model_ref: str,
    chain: Sequence[int],
    layer_types: Sequence[str] | None = None,
    target_modules: Sequence[str] = ("q_proj",),
) -> dict[str, Any]:
    """An ``adapter_config.json``-like dict: a rank-1 LoRA with ``layer_replication`` set."""
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": str(model_ref),
        "layer_replication": peft_layer_replication(chain, layer_types),
        "r": 1,
        "lora_alpha": 1,
        "lora_dropout": 0.0,
        "target_modules": list(target_modules),
        "bias": "none",
        "inference_mode": True,
    }


def export_peft(
    model, chain: Sequence[int], out_dir: str | Path, model_ref: str | None = None, config_only: bool = False
) -> Path:
    """Write a PEFT adapter dir that replays ``chain`` on the base model (``model`` is a ChainModel).

    With ``peft`` installed (and not ``config_only``) this is a real adapter:
    ``PeftModel.from_pretrained(base, out_dir)`` runs the chain (LoRA weights start at zero,
    so the output is exactly the chain's). Otherwise only ``adapter_config.json`` is written.
    """
    chain = model.chain(chain) if not isinstance(chain, tuple) else validate_chain(chain, model.num_layers)
    check_exportable(model, chain)
    layer_types = model.anatomy.layer_types
    ref = model_ref or model.name
    replication = peft_layer_replication(chain, layer_types)
    _check_peft_layout(model.model)
    target = _lora_target(model.anatomy.layers[0])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        if config_only:
            raise ImportError
        import peft
    except ImportError:
        config = peft_adapter_config(ref, chain, layer_types, target_modules=[target])
        (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
        return out
    import copy

    config = peft.LoraConfig(
        r=1,
        lora_alpha=1,
        lora_dropout=0.0,
        target_modules=[target],
        layer_replication=replication,
        task_type="CAUSAL_LM",
        init_lora_weights=True,
        bias="none",
    )
    base = copy.deepcopy(model.model)  # PEFT replaces the layer list in place
    wrapped = peft.get_peft_model(base, config)
    wrapped.peft_config["default"].base_model_name_or_path = ref
    # save_embedding_layers=False: the embeddings are untouched; skip PEFT's hub look-up of the base config.
    wrapped.save_pretrained(out, save_embedding_layers=False)
    return out


# ---------------------------------------------------------------------------- hf
def check_exportable(model, chain: Chain) -> None:
    """Refuse a checkpoint export that would not compute the chain once reloaded."""
    flag = model.anatomy.facts.index_dependent
    if flag and chain != tuple(range(model.num_layers)):
        raise ColaError(
            f"chain {format_chain(chain)} cannot be exported as a checkpoint: this model sets {flag}, so a "
            "layer's attention scale depends on its index and the reloaded model would rescale moved layers"
        )


def export_hf(model, chain: Sequence[int], out_dir: str | Path) -> Path:
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


# -------------------------------------------------------------------- dispatcher
def _position_type_notes(chain: Chain, layer_types: Sequence[str]) -> list[str]:
    """Warn when a mergekit passthrough merge would leave a mixed-attention config inconsistent."""
    if len(set(layer_types)) <= 1:
        return []
    if len(chain) <= len(layer_types) and all(layer_types[c] == layer_types[p] for p, c in enumerate(chain)):
        return []
    wanted = ", ".join(layer_types[c] for c in chain)
    return [
        "this model mixes attention kinds and mergekit keeps the base config's layer_types;",
        f"set layer_types in the merged config.json to: [{wanted}]",
    ]


def _model_ref(name: str) -> str:
    from cola.engine.loading import EMBEDDED_MODELS, resolve_model_path

    return resolve_model_path(name) if name in EMBEDDED_MODELS else name


def export_chain(
    model_name: str,
    chain_spec: str | Sequence[int],
    fmt: str,
    out: str | Path,
    dtype: str = "float32",
    model=None,
    device: str | None = "auto",
    self_check: bool = True,
    force: bool = False,
    max_length: int | None = None,
) -> Path:
    """Export ``chain_spec`` of ``model_name`` in ``fmt``; returns the written file or directory.

    A non-empty ``out`` is refused unless ``force``, which replaces it whole (staged, then
    renamed into place: see :mod:`cola.outputs`). ``model`` (a loaded
    :class:`cola.engine.ChainModel`) avoids loading weights again; ``max_length`` bounds a
    text spec's length (default: 4 x the model's layers).
    """
    if fmt not in FORMATS:
        raise ColaError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    parse_chain(chain_spec, max_length=max_length)  # a malformed spec fails before anything is loaded
    out = output_path(out)
    yaml_file = fmt == "mergekit" and out.suffix.lower() in (".yaml", ".yml")
    kind = MERGEKIT_RECIPE if yaml_file else EXPORT
    check_target(out, force, is_dir=not yaml_file, kind=kind)  # and so does a target in the way
    ref = _model_ref(model_name)
    if fmt == "mergekit":
        text = _mergekit_text(ref, chain_spec, dtype, model, max_length)
        if yaml_file:
            return write_file_atomic(out, text, force)
        with staged_dir(out, force) as staging:
            (staging / "mergekit.yaml").write_text(text)
        return out / "mergekit.yaml"
    if model is None:
        from cola.engine.model import ChainModel

        model = ChainModel.from_pretrained(model_name, dtype=dtype, device=device, self_check=self_check)
    chain = model.chain(chain_spec, max_length=max_length)
    with staged_dir(out, force) as staging:
        if fmt == "hf":
            export_hf(model, chain, staging)
        else:
            export_peft(model, chain, staging, model_ref=ref)
    return out


def _mergekit_text(ref: str, chain_spec, dtype: str, model, max_length: int | None) -> str:
    """The recipe text; the depth comes from ``model`` or, without one, from the config alone."""
    from transformers import AutoConfig

    from cola.engine.anatomy import _layer_types, text_config

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
        layer_types = _layer_types(config, num_layers)
    chain = parse_chain(chain_spec, num_layers, max_length)
    return mergekit_yaml(ref, chain, dtype, notes=_position_type_notes(chain, layer_types))
