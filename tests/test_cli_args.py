"""CLI arguments and optional extras, through the real CLI in a subprocess.

Missing extras are made real by a meta-path finder that refuses the module (as an install without the extra
would), installed before livestyle's own code runs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import one_error_line, run_cli

BLOCKING_MAIN = """
import sys
blocked = set(sys.argv[1].split(","))
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Refuse())
from livestyle.cli import main
sys.exit(main(sys.argv[2:]))
"""


def cli(args, home: Path, cwd: Path, *, without: str | None = None, timeout: float = 60):
    head = [sys.executable, "-c", BLOCKING_MAIN, without] if without else None
    return run_cli(args, home, cwd, timeout=timeout, one_thread=False, head=head)


# -- extras: checked before the work --------------------------------------------------------------------------------


def test_bench_without_matplotlib_says_so_before_measuring(tmp_path):
    t0 = time.monotonic()
    r = cli(["bench", "--seconds", 20, "--size", "320x180", "--out", tmp_path / "b"], tmp_path / "h", tmp_path,
            without="matplotlib")
    line = one_error_line(r)
    assert "needs matplotlib" in line and "pip install 'livestyle[bench]'" in line, line
    assert time.monotonic() - t0 < 15  # not after 20 s of measuring
    assert "bench:" not in r.stderr.replace("livestyle: error:", "") and not (tmp_path / "b").exists()


@pytest.mark.parametrize("command", [["train", "--style-images", "s", "--content-images", "c", "--name", "x"],
                                     ["train", "--name", "x", "--resume"]])
def test_train_without_torch_names_the_extra(tmp_path, command):
    line = one_error_line(cli(command, tmp_path / "h", tmp_path, without="torch"))
    assert "`livestyle train` needs torch" in line and "pip install 'livestyle[train]'" in line, line


def test_capture_without_tqdm_names_the_extra(tmp_path):
    line = one_error_line(cli(["capture", "--camera", "demo", "--frames", 2, "--out", tmp_path / "me"],
                              tmp_path / "h", tmp_path, without="tqdm"))
    assert "pip install 'livestyle[train]'" in line and not (tmp_path / "me").exists()


# -- numbers --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flags,words", [
    (["--seconds", "inf"], "--seconds inf must be a finite number above 0"),
    (["--seconds", "nan"], "--seconds nan must be a finite number above 0"),
    (["--fps", "0"], "--fps 0.0 must be a finite number above 0"),
    (["--fps", "-5"], "--fps -5.0 must be a finite number above 0"),
    (["--fps", "inf"], "--fps inf must be a finite number above 0"),
])
def test_bench_refuses_endless_or_zero_numbers(tmp_path, flags, words):
    r = cli(["bench", *flags, "--out", tmp_path / "b"], tmp_path / "h", tmp_path, timeout=30)
    assert words in one_error_line(r)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("fps", ["0", "-1", "nan", "inf"])
def test_run_refuses_a_zero_or_endless_fps(tmp_path, fps):
    r = cli(["run", "--input", "demo", "--output", "null", "--max-frames", 2, "--fps", fps], tmp_path / "h", tmp_path)
    assert "must be a finite number above 0" in one_error_line(r)


def test_run_strength_minus_zero_is_zero(tmp_path):
    report = tmp_path / "r.json"
    r = cli(["run", "--input", "demo", "--output", "null", "--max-frames", 2, "--strength", "-0.0", "--report",
             report, "--quiet"], tmp_path / "h", tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    text = report.read_text()
    assert json.loads(text)["strength"] == 0.0 and '"strength": -0.0' not in text


def test_mix_with_huge_weights_normalises_without_overflow(tmp_path):
    home = tmp_path / "h"
    r = cli(["mix", "big", "--from", "vintage:1e308,pencil:1e308"], home, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "sum to 0" not in r.stderr and "sum to inf" not in r.stderr
    meta = json.loads((home / "styles" / "big" / "style.json").read_text())
    assert meta["mix"] == {"vintage": 0.5, "pencil": 0.5}
    r = cli(["mix", "tiny", "--from", "vintage:3e-320,pencil:1e-320"], home, tmp_path)  # subnormal weights too
    assert r.returncode == 0, r.stderr
    assert json.loads((home / "styles" / "tiny" / "style.json").read_text())["mix"] == {"vintage": 0.75,
                                                                                        "pencil": 0.25}
    for bad in ("vintage:inf,pencil:1", "vintage:nan,pencil:1", "vintage:1e309"):
        assert "finite" in one_error_line(cli(["mix", "bad", "--from", bad], home, tmp_path))
    assert "sum to 0" in one_error_line(cli(["mix", "zero", "--from", "vintage:0,pencil:0"], home, tmp_path))


def test_obs_mic_without_obs_is_refused_not_ignored(tmp_path):
    r = cli(["run", "--input", "demo", "--output", "null", "--max-frames", 2, "--obs-mic", "Mic"], tmp_path / "h",
            tmp_path)
    line = one_error_line(r)
    assert r.returncode == 2 and "--obs-mic 'Mic' needs --obs" in line, line
