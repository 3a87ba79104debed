"""A run against the stack: `simulate` wires the crowd to the captcha API and the stream poller, `fresh_stack`
starts an embedded emulator with an import and removed labels, and `best_network` finds the network for bots and
hard glyphs."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from drcaptcha import sites
from drcaptcha.challenges import CaptchaRuntime, replace_runtime
from drcaptcha.ensembles import LoadedEnsemble
from drcaptcha.errors import DataError
from drcaptcha.glyphs import GlyphStore
from drcaptcha.render import RenderStyle, render_captcha
from drcaptcha.selection import GLYPHS_PER_CHALLENGE, GlyphSelector, active_ensemble_for_selection
from drcaptcha_ops.simulation.bots import GlyphReader
from drcaptcha_ops.simulation.oracle import Oracle
from drcaptcha_ops.simulation.report import SimulationReport, build_report
from drcaptcha_ops.simulation.run import SimulationConfig, run_crowd
from drcaptcha_ops.simulation.transport import GatewayTransport, LibraryTransport, SimulatedClock, Transport

# --- wiring -------------------------------------------------------------------------------------------------------


def simulate(
    config: SimulationConfig,
    removed_labels: int,
    network: LoadedEnsemble | None = None,
    network_name: str | None = None,
    progress: bool = False,
    bot_reader: GlyphReader | None = None,
) -> SimulationReport:
    """Run the crowd against the configured (emulated) stack, which holds an import with removed labels. Bots
    read with `bot_reader` where given (a network of their own: the transfer bot), else with `network`."""
    from drcaptcha_ops.poller import create_poller

    started = time.perf_counter()
    store = GlyphStore()
    oracle = Oracle(store, network)
    # No proof of work: what it costs is measured by bench/bench_pow.py; here hashlib would only add time (a failing
    # bot's 20 bits are about a second of Python each) without changing a vote or a pass.
    site = sites.create_site("simulation.example", pow_difficulty=0)
    poller = create_poller()
    # The labels function logs every vote at INFO: thousands of lines that would bury the report. The functions
    # are imported on their first invocation, after this, so their loggers start at this level.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    logging.getLogger("drcaptcha").setLevel(logging.WARNING)

    def drain() -> int:
        total = 0
        while delivered := poller.poll_once():
            total += delivered
        return total

    renderer = partial(render_captcha, style=RenderStyle(warp=config.warp))
    with _transport(config, site.site_key, renderer) as (transport, advance):
        log = run_crowd(config, transport, oracle, drain, bot_reader or network, advance, progress)
    return build_report(
        config,
        log,
        oracle,
        removed_labels,
        network_name,
        ("on" if network is not None else "on, but no active ensemble to rank glyphs")
        if config.hard_selection
        else "off",
        time.perf_counter() - started,
    )


@contextmanager
def _transport(
    config: SimulationConfig, site_key: str, renderer: Callable[..., bytes]
) -> Iterator[tuple[Transport, Callable[[float], None]]]:
    if config.through_gateway:
        from drcaptcha_ops.gateway.app import running_gateway

        # The gateway's captcha function shares this process's library, so its warm runtime is ours to set.
        replace_runtime(captcha_runtime(config, renderer))
        try:
            with running_gateway() as url:
                yield GatewayTransport(url, site_key), lambda seconds: None
        finally:
            replace_runtime(None)
        return
    clock = SimulatedClock()

    def advance(seconds: float) -> None:
        clock.now += seconds

    yield LibraryTransport(captcha_runtime(config, renderer, clock), site_key), advance


def captcha_runtime(
    config: SimulationConfig, renderer: Callable[..., bytes], clock: Callable[[], float] = time.time
) -> CaptchaRuntime:
    """A captcha runtime as production makes it, with the warp and the hard-glyph preference as configured."""
    runtime = CaptchaRuntime.create(clock=clock, renderer=renderer)
    # A seeded generator for the glyph choice and the rendering too, so that a seed repeats a whole run.
    runtime.rng = np.random.default_rng([config.seed, 1])
    # Without an ensemble to ask, the selector picks uniformly: hard-glyph selection switched off.
    ensemble = active_ensemble_for_selection if config.hard_selection else lambda: None
    runtime.selector = GlyphSelector(runtime.glyphs, runtime.rng, clock, ensemble=ensemble)
    return runtime


# --- a fresh stack for one run ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackPlan:
    """The data a run starts from: an EMNIST import (a subset, for speed) and how many labels to remove."""

    emnist: Path
    limit: int | None = 20_000
    remove: int = 1_000
    import_seed: int = 0


@contextmanager
def fresh_stack(plan: StackPlan, progress: bool = False) -> Iterator[int]:
    """An embedded emulator of its own (a simulation poisons labels: never point it at a real stack), with the
    import and the removed labels; yields the number of removed labels."""
    import uuid

    from drcaptcha.config import reset_settings
    from drcaptcha_ops.emulator import running_emulator
    from drcaptcha_ops.importer import import_emnist, remove_labels

    with running_emulator():
        os.environ["TOKEN_SIGNING_KEY"] = "simulation-" + uuid.uuid4().hex
        reset_settings()
        replace_runtime(None)
        import_emnist(plan.emnist, seed=plan.import_seed, limit=plan.limit, progress=progress)
        removed = remove_labels(plan.remove, seed=plan.import_seed, progress=progress).removed
        yield removed


def best_network(
    say: Callable[[str], None] = print, network_dirs: Sequence[Path] = (), quick: bool = False
) -> tuple[LoadedEnsemble, str]:
    """The active ensemble if there is one; else an ensemble of the networks in `network_dirs` (fully trained
    ones, in the demo's cache format: bench/bench_ensemble.py --export writes them), or of the committed fully
    trained networks (networks/, with their weights), or, with `quick` or without those, of the demo's quick
    network (trained once, then cached), created and activated, as an admin would."""
    from drcaptcha import ensemble_admin
    from drcaptcha.ensembles import load_ensemble_for_batch, read_manifest
    from drcaptcha.models.api.admin import MemberRequest
    from drcaptcha_ops.demo import committed_ensemble, quick_network, register_committed, restore_cached_network

    store = GlyphStore()
    pointer = ensemble_admin.read_pointer()
    if pointer is None:
        network_ids = [restore_cached_network(store, folder) for folder in network_dirs]
        missing = [str(folder) for folder, found in zip(network_dirs, network_ids, strict=True) if found is None]
        if missing:
            raise DataError(f"no cached network (item.json and files/) in {', '.join(missing)}")
        requests = [MemberRequest(network_id=str(network_id), weight=1.0) for network_id in network_ids]
        committed = [] if quick or requests else committed_ensemble()
        if committed:
            requests = register_committed(store, committed)
        if not requests:
            requests = [MemberRequest(network_id=quick_network(store, store.manifest().import_id, say), weight=1.0)]
        created = ensemble_admin.create_ensemble("simulation", requests)
        pointer_id = ensemble_admin.activate_ensemble(created.ensemble_id, by="simulation").active_id
    else:
        pointer_id = pointer.active_id
    manifest = read_manifest(store, pointer_id)
    members = ", ".join(member.network_id for member in manifest.members)
    accuracy = "" if manifest.accuracy is None else f", test accuracy {manifest.accuracy:.1%}"
    return load_ensemble_for_batch(
        store, manifest, GLYPHS_PER_CHALLENGE
    ), f"ensemble {pointer_id} ({members}{accuracy})"
