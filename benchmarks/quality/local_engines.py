#!/usr/bin/env python3
"""Two engine packs of the same 3 random colour looks, for timing the local part (vignette, bloom):

    PYTHONPATH=. .venv/bin/python benchmarks/quality/local_engines.py OUT
    PYTHONPATH=. .venv/bin/python benchmarks/quality/engine_speed.py --engine OUT/plain --also OUT/local --every-look

``OUT/plain``: looks a, b, c without a local part (the graph every engine had before); ``OUT/local``: the same
looks with a local part on b (a vignette -37 % in the corners and a bloom); ``OUT/vignette``: b with the
vignette alone (the kind of local part ``livestyle train`` fits).  So ``engine_speed.py`` times, in the same
rounds, a look without a local part in an engine with none and in one that holds one, the look with one, and a
blend.  Prints the folders and their export parity.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2]))  # PYTHONPATH first: --baseline-root builds with another tree

LOCAL = [[-0.3, -0.3, -0.2], [-0.1, -0.1, -0.1], [20.0, 25.0, 30.0], [10.0, 12.0, 15.0]]


def main() -> int:
    import torch

    from livestyle.export.lut import random_looks
    from livestyle.export.engine_pack import write_engine_pack

    out = Path(sys.argv[1])
    looks = random_looks(3, seed=1)
    names = ["a", "b", "c"]
    plain, p0 = write_engine_pack(out, list(zip(names, looks, [{}] * 3)), folder_name="plain")
    with torch.no_grad():
        looks[1].local.copy_(torch.tensor(LOCAL))
    local, p1 = write_engine_pack(out, list(zip(names, looks, [{}] * 3)), folder_name="local")
    with torch.no_grad():
        looks[1].local[2:] = 0.0
    vignette, p2 = write_engine_pack(out, list(zip(names, looks, [{}] * 3)), folder_name="vignette")
    print(f"{plain} (parity {p0}), {local} (parity {p1}), {vignette} (parity {p2})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
