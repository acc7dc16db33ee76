"""Session-wide fixtures: each real model is loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cola.engine import ChainModel

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
