"""Benchmark: challenge + answer pairs over HTTP through the local gateway and the embedded moto server.

    .venv/bin/python -m bench.bench_gateway [--pairs N] [--clients C[,C...]] [--rounds R] [--limit N] [PATH]
    (PATH defaults to ../shared/data/emnist)

It starts its own emulator, imports EMNIST (all of it, or `--limit` images) and removes 5,000 labels
(`--removed-labels`), registers a site, starts the gateway on a free port, warms it up, and then runs N pairs
for each number of client threads in `--clients` (default 1,4). Each pair: GET /v1/challenge, then
POST /v1/answer with the right answer, read from the Challenges table outside the timed requests.

Every client count is measured in the same run (issue 9: "each side-by-side comparison is measured in one run"),
and in turns: `--rounds` rounds, each running N / R pairs for every client count, one count after the other.
Every pair adds a challenge to the table that moto deep-copies on each transaction, so a count measured after
the others would meet a bigger table; in turns, every count sees the same growth and the same changes in the
machine's load. It prints throughput and latency percentiles per client count, and how the time splits between
rendering and the rest. Results go in bench/results/gateway.json, and from there (`python -m bench.report`) in
docs/BENCHMARKS.md, section "Gateway throughput".
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np

from bench.results import Table, record, this_command
from drcaptcha import charset, sites
from drcaptcha.config import reset_settings
from drcaptcha.glyphs import REMOVED, GlyphStore
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha.render import render_captcha
from drcaptcha_ops.emulator import running_emulator
from drcaptcha_ops.gateway.app import running_gateway
from drcaptcha_ops.importer import import_emnist, remove_labels
from drcaptcha_train.option_types import distinct_positive_ints

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


@dataclass
class Setting:
    """What one client count measured, summed over its turns."""

    clients: int
    results: list[tuple[float, float, bool]] = field(default_factory=list)
    seconds: float = 0.0

    def run_turn(self, url: str, site_key: str, pairs: int) -> None:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.clients) as pool:
            self.results += pool.map(lambda _: one_pair(url, site_key), range(pairs))
        self.seconds += time.perf_counter() - started

    def latencies(self) -> dict[str, list[float]]:
        challenges = [result[0] for result in self.results]
        answers = [result[1] for result in self.results]
        return {
            "challenge": challenges,
            "answer": answers,
            "pair": [challenge + answer for challenge, answer in zip(challenges, answers, strict=True)],
        }

    @property
    def passed(self) -> int:
        return sum(result[2] for result in self.results)

    @property
    def pairs_per_second(self) -> float:
        return len(self.results) / self.seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--pairs", type=int, default=300, help="timed pairs per client count (default 300)")
    parser.add_argument(
        "--clients",
        type=distinct_positive_ints,
        default=[1, 4],
        help="client threads; every count of a comma-separated list is measured (default 1,4)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="turns each client count takes (default 5)")
    parser.add_argument("--limit", type=int, default=None, help="EMNIST images imported (default: all)")
    parser.add_argument("--removed-labels", type=int, default=REMOVED_LABELS, help="unlabelled glyphs (default 5000)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.pairs < args.rounds:
        parser.error("--rounds must be at least 1, and --pairs at least --rounds")
    settings = [Setting(clients) for clients in args.clients]
    # Each round's share of the pairs: the first rounds take the remainder, so every count runs exactly --pairs.
    turns = [args.pairs // args.rounds + (turn < args.pairs % args.rounds) for turn in range(args.rounds)]
    total_pairs = args.pairs * len(settings) + WARMUP_PAIRS
    # All requests come from 127.0.0.1: a limit above the run keeps the rate limiter counting but never refusing.
    with patch.dict(os.environ, {"RATE_LIMIT_CHALLENGES": str(10 * total_pairs)}):
        reset_settings()
        with running_emulator():
            import_emnist(args.source, limit=args.limit, progress=False)
            remove_labels(args.removed_labels, progress=False)
            # The service's own throughput: its check of the proof of work runs, the client does no work.
            site = sites.create_site("bench.example", pow_difficulty=0)
            with running_gateway() as url:
                # The gateway exports the template's environment, where the signing key is a deploy parameter.
                os.environ["TOKEN_SIGNING_KEY"] = "bench-" + uuid.uuid4().hex
                reset_settings()
                for _ in range(WARMUP_PAIRS):
                    one_pair(url, site.site_key)
                for pairs in turns:
                    for setting in settings:
                        setting.run_turn(url, site.site_key, pairs)
            render_seconds = render_cost()
    reset_settings()

    counts = ", ".join(str(setting.clients) for setting in settings)
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{threading.active_count()} threads; {args.pairs} pairs for each of {counts} clients, "
        f"in {args.rounds} rounds of turns"
    )
    for setting in settings:
        print(
            f"\n{setting.clients} clients: {setting.pairs_per_second:.1f} pairs/s "
            f"({len(setting.results)} pairs in {setting.seconds:.1f} s); passed {setting.passed}/{len(setting.results)}"
        )
        for name, values in setting.latencies().items():
            print(
                f"  {name:<10} p50 {percentile(values, 0.5) * 1000:7.1f} ms   "
                f"p99 {percentile(values, 0.99) * 1000:7.1f} ms   mean {statistics.fmean(values) * 1000:7.1f} ms"
            )
    print(f"\nrender_captcha alone: {render_seconds * 1000:.1f} ms a challenge (same process, after the run)")
    record(
        "gateway",
        command=this_command("bench.bench_gateway", argv),
        title="Challenge + answer pairs over HTTP through the local gateway, every client count in one run",
        tables=[
            Table(
                caption=(
                    f"{args.pairs} pairs per client count after {WARMUP_PAIRS} warm-up pairs, "
                    f"the counts taking turns over {args.rounds} rounds"
                ),
                columns=["clients", "pairs/s", "passed", "seconds"],
                rows=[
                    [
                        setting.clients,
                        setting.pairs_per_second,
                        f"{setting.passed}/{len(setting.results)}",
                        setting.seconds,
                    ]
                    for setting in settings
                ],
            ),
            Table(
                caption="Latency (ms)",
                columns=["clients", "request", "p50", "p99", "mean"],
                rows=[
                    [
                        setting.clients,
                        name,
                        percentile(values, 0.5) * 1000,
                        percentile(values, 0.99) * 1000,
                        statistics.fmean(values) * 1000,
                    ]
                    for setting in settings
                    for name, values in setting.latencies().items()
                ],
            ),
        ],
        notes=[
            f"data: EMNIST {'all images' if args.limit is None else f'{args.limit} images'}, "
            f"{args.removed_labels} labels removed",
            f"render_captcha alone: {render_seconds * 1000:.1f} ms a challenge (same process, after the run)",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
