"""`drcaptcha emulator` and `drcaptcha bootstrap`: the local AWS stack."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from drcaptcha.config import get_settings
from drcaptcha.errors import BadRequest
from drcaptcha_ops.bootstrap import bootstrap, export_environment
from drcaptcha_ops.emulator import EMULATOR_CREDENTIALS, remove_env_file, running_emulator, write_env_file
from drcaptcha_ops.template import local_stack

DEFAULT_EMULATOR_PORT = 5599


def register(subparsers: Any) -> None:
    emulator = subparsers.add_parser("emulator", help="run a moto server with the template's resources")
    emulator.add_argument("--port", type=int, default=DEFAULT_EMULATOR_PORT, help="0 picks a free port")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.set_defaults(run=run_emulator)

    boot = subparsers.add_parser(
        "bootstrap", help="create the template's resources in an emulator at AWS_ENDPOINT_URL (never on AWS)"
    )
    boot.set_defaults(run=run_bootstrap)


def run_emulator(args: argparse.Namespace) -> int:
    with running_emulator(port=args.port, host=args.host) as emulator:
        environment = {
            "AWS_ENDPOINT_URL": emulator.endpoint,
            **EMULATOR_CREDENTIALS,
            **emulator.stack.function_environment(),
        }
        write_env_file(environment)
        print(f"emulator: moto server at {emulator.endpoint} with {len(emulator.stack.resources)} resources")
        print("other shells in this folder use it through .drcaptcha/env; Ctrl-C stops it")
        signal.signal(signal.SIGTERM, interrupt_on_signal)
        try:
            threading.Event().wait()
        finally:
            remove_env_file()
    return 0


def run_bootstrap(args: argparse.Namespace) -> int:
    if not get_settings().aws_endpoint_url:
        # On AWS the stack owns the resources: a bootstrap there would make a second, unmanaged set.
        raise BadRequest(
            "bootstrap is for emulators (set AWS_ENDPOINT_URL); on AWS deploy with `sam deploy` and point the CLI "
            "at the stack with `drcaptcha deploy-env --stack NAME` (docs/DEPLOY.md)"
        )
    stack = local_stack()
    report = bootstrap(stack)
    export_environment(stack)
    endpoint = get_settings().aws_endpoint_url
    print(
        f"bootstrap at {endpoint}: created {len(report.created)}, existing {len(report.existing)}, "
        f"left to SAM {len(report.skipped)}"
    )
    for logical_id in report.created:
        print(f"  created  {logical_id:<20} {stack.physical_name(logical_id)}")
    return 0


def interrupt_on_signal(signum: int, frame: object) -> None:
    """A SIGTERM handler that stops a command the way Ctrl-C does, so its cleanup runs."""
    raise KeyboardInterrupt
