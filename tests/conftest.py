"""Shared test fixtures.

Real data live in ``../shared/data`` beside the repository (never copied into it).
Tests that need them use the ``shared_data`` fixture and are skipped with a clear
reason when the folder is absent (a user's clone).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FIPROXY_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips the test when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set FIPROXY_SHARED_DATA or place ../shared/data beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def mpdta(shared_data) -> pd.DataFrame:
    """The did package's mpdta panel (county teen employment, staggered minimum-wage rises)."""
    return pd.read_csv(shared_data / "mpdta" / "mpdta.csv")
