"""`drcaptcha train`: run the training job in this process (CPU) or submit it to AWS Batch (GPU).

Both runners take the same options and run the same entry point (`python -m drcaptcha_train`), which reads
and writes the same S3 layout, so a network trained either way is registered and served the same way.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

from drcaptcha import aws
from drcaptcha.config import get_settings
from drcaptcha.errors import BadRequest
from drcaptcha_train.options import add_training_arguments, summary

RUNNERS = ("local", "batch")


def register(subparsers: Any) -> None:
    train = subparsers.add_parser("train", help="train a network (in-process on CPU, or as the GPU Batch job)")
    add_training_arguments(train)
    train.add_argument("--runner", choices=RUNNERS, default="local", help="local (default): in this process")
    train.set_defaults(run=run_train)


def job_arguments(args: argparse.Namespace) -> list[str]:
    """The entry point's command line for these options (what the Batch container runs)."""
    command = ["--network", args.network, "--batch-size", str(args.batch_size)]
    for flag, value in (
        ("--epochs", args.epochs),
        ("--limit", args.limit),
        ("--network-id", args.network_id),
        ("--ensemble", args.ensemble),
    ):
        if value is not None:
            command += [flag, str(value)]
    return command


def run_train(args: argparse.Namespace) -> int:
    if args.runner == "batch":
        job_id = submit_batch_job(job_arguments(args), args.network)
        print(f"submitted training job {job_id} ({args.network}) to AWS Batch")
        return 0
    from drcaptcha_train.job import TrainingOptions, run_training  # TensorFlow loads only for a local run

    options = TrainingOptions(args.network, args.epochs, args.batch_size, args.limit, args.network_id, args.ensemble)
    result = run_training(options)
    print(summary(result.network_id, result.metrics, result.ensemble_key))
    return 0


def submit_batch_job(command: list[str], network: str) -> str:
    """Submit the GPU job to the queue and definition that template.yaml declares; returns the job id."""
    settings = get_settings()
    if not settings.training_job_queue or not settings.training_job_definition:
        raise BadRequest("TRAINING_JOB_QUEUE and TRAINING_JOB_DEFINITION must be set to submit a Batch job")
    name = re.sub(r"[^A-Za-z0-9_-]", "-", f"drcaptcha-train-{network}-{int(time.time())}")[:128]
    response = aws.client("batch").submit_job(
        jobName=name,
        jobQueue=settings.training_job_queue,
        jobDefinition=settings.training_job_definition,
        containerOverrides={"command": command},
    )
    job_id: str = response["jobId"]
    return job_id
