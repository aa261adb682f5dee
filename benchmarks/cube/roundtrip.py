"""Round trips of 3D LUT files against ffmpeg's lut3d, on real photographs, through the runner `livestyle run` uses.

    PYTHONPATH=. python benchmarks/cube/roundtrip.py [--out benchmarks/cube/roundtrip.json]

1. import: a film-like 33^3 .cube (tests/test_cube.py's film_table, clipped to 0..1) imported with
   `livestyle import-lut`, run by the ONNX Runtime runner, against ffmpeg's lut3d (trilinear) on the same file
   (as is: ffmpeg truncates to 8 bits; and raised half a level, which makes its truncation round);
2. export: each bundled colour look exported with `livestyle export-lut`, against the look itself through the runner
   with its per-frame adaptation off (its lattice at the exported neutral weights), on the engine's runtime
   slopes "cell" (today's default, the bundled engine) and "exact"; and against the look as shipped (adapting).
Frames: scikit-image's astronaut (512x512) and coffee (600x400), BGR, at their own size, strength 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.test_cube import (_frozen_pack, _half_level_up, cli, diff, ffmpeg_apply, film_table,  # noqa: E402
                             photos, runner_apply, write_cube_text)


def stats(pairs) -> dict:
    out = [diff(a, b) for a, b in pairs]
    return {"max": max(o[0] for o in out), "mean": round(float(np.mean([o[1] for o in out])), 3),
            "signed_mean": round(float(np.mean([o[2] for o in out])), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    imgs = photos()
    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        home = tmp / "home"
        cube = write_cube_text(tmp / "film.cube", film_table(33))
        r = cli(["import-lut", cube, "--name", "film"], home)
        assert r.returncode == 0, r.stderr
        rounded = _half_level_up(cube, tmp / "film_r.cube")
        ours = [runner_apply(home / "styles" / "film", im) for im in imgs]
        res["import_film33"] = {
            "vs_ffmpeg": stats([(o, ffmpeg_apply(f"lut3d=file={cube}:interp=trilinear", im))
                                for o, im in zip(ours, imgs)]),
            "vs_ffmpeg_rounding": stats([(o, ffmpeg_apply(f"lut3d=file={rounded}:interp=trilinear", im))
                                         for o, im in zip(ours, imgs)]),
            "import_said": r.stdout.splitlines()[1]}
        for look in ("pastel", "vintage", "mono"):
            out = tmp / f"{look}.cube"
            r = cli(["export-lut", look, "--out", out], home)
            assert r.returncode == 0, r.stderr
            out_r = _half_level_up(out, tmp / f"{look}_r.cube")
            theirs = [ffmpeg_apply(f"lut3d=file={out}:interp=trilinear", im) for im in imgs]
            theirs_r = [ffmpeg_apply(f"lut3d=file={out_r}:interp=trilinear", im) for im in imgs]
            entry = {"export_said": r.stdout.strip().splitlines()[1:]}
            for slopes in ("cell", "exact"):
                pack = _frozen_pack(tmp / f"packs_{slopes}", look, slopes)
                mine = [runner_apply(pack, im) for im in imgs]
                entry[f"adaptation_off_{slopes}"] = {"vs_ffmpeg": stats(zip(mine, theirs)),
                                                     "vs_ffmpeg_rounding": stats(zip(mine, theirs_r))}
            from livestyle.styles.pack import BUNDLED_DIR
            shipped = [runner_apply(BUNDLED_DIR / "looks", im, look=look) for im in imgs]
            entry["as_shipped_adapting"] = {"vs_ffmpeg_rounding": stats(zip(shipped, theirs_r))}
            res[f"export_{look}"] = entry
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        from livestyle.fsutil import write_text_atomic
        write_text_atomic(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
