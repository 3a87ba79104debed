"""Benchmark: what the proof of work costs a visitor and an attacker (issue 16, item 2).

    .venv/bin/python -m bench.bench_pow [--browser-bits 14] [--browser-runs 12] [--python-runs 40]

- Visitors: hashes per second in headless Chromium (Debian's, /usr/bin/chromium), measured through the widget's
  own worker: web/widget.js is served from 127.0.0.1 (Web Crypto needs a secure context, which localhost is) and
  `drcaptcha.solve(salt, bits)` runs `--browser-runs` puzzles of `--browser-bits` bits on fresh random salts,
  each in a new Web Worker, as the widget does; the rate is hashes tried / milliseconds, summed over the runs.
- Attackers: Python's hashlib through `drcaptcha.pow.solve` (what the simulation's bots run), and C through
  `openssl speed -seconds 3 sha256` (its 16-byte column: one compression per call, as for our ~30-byte messages),
  where openssl is installed. A tuned miner (SHA-NI, many buffers at once) or a GPU is faster still: see the notes.
- Solve time per difficulty: 2**bits expected hashes / each rate; the low-end phone is the browser's rate divided
  by PHONE_SLOWDOWN (stated below).
- Attacker cost per 1,000 passes: expected CPU-seconds per attempt at the fastest native rate measured, times
  VCPU_DOLLARS_PER_HOUR, divided by the bots' pass rate that the crowd simulation measured
  (bench/results/simulation.json, base run), times 1,000.
Results go in bench/results/pow.json and, through `python -m bench.report`, docs/BENCHMARKS.md ("Proof of work").
"""

from __future__ import annotations

import argparse
import http.server
import json
import math
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Final

from bench.results import REPO_ROOT, RESULTS_DIR, Table, record, this_command
from drcaptcha import pow

CHROMIUM: Final = "/usr/bin/chromium"
# A low-end phone (a 2020 iPhone SE class, or a 2019 Android mid-ranger) runs Web Crypto's SHA-256 about this many
# times slower than one core of this machine's Chromium: an assumption, stated here and in docs/BENCHMARKS.md,
# not a measurement (no phone is reachable from this machine).
PHONE_SLOWDOWN: Final = 4.0
# An on-demand vCPU: AWS c7g (Graviton3) in us-east-1, $0.0725 an hour for c7g.large's 2 vCPUs.
VCPU_DOLLARS_PER_HOUR: Final = 0.03625
FARM_DOLLARS_PER_1000: Final = (1.0, 3.0)
DIFFICULTIES: Final = (13, 16, 17, 18, 20, 22, 24, 26, 28)
PAGE: Final = '<!doctype html><html lang="en"><title>pow bench</title><script src="/widget.js"></script></html>'


# The widget's first solver, kept here only to be measured beside the one it has now: Web Crypto's
# crypto.subtle.digest in batches of 256 promises, on the page. The widget computes SHA-256 in plain JavaScript
# instead (web/widget.js, solvePow) because this measured 30-35x slower (docs/BENCHMARKS.md, "Proof of work").
WEB_CRYPTO_SOLVER: Final = """async ([bits, salts]) => {
  const encoder = new TextEncoder();
  let hashes = 0;
  const started = performance.now();
  for (const salt of salts) {
    for (let next = 0, found = false; !found; next += 256) {
      const batch = [];
      for (let i = 0; i < 256; i++) {
        batch.push(crypto.subtle.digest("SHA-256", encoder.encode(salt + ":" + (next + i))));
      }
      const done = await Promise.all(batch);
      for (let i = 0; i < done.length && !found; i++) {
        const bytes = new Uint8Array(done[i]);
        let zeros = 0;
        for (const byte of bytes) { if (byte) { zeros += Math.clz32(byte) - 24; break; } zeros += 8; }
        if (zeros >= bits) { found = true; hashes += next + i + 1; }
      }
    }
  }
  return { hashes, ms: performance.now() - started };
}"""


def browser_rate(bits: int, runs: int, web_crypto_bits: int, web_crypto_runs: int) -> dict[str, Any]:
    """Hashes per second through the widget's own worker in headless Chromium, and (in the same browser) through
    Web Crypto on the page, the widget's former solver."""
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="pow-bench-"))
    shutil.copy(REPO_ROOT / "web" / "widget.js", folder / "widget.js")
    (folder / "index.html").write_text(PAGE, encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/")
            results: list[dict[str, float]] = page.evaluate(
                """async ([bits, salts]) => {
                  const out = [];
                  for (const salt of salts) out.push(await drcaptcha.solve(salt, bits));
                  return out;
                }""",
                [bits, [secrets.token_urlsafe(16) for _ in range(runs)]],
            )
            web_crypto: dict[str, float] = page.evaluate(
                WEB_CRYPTO_SOLVER, [web_crypto_bits, [secrets.token_urlsafe(16) for _ in range(web_crypto_runs)]]
            )
            version = browser.version
            browser.close()
    finally:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    hashes = sum(result["hashes"] for result in results)
    milliseconds = sum(result["ms"] for result in results)
    return {
        "rate": hashes / (milliseconds / 1000),
        "hashes": hashes,
        "seconds": milliseconds / 1000,
        "version": version,
        "web_crypto_rate": web_crypto["hashes"] / (web_crypto["ms"] / 1000),
        "web_crypto_hashes": web_crypto["hashes"],
        "web_crypto_seconds": web_crypto["ms"] / 1000,
    }


def python_rate(bits: int, runs: int) -> dict[str, float]:
    """Hashes per second of drcaptcha.pow.solve (hashlib), one core."""
    hashes = 0
    started = time.perf_counter()
    for _ in range(runs):
        hashes += int(pow.solve(secrets.token_urlsafe(16), bits)) + 1
    seconds = time.perf_counter() - started
    return {"rate": hashes / seconds, "hashes": hashes, "seconds": seconds}


def openssl_rate() -> dict[str, Any] | None:
    """SHA-256 calls per second of `openssl speed` on 16-byte messages (one core), or None without openssl."""
    if shutil.which("openssl") is None:
        return None
    output = subprocess.run(
        ["openssl", "speed", "-seconds", "3", "sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"^sha256\s+([\d.]+)k", output, re.MULTILINE)
    if match is None:
        return None
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True).stdout.strip()
    return {"rate": float(match.group(1)) * 1000 / 16, "version": version}


def bot_pass_rate() -> float:
    """The bots' pass rate of the crowd simulation's base run (bench/results/simulation.json)."""
    simulation = json.loads((RESULTS_DIR / "simulation.json").read_text(encoding="utf-8"))
    table = simulation["tables"][0]
    row = next(row for row in table["rows"] if row[0] == "base")
    return float(str(row[table["columns"].index("bots pass")]).rstrip("%")) / 100


def seconds_text(seconds: float) -> str:
    return (
        f"{seconds * 1000:.0f} ms"
        if seconds < 1
        else f"{seconds:.1f} s"
        if seconds < 600
        else f"{seconds / 60:.0f} min"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--browser-bits", type=int, default=18)
    parser.add_argument("--browser-runs", type=int, default=12)
    parser.add_argument("--web-crypto-bits", type=int, default=12)
    parser.add_argument("--web-crypto-runs", type=int, default=6)
    parser.add_argument("--python-runs", type=int, default=12)
    args = parser.parse_args(argv)

    browser = browser_rate(args.browser_bits, args.browser_runs, args.web_crypto_bits, args.web_crypto_runs)
    python = python_rate(args.browser_bits, args.python_runs)
    native = openssl_rate()
    attacker = max([python["rate"]] + ([native["rate"]] if native else []))
    passes = bot_pass_rate()
    phone = browser["rate"] / PHONE_SLOWDOWN

    rate_rows: list[list[Any]] = [
        [
            "visitor",
            f"Chromium {browser['version']}, the widget's worker (its JavaScript SHA-256)",
            round(browser["rate"]),
        ],
        [
            "visitor",
            "the same Chromium, Web Crypto on the page (the widget's former solver)",
            round(browser["web_crypto_rate"]),
        ],
        ["visitor", f"low-end phone: the browser's rate / {PHONE_SLOWDOWN:g} (assumed)", round(phone)],
        ["attacker", "Python hashlib (drcaptcha.pow.solve)", round(python["rate"])],
    ]
    if native:
        rate_rows.append(
            ["attacker", f"C: {native['version']}, `openssl speed sha256`, 16-byte calls", round(native["rate"])]
        )
    rates = Table(caption="SHA-256 hashes per second, one core", columns=["who", "how", "hashes/s"], rows=rate_rows)
    solve_rows: list[list[Any]] = []
    for bits in DIFFICULTIES:
        expected = 2.0**bits
        cpu_seconds = expected / attacker
        dollars_per_1000 = cpu_seconds * VCPU_DOLLARS_PER_HOUR / 3600 / passes * 1000
        solve_rows.append(
            [
                bits,
                seconds_text(expected / browser["rate"]),
                seconds_text(expected / phone),
                seconds_text(cpu_seconds),
                f"${dollars_per_1000:.4f}",
            ]
        )
    solves = Table(
        caption=(
            f"expected solve time per difficulty (2^bits hashes) and the attacker's cost per 1,000 passes "
            f"(native rate, ${VCPU_DOLLARS_PER_HOUR}/vCPU-hour, bots pass {passes:.2%} of attempts)"
        ),
        columns=["bits", "this Chromium", "low-end phone", "attacker CPU", "attacker $/1,000 passes"],
        rows=solve_rows,
    )
    default_bits = pow.DEFAULT_DIFFICULTY
    attack_bits = default_bits + pow.MAX_EXTRA_BITS
    break_even = next(
        (bits for bits in range(8, 64) if 2.0**bits / attacker * VCPU_DOLLARS_PER_HOUR / 3600 / passes * 1000 >= 1.0),
        None,
    )
    phone_default = 2.0**default_bits / phone
    notes = [
        f"default difficulty {default_bits} bits: {seconds_text(2.0**default_bits / browser['rate'])} in this Chromium,"
        f" {seconds_text(phone_default)} on the assumed low-end phone (goal <= 1 s: "
        f"{'met' if phone_default <= 1 else 'not met'}); one visitor in ten waits more than "
        f"{seconds_text(phone_default * math.log(10))} there (the number of tries is geometric)",
        f"under attack ({attack_bits} bits, the most a client's failures and rate add): "
        f"{seconds_text(2.0**attack_bits / attacker)} of attacker CPU per attempt, "
        f"${2.0**attack_bits / attacker * VCPU_DOLLARS_PER_HOUR / 3600 / passes * 1000:.3f} per 1,000 passes: goal "
        f"(more than a farm's ${FARM_DOLLARS_PER_1000[0]:g}-{FARM_DOLLARS_PER_1000[1]:g}) not met",
        f"the attacker pays $1 per 1,000 passes only from {break_even} bits, where a visitor on the phone waits "
        f"{seconds_text(2.0 ** (break_even or 0) / phone)}: SHA-256 alone cannot price out a bot that passes "
        f"{passes:.0%} of the glyphs; the pass rate is the lever (docs/DESIGN.md, 'Proof of work')",
        f"browser: {browser['hashes']} hashes in {browser['seconds']:.1f} s over {args.browser_runs} puzzles of "
        f"{args.browser_bits} bits (each in a new worker, its start included); Web Crypto: "
        f"{browser['web_crypto_hashes']} hashes in {browser['web_crypto_seconds']:.1f} s over {args.web_crypto_runs} "
        f"puzzles of {args.web_crypto_bits} bits, {browser['rate'] / browser['web_crypto_rate']:.0f}x slower than the "
        f"widget's solver; Python: {python['hashes']} hashes in {python['seconds']:.1f} s",
        "not measured: a tuned native miner (SHA-NI, multi-buffer) or a GPU, both far faster than openssl's "
        "one-call-at-a-time rate, so these costs are an upper bound on what an attacker pays",
    ]
    path = record(
        "pow",
        command=this_command("bench.bench_pow", argv),
        title="Proof of work: what a visitor waits and what an attacker pays",
        tables=[rates, solves],
        notes=notes,
    )
    print(json.dumps({"rates": rates, "solves": solves, "notes": notes}, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
