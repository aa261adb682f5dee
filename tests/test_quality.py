"""livestyle.quality: metrics with known answers, the datasets, and `livestyle eval` end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from livestyle import looks
from livestyle.quality.dataset import DatasetConfig, make_dataset, read_clip, read_test_set
from livestyle.quality.metrics import clip_flows, psnr, ssim, warping_error, warping_error_ratio
from livestyle.runners.contract import still_feeds


def _texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2.0)


# --------------------------------------------------------------------------- PSNR / SSIM

def test_identical_images():
    img = _texture(64, 80)
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-9)


def test_psnr_of_a_known_noise_level():
    rng = np.random.default_rng(0)
    img = rng.integers(40, 200, (60, 70, 3), dtype=np.uint8)
    for step in (1, 5, 12):
        sign = rng.choice([-1, 1], img.shape)  # every pixel off by exactly +-step: MSE = step^2
        noisy = (img.astype(int) + step * sign).astype(np.uint8)
        assert psnr(img, noisy) == pytest.approx(20 * math.log10(255 / step), abs=1e-9)


def test_ssim_orders_distortions_and_is_symmetric():
    rng = np.random.default_rng(1)
    img = _texture(96, 96)
    light = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(img + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
    assert 1.0 > ssim(img, light) > ssim(img, heavy) > 0.0
    assert ssim(img, heavy) == pytest.approx(ssim(heavy, img), abs=1e-12)


def test_ssim_matches_scikit_image_on_luma():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(2)
    a = _texture(90, 110, seed=3)
    b = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.uint8)
    ya = 0.114 * a[..., 0] + 0.587 * a[..., 1] + 0.299 * a[..., 2]
    yb = 0.114 * b[..., 0] + 0.587 * b[..., 1] + 0.299 * b[..., 2]
    ref = metrics.structural_similarity(ya, yb, data_range=255, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False)
    assert ssim(a, b) == pytest.approx(ref, abs=2e-3)


# --------------------------------------------------------------------------- warping error

def _translation_clip(n=12, step=2):
    canvas = _texture(100, 140 + n * step, seed=5)
    return [np.ascontiguousarray(canvas[:, t * step: t * step + 140]) for t in range(n)]


def test_pure_translation_has_near_zero_warping_error_and_flicker_raises_it():
    frames = _translation_clip()
    flows = clip_flows(frames)
    base = warping_error(frames, flows=flows)
    assert base < 2e-4  # only interpolation error: RMS < 1.5 % of the range
    rng = np.random.default_rng(0)
    flicker = [np.clip(f.astype(np.float32) + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8) for f in frames]
    assert warping_error(flicker, flows=flows) > 10 * base
    assert warping_error_ratio(frames, frames, flows=flows) == pytest.approx(1.0)
    assert warping_error_ratio(flicker, frames, flows=flows) > 2.0
    # the mask keeps almost every pixel of a clean translation
    assert np.mean([p.visible.mean() for p in flows]) > 0.9


def test_occlusion_mask_excludes_disoccluded_pixels():
    bg = _texture(120, 160, seed=7)
    fg = _texture(120, 160, seed=8)
    frames = []
    for t in range(3):
        f = bg.copy()
        x = 40 + 10 * t
        f[30:90, x:x + 40] = fg[30:90, 40:80]  # a textured patch moving 10 px per frame
        frames.append(f)
    pair = clip_flows(frames)[0]
    # pixels of frame 0 that the patch covers in frame 1 (left background strip 80..90 is occluded)
    assert pair.visible[40:80, 82:88].mean() < 0.5
    assert pair.visible[:, :20].mean() > 0.9


# --------------------------------------------------------------------------- datasets

@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    return make_dataset(out, DatasetConfig(look="teal_orange", size=64, n_content=10, n_style=10, n_test=4,
                                           n_clips=2, clip_frames=8, clip_size=(96, 64)))


def test_dataset_layout_provenance_and_disjoint_splits(small_dataset):
    d = small_dataset
    assert len(list((d / "trainA").glob("*.png"))) == 10
    assert len(list((d / "trainB").glob("*.png"))) == 10
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["look"] == "teal_orange"
    every = prov["splits"]["trainA"] + prov["splits"]["trainB"] + prov["splits"]["test"] + prov["clips"]
    assert all(e.get("licence") and e.get("source") for e in every)
    assert all((d / e["file"]).is_file() for e in every)

    def sources(split):  # photo files and procedural seeds used by a split
        return {e["source"] if not e["source"].startswith("procedural") else tuple(e["seed"])
                for e in prov["splits"][split]}

    a, b, t = sources("trainA"), sources("trainB"), sources("test")
    assert not (a & b) and not (a & t) and not (b & t)


def test_test_targets_are_the_true_look(small_dataset):
    pairs = read_test_set(small_dataset)
    assert len(pairs) == 4
    for _, inp, target in pairs:
        assert np.array_equal(looks.apply("teal_orange", inp), target)


def test_trainB_is_styled_and_unpaired(small_dataset):
    a = [cv2.imread(str(p)) for p in sorted((small_dataset / "trainA").glob("*.png"))]
    b = [cv2.imread(str(p)) for p in sorted((small_dataset / "trainB").glob("*.png"))]
    for img in a:  # no style image is the look of a content image
        styled = looks.apply("teal_orange", img)
        assert all(psnr(styled, s) < 40 for s in b)


def test_clips_are_real_videos(small_dataset):
    clips = sorted((small_dataset / "clips").glob("*.avi"))
    assert len(clips) == 2
    for c in clips:
        frames = read_clip(c)
        assert len(frames) == 8 and frames[0].shape == (64, 96, 3)
        assert warping_error(frames) > 0  # it moves


def test_make_datasets_script(tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "quality" / "make_datasets.py"
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "d"), "--look", "pencil", "--size", "48",
                        "--content", "3", "--style", "3", "--test", "2", "--clips", "1", "--clip-frames", "4"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d" / "provenance.json").is_file()
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "e"), "--look", "nope"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


# --------------------------------------------------------------------------- livestyle eval

@pytest.fixture(scope="module")
def random_pack(tmp_path_factory) -> Path:
    from livestyle.export.onnx import random_student_pack

    return random_student_pack(tmp_path_factory.mktemp("pack") / "rnd", meta={"look": "pastel"})


def _livestyle(*args, cwd=None, timeout=240):
    return subprocess.run([sys.executable, "-m", "livestyle", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def test_eval_random_pack_end_to_end(random_pack, small_dataset, tmp_path):
    report = tmp_path / "out" / "r.json"
    r = _livestyle("eval", str(random_pack), "--report", str(report), "--test-images", "3", "--frames", "10")
    assert r.returncode == 0, r.stderr
    assert "student" in r.stdout and "warping-error ratio" in r.stdout
    data = json.loads(report.read_text())
    assert data["look"] == "pastel" and data["test_images"] == 3
    assert data["images"]["teacher"] is None and "no teacher" in data["teacher"]
    s = data["images"]["student"]
    assert 5 < s["psnr"] < 60 and 0 < s["ssim"] <= 1
    assert data["summary"]["student_gain_db"] == pytest.approx(s["psnr"] - data["images"]["input"]["psnr"])
    assert data["summary"]["student_teacher_gap_db"] is None
    for clip in data["temporal"]["clips"].values():
        assert clip["frames"] == 10 and clip["student"] > 0 and clip["student_filtered"] > 0
    sheet = cv2.imread(data["files"]["contact_sheet"])
    strip = cv2.imread(data["files"]["strip"])
    assert sheet is not None and sheet.shape[1] == 4 * 192 and sheet.shape[0] > 3 * 192
    assert strip is not None and strip.shape[0] > 3 * 100

    # with --data and --clip
    clip = sorted((small_dataset / "clips").glob("*.avi"))[0]
    report2 = tmp_path / "r2.json"
    r = _livestyle("eval", str(random_pack), "--data", str(small_dataset), "--clip", str(clip),
                   "--report", str(report2))
    assert r.returncode == 0, r.stderr
    data2 = json.loads(report2.read_text())
    assert data2["test_images"] == 4 and list(data2["temporal"]["clips"]) == [clip.name]


def test_eval_errors(random_pack, tmp_path):
    import shutil

    nolook = tmp_path / "nolook"
    shutil.copytree(random_pack, nolook)
    meta = json.loads((nolook / "style.json").read_text())
    del meta["look"]
    (nolook / "style.json").write_text(json.dumps(meta))
    r = _livestyle("eval", str(nolook), "--report", str(tmp_path / "x.json"))
    assert r.returncode == 2 and "look" in r.stderr and "Traceback" not in r.stderr

    r = _livestyle("eval", "no-such-style-xyz")
    assert r.returncode == 2 and "no-such-style-xyz" in r.stderr and "Traceback" not in r.stderr

    r = _livestyle("eval", str(random_pack), "--clip", str(tmp_path / "missing.avi"))
    assert r.returncode == 2 and "missing.avi" in r.stderr


def test_eval_with_a_teacher(random_pack, small_dataset, tmp_path):
    """A pack carrying teacher.safetensors: teacher metrics, gap and teacher warping ratio are reported."""
    import shutil

    pytest.importorskip("livestyle.training.packs")
    import torch
    from safetensors.torch import save_file

    from livestyle.models.teacher import ResnetGenerator, TeacherConfig
    from livestyle.quality.evaluate import EvalConfig, evaluate
    from livestyle.styles.pack import load_pack

    pack_dir = tmp_path / "withteacher"
    shutil.copytree(random_pack, pack_dir)
    tcfg = TeacherConfig(width=8, blocks=1)
    torch.manual_seed(0)
    net = ResnetGenerator(tcfg)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(pack_dir / "teacher.safetensors"))
    meta = json.loads((pack_dir / "style.json").read_text())
    meta["teacher"] = tcfg.to_dict()
    (pack_dir / "style.json").write_text(json.dumps(meta))
    clip = sorted((small_dataset / "clips").glob("*.avi"))[0]
    rep = evaluate(load_pack(pack_dir), EvalConfig(data=small_dataset, clip=clip, report=tmp_path / "t.json"))
    assert rep["teacher"] == "loaded"
    t, s = rep["images"]["teacher"], rep["images"]["student"]
    assert 0 < t["ssim"] <= 1 and math.isfinite(t["psnr"])
    assert rep["summary"]["student_teacher_gap_db"] == pytest.approx(t["psnr"] - s["psnr"])
    assert rep["temporal"]["clips"][clip.name]["teacher"] > 0
    assert all(e["student_vs_teacher_psnr"] is not None for e in rep["per_image"])


def test_eval_of_an_engine_look_goes_through_the_runtime_runner(small_dataset, tmp_path):
    """Each look of a multi-look engine is measured through create_runner with its own one-hot weights."""
    import onnxruntime as ort

    from livestyle.export.engine_pack import random_engine_pack
    from livestyle.quality.evaluate import EvalConfig, evaluate
    from livestyle.styles.pack import load_pack

    folder = random_engine_pack(tmp_path, ["a", "b"], seed=3, meta={"a": {"look": "pastel"}, "b": {"look": "pastel"}})
    clip = sorted((small_dataset / "clips").glob("*.avi"))[0]
    reps = {n: evaluate(load_pack(folder, look=n), EvalConfig(data=small_dataset, clip=clip,
                                                               report=tmp_path / f"{n}.json")) for n in "ab"}
    # the numbers differ between the looks (so the weights reached the engine) ...
    assert reps["a"]["images"]["student"]["psnr"] != reps["b"]["images"]["student"]["psnr"]
    # ... and equal what a raw ONNX Runtime session gives for look b
    from livestyle.quality.dataset import read_test_set
    from livestyle.quality.metrics import psnr

    sess = ort.InferenceSession(str(folder / "engine.onnx"), providers=["CPUExecutionProvider"])
    vals = []
    for _, inp, target in read_test_set(small_dataset):
        h, w = inp.shape[0] // 4 * 4, inp.shape[1] // 4 * 4
        inp, target = inp[:h, :w], target[:h, :w]
        out = sess.run(None, still_feeds(sess, np.ascontiguousarray(inp)[None], np.array([[0, 1]], np.float32)))[0][0]
        vals.append(psnr(out, target))
    assert reps["b"]["images"]["student"]["psnr"] == pytest.approx(float(np.mean(vals)), abs=1e-6)


def test_heldout_report_and_description_of_a_colour_look():
    import torch

    from livestyle.models.lut import AdaptiveLUT, LutConfig, identity_lut
    from livestyle.quality.heldout import colour_distance, describe_lut, heldout_report

    rng = np.random.default_rng(0)
    content = [rng.integers(0, 256, (80, 100, 3), dtype=np.uint8) for _ in range(3)]
    warm = AdaptiveLUT(LutConfig(grid=9)).eval()
    with torch.no_grad():  # lifted blacks, warmer: +R -B
        warm.basis[0] = 0.8 * identity_lut(9) + 0.2 + torch.tensor([-0.1, 0.0, 0.1]).reshape(3, 1, 1, 1)
    d = describe_lut(warm)
    assert d["black_level"] > 12 and d["midgrey_cast"]["red"] > d["midgrey_cast"]["blue"]
    assert "lifted blacks" in d["text"] and "warmer" in d["text"]
    ident = AdaptiveLUT(LutConfig(grid=9)).eval()
    assert describe_lut(ident)["text"] == "a subtle grade close to the input"
    styled = [np.clip(im.astype(int) + 30, 0, 255).astype(np.uint8) for im in content]
    # a set against itself: only the pixel subsampling differs; a +30 shift shows as about 30 levels
    assert colour_distance(content, content) < 1.0 and 20 < colour_distance(content, styled) < 40
    rep = heldout_report(ident, content, content)
    assert rep["colour_distance_styled"] == pytest.approx(rep["colour_distance_input"], abs=0.01)
    assert rep["warping_error_ratio"] == pytest.approx(1.0, abs=0.02)  # the identity adds no flicker


def test_flicker_target_follows_the_true_look_and_the_report_says_whether_it_is_met():
    from livestyle.quality.cli import format_report
    from livestyle.quality.evaluate import flicker_target

    assert flicker_target("pastel", 0.51) == 1.15                        # a calm grade may add a little
    assert flicker_target("teal_orange", 1.307) == pytest.approx(1.05 * 1.307)  # 1.05 x its own
    assert flicker_target("pencil", 2.77) == 2.77                        # a drawn look: no more than its own
    report = {"style": "s", "look": "pencil", "test_images": 1, "teacher": "absent",
              "images": {"input": {"psnr": 13.0, "ssim": 0.7}, "teacher": None, "student": {"psnr": 22.0, "ssim": 0.8}},
              "summary": {"student_gain_db": 9.0, "student_teacher_gap_db": None},
              "temporal": {"filter_strength": 0.8, "clips": {},
                           "mean_ratio": {"student": 2.9, "student_filtered": 1.2, "true_look": 2.77}},
              "files": {"report": "r.json", "contact_sheet": "c.png", "strip": None}}
    text = format_report(report)
    assert "target <= 2.77" in text and "flicker target MISSED: 2.900 against 2.770" in text
    report["temporal"]["mean_ratio"]["student"] = 1.5
    assert "flicker target met" in format_report(report)
