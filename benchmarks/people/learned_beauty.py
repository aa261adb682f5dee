"""Learned beauty (issue 21, part 3): can the skin retouch of a set of style photos be learned against
other people's photos?

The dataset: real portraits (tests/support/portraits.py): the astronaut (Eileen Collins), Grace Hopper,
and the face-recognition==1.3.0 sdist's biden, obama, obama2 and obama3 (obama_partial_face*.jpg are
crops of obama.jpg and are left out), each as is, mirrored and at 0.8x.  The style photos are the
portraits of some people retouched by livestyle's own ``ops.beauty.apply`` at a known smoothing s and tone
t (landmarks found again on the retouched photo); the content photos are the untouched portraits of
other people; the held-out photos (as is) are those of the people in neither set.

For every ordered pair of disjoint, non-empty sets of people (style, content) among the people with a
face big enough to measure (``skin_stats.MIN_EYE_SPAN``), the script learns the amounts with
``livestyle.people.skin_stats`` (median over faces, calibration by the real retouch) and scores them on
the held-out photos: the gain in dB over the unstyled input of the learned retouch against the true one,
10 log10(MSE(input, true) / MSE(learned, true)).  The issue's target: learned smoothing within +-0.15 of
s for s in {0.3, 0.7}, and >= +3 dB.

It also prints the same with one obama photo as the style and the other two as the content, and the
other way round (the same person, other photos), the statistic's spread over photos and people (and
the number of photos a side it would take), and, with --nested, how a band statistic picked on some
people fares on another; --extra adds each portrait re-encoded as JPEG (quality 70) and with noise.

    PYTHONPATH=$PWD python benchmarks/people/learned_beauty.py [--nested] [--extra]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from dataclasses import dataclass

import cv2
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from livestyle.ops import beauty as ops  # noqa: E402
from livestyle.people import skin_stats as ss  # noqa: E402
from livestyle.people.face import FaceDetector, FaceLandmarker  # noqa: E402
from tests.support import portraits as P  # noqa: E402

PERSON = {"astronaut": "collins", "grace_hopper": "hopper", "biden": "biden", "obama": "obama",
          "obama2": "obama", "obama3": "obama"}
AUGS = {"as is": lambda x: x, "mirrored": lambda x: np.ascontiguousarray(x[:, ::-1]),
        "0.8x": lambda x: cv2.resize(x, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)}
def _jpeg(x: np.ndarray, q: int = 70) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _noise(x: np.ndarray, std: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(x + rng.normal(0, std, x.shape), 0, 255).astype(np.uint8)


EXTRA = {"jpeg q70": _jpeg, "noise 2": _noise}
COMBOS = ((0.0, 0.0), (0.3, 0.0), (0.7, 0.0), (0.0, 0.3), (0.3, 0.3), (0.7, 0.3))


@dataclass
class FaceData:
    photo: str
    aug: str
    image: np.ndarray
    landmarks: np.ndarray
    span: float
    smooth_cal: list | None = None   # SkinSample per calibration amount (smoothing)
    tone_cal: list | None = None     # SkinSample per calibration amount (tone)
    style: dict | None = None        # (s, t) -> SkinSample | None, measured on the retouched photo

    @property
    def person(self) -> str:
        return PERSON[self.photo]


def notch(sample) -> float:
    """The spectrum's band 4 (DoG 1.41-2 px) against the mean of bands 1 (0.5-0.71 px) and 7 (4-5.66 px):
    the contrast that did best on these same portraits in a search over band contrasts with an earlier
    choice of skin pixels (see --nested for what picking a statistic on these people is worth)."""
    sp = sample.spectrum
    return float(sp[4] - 0.5 * (sp[1] + sp[7]))


def wide(sample) -> float:
    """Bands 1-4 (DoG 0.5-2 px) against bands 6-9 (2.83-11.3 px), their energies summed: the fine band
    over a coarser band of the same skin, chosen before any measurement."""
    sp = sample.spectrum
    return float(np.log(np.exp(sp[1:5]).sum()) - np.log(np.exp(sp[6:10]).sum()))


STATS = {"texture": lambda s: s.texture, "wide": wide, "notch": notch}


def load(det, lm, augs: dict) -> list[FaceData]:
    photos = {"astronaut": P.astronaut(), "grace_hopper": P.grace_hopper()}
    fr = P.face_recognition_photos()
    for k in ("biden", "obama", "obama2", "obama3"):
        photos[k] = fr.get(k)
    missing = [k for k, v in photos.items() if v is None]
    if missing:
        sys.exit(f"portraits missing: {', '.join(missing)} ({P.missing_reason('face_recognition')})")
    out = []
    for name, img in photos.items():
        for aug, f in augs.items():
            im = f(img)
            faces = ss.find_faces(im, detector=det, landmarker=lm, max_faces=1)
            if not faces:
                print(f"  {name} {aug}: no face found")
                continue
            out.append(FaceData(name, aug, im, faces[0], ss.eye_span(faces[0])))
    return out


def prepare(faces: list[FaceData], det, lm) -> None:
    for fd in faces:
        fd.smooth_cal = ss.calibrate_samples(fd.image, fd.landmarks, "smooth")
        fd.tone_cal = ss.calibrate_samples(fd.image, fd.landmarks, "tone")
        fd.style = {}
        for s, t in COMBOS:
            img = fd.image if s == t == 0 else ops.apply(fd.image, [fd.landmarks], ops.Beauty(smooth=s, tone=t))
            pts = ss.find_faces(img, detector=det, landmarker=lm, max_faces=1)
            fd.style[(s, t)] = ss.measure(img, pts[0]) if pts else None


def learn(style_faces, content_faces, combo, stat: str):
    """(learned smoothing, learned tone) for one split and one true (s, t)."""
    f = STATS[stat]
    sty = [fd.style[combo] for fd in style_faces if fd.style[combo] is not None]
    sm = ss.learn_amount([f(x) for x in sty],
                         [np.array([f(x) for x in fd.smooth_cal]) for fd in content_faces if fd.smooth_cal])
    to = ss.learn_amount([x.tone for x in sty],
                         [np.array([x.tone for x in fd.tone_cal]) for fd in content_faces
                          if fd.tone_cal and all(np.isfinite(x.tone) for x in fd.tone_cal)], decreasing=False)
    return sm.amount, to.amount


def gain_db(held: list[FaceData], combo, learned) -> tuple[float, float]:
    """(mean gain in dB over the held-out photos, mean PSNR of the learned retouch against the true one)."""
    s, t = combo
    ls, lt = (0.0 if v is None else v for v in learned)
    gains, psnrs = [], []
    for fd in held:
        true = ops.apply(fd.image, [fd.landmarks], ops.Beauty(smooth=s, tone=t))
        got = ops.apply(fd.image, [fd.landmarks], ops.Beauty(smooth=ls, tone=lt))
        mse_in = float(np.mean((fd.image.astype(np.float64) - true) ** 2))
        mse = float(np.mean((got.astype(np.float64) - true) ** 2))
        psnrs.append(99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse))
        if mse_in > 0:
            gains.append(99.0 if mse == 0 else 10 * math.log10(mse_in / mse))
    return (float(np.mean(gains)) if gains else float("nan")), float(np.mean(psnrs))


def splits(people: list[str]):
    for k in range(1, len(people)):
        for S in itertools.combinations(people, k):
            rest = [p for p in people if p not in S]
            for j in range(1, len(rest) + 1):
                for C in itertools.combinations(rest, j):
                    yield S, C


def report(faces: list[FaceData], stat: str, title: str) -> None:
    usable = [fd for fd in faces if fd.smooth_cal is not None]
    people = sorted({fd.person for fd in usable})
    print(f"\n### {title}: statistic '{stat}', people measured: {', '.join(people)}")
    print("| s, t put in | splits | smoothing learned: median [min, max] | within +-0.15 | tone learned: median "
          "[min, max] | dB over input, held-out: median [min] | the same, tone left at 0 |")
    print("|---|---|---|---|---|---|---|")
    for combo in COMBOS:
        rows = []
        for S, C in splits(people):
            sf = [fd for fd in usable if fd.person in S]
            cf = [fd for fd in usable if fd.person in C]
            held = [fd for fd in faces if fd.person not in S and fd.person not in C and fd.aug == "as is"]
            learned = learn(sf, cf, combo, stat)
            g, p = gain_db(held, combo, learned) if held else (float("nan"), float("nan"))
            g0, _ = gain_db(held, combo, (learned[0], 0.0)) if held else (float("nan"), float("nan"))
            rows.append((learned, g, p, g0))
        _row(combo, rows)


def _row(combo, rows) -> None:
    s, t = combo
    sm = np.array([r[0][0] if r[0][0] is not None else np.nan for r in rows])
    to = np.array([r[0][1] if r[0][1] is not None else np.nan for r in rows])
    within = np.mean(np.abs(sm - s) <= 0.15 + 1e-9)

    def db(g: np.ndarray) -> str:
        return "-" if not np.isfinite(g).any() else f"{np.nanmedian(g):+.1f} [{np.nanmin(g):+.1f}]"

    gtxt = db(np.array([r[1] for r in rows])) + " | " + db(np.array([r[3] for r in rows]))
    if s == t == 0:
        p = np.array([r[2] for r in rows])
        gtxt = f"nothing to gain; learned vs true: PSNR {np.median(p):.1f} dB [min {p.min():.1f}] | -"
    print(f"| {s}, {t} | {len(rows)} | {np.nanmedian(sm):.2f} [{np.nanmin(sm):.2f}, {np.nanmax(sm):.2f}] | "
          f"{within:.0%} | {np.nanmedian(to):.2f} [{np.nanmin(to):.2f}, {np.nanmax(to):.2f}] | {gtxt} |")


def same_person(faces: list[FaceData], stat: str) -> None:
    obama = [fd for fd in faces if fd.person == "obama" and fd.smooth_cal is not None]
    print(f"\n### The same person, other photos (obama): statistic '{stat}'")
    print("| style photos | content photos | learned smoothing at s = 0 / 0.3 / 0.7 | tone at t = 0 / 0.3 (s = 0) |")
    print("|---|---|---|---|")
    photos = ("obama", "obama2", "obama3")
    for one in photos:
        for sty in ([one], [p for p in photos if p != one]):
            sf = [fd for fd in obama if fd.photo in sty]
            cf = [fd for fd in obama if fd.photo not in sty]
            sm = [learn(sf, cf, (s, 0.0), stat)[0] for s in (0.0, 0.3, 0.7)]
            to = [learn(sf, cf, (0.0, t), stat)[1] for t in (0.0, 0.3)]
            print(f"| {', '.join(sty)} | {', '.join(sorted({fd.photo for fd in cf}))} | "
                  f"{' / '.join(f'{v:.2f}' for v in sm)} | {' / '.join(f'{v:.2f}' for v in to)} |")


def spread(faces: list[FaceData], stat: str) -> None:
    """Per photo and per person, the statistic of the untouched faces; its spread against how far the
    retouch moves it, and how many photos a side (of independent people) would bring the error of the
    pooled difference to +-0.15 at 95% (2 (1.96 sd / (0.15 slope))^2, a normal approximation with the
    photos' sd)."""
    f = STATS[stat]
    usable = [fd for fd in faces if fd.smooth_cal is not None]
    people = sorted({fd.person for fd in usable})
    per = {p: np.median([f(fd.smooth_cal[0]) for fd in usable if fd.person == p]) for p in people}
    cur = np.median(np.array([[f(x) for x in fd.smooth_cal] for fd in usable]), axis=0)
    sd = float(np.std(list(per.values()), ddof=1))
    i3, i7 = ss.AMOUNTS.index(0.3), ss.AMOUNTS.index(0.7)
    k03 = abs(cur[i3] - cur[0]) / 0.3
    k37 = abs(cur[i7] - cur[i3]) / 0.4
    photo = {fd.photo: f(fd.smooth_cal[0]) for fd in usable if fd.aug == "as is"}
    psd = float(np.std(list(photo.values()), ddof=1))
    need = [2 * (1.96 * psd / (0.15 * k)) ** 2 for k in (k03, k37)]
    tone = {p: np.median([fd.tone_cal[0].tone for fd in usable if fd.person == p]) for p in people}
    tcur = np.median(np.array([[x.tone for x in fd.tone_cal] for fd in usable]), axis=0)
    tsd = float(np.std(list(tone.values()), ddof=1))
    tk = abs(tcur[i3] - tcur[0]) / 0.3
    print(f"\n### Spread over people, statistic '{stat}'")
    print("untouched, per photo as is: " + ", ".join(f"{p} {v:.2f}" for p, v in photo.items()))
    print("untouched, per person (median over photos and variants): "
          + ", ".join(f"{p} {v:.2f}" for p, v in per.items())
          + f"; sd over people {sd:.2f}")
    print(f"sd over photos (as is) {psd:.2f}; the retouch moves the content faces' median by {k03:.2f} per unit"
          f" of s from 0 to 0.3 and {k37:.2f} from 0.3 to 0.7: one photo's error in s ~ {psd / k03:.2f} near 0.3,"
          f" {psd / k37:.2f} near 0.7 (one person's, from the {len(per)} people's medians: {sd / k03:.2f},"
          f" {sd / k37:.2f}); photos a side for +-0.15 at 95% with the photos' spread: ~{need[0]:.0f} (s = 0.3),"
          f" ~{need[1]:.0f} (s = 0.7)")
    print("tone (skin L* - lips L*), untouched, per person: " + ", ".join(f"{p} {v:.1f}" for p, v in tone.items())
          + f"; sd {tsd:.1f}; the tone curve moves it {tk:.1f} per unit of t near 0..0.3: one person's error in"
          f" t ~ {tsd / tk:.2f}; people a side for +-0.15: ~{2 * (1.96 * tsd / (0.15 * tk)) ** 2:.0f}")


def nested(faces: list[FaceData]) -> None:
    """Pick a band statistic (every difference of two bands, and every band against the mean of its two
    neighbours 1-3 bands away) by its worst error on the splits without one person; score it on the
    splits with that person."""
    usable = [fd for fd in faces if fd.smooth_cal is not None]
    people = sorted({fd.person for fd in usable})
    nb = len(ss.BANDS)
    cands = []
    for i in range(nb):
        for j in range(nb):
            if i != j:
                c = np.zeros(nb)
                c[i], c[j] = 1, -1
                cands.append((f"b{i}-b{j}", c))
        for w in (1, 2, 3):
            if i - w >= 0 and i + w < nb:
                c = np.zeros(nb)
                c[i], c[i - w], c[i + w] = 1, -0.5, -0.5
                cands.append((f"b{i} vs b{i - w},b{i + w}", c))

    def errs(c, sp) -> np.ndarray:
        f = (lambda x: float(x.spectrum @ c))
        STATS["_cand"] = f
        out = []
        for S, C in sp:
            sf = [fd for fd in usable if fd.person in S]
            cf = [fd for fd in usable if fd.person in C]
            for s in (0.3, 0.7):
                out.append(learn(sf, cf, (s, 0.0), "_cand")[0] - s)
        return np.array(out)

    allsp = list(splits(people))
    print(f"\n### Picking the band statistic on some people ({len(cands)} candidates), scoring it on another")
    print("| left out | picked (worst error without them) | its errors on the splits with them: worst, within +-0.15 |")
    print("|---|---|---|")
    for x in people:
        train = [sp for sp in allsp if x not in sp[0] and x not in sp[1]]
        test = [sp for sp in allsp if x in sp[0] or x in sp[1]]
        if not train:
            continue
        best = min(cands, key=lambda nc: (np.abs(errs(nc[1], train)).max(), np.abs(errs(nc[1], train)).mean()))
        tr = np.abs(errs(best[1], train)).max()
        te = np.abs(errs(best[1], test))
        print(f"| {x} | {best[0]} ({tr:.2f}) | {te.max():.2f}, {np.mean(te <= 0.15 + 1e-9):.0%} of {len(te)} |")
    STATS.pop("_cand", None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nested", action="store_true", help="also pick a band statistic on some people, score on another")
    ap.add_argument("--extra", action="store_true",
                    help="also each portrait re-encoded as JPEG at quality 70 and with Gaussian noise of 2 levels")
    args = ap.parse_args()
    t0 = time.process_time()
    det, lm = FaceDetector(), FaceLandmarker()
    faces = load(det, lm, {**AUGS, **(EXTRA if args.extra else {})})
    print("faces: " + ", ".join(f"{fd.photo} {fd.aug} (eye span {fd.span:.0f})" for fd in faces))
    prepare(faces, det, lm)
    small = sorted({f"{fd.photo} {fd.aug}" for fd in faces if fd.smooth_cal is None})
    if small:
        print(f"not measured (eye span under {ss.MIN_EYE_SPAN:.0f} px or too little flat skin; held-out only): "
              + ", ".join(small))
    for stat, title in (("texture", "Disjoint people, skin_stats' texture (bands 4 and 7)"),
                        ("wide", "Disjoint people, wide bands"),
                        ("notch", "Disjoint people, band 4 against bands 1 and 7")):
        report(faces, stat, title)
        same_person(faces, stat)
        spread(faces, stat)
    if args.nested:
        nested(faces)
    print(f"\nCPU {time.process_time() - t0:.0f} s; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
