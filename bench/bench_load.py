"""Load: 20 concurrent clients for 60 s through the local gateway on 127.0.0.1, then a check that each vote
was counted exactly once.

    .venv/bin/python -m bench.bench_load [--clients 20] [--duration 60] [--removed-labels 500] [PATH]

PATH defaults to ../shared/data/emnist. It starts its own emulator, imports EMNIST, removes 500 labels,
registers a site and serves the gateway on 127.0.0.1 only (a fixed host: no flag sends load anywhere else).
Each client loops until the time is up: GET /v1/challenge, then
POST /v1/answer with the right answer (read from the Challenges table between the two, outside the timings),
then POST /v1/siteverify with the token. It reports requests/s, p50 and p99 per route and overall, and the error
count (any non-2xx, any siteverify `success: false`, any connection error).

Then it replays the vote outbox (in case the stream refused any vote) and runs the template's stream poller
(the labels function) until the stream is quiet, and compares: the votes the passes cast, the Votes table's
rows, and each glyph's counted-vote tally against its counted rows (a vote counted twice would show there).
Results go in bench/results/load.json, and from there (`python -m bench.report`) in docs/BENCHMARKS.md,
section "Load".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

from bench.bench_gateway import DEFAULT_SOURCE, percentile, right_answer
from bench.results import Cell, Table, record, this_command
from drcaptcha import outbox, sites
from drcaptcha.config import reset_settings
from drcaptcha.glyphs import REMOVED
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha.models.tables.glyphs import GlyphItem
from drcaptcha.models.tables.votes import VoteItem
from drcaptcha_ops.emulator import running_emulator
from drcaptcha_ops.gateway.app import running_gateway
from drcaptcha_ops.importer import import_emnist, remove_labels
from drcaptcha_ops.poller import StreamPoller, create_poller

LOOPBACK = "127.0.0.1"
# Fewer unlabelled glyphs than bench_gateway's 5,000: moto deep-copies every table a transaction touches, and
# each vote's transaction touches the Glyphs table, so its size sets the consumer's pace here (not on AWS).
REMOVED_LABELS = 500
ROUTES = ("challenge", "answer", "siteverify")


@dataclass
class LoadResults:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {route: [] for route in ROUTES})
    errors: Counter[str] = field(default_factory=Counter)
    vote_ids: set[str] = field(default_factory=set)
    passes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, route: str, seconds: float, error: str | None = None) -> None:
        with self._lock:
            self.latencies[route].append(seconds)
            if error is not None:
                self.errors[f"{route}: {error}"] += 1

    def add_pass(self, vote_ids: list[str]) -> None:
        with self._lock:
            self.passes += 1
            self.vote_ids.update(vote_ids)


def timed_json(url: str, body: bytes | None, content_type: str) -> tuple[float, int, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, payload = response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        # Keep the service's error body ({"error": {"code", "message"}}), so a failure says what it was.
        try:
            status, payload = error.code, json.loads(error.read())
        except ValueError:
            status, payload = error.code, None
    return time.perf_counter() - started, status, payload


def one_loop(url: str, site: sites.NewSite, results: LoadResults) -> None:
    """Challenge, answer, siteverify: one visitor's loop, each request timed and checked."""
    seconds, status, challenge = timed_json(f"{url}/v1/challenge?sitekey={site.site_key}", None, "application/json")
    results.record("challenge", seconds, None if status == 200 else f"HTTP {status}")
    if status != 200:
        return
    challenge_id = challenge["challenge_id"]
    item = ChallengeItem.get(challenge_id, consistent_read=True)
    body = json.dumps({"challenge_id": challenge_id, "answer": right_answer(challenge_id)}).encode()
    seconds, status, answer = timed_json(f"{url}/v1/answer", body, "application/json")
    passed = status == 200 and bool(answer.get("success"))
    results.record("answer", seconds, None if passed else f"HTTP {status} {answer}")
    if not passed:
        return
    results.add_pass([f"{challenge_id}:{p}" for p, label in enumerate(item.expected) if label == REMOVED])
    form = json.dumps({"secret": site.secret, "response": answer["token"]}).encode()
    seconds, status, verified = timed_json(f"{url}/v1/siteverify", form, "application/json")
    ok = status == 200 and bool(verified.get("success"))
    results.record("siteverify", seconds, None if ok else f"HTTP {status} {verified and verified['error-codes']}")


def client(url: str, site: sites.NewSite, results: LoadResults, deadline: float) -> None:
    while time.perf_counter() < deadline:
        try:
            one_loop(url, site, results)
        except Exception as error:  # a connection error or a malformed reply: counted, and the client goes on
            results.record("challenge", 0.0, type(error).__name__)


@dataclass(frozen=True)
class VoteCheck:
    cast: int
    rows: int
    missing: int
    unexpected: int
    glyphs_with_wrong_tally: int
    replayed_from_outbox: int
    delivered_by_poller: int
    poll_seconds: float


def count_votes_once(cast: set[str], poller: StreamPoller | None = None) -> VoteCheck:
    """Replay the outbox, drain the stream through the labels function, and compare votes cast with counted.

    `poll_seconds` times the drain only, and also the poller's creation when none is given.
    """
    replay = outbox.replay_outbox()
    started = time.perf_counter()
    poller = poller or create_poller()
    delivered = 0
    while (count := poller.poll_once()) > 0:
        delivered += count
    poll_seconds = time.perf_counter() - started
    rows = list(VoteItem.scan(consistent_read=True))
    recorded = {row.vote_id for row in rows}
    counted_rows: dict[str, set[str]] = {}
    for row in rows:
        if row.counted:
            counted_rows.setdefault(row.glyph_id, set()).add(row.vote_id)
    # A glyph's counted rows are its crowd votes (each in its map of counted votes, `votes` of them) or, for a
    # known glyph shown as gold, its readings.
    wrong = sum(
        1
        for glyph in GlyphItem.scan(consistent_read=True)
        if int(glyph.votes or 0) + int(glyph.readings or 0) != len(counted_rows.get(glyph.glyph_id, ()))
        or not set(glyph.counted.attribute_values) <= counted_rows.get(glyph.glyph_id, set())
    )
    return VoteCheck(
        cast=len(cast),
        rows=len(rows),
        missing=len(cast - recorded),
        unexpected=len(recorded - cast),
        glyphs_with_wrong_tally=wrong,
        replayed_from_outbox=replay.replayed_votes,
        delivered_by_poller=delivered,
        poll_seconds=poll_seconds,
    )


def report(results: LoadResults, clients: int, elapsed: float, check: VoteCheck) -> None:
    every = [seconds for route in ROUTES for seconds in results.latencies[route]]
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f}; {clients} clients for {elapsed:.1f} s on {LOOPBACK}"
    )
    print(f"requests: {len(every)} ({len(every) / elapsed:.1f}/s); passes {results.passes}")
    for name, values in (*((route, results.latencies[route]) for route in ROUTES), ("all", every)):
        if values:
            print(
                f"{name:<10} n {len(values):5d}   {len(values) / elapsed:6.1f}/s   p50 "
                f"{percentile(values, 0.5) * 1000:7.1f} ms   p99 {percentile(values, 0.99) * 1000:7.1f} ms"
            )
    print(f"errors: {sum(results.errors.values())} {dict(results.errors)}")
    print(
        f"votes: cast {check.cast}, Votes rows {check.rows}, missing {check.missing}, unexpected {check.unexpected}, "
        f"glyphs whose tally != counted rows {check.glyphs_with_wrong_tally}; replayed from the outbox "
        f"{check.replayed_from_outbox}; the poller delivered {check.delivered_by_poller} records in "
        f"{check.poll_seconds:.1f} s"
    )
    print("each vote counted exactly once: " + ("yes" if counted_once(check) else "NO"))


def counted_once(check: VoteCheck) -> bool:
    return check.missing == 0 and check.unexpected == 0 and check.glyphs_with_wrong_tally == 0


def record_results(results: LoadResults, argv: list[str], clients: int, elapsed: float, check: VoteCheck) -> None:
    every = [seconds for route in ROUTES for seconds in results.latencies[route]]
    errors = {route: sum(n for error, n in results.errors.items() if error.startswith(f"{route}:")) for route in ROUTES}
    errors["all"] = sum(results.errors.values())
    rows: list[list[Cell]] = [
        [
            name,
            len(values),
            len(values) / elapsed,
            percentile(values, 0.5) * 1000,
            percentile(values, 0.99) * 1000,
            errors[name],
        ]
        for name, values in (*((route, results.latencies[route]) for route in ROUTES), ("all", every))
        if values
    ]
    record(
        "load",
        command=this_command("bench.bench_load", argv),
        title=f"{clients} concurrent clients through the local gateway on {LOOPBACK}",
        tables=[
            Table(
                caption=f"{clients} clients for {elapsed:.1f} s; {results.passes} passes",
                columns=["route", "requests", "per second", "p50 ms", "p99 ms", "errors"],
                rows=rows,
            ),
            Table(
                caption=f"Votes, after the outbox replay and the poller ({check.poll_seconds:.1f} s to drain)",
                columns=[
                    "cast",
                    "Votes rows",
                    "missing",
                    "unexpected",
                    "wrong tallies",
                    "from the outbox",
                    "delivered",
                ],
                rows=[
                    [
                        check.cast,
                        check.rows,
                        check.missing,
                        check.unexpected,
                        check.glyphs_with_wrong_tally,
                        check.replayed_from_outbox,
                        check.delivered_by_poller,
                    ]
                ],
            ),
        ],
        notes=[
            f"errors: {dict(results.errors) or 'none'}",
            "each vote counted exactly once: " + ("yes" if counted_once(check) else "NO"),
        ],
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--removed-labels", type=int, default=REMOVED_LABELS, help="unlabelled glyphs to vote on")
    args = parser.parse_args(argv)
    results = LoadResults()
    # Every client is 127.0.0.1: a limit far above the run keeps the rate limiter counting but never refusing.
    with patch.dict(os.environ, {"RATE_LIMIT_CHALLENGES": "1000000"}):
        reset_settings()
        with running_emulator():
            import_emnist(args.source, progress=False)
            remove_labels(args.removed_labels, progress=False)
            # The service's own throughput: its check of the proof of work runs, the client does no work.
            site = sites.create_site("load.example", pow_difficulty=0)
            with running_gateway(host=LOOPBACK) as url:
                # The gateway exports the template's environment, where the signing key is a deploy parameter.
                os.environ["TOKEN_SIGNING_KEY"] = "bench-" + uuid.uuid4().hex
                reset_settings()
                warm_up = LoadResults()
                one_loop(url, site, warm_up)  # imports, caches, first shard reads: not timed, its votes checked
                results.vote_ids |= warm_up.vote_ids
                started = time.perf_counter()
                deadline = started + args.duration
                with ThreadPoolExecutor(max_workers=args.clients) as pool:
                    for _ in range(args.clients):
                        pool.submit(client, url, site, results, deadline)
                elapsed = time.perf_counter() - started
            check = count_votes_once(results.vote_ids)
    reset_settings()
    report(results, args.clients, elapsed, check)
    record_results(results, argv, args.clients, elapsed, check)
    return 0 if counted_once(check) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
