#!/usr/bin/env python
"""Write an unpaired dataset for one procedural look (see livestyle.quality.dataset).

    .venv/bin/python benchmarks/quality/make_datasets.py OUT --look pastel [--content 400 --style 400 --test 24]

OUT gets trainA/ (content), trainB/ (the look applied to a disjoint source set),
test/input + test/target (held-out sources and their true look), clips/*.avi
(moving clips over held-out sources) and provenance.json (source + licence of
every file).  Photographs come from scikit-image's bundled samples when it is
installed (`pip install -e .[bench]`); otherwise the data is procedural only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from livestyle import looks
from livestyle.errors import LivestyleError
from livestyle.quality.dataset import DatasetConfig, make_dataset


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--look", required=True, choices=looks.names())
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--content", type=int, default=400, help="trainA images")
    ap.add_argument("--style", type=int, default=400, help="trainB images")
    ap.add_argument("--test", type=int, default=24, help="held-out test pairs")
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--clip-frames", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cfg = DatasetConfig(look=args.look, size=args.size, n_content=args.content, n_style=args.style,
                        n_test=args.test, n_clips=args.clips, clip_frames=args.clip_frames, seed=args.seed)
    t = time.perf_counter()
    try:
        make_dataset(args.out, cfg)
    except LivestyleError as e:
        print(f"make_datasets: error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"wrote {args.out} ({args.content} content, {args.style} style, {args.test} test, {args.clips} clips; "
          f"look {args.look}) in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
