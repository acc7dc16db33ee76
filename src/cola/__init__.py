"""cola: test-time depth adaptation of pretrained LLMs (chains of layers)."""

from cola.chain import Chain, format_chain, parse_chain
from cola.errors import ChainSpecError, ColaError, DatasetError, ModelNotFoundError

__all__ = [
    "Chain",
    "ChainSpecError",
    "ColaError",
    "DatasetError",
    "ModelNotFoundError",
    "format_chain",
    "parse_chain",
]
__version__ = "0.1.0"
