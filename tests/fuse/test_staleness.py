"""The mount's no-lost-update rules (fuse/staleness.py), without a kernel: each rule, and a
hypothesis state machine of two sessions sharing a file whose invariant is that no acknowledged
write is overwritten by a write based on an older version."""

import hashlib

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from memfs.fuse import staleness
from memfs.fuse.staleness import MIXED, Refused, after_read, commit_plan, is_stale, open_check


def h(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


A, B = h("a"), h("b")


def test_basis_prefers_an_armed_if_match():
    assert staleness.basis(A, B) == A
    assert staleness.basis(None, B) == B
    assert staleness.basis(None, None) is None


def test_stale_only_when_the_session_saw_another_version():
    assert not is_stale(None, None, A)       # never saw the file: nothing to protect
    assert not is_stale(None, A, A)
    assert is_stale(None, A, B)
    assert is_stale(B, A, A)                 # armed for B, the store has A
    assert is_stale(None, MIXED, A)          # a blend is never current


@pytest.mark.parametrize("prior,off,ksize,seen,expect", [
    (None, 0, 5, None, (A, A, False)),        # a whole first read: seen
    (None, 0, 4, None, (A, MIXED, True)),     # the kernel believes another size: maybe a blend
    (None, 4096, 5, A, (A, A, False)),        # a later page of what was seen
    (None, 4096, 5, B, (A, MIXED, True)),     # a later page, the session saw another version
    (B, 0, 5, B, (MIXED, MIXED, True)),       # the handle read B before: a refill mid-pass
    (A, 0, 5, A, (A, A, False)),
])
def test_after_read(prior, off, ksize, seen, expect):
    r = after_read(prior, A, off, ksize, 5, seen)
    assert (r.handle_sha, r.seen, r.invalidate) == expect


def test_commit_plans():
    kw = dict(pending=False, append_only=True, truncated=False, loaded=A, armed=None, seen=A, exists=True)
    assert commit_plan(**kw) == ("append", None)
    assert commit_plan(**{**kw, "armed": B}) == ("write", B)                       # armed: never a blind append
    assert commit_plan(**{**kw, "append_only": False}) == ("write", A)            # based on what was loaded
    assert commit_plan(**{**kw, "append_only": False, "truncated": True, "seen": B}) == ("write", B)
    assert commit_plan(**{**kw, "pending": True, "seen": B}) == ("write", B)      # created over a seen file
    assert commit_plan(**{**kw, "pending": True, "seen": B, "exists": False}) == ("write", None)
    with pytest.raises(Refused) as e:
        commit_plan(**{**kw, "append_only": False, "truncated": True, "seen": MIXED})
    assert e.value.base is None


def test_open_check():
    kw = dict(dirty=False, append_only=True, truncated=False, loaded=A, current=B, armed=None, seen=A,
              truncating=False, append=False)
    assert open_check(**kw)                                   # read A, the store has B: refused
    assert open_check(**{**kw, "append": True}) is None       # appends never conflict
    assert open_check(**{**kw, "truncating": True}) is None   # judged at the first differing write
    assert open_check(**{**kw, "seen": B}) is None
    assert open_check(**{**kw, "dirty": True, "append_only": False}) == "changed by another session while open"
    assert open_check(**{**kw, "dirty": True, "append_only": False, "truncated": True}) is None


class TwoSessions(RuleBasedStateMachine):
    """Two sessions (mounts) and one file. Each session reads (a whole, clean read or a blend),
    rewrites based on what it read, truncates and rewrites, appends, or arms an if-match. The
    store applies a write only as the rules decide (commit_plan + the store's precondition), as
    the mount does. The invariant: every acknowledged write is either still the content or was
    replaced by a write whose basis was that write (or by an append on top of it)."""

    def __init__(self):
        super().__init__()
        self.content = "v0"
        self.history = ["v0"]          # acknowledged contents, in order
        self.seen = [None, None]
        self.armed = [None, None]
        self.n = 0

    def _commit(self, who, how, expected, new):
        if how == "write" and expected is not None and expected != h(self.content):
            return False  # the store refuses: ESTALE
        before = self.content
        basis = staleness.basis(self.armed[who], self.seen[who])
        if how == "write" and basis is not None and basis != h(before):
            # the write replaces a version other than the one it was based on: the version in
            # between (acknowledged to the other session) is lost
            raise AssertionError(f"session {who} based on {basis[:8]} overwrote {h(before)[:8]}")
        self.content = before + new if how == "append" else new
        self.history.append(self.content)
        self.seen[who] = h(self.content)
        self.armed[who] = None
        return True

    @rule(who=st.integers(0, 1), clean=st.booleans())
    def read(self, who, clean):
        r = after_read(None, h(self.content), 0, len(self.content) if clean else -1, len(self.content),
                       self.seen[who])
        self.seen[who] = r.seen

    @rule(who=st.integers(0, 1))
    def rewrite(self, who):
        self.n += 1
        reason = open_check(dirty=False, append_only=True, truncated=False, loaded=None, current=h(self.content),
                            armed=self.armed[who], seen=self.seen[who], truncating=False, append=False)
        if reason:
            return
        loaded = h(self.content)
        try:
            how, expected = commit_plan(pending=False, append_only=False, truncated=False, loaded=loaded,
                                        armed=self.armed[who], seen=self.seen[who], exists=True)
        except Refused:
            return
        self._commit(who, how, expected, f"w{self.n}")

    @rule(who=st.integers(0, 1), other_first=st.booleans())
    def truncate_and_write(self, who, other_first):
        self.n += 1
        if other_first:  # the other session commits between this one's open(O_TRUNC) and its commit
            self.rewrite(1 - who)
        try:
            how, expected = commit_plan(pending=False, append_only=False, truncated=True, loaded=None,
                                        armed=self.armed[who], seen=self.seen[who], exists=True)
        except Refused:
            return
        self._commit(who, how, expected, f"t{self.n}")

    @rule(who=st.integers(0, 1))
    def append(self, who):
        self.n += 1
        how, expected = commit_plan(pending=False, append_only=True, truncated=False, loaded=h(self.content),
                                    armed=self.armed[who], seen=self.seen[who], exists=True)
        self._commit(who, how, expected, f"+a{self.n}")

    @rule(who=st.integers(0, 1), stale=st.booleans())
    def arm(self, who, stale):
        self.armed[who] = h(self.history[0] + "never") if stale else h(self.content)

    @invariant()
    def acknowledged_writes_chain(self):
        assert self.content == self.history[-1]


TestTwoSessions = TwoSessions.TestCase
TestTwoSessions.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)
