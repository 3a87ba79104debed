"""`drcaptcha serve`: the whole service on one machine: emulator, gateway, web/ and the stream poller."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

from werkzeug.serving import BaseWSGIServer, make_server

from drcaptcha.config import get_settings
from drcaptcha_ops.bootstrap import bootstrap
from drcaptcha_ops.commands.stack import interrupt_on_signal
from drcaptcha_ops.emulator import EMULATOR_CREDENTIALS, remove_env_file, running_emulator, write_env_file
from drcaptcha_ops.gateway.app import GATEWAY_CONFIG_KEY, Gateway, create_gateway
from drcaptcha_ops.poller import StreamPoller, create_poller
from drcaptcha_ops.template import LocalStack, local_stack

DEFAULT_PORT = 8080


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser(
        "serve", help="run the API gateway, web/ and the stream poller (on an embedded emulator by default)"
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.set_defaults(run=run_serve)


@dataclass
class LocalService:
    """What `drcaptcha serve` runs: the gateway's HTTP server, and the stream poller in its thread."""

    server: BaseWSGIServer
    gateway: Gateway
    poller: StreamPoller

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.server_port}"


@contextlib.contextmanager
def local_service(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> Iterator[LocalService]:
    """Start the AWS side, the gateway and the poller; stop all of them, in reverse order, on the way out."""
    with ExitStack() as running:
        stack = running.enter_context(aws_stack())
        gateway_app = create_gateway(stack=stack)
        gateway: Gateway = gateway_app.config[GATEWAY_CONFIG_KEY]
        poller = create_poller(stack=stack, functions=gateway.functions)
        poller.start()
        running.callback(poller.stop)
        # werkzeug's threaded server, not functions-framework's gunicorn: gunicorn forks workers, and each fork
        # would get a copy of the embedded moto server's state and a poller of its own. One process with threads
        # keeps one emulator and one poller; each function gets as many instances as concurrent requests need.
        # A port in use, or an address not on this machine: werkzeug says so in one line and exits with 1.
        server = make_server(host, port, gateway_app, threaded=True)
        running.callback(server.server_close)
        yield LocalService(server=server, gateway=gateway, poller=poller)


def run_serve(args: argparse.Namespace) -> int:
    with local_service(args.host, args.port) as service:
        endpoint = get_settings().aws_endpoint_url or "AWS"
        print(f"gateway: {service.url} ({len(service.gateway.routes)} routes, web/, /healthz)")
        for route in service.gateway.routes:
            print(f"  {route.route_key:<40} -> {route.function_id}")
        print(f"stream poller: {len(service.poller.subscriptions)} subscriptions; AWS endpoint: {endpoint}")
        for subscription in service.poller.subscriptions:
            print(f"  {subscription.stream_name:<40} -> {subscription.function_id}")
        print("Ctrl-C stops it")
        signal.signal(signal.SIGTERM, interrupt_on_signal)
        with contextlib.suppress(KeyboardInterrupt):
            service.server.serve_forever()
    return 0


@contextlib.contextmanager
def aws_stack() -> Iterator[LocalStack]:
    """The embedded emulator, or the endpoint AWS_ENDPOINT_URL names (LocalStack) bootstrapped from the template."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        stack = local_stack()
        bootstrap(stack)
        yield stack
        return
    with running_emulator() as emulator:
        # Other shells' `drcaptcha` commands (import-emnist, create-site) find this emulator through the file.
        write_env_file(
            {"AWS_ENDPOINT_URL": emulator.endpoint, **EMULATOR_CREDENTIALS, **emulator.stack.function_environment()}
        )
        try:
            yield emulator.stack
        finally:
            remove_env_file()
