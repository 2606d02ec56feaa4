"""scripts/bench runs scripts/bench_paraphrase.py and scripts/bench_stats.py as sections: their
figures reach the table and the JSON."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_only_paraphrase_prints_and_reports_json():
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench"), "--only", "paraphrase", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-1000:]
    res = json.loads(p.stdout)  # with --json and no FILE the tables go to stderr
    para = res["paraphrase"]
    assert para["exit"] == 0 and para["pairs"] == para["same"] + para["related"] + para["unrelated"]
    assert para["precision"] >= para["targets"]["precision"] and para["baseline"]["method"].startswith("word-set")
    assert "Paraphrase finder" in p.stderr and f"{para['precision']:.3f}" in p.stderr
    assert set(res) == {"meta", "paraphrase"}  # --only runs that section alone


def test_bench_only_stats_times_memfs_stats_beside_its_baselines():
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench"), "--only", "stats", "--quick", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-1000:]
    res = json.loads(p.stdout)
    st = res["stats"]
    assert set(res) == {"meta", "stats"} and st["files"] == 500 and st["target_s"] == 2.0
    # the figure found what was planted: every copied paragraph, most of the reworded ones
    dup = st["duplicated"]
    assert dup["method"] == "exact" and st["planted_exact"] <= dup["duplicated"] <= st["planted_exact"] + \
        st["planted_paraphrase"] + 2
    assert dup["duplicated"] >= st["planted_exact"] + st["planted_paraphrase"] // 2
    # baselines from the same run: the figure costs something, and a second count costs nothing
    assert st["start_s"] > 0 and st["no_duplicates_s"] < st["stats_s"]
    assert st["duplicated_again_s"] < st["duplicated_first_s"] / 10
    assert "memfs stats on a store of 500 notes" in p.stderr and "baseline: memfs stats STORE --no-duplicates" in p.stderr
