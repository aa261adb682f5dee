"""livestyle.memory: frame-sized arrays reuse freed memory instead of faulting in fresh pages every frame."""

import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource
import numpy as np
from livestyle.memory import keep_freed_memory
done = keep_freed_memory()
f = np.ones((720, 1280, 3), np.uint8)
for _ in range(5):
    (f.astype(np.float32) * 0.5).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    (f.astype(np.float32) * 0.5).sum()  # two fresh 11 MB arrays a step, freed at once
print(json.dumps({"tuned": done, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _run(env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "LIVESTYLE_MALLOC"} | env_extra
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_freed_frames_are_reused_without_page_faults():
    system, tuned = _run({"LIVESTYLE_MALLOC": "system"}), _run({})
    assert not system["tuned"] and tuned["tuned"]
    pages = 720 * 1280 * 3 * 4 // 4096  # one float32 frame
    assert system["faults"] > 10 * pages, system  # glibc's own thresholds: fresh pages again and again
    assert tuned["faults"] < 2 * pages, tuned  # kept: at most the first step's pages

