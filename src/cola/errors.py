"""User-facing errors.

Every problem a user can cause (a bad chain spec, an unknown model, a dataset row
missing a field, a resumed run whose config changed) raises a subclass of
:class:`ColaError`. The CLI prints these as one line, without a traceback, because
they describe the user's input, not a bug in cola.

May import: nothing in cola
"""

import math


class ColaError(Exception):
    """Base class for errors caused by user input; the CLI prints them as one line."""


class ChainSpecError(ColaError, ValueError):
    """A chain spec could not be parsed or names layers the model does not have."""


class ModelNotFoundError(ColaError):
    """A model name is neither an embedded model, a local directory nor reachable offline."""


class DatasetError(ColaError, ValueError):
    """A dataset could not be loaded, or one of its rows is malformed."""


class RunConfigError(ColaError):
    """A run directory cannot be used with the requested configuration."""


class UnsupportedModelError(ColaError):
    """A model cola cannot run as a chain of layers exactly: refused at load, never silently wrong."""


class PlacementError(ColaError, ValueError):
    """A ``--device`` or ``--dtype`` that is unknown or not available on this machine."""


class RunInUseError(RunConfigError):
    """Another process holds a run directory's lock: one writer at a time."""


class OutputError(ColaError):
    """An output cannot be written where it was asked to go (a non-empty directory, a run, a read-only path)."""


class ExportError(OutputError):
    """An export cannot be written where it was asked to go (e.g. a non-empty directory)."""


class ContextLengthError(ColaError, ValueError):
    """A prompt (plus the tokens to generate) does not fit the model's context window."""


class UsageError(ColaError, ValueError):
    """A command-line or config value is out of range or malformed."""


class SettingError(UsageError):
    """One setting of a config (``SearchConfig.simulations``, ...) has a value that cannot run.

    The message is a template with ``{setting}`` where the setting is named: the library
    names the field, the CLI the flag that sets it (:meth:`naming`), so both read naturally.
    """

    def __init__(self, config: str, setting: str, template: str):
        self.config, self.setting, self.template = config, setting, template
        super().__init__(template.format(setting=setting))

    def naming(self, name: str) -> str:
        """The message with the setting called ``name`` (e.g. its command-line flag)."""
        return self.template.format(setting=name)


class ColaWarning(UserWarning):
    """Something the user should know that is not an error (the CLI prints it as one line)."""


def require(ok: bool, config: str, setting: str, requirement: str, value: object) -> None:
    """Raise ``SettingError("<setting> <requirement>, got <value>")`` unless ``ok``."""
    if not ok:
        got = repr(value).replace("{", "{{").replace("}", "}}")
        raise SettingError(config, setting, f"{{setting}} {requirement}, got {got}")


def is_integer(value: object, minimum: int | None = None) -> bool:
    """An int (not a bool) of at least ``minimum``: what a count setting accepts."""
    return isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum)


def is_finite_number(value: object) -> bool:
    """An int or float (not a bool) that is neither infinite nor NaN."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def require_choice(value: object, choices: tuple[str, ...], config: str, setting: str) -> None:
    """Refuse a value outside ``choices`` (a ``Literal``'s arguments), listing them: "a, b or c"."""
    listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
    require(value in choices, config, setting, f"must be {listed}", value)
