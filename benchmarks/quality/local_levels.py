#!/usr/bin/env python3
"""How far two builds of the local-part engines differ, in output levels, on portraits at several sizes.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/local_levels.py NEW OLD

NEW and OLD are folders made by ``local_engines.py`` (``local_speed.py OUT --baseline DIR --baseline-root
CHECKOUT`` makes both).  For the engines ``local`` (look b: a vignette and a bloom) and ``vignette`` (b: the
vignette alone), the astronaut and Grace Hopper (tests/support/portraits.py) at 1920x1080 down to 37x23, and
the blends b, a+b and a+b+c, prints per engine and size the largest difference and the number of pixels that
differ, summed over portraits and blends, as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SIZES = ((1920, 1080), (1280, 720), (640, 480), (512, 288), (90, 200), (37, 23))
BLENDS = ([0, 1, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5])


def main() -> int:
    import cv2
    import onnxruntime as ort

    from livestyle.runners.contract import still_feeds
    from tests.support.portraits import astronaut, grace_hopper

    new, old = Path(sys.argv[1]), Path(sys.argv[2])
    photos = [p for p in (astronaut(), grace_hopper()) if p is not None]
    out = {}
    for kind in ("local", "vignette"):
        a = ort.InferenceSession(str(new / kind / "engine.onnx"), providers=["CPUExecutionProvider"])
        b = ort.InferenceSession(str(old / kind / "engine.onnx"), providers=["CPUExecutionProvider"])
        for w, h in SIZES:
            worst, differing, pixels = 0, 0, 0
            for img in photos:
                frame = np.ascontiguousarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA))[None]
                for wt in BLENDS:
                    wt = np.asarray([wt], np.float32)
                    d = np.abs(a.run(None, still_feeds(a, frame, wt))[0].astype(np.int16)
                               - b.run(None, still_feeds(b, frame, wt))[0].astype(np.int16))
                    worst = max(worst, int(d.max()))
                    differing += int(np.any(d, axis=-1).sum())
                    pixels += w * h
            out[f"{kind} {w}x{h}"] = {"max": worst, "pixels_differing": differing, "pixels": pixels}
    print(json.dumps({"portraits": len(photos), "blends": BLENDS, "levels": out}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
