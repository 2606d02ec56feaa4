"""A dream job's inputs: one vocabulary (DreamInputs), and migration m011 for rows written before."""

import json

from memfs import Memfs
from memfs.store import DreamInputs


def test_inputs_are_typed_and_round_trip(m, store):
    j = m.create_dream_job(store, engine="local", inputs=DreamInputs(memory_store=store.name, sessions=["s1"]))
    assert j.inputs == DreamInputs(memory_store=store.name, sessions=["s1"])
    j = m.update_dream_job(j.id, inputs=DreamInputs(memory_store=store.name, sessions=["s1"], since=5.0, api=True))
    assert (j.inputs.sessions, j.inputs.since, j.inputs.api) == (["s1"], 5.0, True)
    assert j.to_dict()["inputs"]["sessions"] == ["s1"]


def test_m011_rewrites_rows_written_in_the_http_vocabulary(m, store, db_path):
    old = {  # as the HTTP API wrote them: pending by sessions; by time window, after its run
        "by_sessions": {"memory_store": store.name, "session_ids": ["s-a", "s-b"], "time_window": None,
                        "model": {"id": "m", "speed": "standard"}, "api": True},
        "by_window": {"memory_store": store.name, "session_ids": None, "time_window": 1000.5, "api": True,
                      "sessions": ["s-x"], "since": 1000.5, "transcripts": ["/t.jsonl"]},
        "library": {"memory_store": store.name, "sessions": ["s-c"], "since": None, "transcripts": []},
    }
    ids = {}
    for k, ins in old.items():
        ids[k] = m.create_dream_job(store, engine="local").id
        with m.db.write() as tx:  # the row as an older memfs left it
            tx.run("UPDATE dream_jobs SET inputs = ? WHERE id = ?", (json.dumps(ins), ids[k]))
        with m.db.write() as tx:
            tx.run("DELETE FROM _memfs_migrations WHERE name = 'm011_dream_inputs_one_vocabulary'")
    if m.db.dialect == "postgresql":  # the process remembers a database it has migrated
        from memfs.backends import postgres

        postgres._MIGRATED.discard(db_path)
    with Memfs(db_path) as again:
        rows = {k: json.loads(again.db.one("SELECT inputs FROM dream_jobs WHERE id = ?", (i,))[0])
                for k, i in ids.items()}
        assert "m011_dream_inputs_one_vocabulary" in again.db.migrations()
        by_window = again.dream_job(ids["by_window"]).inputs
    for r in rows.values():
        assert "session_ids" not in r and "time_window" not in r
    assert rows["by_sessions"]["sessions"] == ["s-a", "s-b"] and rows["by_sessions"].get("since") is None
    assert rows["by_sessions"]["model"] == {"id": "m", "speed": "standard"}
    assert rows["by_window"]["sessions"] == ["s-x"] and rows["by_window"]["since"] == 1000.5
    assert rows["library"] == old["library"]
    assert by_window == DreamInputs(memory_store=store.name, sessions=["s-x"], since=1000.5,
                                    transcripts=["/t.jsonl"], api=True)
