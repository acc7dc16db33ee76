"""Where benchmark rows come from: the bundled sample, the Hugging Face hub, or a JSONL file.

Every source yields ``(where, index, row)``: ``where`` names the file (or hub dataset)
and row for one-line error messages, ``index`` is the 0-based row position used for
stable sample ids.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

from cola.errors import DatasetError

# Split names people type -> the names the hub datasets use.
SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation", "eval": "validation"}

_MISSING = object()
MAX_ROW_BYTES = 1 << 20  # the longest bundled row is a few KB


def bundled_path(file_name: str) -> Path:
    """Path of a sample file shipped in ``cola/data``."""
    return Path(str(resources.files("cola") / "data" / file_name))


def jsonl_rows(path: str | Path) -> Iterator[tuple[str, int, dict]]:
    """Rows of a JSONL file; blank lines are skipped, row numbers are 1-based line numbers."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(
            f"dataset file not found: {path} (use 'bundled', 'hf' or the path of an existing JSONL file)"
        )
    return _read_jsonl(path)


def _read_jsonl(path: Path) -> Iterator[tuple[str, int, dict]]:
    index = 0
    with path.open("rb") as handle:
        # A bounded read per line: a huge line is refused by its size, never parsed (or held whole).
        lines = iter(lambda: handle.readline(MAX_ROW_BYTES + 1), b"")
        for line_number, raw in enumerate(lines, start=1):
            where = f"{path}: row {line_number}"
            if len(raw) > MAX_ROW_BYTES:
                raise DatasetError(
                    f"{where}: longer than {MAX_ROW_BYTES >> 20} MiB; a benchmark row is one question "
                    "with its answer, so this is not a dataset row"
                )
            line = _decode(raw, where, first=line_number == 1)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                reason = error.msg.removesuffix(" at")
                raise DatasetError(f"{where}: not valid JSON ({reason} at column {error.colno})") from None
            except (ValueError, RecursionError) as error:  # a huge integer, absurd nesting
                raise DatasetError(f"{where}: not usable JSON ({error})") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield where, index, row
            index += 1
    if index == 0:
        raise DatasetError(f"{path} has no rows: it is empty or only blank lines")


def _decode(raw: bytes, where: str, first: bool) -> str:
    """One line as text; bytes that are not UTF-8 are an error naming the row and column."""
    try:
        return raw.decode("utf-8-sig" if first else "utf-8")  # a leading byte-order mark is harmless
    except UnicodeDecodeError as error:
        bad = raw[error.start : error.start + 1].hex()
        raise DatasetError(f"{where}: not valid UTF-8 (byte 0x{bad} at column {error.start + 1})") from None


def hf_rows(hf_path: str, config: str | None, split: str) -> Iterator[tuple[str, int, dict]]:
    """Rows of a hub dataset via ``datasets.load_dataset``; any failure becomes a DatasetError."""
    hub_split = SPLIT_ALIASES.get(split, split)
    label = f"{hf_path}" + (f" ({config})" if config else "") + f" split {hub_split!r}"
    try:
        from datasets import load_dataset

        dataset = load_dataset(hf_path, config, split=hub_split)
    except Exception as error:  # offline, unknown split, auth: all mean "use another source"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DatasetError(
            f"could not load {label} from the Hugging Face hub ({reason}); "
            "use --data bundled for the small shipped sample, or a local JSONL path"
        ) from None
    return ((f"{label}: row {i + 1}", i, dict(row)) for i, row in enumerate(dataset))


def get_field(row: dict, dotted: str) -> object:
    """``row["a"]["b"]`` for ``"a.b"``, or a sentinel when any part is missing."""
    value: object = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def check_fields(row: dict, required: Sequence[str], where: str) -> None:
    """Raise a one-line DatasetError naming the row and the first missing (or null) field."""
    for name in required:
        value = get_field(row, name)
        if value is _MISSING or value is None:
            raise DatasetError(f"{where}: missing field {name!r}")


def _kind(value: object) -> str:
    """``"an int"``, ``"a list"``, ``"an object"``, ``"null"``: what a JSON value turned out to be."""
    if value is None:
        return "null"
    name = {"dict": "object", "str": "string"}.get(type(value).__name__, type(value).__name__)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def text_field(row: dict, dotted: str, where: str, numbers: bool = False, empty: bool = False) -> str:
    """Field ``dotted`` as text; a wrong type (or, unless ``empty``, an empty string) is a DatasetError.

    ``numbers`` also accepts an integer or a finite float (an id, a numeric answer), as its
    decimal text. Nothing else is converted: ``str()`` of a list or an object would hand
    the model a question nobody wrote.
    """
    return _as_text(get_field(row, dotted), f"{where}: field {dotted!r}", numbers, empty)


def text_list_field(row: dict, dotted: str, where: str, numbers: bool = False) -> list[str]:
    """Field ``dotted`` as a list of texts (each as :func:`text_field` takes it, empty allowed)."""
    value = get_field(row, dotted)
    if not isinstance(value, list):
        raise DatasetError(f"{where}: field {dotted!r} must be a list, got {_kind(value)}")
    return [
        _as_text(item, f"{where}: field {dotted!r} item {i}", numbers, True) for i, item in enumerate(value)
    ]


def _as_text(value: object, label: str, numbers: bool, empty: bool) -> str:
    if isinstance(value, str):
        if not empty and not value.strip():
            raise DatasetError(f"{label} is empty")
        return value
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    raise DatasetError(
        f"{label} must be {'a string or a number' if numbers else 'a string'}, got {_kind(value)}"
    )
