"""Session-wide fixtures: each real model is loaded once per test session.

Every test session starts as a fresh machine would: cola's model cache, the Hugging Face
cache and the hub switch point into a temporary folder made for this session, before any
test runs. The first load of each embedded model therefore de-quantizes its GGUF weights
(a cold cache is part of what the suite exercises), and no test can pass only because an
earlier run left files under the user cache dir or ``~/.cache``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Before anything imports huggingface_hub, which reads these once, at import.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="cola-test-session-"))
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
# COLA_TEST_CACHE_DIR (never set by make test or CI) lets a developer's inner loop reuse one
# warm model cache; every full run of the suite starts cold.
os.environ["COLA_CACHE_DIR"] = os.environ.get("COLA_TEST_CACHE_DIR") or str(_SESSION_HOME / "cola-cache")
os.environ["HF_HOME"] = str(_SESSION_HOME / "hf-home")
os.environ["HF_HUB_OFFLINE"] = "1"  # tests never download; a hub miss fails at once
os.environ["MPLCONFIGDIR"] = str(_SESSION_HOME / "matplotlib")

import pytest  # noqa: E402
import torch  # noqa: E402

from cola.engine import ChainModel  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def smollm() -> ChainModel:
    return ChainModel.from_pretrained("smollm2-135m")


@pytest.fixture(scope="session")
def gemma() -> ChainModel:
    return ChainModel.from_pretrained("gemma3-270m")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: its small forwards gain nothing from threads on a
    2-core box and slow down badly when the box is busy (results are equal either way)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
