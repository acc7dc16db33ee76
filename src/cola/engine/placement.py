"""Where a model runs and in which precision: ``--device`` and ``--dtype`` for every command.

``auto`` means what the people this tool is for use: a CUDA GPU in bfloat16 (float16 on
GPUs without bf16) when one is present, otherwise the CPU in float32. Anything else is
taken literally and checked against this machine, so ``--device cuda`` on a machine
without CUDA is a one-line error, not a traceback from deep inside torch.

The dtype changes results (reduced precision rounds differently), so a run records the
concrete dtype it resolved to; the device does not change what a correct run computes,
so it is a runtime choice only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cola.errors import PlacementError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}


@dataclass(frozen=True)
class Placement:
    """A resolved device and dtype (never ``auto``)."""

    device: str  # "cpu", "cuda", "cuda:1", "mps"
    dtype: str  # a key of DTYPES
    device_auto: bool = False  # chosen by ``auto``
    dtype_auto: bool = False

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def describe(self) -> str:
        """One line for the start of a command, e.g. ``device cpu (auto: no CUDA GPU), dtype float32 (auto)``."""
        name = self.device
        if self.device.startswith("cuda"):
            index = torch.device(self.device).index or 0
            name = f"{self.device} ({torch.cuda.get_device_name(index)})"
        if self.device_auto:
            name += " (auto: no CUDA GPU)" if self.device == "cpu" else " (auto)"
        return f"device {name}, dtype {self.dtype}" + (" (auto)" if self.dtype_auto else "")


def dtype_name(dtype: str | torch.dtype | None) -> str:
    """The canonical name of a dtype given as a name, an alias or a torch dtype; ``auto`` stays ``auto``."""
    if dtype is None or dtype == "auto":
        return "auto"
    if isinstance(dtype, torch.dtype):
        for name, value in DTYPES.items():
            if value == dtype:
                return name
        raise PlacementError(f"unsupported dtype {dtype}; use one of auto, {', '.join(DTYPES)}")
    name = DTYPE_ALIASES.get(str(dtype).lower(), str(dtype).lower())
    if name not in DTYPES:
        raise PlacementError(f"unknown dtype {dtype!r}; use one of auto, {', '.join(DTYPES)}")
    return name


def _check_device(device: str) -> str:
    kind, _, index = device.partition(":")
    if kind == "cpu" and not index:
        return device
    if kind == "mps" and not index:
        if not torch.backends.mps.is_available():
            raise PlacementError("--device mps: the MPS backend is not available on this machine")
        return device
    if kind != "cuda" or (index and not index.isdigit()):
        raise PlacementError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if not torch.cuda.is_available():
        raise PlacementError(
            f"--device {device}: no CUDA GPU is available on this machine (torch {torch.__version__})"
        )
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise PlacementError(
            f"--device {device}: this machine has {count} CUDA device(s), numbered 0..{count - 1}"
        )
    return device


def _native_bf16(device: str) -> bool:
    """Whether the GPU computes bfloat16 natively (Ampere or later), not by emulation."""
    index = torch.device(device).index
    major, _ = torch.cuda.get_device_capability(index if index is not None else torch.cuda.current_device())
    return major >= 8


def resolve_placement(device: str | None = "auto", dtype: str | torch.dtype | None = "auto") -> Placement:
    """Resolve ``auto`` and check explicit choices against this machine."""
    device = str(device or "auto").lower()
    device_auto = device == "auto"
    if device_auto:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    else:
        device = _check_device(device)
    name = dtype_name(dtype)
    dtype_auto = name == "auto"
    if dtype_auto:
        if device.startswith("cuda"):
            name = "bfloat16" if _native_bf16(device) else "float16"
        else:
            name = "float32"
    return Placement(device, name, device_auto, dtype_auto)


def concrete_dtype(dtype: str | torch.dtype | None, device: str | None = "auto") -> str:
    """The dtype name a run records: ``auto`` resolved for ``device`` on this machine."""
    name = dtype_name(dtype)
    return resolve_placement(device, "auto").dtype if name == "auto" else name
