"""Pack format v2: engines listed look by look, blends and mixes, versioning, and broken user packs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livestyle.errors import LivestyleError, StyleError, UsageError
from livestyle.runners.contract import still_feeds
from livestyle.styles import discover, expand, find_style, parse_blend
from livestyle.styles.blend import engine_weights
from livestyle.styles.pack import BUNDLED_DIR, load_packs

NAMES = ["rosy", "cold", "grey"]


@pytest.fixture(scope="module")
def engine_dir(tmp_path_factory):
    from livestyle.export.engine_pack import random_engine_pack

    return random_engine_pack(tmp_path_factory.mktemp("packs"), NAMES, seed=2, folder_name="myengine")


@pytest.fixture
def home(tmp_path, monkeypatch, engine_dir):
    """A user styles folder holding the random engine (a copy)."""
    import shutil

    styles = tmp_path / "home" / "styles"
    styles.mkdir(parents=True)
    shutil.copytree(engine_dir, styles / "myengine")
    monkeypatch.setenv("LIVESTYLE_HOME", str(tmp_path / "home"))
    return styles


def cli(args, home: Path, timeout=120):
    env = dict(os.environ, LIVESTYLE_HOME=str(home.parent))
    return subprocess.run([sys.executable, "-m", "livestyle", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_every_look_of_an_engine_is_its_own_style(home):
    packs = {p.name: p for p in discover()}
    for i, n in enumerate(NAMES):
        p = packs[n]
        assert p.look_index == i and p.engine_looks == tuple(NAMES) and p.format_version == 3
        assert p.onnx == home / "myengine" / "engine.onnx" and p.mix is None
    assert find_style("cold").look_index == 1
    assert find_style("cold").to_json()["engine_looks"] == NAMES


def test_parse_blend_normalises_and_checks(home, caplog):
    assert parse_blend("rosy") == {"rosy": 1.0}
    b = parse_blend("rosy:0.7,grey:0.3")
    assert b == pytest.approx({"rosy": 0.7, "grey": 0.3})
    with caplog.at_level("WARNING"):
        b = parse_blend("rosy:2,cold:2")
    assert b == pytest.approx({"rosy": 0.5, "cold": 0.5})
    assert "normalised" in caplog.text
    assert engine_weights(parse_blend("grey:0.25,rosy:0.75"), tuple(NAMES)) == pytest.approx([0.75, 0.0, 0.25])


@pytest.mark.parametrize("text,kind,words", [
    ("nope", StyleError, "unknown look 'nope'"),
    ("rosy:0.5,nope:0.5", StyleError, "unknown look 'nope'"),
    ("rosy:-0.2,cold:1", UsageError, "must be finite and >= 0"),
    ("rosy:abc", UsageError, "is not a number"),
    ("rosy:nan", UsageError, "must be finite"),
    ("rosy:0,cold:0", UsageError, "sum to 0"),
    ("rosy,rosy", UsageError, "twice"),
    ("rosy,,cold", UsageError, "empty entry"),
])
def test_bad_blends_are_one_clear_line(home, text, kind, words):
    with pytest.raises(kind) as e:
        parse_blend(text)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_more_looks_than_the_engine_holds_is_refused():
    with pytest.raises(UsageError, match="the engine holds 2"):
        engine_weights({"a": 0.3, "b": 0.3, "c": 0.4}, ("a", "b"))


def test_mix_saves_a_look_listed_and_playable(home):
    r = cli(["mix", "mine", "--from", "rosy:0.6,cold:0.4"], home)
    assert r.returncode == 0, r.stderr
    meta = json.loads((home / "mine" / "style.json").read_text())
    assert meta["format_version"] == 2 and meta["mix"] == pytest.approx({"rosy": 0.6, "cold": 0.4})
    listing = cli(["styles"], home)
    assert listing.returncode == 0 and "mine" in listing.stdout and "mix rosy:0.60+cold:0.40" in listing.stdout
    pack = find_style("mine")
    assert pack.mix == pytest.approx({"rosy": 0.6, "cold": 0.4}) and pack.onnx == home / "myengine" / "engine.onnx"
    assert expand("mine") == pytest.approx({"rosy": 0.6, "cold": 0.4})
    # a mix of a mix resolves to engine looks
    assert cli(["mix", "mine2", "--from", "mine:0.5,grey:0.5"], home).returncode == 0
    assert expand("mine2") == pytest.approx({"rosy": 0.3, "cold": 0.2, "grey": 0.5})
    # the same name again needs --force
    again = cli(["mix", "mine", "--from", "grey"], home)
    assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1
    assert "already exists" in again.stderr and "--force" in again.stderr and "Traceback" not in again.stderr
    assert cli(["mix", "mine", "--from", "grey", "--force"], home).returncode == 0
    assert expand("mine") == {"grey": 1.0}


def test_mix_output_matches_the_engine_blend(home):
    """A mix through the torch loader equals the engine's blend of its looks (within 1 level + table cells)."""
    import torch

    from livestyle.models.convert import UInt8BGR
    from livestyle.styles.nets import load_look_net

    assert cli(["mix", "half", "--from", "rosy:0.5,grey:0.5"], home).returncode == 0
    import onnxruntime as ort

    pack = find_style("half")
    img = np.random.default_rng(0).integers(0, 256, (1, 40, 64, 3), dtype=np.uint8)
    sess = ort.InferenceSession(str(pack.onnx), providers=["CPUExecutionProvider"])
    w = np.asarray([engine_weights(expand(pack), pack.engine_looks)], np.float32)
    got = sess.run(None, still_feeds(sess, img, w))[0].astype(int)
    with torch.no_grad():
        ref = UInt8BGR(load_look_net(pack))(torch.from_numpy(img)).numpy().astype(int)
    assert np.abs(got - ref).max() <= 4 and np.abs(got - ref).mean() < 1.5


@pytest.mark.parametrize("args,words", [
    (["mix", "x", "--from", "nope"], "unknown look 'nope'"),
    (["mix", "x", "--from", "rosy:-1"], ">= 0"),
    (["mix", "x", "--from", "rosy:0"], "sum to 0"),
    (["mix", "bad name", "--from", "rosy"], "not a usable look name"),
])
def test_mix_bad_input(home, args, words):
    r = cli(args, home)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.stderr


def test_a_pack_from_a_newer_format_is_refused_in_one_line(home):
    newer = home / "future"
    newer.mkdir()
    (newer / "style.json").write_text(json.dumps({"format_version": 99, "name": "future", "mix": {"rosy": 1}}))
    with pytest.raises(StyleError, match="newer livestyle.*Upgrade livestyle"):
        load_packs(newer)
    r = cli(["styles"], home)
    assert r.returncode == 0 and "future" in r.stdout and "BROKEN" in r.stdout
    assert "Upgrade livestyle" in r.stderr
    r = cli(["run", "--style", "future", "--input", "demo", "--output", "null", "--max-frames", "1"], home)
    assert r.returncode != 0 and "Traceback" not in r.stderr


def _user_v1_pack(home: Path, name: str, meta: dict) -> Path:
    from livestyle.export.onnx import random_student_pack

    folder = random_student_pack(home / name, name=name)
    (folder / "style.json").write_text(json.dumps({"name": name, **meta}))
    return folder


def test_broken_user_packs_warn_and_never_crash_the_listing(home):
    _user_v1_pack(home, "badmetric", {"metrics": {"quality": {"student_gain_db": "lots",
                                                             "warping_error_ratio": {"student": "n/a"}}}})
    _user_v1_pack(home, "badmetrics", {"metrics": "bad"})
    _user_v1_pack(home, "notdefault", {"default": "no"})
    garbled = _user_v1_pack(home, "garbled", {})
    (garbled / "style.json").write_text("{not json")
    r = cli(["styles"], home)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    for name in ("badmetric", "badmetrics", "notdefault", "garbled"):
        assert name in r.stdout
    assert "garbled" in r.stderr and "BROKEN" in r.stdout           # listed as broken, with a warning
    assert "badmetric" in r.stderr and "not a number" in r.stderr   # the warning names the pack
    assert "'metrics' must be a JSON object" in r.stderr
    assert "'default' must be true or false" in r.stderr
    assert find_style("notdefault").default is False
    j = cli(["styles", "--json"], home)
    assert j.returncode == 0
    entries = {e["name"]: e for e in json.loads(j.stdout)}
    assert entries["garbled"]["problem"] and entries["notdefault"]["default"] is False
    # the default style is never a user pack that only said "no"
    assert cli(["styles"], home).stdout.count("default") <= 1 + r.stdout.count("notdefault")


def test_old_single_look_packs_still_load(home):
    folder = _user_v1_pack(home, "oldie", {"look": "pastel"})
    p = find_style("oldie")
    assert p.format_version == 1 and p.look_index is None and p.engine_looks == () and p.mix is None
    assert p.onnx == folder / "student.onnx" and p.look == "pastel"
    assert expand(p) == {"oldie": 1.0}


def test_bundled_packs_record_no_machine_paths():
    for meta_path in BUNDLED_DIR.glob("*/style.json"):
        text = meta_path.read_text()
        assert "/work/" not in text and "/home/" not in text and '"/' not in text, meta_path


def test_errors_are_livestyle_errors():
    assert issubclass(StyleError, LivestyleError) and issubclass(UsageError, LivestyleError)


def test_a_blend_and_a_mix_play_through_livestyle_run(home):
    """The runtime takes engine looks, blends and saved mixes by name (one inference per engine)."""
    assert cli(["mix", "mymix", "--from", "cold:0.5,grey:0.5"], home).returncode == 0
    for style in ("rosy:0.7,cold:0.3", "mymix", "grey"):
        r = cli(["run", "--input", "demo", "--output", "null", "--max-frames", "5", "--size", "320x180",
                 "--style", style, "--quiet"], home)
        assert r.returncode == 0, (style, r.stderr)
    bad = cli(["run", "--input", "demo", "--output", "null", "--max-frames", "5", "--style", "rosy:-1"], home)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and ">= 0" in bad.stderr


def test_the_bundled_engine_holds_the_bundled_looks(monkeypatch, tmp_path):
    import onnxruntime as ort

    from livestyle.export.lut import TRT10_SUPPORTED_OPS, graph_ops
    from livestyle.styles import default_style

    monkeypatch.setenv("LIVESTYLE_HOME", str(tmp_path / "empty"))
    packs = {p.name: p for p in discover()}
    engine = BUNDLED_DIR / "looks"
    for name in ("pastel", "vintage", "mono"):
        p = packs[name]
        assert p.bundled and p.path == engine and p.format_version == 3 and p.onnx == engine / "engine.onnx"
        q = p.meta["metrics"]["quality"]
        assert q["student_gain_db"] >= 6.0 and q["warping_error_ratio"]["student"] <= 1.15  # the targets it met
    drawn = packs["pencil"]  # the drawn look: a texture look in the same engine
    assert drawn.path == engine and drawn.meta["kind"] == "texture" and drawn.size_multiple == 4
    q = drawn.meta["metrics"]["quality"]
    assert q["student_gain_db"] >= 3.0 and q["warping_error_ratio"]["student"] <= q["warping_error_ratio"]["true_look"]
    assert default_style().name == "pastel"
    assert not graph_ops(engine / "engine.onnx") - TRT10_SUPPORTED_OPS
    sess = ort.InferenceSession(str(engine / "engine.onnx"), providers=["CPUExecutionProvider"])
    k = len(packs["pastel"].engine_looks)
    out = sess.run(None, still_feeds(sess, np.full((1, 36, 64, 3), 128, np.uint8),
                                          np.eye(k, dtype=np.float32)[:1]))[0]
    assert out.shape == (1, 36, 64, 3) and out.dtype == np.uint8
