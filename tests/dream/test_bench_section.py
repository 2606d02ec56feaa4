"""scripts/bench runs scripts/bench_paraphrase.py as a section: its figures reach the table and the JSON."""

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
