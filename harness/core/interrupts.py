"""Ctrl-C and SIGTERM: a command stops at a safe point, says so, and exits 130 or 143.

SIGTERM raises the same KeyboardInterrupt as Ctrl-C (remembering which signal came), so every
command's clean-up runs one way: open transactions roll back, a worker pool lets each worker
finish the item in hand, the runbooks have recorded each finished step. What a command finished
is in the control schema, and running it again resumes or starts over safely (the crash-safety
guarantee), so the CLI's one line can say exactly that.
"""

from __future__ import annotations

import os
import signal

_received: list[int] = []  # the signals that interrupted this process, in order


def install() -> None:
    """Turn SIGTERM into KeyboardInterrupt in the main thread (Ctrl-C already is one)."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)


def _interrupt(signum: int, _frame: object) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def signal_name() -> str:
    return signal.Signals(_received[-1]).name if _received else "SIGINT"


def exit_code() -> int:
    """128 + the signal's number, as shells report it: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (_received[-1] if _received else signal.SIGINT)


def interrupt_here_if_asked(point: str) -> None:
    """A failpoint for the interrupt tests: MIGRATE_INTERRUPT_AT=<command>:<point> sends this
    process SIGINT there, exactly as an operator's Ctrl-C would (SIGTERM with MIGRATE_INTERRUPT_SIGNAL=TERM)."""
    if os.environ.get("MIGRATE_INTERRUPT_AT") == point:
        os.kill(os.getpid(), signal.SIGTERM if os.environ.get("MIGRATE_INTERRUPT_SIGNAL") == "TERM" else signal.SIGINT)
