#!/usr/bin/env python3
"""What the local fit finds before any LUT is learned (``training.local.prefit_local``'s fit) on datasets of
matched and of disjoint photos, with and without a local part in their hidden look.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/local_fit_check.py ROOT [SPEC ...]

SPEC: ``LOOK-same`` (``dataset.make_dataset``, both folders from one pool of scenes) or ``LOOK-disjoint``
(``dataset.make_different_dataset``: indoor content, outdoor style photos); LOOK any name of
``livestyle.looks`` or ``dataset.HIDDEN_LOOKS`` (``glow_vignette`` has a vignette and a bloom; pastel and
vintage a glow; the others none).  Datasets are 128 px, 200 + 200 photos, built under ROOT once.  The photos are
read and split as `livestyle train` does; per dataset it prints what was kept, the coefficients and every
candidate's distance on the training and held-out photos (units of chance level), and the CPU seconds.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

DEFAULT = ["glow_vignette-same", "glow_vignette-disjoint", "soft_glow-same", "pastel-same", "vintage-same",
           "teal_orange-same", "amber_cyan-disjoint", "split_fade-disjoint", "soft_glow-disjoint"]


def main() -> int:
    import torch

    from livestyle.models.lut import AdaptiveLUT, describe_local
    from livestyle.quality.dataset import DatasetConfig, DifferentConfig, make_dataset, make_different_dataset
    from livestyle.training.colour import _split
    from livestyle.training.data import load_images
    from livestyle.training.local import fit_local

    torch.set_num_threads(1)
    root = Path(sys.argv[1])
    out = {}
    for spec in sys.argv[2:] or DEFAULT:
        look, kind = spec.rsplit("-", 1)
        data = root / spec
        if not (data / "provenance.json").is_file() and not (data / "trainB").is_dir():
            if kind == "same":
                make_dataset(data, DatasetConfig(look=look, size=128, n_content=200, n_style=200, n_test=24, n_clips=0))
            else:
                make_different_dataset(data, DifferentConfig(look=look))
        style, style_held = _split(load_images(data / "trainB", 64, role="style images"))
        content, content_held = _split(load_images(data / "trainA", 64, role="content images"))
        c0 = time.process_time()
        rec = fit_local(AdaptiveLUT(), content.images, style.images, content_held, style_held, compensate=False)
        cpu = time.process_time() - c0
        kept = rec["kept"]
        coeffs = torch.tensor(rec["candidates"][kept]["coeffs"])
        rows = rec["candidates"]
        out[spec] = {"kept": kept, "what": describe_local(coeffs), "cpu_s": round(cpu, 1),
                     "distances": {k: [v["train_distance"], v["heldout_distance"]] for k, v in rows.items()}}
        print(spec, json.dumps(out[spec]), flush=True)
    (root / "local_fit_check.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
