"""`memfs replicate --to http://…`: a real `memfs serve` process as the target; revisions arrive
through its replication extension with their full attribution; keys are enforced."""

import pytest

from memfs import Memfs
from replhelpers import assert_same_history, free_port, memfs, one_line_error, serving


@pytest.fixture
def served(dst_path, tmp_path):
    with serving(dst_path, tmp_path / "serve.log") as s:
        yield s


def test_replicate_to_a_server_keeps_full_attribution(src, src_path, dst_path, history, served):
    url, keys = served
    p = memfs(src_path, "replicate", "--to", url, "--key", keys["root"], "--once")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"replicated {src.head()} revisions to {url}")
    again = memfs(src_path, "replicate", "--to", url, "--once", env={"MEMFS_REPLICATE_KEY": keys["root"]})
    assert again.stdout.startswith("replicated 0 revisions"), again.stdout + again.stderr
    with Memfs(dst_path) as dst:
        assert assert_same_history(src, dst, "kb") + assert_same_history(src, dst, "other") == src.head()
        assert dst.replication_cursor(src.database_id()) == src.head()


def test_a_server_target_enforces_keys(src, src_path, history, served):
    url, keys = served
    assert "401" in one_line_error(memfs(src_path, "replicate", "--to", url, "--once"), 6)
    assert "403" in one_line_error(memfs(src_path, "replicate", "--to", url, "--key", keys["reader"], "--once"), 6)
    assert "403" in one_line_error(memfs(src_path, "replicate", "--to", url, "--key", keys["one-store"], "--once"), 6)
    assert "401" in one_line_error(memfs(src_path, "replicate", "--to", url, "--key", "sk-memfs-wrong", "--once"), 6)
    dead = f"http://127.0.0.1:{free_port()}"
    assert "cannot reach" in one_line_error(memfs(src_path, "replicate", "--to", dead, "--key", "k", "--once"), 1)


def test_a_server_over_the_source_is_refused(src, src_path, history, tmp_path):
    with serving(src_path, tmp_path / "serve.log") as (url, keys):
        err = one_line_error(memfs(src_path, "replicate", "--to", url, "--key", keys["root"], "--once"), 2)
        assert "the target is the source" in err
