"""Session-wide fixtures: each real model is loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

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
