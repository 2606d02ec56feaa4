"""Fixtures for the integration tests: the Messages API stub of the dream tests is reused."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dream"))
