"""`drcaptcha demo` (what `make demo` runs): the whole product on this machine until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from typing import Any

from drcaptcha_ops.commands.stack import interrupt_on_signal
from drcaptcha_ops.demo import DemoPlan, running_demo


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="run the whole product locally: stack, data, network, demo site")
    demo.add_argument("--port", type=int, default=8080, help="the API gateway and pages")
    demo.add_argument("--demo-port", type=int, default=8081, help="the demo sign-up site")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--once", action="store_true", help="set everything up, print it, and stop (for checks)")
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter hides the demo's output
    signal.signal(signal.SIGTERM, interrupt_on_signal)
    with running_demo(DemoPlan(port=args.port, demo_port=args.demo_port, host=args.host)) as where:
        print("\nDrCaptcha demo is running:")
        for name, value in where.items():
            print(f"  {name:<20} {value}")
        if not args.once:
            print("Ctrl-C stops everything")
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
    return 0
