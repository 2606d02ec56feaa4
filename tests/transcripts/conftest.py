"""Fixtures for the transcript readers: the real sample transcripts in ../shared, and writers of
small synthetic transcripts in each supported format."""

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "transcripts"


@pytest.fixture
def samples():
    if not SAMPLES.is_dir():
        pytest.skip(f"the sample transcripts are not at {SAMPLES} (the shared folder sits beside the checkout)")
    return SAMPLES.resolve()

