"""The consumer benchmark, small: real votes through the stream, the local poller and the labels function."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_consumer_bench_counts_every_vote_it_put_exactly_once(emnist_dir: Path, tmp_path: Path) -> None:
    """In its own process: the bench starts (and points the process at) its own emulator, not the session's."""
    # Given a tiny run: 45 votes on 12 glyphs of a 1,000-image import, at a batch size of 10
    env = {**os.environ, "BENCH_RESULTS_DIR": str(tmp_path), "POWERTOOLS_LOG_LEVEL": "WARNING"}
    env.pop("AWS_ENDPOINT_URL", None)
    command = [sys.executable, "-m", "bench.bench_consumer", str(emnist_dir), "--votes", "45", "--glyphs", "12"]

    # When it runs
    run = subprocess.run(
        [*command, "--limit", "1000", "--batch-size", "10"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # Then it passes its own exactly-once check, and records votes/s at the batch size it used
    assert run.returncode == 0, run.stderr[-2000:]
    assert "each vote counted exactly once: yes" in run.stdout
    result = json.loads((tmp_path / "consumer.json").read_text(encoding="utf-8"))
    throughput, once = result["tables"]
    assert throughput["rows"][0][:3] == [45, 12, 10]
    assert throughput["rows"][0][4] > 0
    votes_put, votes_rows, counted, late, missing, unexpected, wrong = once["rows"][0]
    assert (votes_put, votes_rows, counted + late) == (45, 45, 45)
    assert (missing, unexpected, wrong) == (0, 0, 0)
    assert "--batch-size 10" in result["command"]
