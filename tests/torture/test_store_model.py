"""Random sequences of operations against the store API and a plain-dict model, compared after
every step: the tree now, the tree at every earlier revision, and the revision chain of each file."""

import os
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from memfs import Identity, Memfs, errors
from memfs.store import sha256

NAMES = st.sampled_from(["a", "b", "é x"])  # few names, so that operations collide
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
CONTENT = st.binary(max_size=64) | st.sampled_from([b"", b"same\n", b"other\n"])


class StoreModel(RuleBasedStateMachine):
    """The model: path -> ("file", bytes) | ("dir", None). Snapshots: revision id -> model copy."""

    @initialize()
    def setup(self):
        self.dir = tempfile.mkdtemp(prefix="memfs-model-")
        self.m = Memfs(os.path.join(self.dir, "m.db"), identity=Identity(agent="model", actor="agent"))
        self.store = self.m.create_store("model")
        self.model = {"/": ("dir", None)}
        self.snapshots = {self.m.head(): dict(self.model)}

    def teardown(self):
        if hasattr(self, "m"):
            self.m.close()

    def _parent_ok(self, path):
        parent = path.rsplit("/", 1)[0] or "/"
        return self.model.get(parent, (None,))[0] == "dir"

    def _snap(self):
        self.snapshots[self.m.head()] = dict(self.model)

    @rule(path=PATHS, content=CONTENT, parents=st.booleans())
    def write(self, path, content, parents):
        kind = self.model.get(path, (None,))[0]
        ancestors = ["/" + "/".join(path.split("/")[1:i]) for i in range(2, path.count("/") + 1)]
        blocked = any(self.model.get(a, (None,))[0] == "file" for a in ancestors)
        head = self.m.head()
        if kind == "dir" or blocked or (not parents and not self._parent_ok(path)):
            try:
                self.m.write(self.store, path, content, parents=parents)
            except (errors.IsADirectory, errors.NotFound, errors.NotADirectory):
                assert self.m.head() == head  # refused: nothing changed
                return
            raise AssertionError(f"write to {path} should have been refused")
        r = self.m.write(self.store, path, content, parents=parents)
        same = self.model.get(path) == ("file", content)
        assert (r.revision is None) == same  # identical content is a no-op
        for a in ancestors:
            self.model.setdefault(a, ("dir", None))
        self.model[path] = ("file", content)
        self._snap()

    @rule(path=PATHS, content=CONTENT, stale=st.booleans())
    def conditional_write(self, path, content, stale):
        if self.model.get(path, (None,))[0] != "file":
            return
        current = sha256(self.model[path][1])
        expected = sha256(b"never written" + content) if stale else current
        head = self.m.head()
        if stale and self.model[path][1] != content:
            try:
                self.m.write(self.store, path, content, if_match=expected)
            except errors.PreconditionFailed as e:
                assert e.current_sha256 == current and self.m.head() == head
                return
            raise AssertionError("a stale precondition was accepted")
        self.m.write(self.store, path, content, if_match=expected)
        self.model[path] = ("file", content)
        self._snap()

    @rule(path=PATHS)
    def mkdir(self, path):
        if path in self.model or not self._parent_ok(path):
            return
        self.m.mkdir(self.store, path)
        self.model[path] = ("dir", None)
        self._snap()

    @rule(path=PATHS)
    def delete(self, path):
        kind = self.model.get(path, (None,))[0]
        if kind == "file":
            self.m.delete(self.store, path)
            del self.model[path]
        elif kind == "dir":
            if any(p.startswith(path + "/") for p in self.model):
                try:
                    self.m.rmdir(self.store, path)
                except errors.DirectoryNotEmpty:
                    return
                raise AssertionError("rmdir of a non-empty directory succeeded")
            self.m.rmdir(self.store, path)
            del self.model[path]
        else:
            return
        self._snap()

    @rule(src=PATHS, dst=PATHS)
    def rename(self, src, dst):
        if src not in self.model or dst == src or dst.startswith(src + "/") or not self._parent_ok(dst):
            return
        skind, dkind = self.model[src][0], self.model.get(dst, (None,))[0]
        if dkind is not None and (skind != dkind or (dkind == "dir" and any(p.startswith(dst + "/") for p in self.model))):
            try:
                self.m.rename(self.store, src, dst)
            except (errors.IsADirectory, errors.NotADirectory, errors.DirectoryNotEmpty):
                return
            raise AssertionError(f"rename {src} -> {dst} should have been refused")
        node_id = self.m.lookup(self.store, src).id
        self.m.rename(self.store, src, dst)
        assert self.m.lookup(self.store, dst).id == node_id  # ids survive renames
        moved = {p: v for p, v in self.model.items() if p == src or p.startswith(src + "/")}
        for p in moved:
            del self.model[p]
        self.model = {p: v for p, v in self.model.items() if not (p == dst or p.startswith(dst + "/"))}
        for p, v in moved.items():
            self.model[dst + p[len(src):]] = v
        self._snap()

    @precondition(lambda self: len(self.snapshots) > 1)
    @rule(data=st.data())
    def revert(self, data):
        rev = data.draw(st.sampled_from(sorted(self.snapshots)))
        self.m.revert(self.store, rev)
        self.model = dict(self.snapshots[rev])
        self._snap()

    @invariant()
    def tree_matches(self):
        if not hasattr(self, "m"):
            return
        tree = self.m.tree(self.store)
        assert {p: e.kind for p, e in tree.items()} == {p: v[0] for p, v in self.model.items()}
        for p, (kind, content) in self.model.items():
            if kind == "file":
                assert self.m.read(self.store, p) == content

    @invariant()
    def past_trees_match(self):
        if not hasattr(self, "m"):
            return
        for rev, snap in list(self.snapshots.items())[-3:]:  # the last few, to stay fast
            tree = self.m.tree(self.store, rev)
            assert {p: e.kind for p, e in tree.items()} == {p: v[0] for p, v in snap.items()}, f"at revision {rev}"
            for p, (kind, content) in snap.items():
                if kind == "file":
                    assert self.m.read(self.store, p, rev=rev) == content

    @invariant()
    def chains_unbroken(self):
        if not hasattr(self, "m"):
            return
        for p, (kind, _) in self.model.items():
            if kind != "file":
                continue
            hist = list(reversed(self.m.history(self.store, p)))
            ids = [r.id for r in hist]
            assert ids == sorted(ids)
            for prev, cur in zip(hist, hist[1:]):
                if cur.op in ("write", "delete"):
                    assert cur.prev_sha256 == prev.sha256 and cur.base_rev == prev.id


StoreModel.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
TestStoreModel = StoreModel.TestCase
