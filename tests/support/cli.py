"""The real ``livestyle`` command in a subprocess, and what its refusals must look like."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import cli_env


def run_cli(args, home: Path, cwd: Path, *, timeout: float = 120, one_thread: bool = True,
            head: list[str] | None = None) -> subprocess.CompletedProcess:
    """``python -m livestyle ARGS`` (or ``head`` + ARGS) with ``LIVESTYLE_HOME=home`` in ``cwd``; one
    OpenMP thread unless ``one_thread`` is False."""
    env = cli_env(home)
    if one_thread:
        env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([*(head or [sys.executable, "-m", "livestyle"]), *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)


def one_error_line(r: subprocess.CompletedProcess) -> str:
    """The run failed with exactly one ``livestyle: error:`` line on stderr and no traceback: that line."""
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("livestyle: error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]
