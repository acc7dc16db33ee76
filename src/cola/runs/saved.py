"""Reading a saved run directory: its layout and the one loader of its config.

Every command that reads a run (``summary``, ``report``, ``predict``, ``evaluate``,
``sweep``, the lm-eval predictor, ``search --resume``) goes through here, so a damaged
directory gets the same one-line :class:`~cola.errors.RunConfigError` everywhere, naming
the file: a ``config.json`` that is a directory, not UTF-8, not JSON, not an object, or
that holds a setting the run config does not have; a ``records.jsonl`` that is a
directory; an ``inflight`` that is a file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from cola.errors import ColaError, RunConfigError

CONFIG_FILE = "config.json"
RECORDS_FILE = "records.jsonl"
INFLIGHT_DIR = "inflight"
MAX_CONFIG_BYTES = 1 << 20  # a run config is a few KB; anything far larger is not one


def read_config_json(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``config.json`` as a JSON object, or None when there is none."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists() and not path.is_symlink():
        return None
    try:
        if not path.is_file():
            raise RunConfigError(f"{path} is not a file; a run's config.json holds its settings")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise RunConfigError(f"{path} is over {MAX_CONFIG_BYTES >> 20} MiB: not a run config")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise RunConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RunConfigError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RunConfigError(f"{path} is not a run config: expected a JSON object, got {type(data).__name__}")
    return data


def is_run_config(data: Any) -> bool:
    """Whether a JSON value is shaped like a run's config (it names its task); a model's config.json is not."""
    return isinstance(data, dict) and isinstance(data.get("task"), str)


def load_run_config(run_dir: str | Path):
    """The :class:`~cola.runs.config.RunConfig` a run directory was made with, checked like a new one."""
    from cola.runs.config import RunConfig

    data = checked_config_json(run_dir)
    if data is None:
        raise RunConfigError(f"{run_dir} is not a search run directory (no {CONFIG_FILE})")
    try:
        config = RunConfig.from_json(data)
        config.validate()
    except ColaError as exc:
        raise RunConfigError(f"{Path(run_dir) / CONFIG_FILE}: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise RunConfigError(f"{Path(run_dir) / CONFIG_FILE}: not a usable run config ({exc})") from None
    return config


def checked_config_json(run_dir: str | Path) -> dict[str, Any] | None:
    """The saved config (None without one), checked for shape: a run config whose sections hold known settings.

    What readers that need only some of its fields (``summary``, ``report``) use;
    :func:`load_run_config` adds the checks a run needs to be searched or predicted from.
    """
    from cola.runs.config import RunConfig

    path = Path(run_dir) / CONFIG_FILE
    data = read_config_json(run_dir)
    if data is None:
        return None
    if not is_run_config(data):
        raise RunConfigError(f"{path} is not a run config (no task); is {run_dir} a cola run directory?")
    defaults = RunConfig()
    for section in ("search", "eval"):
        value = data.get(section, {})
        if not isinstance(value, dict):
            raise RunConfigError(f"{path}: {section!r} must be a JSON object, got {type(value).__name__}")
        known = {f.name for f in dataclasses.fields(getattr(defaults, section))}
        unknown = sorted(set(value) - known)
        if unknown:
            raise RunConfigError(
                f"{path}: unknown setting {section}.{unknown[0]} (known: {', '.join(sorted(known))})"
            )
    return data


def check_layout(run_dir: str | Path) -> None:
    """Refuse a run directory whose members have the wrong type (a directory where a file belongs)."""
    run_dir = Path(run_dir)
    for name, want_dir in ((CONFIG_FILE, False), (RECORDS_FILE, False), (INFLIGHT_DIR, True)):
        path = run_dir / name
        if path.exists() and path.is_dir() != want_dir:
            kind = "a directory" if want_dir else "a file"
            raise RunConfigError(f"{path} is not {kind}, as a run directory's {name} must be; move it away")
