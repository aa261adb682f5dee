#!/usr/bin/env python3
"""Project a near-monochrome look of an engine pack onto its style photos' tint, and re-export the engine.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/quality/tint_bundled.py --data runs/data/mono \
        [--engine livestyle/styles/packs/looks] [--look mono] [--eval runs/eval-mono.json]

The look's style photos are DATA/trainB (its content photos DATA/trainA) (benchmarks/quality/make_datasets.py),
read as `livestyle train` reads them (the look's recipe size).  When they are
near-monochrome (livestyle.training.tint), the look's bases are projected onto
their tint curve; every other look keeps its tensors as they are.  The engine
(ONNX graph, safetensors, style.json) is then written again through
livestyle.export.engine_pack.write_engine_pack, into a temporary sibling folder
renamed into place.  The look's metadata gains ``metrics.tint`` and a new
``metrics.learned`` (read off the projected look); with ``--eval`` (a
`livestyle eval` report of the projected look) also a new
``metrics.quality``.  Exit 1 when the photos are not near-monochrome
(nothing is written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", type=Path, default=Path("livestyle/styles/packs/looks"))
    ap.add_argument("--look", default="mono")
    ap.add_argument("--data", type=Path, required=True, help="the look's dataset folder (its trainB: style photos)")
    ap.add_argument("--eval", type=Path, help="a `livestyle eval` report of the projected look, recorded as its "
                                              "metrics.quality")
    args = ap.parse_args()
    from build_engine import quality

    from livestyle.quality.heldout import describe_lut
    from livestyle.export.engine_pack import write_engine_pack
    from livestyle.styles.nets import load_look_net
    from livestyle.styles.pack import META_FILE, load_packs
    from livestyle.training.data import load_images
    from livestyle.training.tint import tint_look

    engine = args.engine.resolve()
    meta = json.loads((engine / META_FILE).read_text())
    packs = {p.name: p for p in load_packs(engine)}
    if args.look not in packs:
        print(f"tint_bundled: error: {engine} holds no look {args.look!r} ({', '.join(packs)})", file=sys.stderr)
        return 2
    entries = []
    for entry in meta["looks"]:
        name = entry["name"]
        net = load_look_net(packs[name])
        look_meta = {k: v for k, v in entry.items() if k != "name"}
        if name == args.look:
            size = int(entry.get("recipe", {}).get("size", 64))
            style = load_images(args.data / "trainB", size, role="style images")
            content = load_images(args.data / "trainA", size, role="content images")
            tint = tint_look(net, style.images, content.images)
            if tint is None:
                print(f"tint_bundled: the style photos of {name!r} are not near-monochrome; nothing written",
                      file=sys.stderr)
                return 1
            metrics = dict(look_meta.get("metrics", {}))
            metrics["tint"] = tint
            metrics["learned"] = describe_lut(net)
            if args.eval:
                cmd = f"livestyle eval {name} --data runs/data/{name} (the bundled engine, tint-projected)"
                metrics["quality"] = quality(json.loads(args.eval.read_text()), cmd)
            look_meta["metrics"] = metrics
            print(f"{name}: style chroma p99 {tint['style_chroma_p99']} levels; tint (B, G, R) at luma: "
                  f"{tint['tint_bgr_at_luma']}; now: {metrics['learned']['text']}")
        entries.append((name, net, look_meta))
    shared = {k: v for k, v in meta.items() if k not in ("format_version", "name", "engine", "looks")}
    slopes = meta["engine"]["lut"].get("slopes")
    folder, parity = write_engine_pack(engine.parent, entries, folder_name=engine.name, shared=shared or None,
                                       slopes=slopes)
    print(f"engine {folder}: {', '.join(n for n, _, _ in entries)}; ONNX parity {parity} level(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
