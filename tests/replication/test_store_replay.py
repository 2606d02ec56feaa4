"""`Memfs.replay` from Python: one revision in, one revision out, with the original attribution;
a revision already replayed (by cursor or by origin) is skipped; the cursor moves with it."""

import pytest

from memfs import Memfs, errors
from replhelpers import ALICE, BOB, build_history


def test_replay_is_exactly_once(src, dst_path):
    build_history(src)
    sid = src.database_id()
    revs = src.log("kb", newest_first=False)
    info = {"uid": src.get_store("kb").uid, "name": "kb"}
    with Memfs(dst_path) as dst:
        assert dst.database_id() != sid and dst.database_id().startswith("db_")
        for r in revs:
            content = src.blob(r.sha256) if r.op in ("create", "write", "symlink") and r.sha256 else None
            out = dst.replay(r, content, store=info, origin=f"{sid}:{r.id}", cursor=(sid, r.id))
            assert (out.op, out.path, out.agent, out.session, out.actor, out.created_at, out.message) == \
                   (r.op, r.path, r.agent, r.session, r.actor, r.created_at, r.message)
            assert dst.replication_cursor(sid) == r.id
            # again: by cursor, then by origin alone (another cursor key), nothing new
            assert dst.replay(r, content, store=info, origin=f"{sid}:{r.id}", cursor=(sid, r.id)) is None
            assert dst.replay(r, content, store=info, origin=f"{sid}:{r.id}", cursor=("other", r.id)) is None
        assert len(dst.log("kb")) == len(revs)
        assert dst.advance_replication_cursor(sid, 1) == revs[-1].id  # never back


def test_replay_refuses_what_does_not_fit(src, dst_path):
    s = src.create_store("kb")
    w = src.write(s, "/a.md", b"a\n", identity=ALICE).revision
    info = {"uid": s.uid, "name": "kb"}
    with Memfs(dst_path) as dst:
        with pytest.raises(errors.StoreNotFound):  # the store's root was never replayed
            dst.replay(w, b"a\n", store=info)
        dst.replay(src.revision(w.id - 1), None, store=info)
        with pytest.raises(errors.InvalidInput, match="does not match its hash"):
            dst.replay(w, b"forged\n", store=info)
        with pytest.raises(errors.InvalidInput, match="content is missing"):
            dst.replay(w, None, store=info)
        dst.replay(w, b"a\n", store=info)
        dst.write("kb", "/a.md", b"changed here\n", identity=BOB)
        w2 = src.write(s, "/a.md", b"a2\n", identity=ALICE).revision
        with pytest.raises(errors.PreconditionFailed, match="diverged"):
            dst.replay(w2, b"a2\n", store=info)
        assert dst.read("kb", "/a.md") == b"changed here\n"
        dst.delete("kb", "/a.md", identity=BOB)  # gone here: the source's next write does not bring it back
        with pytest.raises(errors.PreconditionFailed, match="diverged"):
            dst.replay(w2, b"a2\n", store=info)
        assert dst.lookup("kb", "/a.md") is None
