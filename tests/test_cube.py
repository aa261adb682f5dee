"""3D LUT files in and out (``livestyle import-lut`` / ``export-lut``), checked against ffmpeg's own ``lut3d``.

Every command runs as a real subprocess; ffmpeg (``/usr/bin/ffmpeg``) applies
the files to real photographs (scikit-image's astronaut and coffee), and
livestyle's output comes from the ONNX Runtime runner ``livestyle run`` uses,
at the frame's own size (no resizing), strength 1.

ffmpeg 5.1's ``lut3d`` *truncates* its float result to 8 bits (measured here:
a LUT of constant 0.5 gives 127, 0.3 gives 76), while livestyle rounds; so
the tight comparison feeds ffmpeg the same table raised by half a level
(``_half_level_up``), which turns its truncation into rounding, and the plain
comparison allows that one-sided half level.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
needs_ffmpeg = pytest.mark.skipif(not os.path.exists(FFMPEG), reason="ffmpeg is not installed (apt install ffmpeg)")
pytest.importorskip("colour", reason="colour-science is not installed (pip install colour-science)")


# ------------------------------------------------------------------------------------------ helpers

def cli(args, home: Path, timeout=240):
    env = dict(os.environ, LIVESTYLE_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "livestyle", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def one_line_error(r) -> str:
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("livestyle: error: "), r.stderr
    return lines[0]


def film_table(n: int, *, clip: bool = True) -> np.ndarray:
    """A film-like grade, float64 (n, n, n, 3) ``[r, g, b, c]`` RGB: an S-curve, teal shadows, orange
    highlights, more saturation.  Unclipped it dips to -0.05 and rises to 1.05."""
    v = np.linspace(0.0, 1.0, n)
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1)
    y = rgb @ np.array([0.2126, 0.7152, 0.0722])
    s = 1.0 / (1.0 + np.exp(-6.0 * (rgb - 0.5)))
    s = (s - s.min()) / (s.max() - s.min())
    out = 0.7 * s + 0.3 * rgb + (0.5 - y)[..., None] * np.array([-0.08, 0.02, 0.10])
    out = y[..., None] + 1.25 * (out - y[..., None])
    return np.clip(out, 0.0, 1.0) if clip else out


def write_cube_text(path: Path, table: np.ndarray, header: str = "") -> Path:
    """A plain .cube written by hand (not by colour-science): red changes fastest.  ``header`` goes after the
    size line: ffmpeg 5.1 ignores DOMAIN_MIN/MAX lines that come before LUT_3D_SIZE (measured)."""
    n = table.shape[0]
    rows = table.transpose(2, 1, 0, 3).reshape(-1, 3)
    body = "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in rows)
    path.write_text(f'TITLE "test"\nLUT_3D_SIZE {n}\n{header}{body}\n')
    return path


def _half_level_up(src: Path, dst: Path) -> Path:
    """The same .cube with every value raised by 0.5/255, so ffmpeg's truncation to 8 bits rounds instead."""
    out = []
    for line in src.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0][0] in "-.0123456789":
            line = " ".join(f"{float(x) + 0.5 / 255:.7f}" for x in parts)
        out.append(line)
    dst.write_text("\n".join(out) + "\n")
    return dst


def photos() -> list[np.ndarray]:
    """uint8 (H, W, 3) BGR: scikit-image's astronaut (512x512) and coffee (600x400), public domain."""
    data = pytest.importorskip("skimage.data", reason="scikit-image is not installed (the bench extra)")
    return [np.ascontiguousarray(getattr(data, n)()[:, :, ::-1]) for n in ("astronaut", "coffee")]


def ffmpeg_apply(filter_arg: str, img: np.ndarray, *extra_inputs: str) -> np.ndarray:
    """ffmpeg's own application of a LUT filter to one BGR frame (raw bgr24 in and out, no conversion)."""
    h, w = img.shape[:2]
    cmd = [FFMPEG, "-v", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-i", "-"]
    for path in extra_inputs:
        cmd += ["-i", path]
    flag = "-filter_complex" if extra_inputs else "-vf"
    cmd += [flag, filter_arg, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
    r = subprocess.run(cmd, input=img.tobytes(), capture_output=True, check=True, timeout=60)
    return np.frombuffer(r.stdout, np.uint8).reshape(h, w, 3)


def runner_apply(pack_dir: Path, img: np.ndarray, look: str | None = None) -> np.ndarray:
    """livestyle's output through the ONNX Runtime runner (the one `livestyle run` uses), strength 1."""
    from livestyle.quality.evaluate import runner_stylizer
    from livestyle.styles.pack import load_pack

    return runner_stylizer(load_pack(pack_dir, look=look))(img)


def diff(a: np.ndarray, b: np.ndarray) -> tuple[int, float, float]:
    """(max, mean, signed mean of a - b) in 8-bit levels."""
    d = a.astype(np.int16) - b.astype(np.int16)
    return int(np.abs(d).max()), float(np.abs(d).mean()), float(d.mean())


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """``film`` imported from a hand-written 33^3 .cube into a fresh LIVESTYLE_HOME; (home, cube, stdout)."""
    home = tmp_path_factory.mktemp("home")
    cube = write_cube_text(tmp_path_factory.mktemp("luts") / "film.cube", film_table(33))
    r = cli(["import-lut", cube, "--name", "film"], home)
    assert r.returncode == 0, r.stderr
    return home, cube, r.stdout


# ------------------------------------------------------------------------------------------ import

@needs_ffmpeg
def test_imported_look_reproduces_ffmpegs_own_application_of_the_file(imported, tmp_path):
    home, cube, out = imported
    assert "look 'film' imported" in out and "3D LUT, 33 per axis" in out
    rounded = _half_level_up(cube, tmp_path / "film_rounded.cube")
    for img in photos():
        ours = runner_apply(home / "styles" / "film", img)
        assert not np.array_equal(ours, img)                       # the look does something
        mx, mean, _ = diff(ours, ffmpeg_apply(f"lut3d=file={rounded}:interp=trilinear", img))
        assert mx <= 2 and mean <= 0.5, (mx, mean)                 # measured: max 1, mean <= 0.01
        mx, mean, signed = diff(ours, ffmpeg_apply(f"lut3d=file={cube}:interp=trilinear", img))
        assert mx <= 2 and mean <= 0.6 and 0.3 < signed < 0.6, (mx, mean, signed)  # ffmpeg truncates


def test_imported_look_is_listed_blendable_and_plays(imported, tmp_path):
    home, cube, _ = imported
    before = hashlib.sha256(cube.read_bytes()).hexdigest()
    r = cli(["styles", "--json"], home)
    assert r.returncode == 0, r.stderr
    import json

    looks = {p["name"]: p for p in json.loads(r.stdout)}
    assert looks["film"]["meta"]["imported"]["file"] == "film.cube" and not looks["film"]["bundled"]
    assert looks["film"]["meta"]["imported"]["sha256"] == before
    # live blend with a learned (bundled) look, through `livestyle run`
    report = tmp_path / "report.json"
    r = cli(["run", "--input", "demo", "--output", "null", "--style", "film:0.5,pastel:0.5", "--max-frames", "3",
             "--report", report, "--quiet"], home)
    assert r.returncode == 0, r.stderr
    assert json.loads(report.read_text())["frames_out"] == 3
    r = cli(["mix", "filmpastel", "--from", "film:0.6,pastel:0.4"], home)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(cube.read_bytes()).hexdigest() == before    # the input is never touched


@needs_ffmpeg
def test_hald_clut_png_imports_like_ffmpegs_haldclut(tmp_path):
    import cv2

    level = 4                                                     # 64x64 pixels, a 16^3 cube
    n = level * level
    table = film_table(n)
    img16 = np.round(table.transpose(2, 1, 0, 3).reshape(level ** 3, level ** 3, 3) * 65535).astype(np.uint16)
    hald = tmp_path / "film_hald.png"
    assert cv2.imwrite(str(hald), img16[:, :, ::-1])
    home = tmp_path / "home"
    r = cli(["import-lut", hald], home)
    assert r.returncode == 0, r.stderr
    assert "Hald" in r.stdout
    img = photos()[0]
    ours = runner_apply(home / "styles" / "film_hald", img)
    theirs = ffmpeg_apply("[0][1]haldclut=interp=trilinear", img, str(hald))
    mx, mean, _ = diff(ours, theirs)
    # 16 nodes per axis do not line up with the look's 33: the import measures and says how far it strays
    said = float(r.stdout.split("within ")[1].split(" levels")[0])
    assert 0.5 < said < 3 and mx <= said + 1.5 and mean <= 0.6, (mx, mean, said)


@needs_ffmpeg
def test_one_d_lut_becomes_a_3d_look_that_matches_ffmpegs_lut1d(tmp_path):
    m = 1024
    x = np.linspace(0.0, 1.0, m)
    curves = np.stack([x ** 0.8, x, np.sqrt(x) * 0.9], -1)
    lut1d = tmp_path / "curve.cube"
    lut1d.write_text(f"LUT_1D_SIZE {m}\n" + "\n".join(f"{a:.6f} {b:.6f} {c:.6f}" for a, b, c in curves) + "\n")
    home = tmp_path / "home"
    r = cli(["import-lut", lut1d], home)
    assert r.returncode == 0, r.stderr
    assert "1-D LUT" in r.stdout and "turned into a 3D table" in r.stdout
    img = photos()[1]
    ours = runner_apply(home / "styles" / "curve", img)
    mx, mean, _ = diff(ours, ffmpeg_apply(f"lut1d=file={lut1d}:interp=linear", img))
    # 33 nodes per axis approximate a 1024-entry curve: the import measures and says how closely; a square
    # root is steep near black (0 -> 40 levels within the first 8), which 33 nodes cannot follow
    said = float(r.stdout.split("within ")[1].split(" levels")[0])
    assert said > 2 and "note:" in r.stdout, r.stdout
    assert mx <= said + 1.5 and mean <= 1.0, (mx, mean, said)


@needs_ffmpeg
def test_a_domain_other_than_0_1_is_read_as_ffmpeg_reads_it(tmp_path):
    n = 9
    v = np.linspace(0.0, 2.0, n)
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1)
    table = np.stack([np.sqrt(rgb[..., 0] / 2), rgb[..., 1] / 2, (rgb[..., 2] / 2) ** 2], -1)
    cube = write_cube_text(tmp_path / "wide.cube", table, header="DOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n")
    home = tmp_path / "home"
    r = cli(["import-lut", cube], home)
    assert r.returncode == 0, r.stderr
    assert "domain" in r.stdout
    img = photos()[0]
    rounded = _half_level_up(cube, tmp_path / "wide_rounded.cube")
    mx, mean, _ = diff(runner_apply(home / "styles" / "wide", img),
                       ffmpeg_apply(f"lut3d=file={rounded}:interp=trilinear", img))
    assert mx <= 2 and mean <= 0.5, (mx, mean)


# ------------------------------------------------------------------------------------------ export

def _frozen_pack(out_dir: Path, look: str, slopes: str) -> Path:
    """The bundled colour look ``look`` with its per-frame adaptation off (its lattice at neutral weights),
    as an engine pack whose runtime uses ``slopes``."""
    from livestyle.export.cube import adaptation_range, fixed_look, look_lattice
    from livestyle.styles.nets import load_engine_luts
    from livestyle.export.engine_pack import write_engine_pack
    from livestyle.styles.pack import BUNDLED_DIR

    lk = load_engine_luts(BUNDLED_DIR / "looks")[look]
    neutral, _ = adaptation_range(lk)
    folder, _ = write_engine_pack(out_dir, [(look, fixed_look(look_lattice(lk, neutral)), {})],
                                  folder_name=look, slopes=slopes)
    return folder


@needs_ffmpeg
def test_exported_look_applied_by_ffmpeg_matches_livestyles_own_output(tmp_path):
    home = tmp_path / "home"
    out = tmp_path / "pastel.cube"
    r = cli(["export-lut", "pastel", "--out", out], home)
    assert r.returncode == 0, r.stderr
    assert "adapts its grade to each frame" in r.stdout and "neutral weights" in r.stdout  # what is lost, said
    assert "LUT_3D_SIZE 33" in out.read_text()
    rounded = _half_level_up(out, tmp_path / "pastel_rounded.cube")
    # adaptation off, the engine's slopes exact: the file and livestyle agree closely
    exact = _frozen_pack(tmp_path / "packs", "pastel", "exact")
    for img in photos():
        mx, mean, _ = diff(runner_apply(exact, img), ffmpeg_apply(f"lut3d=file={rounded}:interp=trilinear", img))
        assert mx <= 3 and mean <= 0.3, (mx, mean)                 # measured: max 3, mean 0.11-0.27


def test_export_size_65_and_a_blend(tmp_path):
    import colour

    home = tmp_path / "home"
    out = tmp_path / "blend.cube"
    r = cli(["export-lut", "pastel:0.5,mono:0.5", "--out", out, "--size", "65"], home)
    assert r.returncode == 0, r.stderr
    lut = colour.io.read_LUT(str(out))
    assert lut.table.shape == (65, 65, 65, 3)
    # a blend of colour looks is the blend of their tables
    parts = []
    for look in ("pastel", "mono"):
        p = tmp_path / f"{look}.cube"
        assert cli(["export-lut", look, "--out", p, "--size", "65"], home).returncode == 0
        parts.append(colour.io.read_LUT(str(p)).table)
    assert np.abs(lut.table - 0.5 * (parts[0] + parts[1])).max() < 1e-6


def test_export_then_import_is_the_same_look(tmp_path):
    """export-lut -> import-lut gives back the exported grade exactly (up to the file's 7 decimals)."""
    import colour

    home = tmp_path / "home"
    out = tmp_path / "vintage.cube"
    assert cli(["export-lut", "vintage", "--out", out], home).returncode == 0
    r = cli(["import-lut", out, "--name", "vintage2"], home)
    assert r.returncode == 0, r.stderr
    assert "within 0.00 levels" in r.stdout
    again = tmp_path / "again.cube"
    assert cli(["export-lut", "vintage2", "--out", again], home).returncode == 0
    a, b = colour.io.read_LUT(str(out)).table, colour.io.read_LUT(str(again)).table
    assert np.abs(a - b).max() * 255 < 0.01


# ------------------------------------------------------------------------------------------ bad input

ROWS8 = "\n".join(["0 0 0"] * 8)


@pytest.mark.parametrize("name,text,words", [
    ("size_word.cube", f"LUT_3D_SIZE x\n{ROWS8}\n", "LUT_3D_SIZE must be a whole number"),
    ("size_one.cube", f"LUT_3D_SIZE 1\n0 0 0\n", "LUT_3D_SIZE must be a whole number"),
    ("rows.cube", f"LUT_3D_SIZE 3\n{ROWS8}\n", "has 8 rows of numbers; LUT_3D_SIZE 3^3 needs 27"),
    ("value.cube", "LUT_3D_SIZE 2\n" + ROWS8.replace("0 0 0", "0 zz 0", 1) + "\n", "is not three numbers"),
    ("columns.cube", "LUT_3D_SIZE 2\n" + ROWS8.replace("0 0 0", "0 0", 1) + "\n", "a row needs 3 numbers"),
    ("nan.cube", "LUT_3D_SIZE 2\n" + ROWS8.replace("0 0 0", "0 nan 0", 1) + "\n", "NaN or infinity"),
    ("inf.cube", "LUT_3D_SIZE 2\n" + ROWS8.replace("0 0 0", "inf 0 0", 1) + "\n", "NaN or infinity"),
    ("nosize.cube", "TITLE \"x\"\n", "has no LUT_3D_SIZE"),
    ("domain.cube", f"LUT_3D_SIZE 2\nDOMAIN_MIN 1 1 1\nDOMAIN_MAX 0 0 0\n{ROWS8}\n", "not below DOMAIN_MAX"),
    ("binary.cube", None, "not a text file"),
    ("look.txt", f"LUT_3D_SIZE 2\n{ROWS8}\n", "has the suffix '.txt'"),
])
def test_bad_lut_files_are_one_clear_line(tmp_path, name, text, words):
    path = tmp_path / name
    if text is None:
        path.write_bytes(bytes(range(256)) * 4)
    else:
        path.write_text(text)
    before = path.read_bytes()
    line = one_line_error(cli(["import-lut", path, "--name", "bad"], tmp_path / "home"))
    assert words in line, line
    assert path.read_bytes() == before
    assert not (tmp_path / "home" / "styles" / "bad").exists()


def test_missing_file_and_a_hald_png_that_is_not_a_cube(tmp_path):
    import cv2

    line = one_line_error(cli(["import-lut", tmp_path / "nope.cube"], tmp_path / "home"))
    assert "does not exist" in line
    png = tmp_path / "photo.png"
    cv2.imwrite(str(png), np.zeros((60, 80, 3), np.uint8))
    line = one_line_error(cli(["import-lut", png], tmp_path / "home"))
    assert "is 80x60 pixels" in line and "Hald" in line


def test_import_onto_an_existing_name_needs_force(imported):
    home, cube, _ = imported
    line = one_line_error(cli(["import-lut", cube, "--name", "film"], home))
    assert "already exists" in line and "--force" in line
    line = one_line_error(cli(["import-lut", cube, "--name", "pastel"], home))
    assert "bundled with livestyle" in line


def test_import_never_replaces_the_folder_holding_its_input(tmp_path):
    home = tmp_path / "home"
    inside = home / "styles" / "mine"
    inside.mkdir(parents=True)
    cube = write_cube_text(inside / "mine.cube", film_table(5))
    before = cube.read_bytes()
    line = one_line_error(cli(["import-lut", cube, "--name", "mine", "--force"], home))
    assert "lies inside the look folder" in line
    assert cube.read_bytes() == before


def test_export_refusals(tmp_path):
    home = tmp_path / "home"
    line = one_line_error(cli(["export-lut", "pencil", "--out", tmp_path / "p.cube"], home))
    assert "drawn look" in line and "no 3D LUT" in line
    assert not (tmp_path / "p.cube").exists()
    line = one_line_error(cli(["export-lut", "pastel", "--out", tmp_path / "p.png"], home))
    assert "must end in .cube" in line
    existing = tmp_path / "mine.cube"
    existing.write_text("keep me")
    line = one_line_error(cli(["export-lut", "pastel", "--out", existing], home))
    assert "already exists" in line and existing.read_text() == "keep me"
    line = one_line_error(cli(["export-lut", "nosuchlook", "--out", tmp_path / "x.cube"], home))
    assert "unknown look" in line


# ------------------------------------------------------------------------------------------ OBS

def _obs_reason():
    from tests.support.obs_studio import obs_missing_reason

    return obs_missing_reason()


@pytest.mark.skipif(_obs_reason() is not None, reason=str(_obs_reason()))
def test_obs_apply_lut_filter_agrees_with_the_imported_look(imported, tmp_path):
    """Real OBS 29 (headless, software OpenGL): its built-in Apply LUT filter (clut_filter) on an image source
    of 4096 colours, read back with GetSourceScreenshot (PNG), against the same file imported into livestyle."""
    import base64
    import time

    import cv2

    from livestyle.obs.client import ObsClient
    from tests.support.obs_studio import start_obs

    home, cube, _ = imported
    v = np.arange(0, 256, 17, dtype=np.uint8)                       # 16 levels per channel, every combination
    grid = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(64, 64, 3)
    img = np.ascontiguousarray(cv2.resize(grid, (256, 256), interpolation=cv2.INTER_NEAREST))
    png = tmp_path / "colours.png"
    cv2.imwrite(str(png), img)
    obs = start_obs(tmp_path)
    try:
        with ObsClient(obs.url, obs.password) as c:
            c.call("CreateInput", {"sceneName": "Scene", "inputName": "colours", "inputKind": "image_source",
                                   "inputSettings": {"file": str(png)}})

            def shot() -> np.ndarray:
                data = c.call("GetSourceScreenshot", {"sourceName": "colours", "imageFormat": "png",
                                                      "imageWidth": 256, "imageHeight": 256})["imageData"]
                raw = np.frombuffer(base64.b64decode(data.split(",", 1)[1]), np.uint8)
                return cv2.imdecode(raw, cv2.IMREAD_COLOR)

            deadline = time.monotonic() + 20
            while not np.array_equal(before := shot(), img) and time.monotonic() < deadline:
                time.sleep(0.3)
            assert np.array_equal(before, img)                        # OBS shows the file as it is
            c.call("CreateSourceFilter", {"sourceName": "colours", "filterName": "lut", "filterKind": "clut_filter",
                                          "filterSettings": {"image_path": str(cube), "clut_amount": 1.0}})
            deadline = time.monotonic() + 20
            while np.array_equal(after := shot(), img) and time.monotonic() < deadline:
                time.sleep(0.3)
    finally:
        obs.stop()
    ours = runner_apply(home / "styles" / "film", img)
    mx, mean, signed = diff(after, ours)
    print(f"OBS Apply LUT vs livestyle: max {mx}, mean {mean:.3f}, signed mean {signed:+.3f} levels")
    assert mx <= 2 and mean <= 0.5, (mx, mean)                     # measured: max 2, mean 0.26
