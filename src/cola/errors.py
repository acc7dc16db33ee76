"""User-facing errors.

Every problem a user can cause (a bad chain spec, an unknown model, a dataset row
missing a field, a resumed run whose config changed) raises a subclass of
:class:`ColaError`. The CLI prints these as one line, without a traceback, because
they describe the user's input, not a bug in cola.

May import: nothing in cola
"""


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


class ExportError(ColaError):
    """An export cannot be written where it was asked to go (e.g. a non-empty directory)."""


class ContextLengthError(ColaError, ValueError):
    """A prompt (plus the tokens to generate) does not fit the model's context window."""


class UsageError(ColaError, ValueError):
    """A command-line or config value is out of range or malformed."""


class ColaWarning(UserWarning):
    """Something the user should know that is not an error (the CLI prints it as one line)."""
