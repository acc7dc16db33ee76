"""Exporting a chain of layers so other tools can run it without cola.

Three formats (``cola export --format ...``), one module each, listed by name in
:data:`~cola.export.formats.FORMATS`: a mergekit passthrough recipe
(:mod:`~cola.export.mergekit`), a materialized Hugging Face checkpoint
(:mod:`~cola.export.hf`) and a PEFT ``layer_replication`` adapter
(:mod:`~cola.export.peft`). A chain becomes (and is read back from) half-open layer ranges
in :mod:`~cola.export.ranges`; :func:`~cola.export.formats.export_chain` dispatches
through the table.

Every format refuses a non-empty ``--out`` unless ``--force``, which replaces it whole:
the export is written to a staging directory and renamed into place (:mod:`cola.outputs`),
so a target is never a merge of two exports.

May import: cola.errors, cola.engine, cola.outputs
"""

from cola._lazy import lazy_exports

_EXPORTS = {
    "chain_from_ranges": "ranges",
    "chain_ranges": "ranges",
    "MERGEKIT_DTYPES": "mergekit",
    "chain_from_mergekit_yaml": "mergekit",
    "mergekit_config": "mergekit",
    "mergekit_text": "mergekit",
    "mergekit_yaml": "mergekit",
    "LORA_SETTINGS": "peft",
    "export_peft": "peft",
    "peft_adapter_config": "peft",
    "peft_layer_replication": "peft",
    "check_exportable": "hf",
    "export_hf": "hf",
    "FORMATS": "formats",
    "ExportFormat": "formats",
    "ExportJob": "formats",
    "export_chain": "formats",
    "formats_help": "formats",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
