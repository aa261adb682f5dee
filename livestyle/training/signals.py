"""Stopping a training run cleanly on SIGTERM / SIGHUP / SIGINT (Ctrl-C): finish the step, save, say how to
resume, exit 143 (130 for SIGINT).

The handler only records the signal once the training loop polls
:attr:`StopFlag.requested` between steps (never inside one, so the checkpoint
is a consistent state and the resume stays exact); the loop raises
:class:`TrainingStopped` after saving.  Before the loop's first poll (while
the photos are scanned and decoded, the models built) there is nothing to
save, so the handler stops the run at once.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from livestyle.errors import LivestyleError


class TrainingStopped(LivestyleError):
    """Training stopped by a signal after saving its checkpoint (exit 128 + signal number)."""

    exit_code = 143


class StopFlag:
    """Which signal asked the run to stop (None: keep going)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.polled = False  # set by the training loop's first look at `requested`

    @property
    def requested(self) -> bool:
        self.polled = True
        return self.signum is not None

    def before_training(self, signum: int) -> TrainingStopped:
        """The error for a signal that came before the loop's first poll: nothing trained, nothing saved."""
        err = TrainingStopped(f"training stopped by {signal.Signals(signum).name} before its first step; "
                              "nothing was trained and no checkpoint was written or changed.")
        err.exit_code = 128 + signum if signum != signal.SIGHUP else 143
        return err

    def stopped(self, step: int, resume_command: str) -> TrainingStopped:
        name = signal.Signals(self.signum).name if self.signum else "a signal"
        err = TrainingStopped(f"training stopped by {name} at step {step}; the checkpoint is saved.",
                              fix=f"Resume exactly where it stopped with: {resume_command}")
        err.exit_code = 128 + (self.signum or 15) if self.signum != signal.SIGHUP else 143
        return err


@contextmanager
def stop_on_signals(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)) -> Iterator[StopFlag]:
    """Install handlers for ``signums`` that set the returned flag; restore the old ones on exit.

    A signal ignored when livestyle started stays ignored (``nohup`` ignores
    SIGHUP, a shell's background job SIGINT: closing the terminal must not
    stop such a run).  Outside the main thread (where Python cannot install
    handlers) the flag simply never trips.
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    old = {}

    def handler(signum, frame):  # noqa: ARG001
        flag.signum = signum
        if not flag.polled:  # still reading photos or building models: nothing to save, stop now
            raise flag.before_training(signum)

    for s in signums:
        if signal.getsignal(s) is signal.SIG_IGN:
            continue
        old[s] = signal.signal(s, handler)
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)
