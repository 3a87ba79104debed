"""What a command with `--json` writes: its one JSON document on stdout, everything else on stderr.

The work behind a command can write to stdout on its own: Keras's epoch lines when the simulation trains its
quick network, powertools' JSON logs (a Lambda logs to stdout), a native library. So the work runs inside
`stdout_to_stderr`, which sends both Python's `sys.stdout` and file descriptor 1 to stderr until it ends, and
the command prints its document after.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Final

# The process's own descriptors, whatever object sys.stdout is: native code writes to these.
STDOUT_FD: Final = 1
STDERR_FD: Final = 2


@contextlib.contextmanager
def stdout_to_stderr(enabled: bool = True) -> Iterator[None]:
    """While the block runs, whatever is written to stdout goes to stderr; nothing is lost or reordered within
    each stream. `enabled` False: a no-op, for the commands' plain-text mode."""
    if not enabled:
        yield
        return
    original = sys.stdout
    original.flush()
    try:
        saved: int | None = os.dup(STDOUT_FD)
        os.dup2(STDERR_FD, STDOUT_FD)
    except OSError:  # no descriptor 1 or 2 to move (a closed stream): Python's stdout is still redirected
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        # Text that went to the original stream object (a logging handler made before the block holds it) is
        # flushed while descriptor 1 still leads to stderr.
        original.flush()
        if saved is not None:
            os.dup2(saved, STDOUT_FD)
            os.close(saved)
