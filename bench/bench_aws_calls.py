"""Benchmark: AWS calls per captcha operation, with warm caches (goal: challenge ≤ 2, answer ≤ 2, siteverify ≤ 1).

    .venv/bin/python -m bench.bench_aws_calls [--rounds N] [PATH]     (default: ../shared/data/emnist)

It starts its own emulator, imports EMNIST, removes 5,000 labels (so that challenges hold unlabelled glyphs
from many shards), warms a runtime up, and then counts the calls of each operation with botocore's event hooks
(`drcaptcha_ops.awscalls.count_aws_calls`), which see boto3's and pynamodb's clients alike. Results go in
bench/results/aws_calls.json, and from there (`python -m bench.report`) in docs/BENCHMARKS.md, section "AWS calls
per operation".
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.results import Cell, Table, record, this_command
from drcaptcha import charset, sites
from drcaptcha.challenges import CaptchaRuntime, answer_challenge, issue_challenge
from drcaptcha.config import reset_settings
from drcaptcha.errors import Gone
from drcaptcha.glyphs import REMOVED
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha.siteverify import verify_pass
from drcaptcha_ops.awscalls import count_aws_calls
from drcaptcha_ops.emulator import running_emulator
from drcaptcha_ops.importer import import_emnist, remove_labels
from drcaptcha_ops.poller import StreamPoller, create_poller

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "emnist"
REMOVED_LABELS = 5000
WARMUP_ROUNDS = 150


def right_answer(challenge_id: str) -> str:
    item = ChallengeItem.get(challenge_id, consistent_read=True)
    return "".join("7" if label == REMOVED else charset.character_of(label) for label in item.expected)


def client_ip(round_number: int) -> str:
    # One address a round keeps the bench under the per-client rate limit, as many visitors would.
    return f"10.{round_number // 65536 % 256}.{round_number // 256 % 256}.{round_number % 256}"


class Tally:
    def __init__(self) -> None:
        self.totals: dict[str, list[int]] = {}
        self.operations: dict[str, Counter[str]] = {}

    def count(self, name: str, call: Callable[[], Any]) -> Any:
        with count_aws_calls() as calls:
            result = call()
        self.totals.setdefault(name, []).append(calls.total)
        self.operations.setdefault(name, Counter()).update(calls.by_operation)
        return result

    def add(self, name: str, total: int, by_operation: Counter[str]) -> None:
        self.totals.setdefault(name, []).append(total)
        self.operations.setdefault(name, Counter()).update(by_operation)

    def rows(self) -> list[list[Cell]]:
        """operation, n, mean calls, max calls, calls by operation (summed over the runs)."""
        return [
            [
                name,
                len(totals),
                statistics.fmean(totals),
                max(totals),
                ", ".join(f"{op} {count}" for op, count in sorted(self.operations[name].items())),
            ]
            for name, totals in self.totals.items()
        ]

    def report(self) -> None:
        print(f"{'operation':<34} {'n':>4} {'mean':>6} {'max':>4}  calls by operation (summed over the runs)")
        for name, n, mean, most, operations in self.rows():
            print(f"{name:<34} {n:>4} {mean:>6.2f} {most:>4}  {operations}")


def one_round(runtime: CaptchaRuntime, site: sites.NewSite, number: int, tally: Tally) -> None:
    ip = client_ip(number)
    passed = tally.count("challenge", lambda: issue_challenge(runtime, site.site_key, ip))
    answer = right_answer(passed.challenge_id)
    result = tally.count("answer (pass)", lambda: answer_challenge(runtime, passed.challenge_id, answer))
    tally.count("answer (replay)", lambda: answer_challenge_or_gone(runtime, passed.challenge_id, answer))
    tally.count("siteverify", lambda: verify_pass(runtime, site.secret, result.token))
    tally.count("siteverify (duplicate)", lambda: verify_pass(runtime, site.secret, result.token))

    failed = issue_challenge(runtime, site.site_key, ip)
    # A well-formed answer with every position wrong ("W" is in no lookalike group), from the client's address as
    # the handler passes it, so that the fail costs the client its rate-limit hits as a real one does.
    wrong = "".join("K" if typed.upper() == "W" else "W" for typed in right_answer(failed.challenge_id))
    tally.count("answer (fail)", lambda: answer_challenge(runtime, failed.challenge_id, wrong, source_ip=ip))

    third = issue_challenge(runtime, site.site_key, ip)
    token = answer_challenge(runtime, third.challenge_id, right_answer(third.challenge_id)).token
    key = uuid.uuid4()
    tally.count("siteverify + idempotency_key", lambda: verify_pass(runtime, site.secret, token, key))
    tally.count("siteverify, same idempotency_key", lambda: verify_pass(runtime, site.secret, token, key))


# The poller stands in for Lambda's event source mapping; its own Kinesis reads are not billed as API calls.
POLLER_OPERATIONS = frozenset({"kinesis.ListShards", "kinesis.GetShardIterator", "kinesis.GetRecords"})


def drain(poller: StreamPoller) -> int:
    """Deliver every record on the streams to the labels function (as Lambda would); the records delivered."""
    delivered = 0
    while (batch := poller.poll_once()) > 0:
        delivered += batch
    return delivered


def count_labels(poller: StreamPoller, tally: Tally) -> int:
    """The labels function's calls for every vote on the stream, poller reads left out; the votes delivered."""
    with count_aws_calls() as calls:
        votes = drain(poller)
    own = Counter({op: n for op, n in calls.by_operation.items() if op not in POLLER_OPERATIONS})
    tally.add(f"labels, all {votes} votes", sum(own.values()), own)
    return votes


def answer_challenge_or_gone(runtime: CaptchaRuntime, challenge_id: str, answer: str) -> None:
    try:
        answer_challenge(runtime, challenge_id, answer)
    except Gone:
        return
    raise AssertionError("a replayed answer was accepted")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument(
        "--unlabelled", type=int, default=REMOVED_LABELS, help="labels to remove: fewer puts more votes on each glyph"
    )
    args = parser.parse_args(argv)
    with running_emulator():
        os.environ["TOKEN_SIGNING_KEY"] = "bench-" + uuid.uuid4().hex
        reset_settings()
        import_emnist(args.source, progress=False)
        remove_labels(args.unlabelled, progress=False)
        runtime = CaptchaRuntime.create()
        # The service's own cost is measured: the proof of work (one hash to check) asks for no client work here.
        site = sites.create_site("bench.example", pow_difficulty=0)

        cold = Tally()
        cold.count("challenge (cold process)", lambda: issue_challenge(runtime, site.site_key, client_ip(0)))
        for number in range(1, WARMUP_ROUNDS):
            one_round(runtime, site, number, Tally())
        # The labels function reads from here on (LATEST): the warm-up's votes are not its to count.
        poller = create_poller()
        poller.subscriptions = [dataclasses.replace(s, starting_position="LATEST") for s in poller.subscriptions]
        poller.poll_once()
        warm = Tally()
        for number in range(WARMUP_ROUNDS, WARMUP_ROUNDS + args.rounds):
            one_round(runtime, site, number, warm)
        votes = count_labels(poller, warm)  # two passes a round

    print(
        f"{platform.machine()}, Python {platform.python_version()}; {args.rounds} rounds after {WARMUP_ROUNDS} warm-up"
    )
    cold.report()
    warm.report()
    record(
        "aws_calls",
        command=this_command("bench.bench_aws_calls", argv),
        title="AWS calls per captcha operation, with warm caches",
        tables=[
            Table(
                caption=f"{args.rounds} rounds after {WARMUP_ROUNDS} warm-up rounds",
                columns=["operation", "runs", "mean calls", "max", "calls by operation (summed over the runs)"],
                rows=cold.rows() + warm.rows(),
            )
        ],
        notes=[
            "goal, with a warm cache: challenge ≤ 2, answer ≤ 2, siteverify ≤ 1",
            f"labels: the votes of {2 * args.rounds} passes ({votes / (2 * args.rounds):.2f} a pass), delivered"
            " by the local poller in its batches; its own Kinesis reads are left out",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
