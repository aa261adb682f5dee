"""Warping-error ratio of each procedural look itself on a dataset's moving clips.

The ratio a perfect student of a look would score (before any temporal filter):
looks that add texture which moves with the image (pencil strokes, anime ink
lines) score well above 1.15, so no faithful student of them can meet the
flicker target.  Same metric and frame count (48) as ``livestyle eval``.

    .venv/bin/python benchmarks/quality/true_look_flicker.py runs/data/pastel          # all looks
    .venv/bin/python benchmarks/quality/true_look_flicker.py runs/data/pastel mono anime
"""

from __future__ import annotations

import argparse
from pathlib import Path

from livestyle import looks
from livestyle.quality.dataset import read_clip
from livestyle.quality.metrics import clip_flows, warping_error_ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="a dataset folder made by make_datasets.py (uses its clips/*.avi)")
    ap.add_argument("looks", nargs="*", help="look names (default: all)")
    ap.add_argument("--frames", type=int, default=48)
    args = ap.parse_args()
    clips = {}
    for path in sorted((args.data / "clips").glob("*.avi")):
        frames = [f[: f.shape[0] // 4 * 4, : f.shape[1] // 4 * 4] for f in read_clip(path, max_frames=args.frames)]
        clips[path.name] = (frames, clip_flows(frames))
    if not clips:
        raise SystemExit(f"no clips in {args.data / 'clips'}")
    print("| look | " + " | ".join(clips) + " | mean |")
    print("|---" * (len(clips) + 2) + "|")
    for name in args.looks or looks.names():
        ratios = [warping_error_ratio([looks.apply(name, f) for f in frames], frames, flows=flows)
                  for frames, flows in clips.values()]
        print(f"| {name} | " + " | ".join(f"{r:.2f}" for r in ratios) + f" | {sum(ratios) / len(ratios):.2f} |")


if __name__ == "__main__":
    main()
