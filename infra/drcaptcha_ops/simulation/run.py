"""One run: randomly chosen agents take captchas, and the run log tallies what happened to each kind."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from drcaptcha import charset, lookalikes
from drcaptcha.errors import BadRequest
from drcaptcha_ops.simulation.agents import Crowd, Kind, Sight
from drcaptcha_ops.simulation.bots import GlyphReader, bot_answer
from drcaptcha_ops.simulation.oracle import Oracle
from drcaptcha_ops.simulation.transport import Transport


@dataclass(frozen=True)
class SimulationConfig:
    humans: int = 20
    spammers: int = 0
    colluders: int = 0
    bots: int = 0
    challenges: int = 100
    seed: int = 0
    warp: bool = True
    hard_selection: bool = True
    through_gateway: bool = False
    # Votes reach the labels function in batches, as the stream's consumer reads them.
    drain_every: int = 20
    seconds_per_challenge: float = 1.0


@dataclass
class KindTally:
    attempts: int = 0
    passed: int = 0
    refused: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.attempts if self.attempts else None


@dataclass
class RunLog:
    tallies: dict[str, KindTally] = field(default_factory=lambda: {kind.value: KindTally() for kind in Kind})
    votes_sent: int = 0
    bot_segmented: int = 0
    bot_glyphs_right: int = 0
    bot_glyphs: int = 0
    # kind -> {scored glyphs wrong in an attempt: attempts}: what any other scoring rule would have passed
    scored_wrong: dict[str, Counter[int]] = field(default_factory=lambda: {kind.value: Counter() for kind in Kind})
    scored_glyphs: Counter[str] = field(default_factory=Counter)
    # Each attempt's agent kind and whether it passed, in order: how the pass rates move as gold readings come in.
    outcomes: list[tuple[str, bool]] = field(default_factory=list)


def run_crowd(
    config: SimulationConfig,
    transport: Transport,
    oracle: Oracle,
    drain: Callable[[], int],
    bot_network: GlyphReader | None,
    advance: Callable[[float], None] = lambda seconds: None,
    progress: bool = False,
) -> RunLog:
    """Let randomly chosen agents take `config.challenges` captchas, draining the vote stream as they go."""
    rng = np.random.default_rng(config.seed)
    crowd = Crowd.create(config.humans, config.spammers, config.colluders, config.bots, rng)
    if config.bots and bot_network is None:
        raise BadRequest("bots need a network to classify glyphs with, and none is available")
    log = RunLog()
    for number in tqdm(range(config.challenges), desc="simulating", disable=not progress, leave=False):
        agent = crowd.pick(rng)
        tally = log.tallies[agent.kind.value]
        advance(config.seconds_per_challenge)
        issued = transport.challenge(agent.address)
        if issued is None:
            tally.refused += 1
            continue
        challenge_id, png = issued
        sight = oracle.sight(challenge_id)
        if agent.kind is Kind.BOT and bot_network is not None:
            text = bot_answer(png, bot_network)
            log.bot_glyphs += len(sight.truth)
            log.bot_glyphs_right += sum(charset.class_of(c) == t for c, t in zip(text, sight.truth, strict=False))
        else:
            text = agent.answer(sight, rng)
        tally.attempts += 1
        log.scored_wrong[agent.kind.value][scored_mistakes(text, sight)] += 1
        log.scored_glyphs[agent.kind.value] += sum(sight.scored)
        passed = transport.answer(challenge_id, text)
        log.outcomes.append((agent.kind.value, passed))
        if passed:
            tally.passed += 1
            log.votes_sent += sum(not scored for scored in sight.scored)
        if (number + 1) % config.drain_every == 0:
            drain()
    drain()
    return log


def scored_mistakes(text: str, sight: Sight) -> int:
    """Scored positions typed wrong (a missing character counts as wrong), as the captcha scores them: under the
    merge rule and the lookalike groups."""
    typed = [charset.class_of(character) for character in text] + [None] * len(sight.truth)
    return sum(
        1
        for position, scored in enumerate(sight.scored)
        if scored and typed[position] not in lookalikes.readings_of(sight.truth[position])
    )
