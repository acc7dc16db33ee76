"""The export formats by name, and :func:`export_chain`, which checks the target and dispatches.

Each ``--format`` is one row of :data:`FORMATS`: its help line (``cola export --help`` is
built from the table), whether it needs the model's weights loaded, and its writer. The
writers are here rather than in the format modules so that those stay plain functions of
a model and a chain, with no knowledge of targets, staging or ``--force``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from cola.engine.chain import parse_chain
from cola.errors import ColaError
from cola.export.hf import export_hf
from cola.export.mergekit import mergekit_text
from cola.export.peft import export_peft
from cola.outputs import (
    EXPORT,
    MERGEKIT_RECIPE,
    OutputKind,
    check_target,
    output_path,
    staged_dir,
    write_file_atomic,
)

if TYPE_CHECKING:
    from cola.engine.model import ChainModel


@dataclass(frozen=True)
class ExportJob:
    """One export as a writer sees it: the checked target and the chain spec still as given."""

    ref: str  # the model as the export names it: a local dir for an embedded model, else as given
    chain_spec: str | Sequence[int]
    out: Path
    force: bool
    as_file: bool  # ``out`` is a single file (a format's ``file_suffixes``), not a directory
    dtype: str
    max_length: int | None
    model: ChainModel | None  # always loaded for a format that ``needs_model``


@dataclass(frozen=True)
class ExportFormat:
    """One ``cola export --format``: what it writes, whether it needs weights, and how."""

    name: str
    help: str  # the format's part of the ``--format`` help
    needs_model: bool  # load the weights before ``write`` (a recipe needs only the config)
    write: Callable[[ExportJob], Path]  # returns the file or directory written
    file_suffixes: tuple[str, ...] = ()  # an ``--out`` ending so is one file of ``file_kind``
    file_kind: OutputKind = EXPORT


def _write_mergekit(job: ExportJob) -> Path:
    """A recipe file, or ``mergekit.yaml`` in a staged directory."""
    text = mergekit_text(job.ref, job.chain_spec, job.dtype, job.model, job.max_length)
    if job.as_file:
        return write_file_atomic(job.out, text, job.force)
    with staged_dir(job.out, job.force) as staging:
        (staging / "mergekit.yaml").write_text(text)
    return job.out / "mergekit.yaml"


def _write_hf(job: ExportJob) -> Path:
    """The unrolled checkpoint, staged and renamed into place."""
    chain = job.model.chain(job.chain_spec, max_length=job.max_length)
    with staged_dir(job.out, job.force) as staging:
        export_hf(job.model, chain, staging)
    return job.out


def _write_peft(job: ExportJob) -> Path:
    """The adapter, staged and renamed into place."""
    chain = job.model.chain(job.chain_spec, max_length=job.max_length)
    with staged_dir(job.out, job.force) as staging:
        export_peft(job.model, chain, staging, model_ref=job.ref)
    return job.out


FORMATS: Mapping[str, ExportFormat] = MappingProxyType(
    {
        fmt.name: fmt
        for fmt in (
            ExportFormat(
                "mergekit",
                "passthrough YAML",
                False,
                _write_mergekit,
                file_suffixes=(".yaml", ".yml"),
                file_kind=MERGEKIT_RECIPE,
            ),
            ExportFormat("hf", "unrolled checkpoint", True, _write_hf),
            ExportFormat("peft", "layer_replication adapter", True, _write_peft),
        )
    }
)


def formats_help() -> str:
    """The ``--format`` help, one ``name: what`` per format of :data:`FORMATS`."""
    return "; ".join(f"{fmt.name}: {fmt.help}" for fmt in FORMATS.values())


def _model_ref(name: str) -> str:
    """How the export names the model: an embedded model by its local directory."""
    from cola.engine.loading import EMBEDDED_MODELS, resolve_model_path

    return resolve_model_path(name) if name in EMBEDDED_MODELS else name


def export_chain(
    model_name: str,
    chain_spec: str | Sequence[int],
    fmt: str,
    out: str | Path,
    dtype: str = "float32",
    model: ChainModel | None = None,
    device: str | None = "auto",
    self_check: bool = True,
    force: bool = False,
    max_length: int | None = None,
) -> Path:
    """Export ``chain_spec`` of ``model_name`` in ``fmt``; returns the written file or directory.

    A non-empty ``out`` is refused unless ``force``, which replaces it whole (staged, then
    renamed into place: see :mod:`cola.outputs`). ``model`` (a loaded
    :class:`cola.engine.ChainModel`) avoids loading weights again; ``max_length`` bounds a
    text spec's length (default: 4 x the model's layers). A malformed spec or a target in
    the way fails before anything is loaded.
    """
    spec = FORMATS.get(fmt) if isinstance(fmt, str) else None
    if spec is None:
        raise ColaError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    parse_chain(chain_spec, max_length=max_length)
    out = output_path(out)
    as_file = out.suffix.lower() in spec.file_suffixes
    check_target(out, force, is_dir=not as_file, kind=spec.file_kind if as_file else EXPORT)
    ref = _model_ref(model_name)
    if spec.needs_model and model is None:
        from cola.engine.model import ChainModel

        model = ChainModel.from_pretrained(model_name, dtype=dtype, device=device, self_check=self_check)
    job = ExportJob(ref, chain_spec, out, force, as_file, dtype, max_length, model)
    return spec.write(job)
