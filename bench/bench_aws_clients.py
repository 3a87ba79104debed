"""What an AWS client costs to make: botocore's service models parsed by every new session, against one loader
shared by the process (drcaptcha.aws). Each side is timed in the same run, interleaved, so that load affects both.

A Lambda cold start makes each client once, and pynamodb makes a botocore session per thread and connection (every
request thread of the local gateway); the tests forget every client between tests. No AWS call is made.

    .venv/bin/python -m bench.bench_aws_clients [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session

from bench.results import Table, record, this_command
from drcaptcha import aws

SERVICES = ("dynamodb", "s3", "kinesis", "ssm")
CLIENT_ARGUMENTS: dict[str, Any] = {
    "region_name": "us-east-1",
    "endpoint_url": "http://127.0.0.1:9",
    "aws_access_key_id": "bench",
    "aws_secret_access_key": "bench",
}


def boto3_fresh_session(service: str) -> Any:
    return boto3.session.Session().client(service, **CLIENT_ARGUMENTS)  # type: ignore[call-overload]


def boto3_shared_loader(service: str) -> Any:
    session = boto3.session.Session(botocore_session=aws.botocore_session())
    return session.client(service, **CLIENT_ARGUMENTS)  # type: ignore[call-overload]


def pynamodb_fresh_session(service: str) -> Any:
    return botocore.session.get_session().create_client(service, **CLIENT_ARGUMENTS)


def pynamodb_shared_loader(service: str) -> Any:
    return aws.botocore_session().create_client(service, **CLIENT_ARGUMENTS)


WAYS: dict[str, Callable[[str], Any]] = {
    "boto3, a fresh session (before)": boto3_fresh_session,
    "boto3, the shared loader (drcaptcha.aws)": boto3_shared_loader,
    "botocore session as pynamodb makes it (before)": pynamodb_fresh_session,
    "botocore session as pynamodb makes it, shared loader": pynamodb_shared_loader,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)

    for make in WAYS.values():  # warm-up: imports, and the shared loader's one parse
        make("dynamodb")
    timings: dict[str, list[float]] = {name: [] for name in WAYS}
    for round_number in range(args.rounds):
        service = SERVICES[round_number % len(SERVICES)]
        for name, make in WAYS.items():
            started = time.perf_counter()
            make(service)
            timings[name].append((time.perf_counter() - started) * 1000)

    rows: list[list[Any]] = []
    for name, samples in timings.items():
        rows.append([name, round(statistics.median(samples), 1), round(max(samples), 1)])
        print(f"{name:55} p50 {statistics.median(samples):7.1f} ms  max {max(samples):7.1f} ms")
    record(
        "aws_clients",
        command=this_command("bench.bench_aws_clients", argv),
        title="Making an AWS client",
        tables=[
            Table(
                caption=f"one session and client, {args.rounds} rounds over {', '.join(SERVICES)}",
                columns=["how", "p50 ms", "max ms"],
                rows=rows,
            )
        ],
        notes=["Each way is timed in turn within every round, in one process."],
    )


if __name__ == "__main__":
    main()
