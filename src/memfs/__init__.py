"""memfs: memory stores for AI agents, versioned and attributed, mounted as real directories."""

from .errors import MemfsError
from .store import Identity, Memfs

__all__ = ["Memfs", "Identity", "MemfsError"]
__version__ = "0.1.0"
