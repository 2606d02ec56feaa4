"""`Memfs`, the store API: one class made of the parts in this package, one concern each.

A part is a mixin holding its own SQL and reaching the others through `self`; `StoreBase`
holds the backend (`self.db`) and the internals they share. To add a concern, write a new
module with a `class SomethingMixin:` and add it to the bases below.
"""

from __future__ import annotations

from .base import StoreBase
from .branches import BranchesMixin
from .changes import ChangesMixin
from .conflicts import ConflictsMixin
from .doctor import DoctorMixin
from .dreams import DreamsMixin
from .files import FilesMixin
from .history import HistoryMixin
from .hooks import HooksMixin
from .keys import KeysMixin
from .leases import LeasesMixin
from .reads import ReadsMixin
from .redaction import RedactionMixin
from .replay import ReplayMixin
from .search import SearchMixin
from .sessions import SessionsMixin
from .stats import StatsMixin
from .stores import StoresMixin
from .transcripts import TranscriptsMixin
from .tree import TreeMixin
from .writes import WritesMixin


class Memfs(
    StoresMixin,
    TreeMixin,
    WritesMixin,
    LeasesMixin,
    HistoryMixin,
    SearchMixin,
    SessionsMixin,
    HooksMixin,
    ConflictsMixin,
    FilesMixin,
    RedactionMixin,
    KeysMixin,
    TranscriptsMixin,
    DreamsMixin,
    ReplayMixin,
    DoctorMixin,
    ChangesMixin,
    BranchesMixin,
    ReadsMixin,
    StatsMixin,
    StoreBase,
):
    """A memfs database: the one door to its data. Not shared between threads: open one per
    thread or process.

    `Memfs(db)` opens (and migrates) the database at `db`: a SQLite file path or a
    `postgresql://` URL. `identity` is who the writes are attributed to by default (see
    `default_identity`); a call's own `identity=` argument overrides it. Extra keyword arguments
    go to the backend (`busy_timeout`, ...).

    Every method raises a subclass of `memfs.errors.MemfsError` for bad input or a refused
    operation, with a message meant for a person.
    """
