"""Benchmark: challenge + answer pairs over HTTP through the local gateway and the embedded moto server.

    .venv/bin/python -m bench.bench_gateway [--pairs N] [--clients C] [PATH]   (default: ../shared/data/emnist)

It starts its own emulator, imports EMNIST and removes 5,000 labels, registers a site, starts the gateway on a
free port, warms it up, and then runs N pairs from C client threads (each pair: GET /v1/challenge, then
POST /v1/answer with the right answer, read from the Challenges table outside the timed requests). It prints
latency percentiles and throughput, and how the time splits between rendering and the rest. Results go in
bench/results/gateway.json, and from there (`python -m bench.report`) in docs/BENCHMARKS.md, section "Gateway
throughput".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np

from bench.results import Table, record, this_command
from drcaptcha import charset, sites
from drcaptcha.config import reset_settings
from drcaptcha.glyphs import REMOVED, GlyphStore
from drcaptcha.models.challenge import ChallengeItem
from drcaptcha.render import render_captcha
from drcaptcha_ops.emulator import running_emulator
from drcaptcha_ops.gateway import running_gateway
from drcaptcha_ops.importer import import_emnist, remove_labels

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "emnist"
REMOVED_LABELS = 5000
WARMUP_PAIRS = 40


def request_json(url: str, body: Any = None) -> tuple[float, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.loads(response.read())
    return time.perf_counter() - started, payload


def right_answer(challenge_id: str) -> str:
    item = ChallengeItem.get(challenge_id, consistent_read=True)
    return "".join("7" if label == REMOVED else charset.character_of(label) for label in item.expected)


def one_pair(url: str, site_key: str) -> tuple[float, float, bool]:
    challenge_seconds, challenge = request_json(f"{url}/v1/challenge?sitekey={site_key}")
    answer = right_answer(challenge["challenge_id"])
    answer_seconds, result = request_json(
        f"{url}/v1/answer", {"challenge_id": challenge["challenge_id"], "answer": answer}
    )
    return challenge_seconds, answer_seconds, bool(result.get("success"))


def percentile(values: list[float], fraction: float) -> float:
    return float(np.percentile(np.array(values), fraction * 100))


def render_cost(rounds: int = 200) -> float:
    """Mean seconds of one render of six real glyphs, in this process (the part of a challenge that is CPU)."""
    store = GlyphStore()
    glyphs = list(store.images("train", 0)[:6])
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(rounds):
        render_captcha(glyphs, rng)
    return (time.perf_counter() - started) / rounds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    # All requests come from 127.0.0.1: a limit above the run keeps the rate limiter counting but never refusing.
    with patch.dict(os.environ, {"RATE_LIMIT_CHALLENGES": str(10 * (args.pairs + WARMUP_PAIRS))}):
        reset_settings()
        with running_emulator():
            import_emnist(args.source, progress=False)
            remove_labels(REMOVED_LABELS, progress=False)
            site = sites.create_site("bench.example")
            with running_gateway() as url:
                # The gateway exports the template's environment, where the signing key is a deploy parameter.
                os.environ["TOKEN_SIGNING_KEY"] = "bench-" + uuid.uuid4().hex
                reset_settings()
                for _ in range(WARMUP_PAIRS):
                    one_pair(url, site.site_key)
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=args.clients) as pool:
                    results = list(pool.map(lambda _: one_pair(url, site.site_key), range(args.pairs)))
                elapsed = time.perf_counter() - started
            render_seconds = render_cost()
    reset_settings()

    challenges = [result[0] for result in results]
    answers = [result[1] for result in results]
    pairs = [result[0] + result[1] for result in results]
    passed = sum(result[2] for result in results)
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{threading.active_count()} threads; {args.pairs} pairs from {args.clients} clients in {elapsed:.1f} s"
    )
    print(f"throughput: {args.pairs / elapsed:.1f} pairs/s; passed {passed}/{args.pairs}")
    for name, values in (("challenge", challenges), ("answer", answers), ("pair", pairs)):
        print(
            f"{name:<10} p50 {percentile(values, 0.5) * 1000:7.1f} ms   p99 {percentile(values, 0.99) * 1000:7.1f} ms"
            f"   mean {statistics.fmean(values) * 1000:7.1f} ms"
        )
    print(f"render_captcha alone: {render_seconds * 1000:.1f} ms a challenge (same process, after the run)")
    record(
        "gateway",
        command=this_command("bench.bench_gateway", argv),
        title="Challenge + answer pairs over HTTP through the local gateway",
        tables=[
            Table(
                caption=f"{args.pairs} pairs after {WARMUP_PAIRS} warm-up pairs",
                columns=["clients", "pairs/s", "passed", "seconds"],
                rows=[[args.clients, args.pairs / elapsed, f"{passed}/{args.pairs}", elapsed]],
            ),
            Table(
                caption="Latency (ms)",
                columns=["request", "p50", "p99", "mean"],
                rows=[
                    [
                        name,
                        percentile(values, 0.5) * 1000,
                        percentile(values, 0.99) * 1000,
                        statistics.fmean(values) * 1000,
                    ]
                    for name, values in (("challenge", challenges), ("answer", answers), ("pair", pairs))
                ],
            ),
        ],
        notes=[f"render_captcha alone: {render_seconds * 1000:.1f} ms a challenge (same process, after the run)"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
