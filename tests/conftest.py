"""Shared fixtures: an isolated style folder holding a randomly initialised student pack."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # so `tests.support` imports work from any cwd


@pytest.fixture(autouse=True, scope="session")
def _private_state_folder(tmp_path_factory):
    """livestyle's state files (OBS offsets, remembered inference sizes) go to a temp folder for the whole
    session, subprocesses included, never to the state folder of the user running the tests."""
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before


@pytest.fixture(scope="session")
def random_pack(tmp_path_factory) -> Path:
    """A style pack with a random student of the shipped architecture (same cost as a trained one)."""
    from livestyle.export.onnx import random_student_pack

    return random_student_pack(tmp_path_factory.mktemp("packs") / "random", name="random", seed=0)


@pytest.fixture()
def livestyle_home(tmp_path, random_pack, monkeypatch) -> Path:
    """LIVESTYLE_HOME in a temp dir with the random pack installed as style 'random' (and a second, 'random2')."""
    import shutil

    home = tmp_path / "home"
    (home / "styles").mkdir(parents=True)
    shutil.copytree(random_pack, home / "styles" / "random")
    from livestyle.export.onnx import random_student_pack

    random_student_pack(home / "styles" / "random2", name="random2", seed=1)
    monkeypatch.setenv("LIVESTYLE_HOME", str(home))
    return home


def cli_env(home: Path | None = None) -> dict:
    """Environment for running the real CLI in a subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if home is not None:
        env["LIVESTYLE_HOME"] = str(home)
    return env
