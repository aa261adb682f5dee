"""Build a Pipeline by hand (the way ``livestyle.session.run`` does) for tests that drive one directly."""

from __future__ import annotations

from livestyle.controls import Controls
from livestyle.pipeline import Pipeline
from livestyle.runners.bank import RunnerBank
from livestyle.runners.registry import create_runner
from livestyle.session import build_pipeline as _build


def build_pipeline(cfg, *, source, sink, styles, start: str, infer_size: tuple[int, int],
                   out_size: tuple[int, int], fps: float = 30.0, on_frame=None, before=(), after=()) -> Pipeline:
    """A Pipeline over ONNX Runtime runners for ``styles`` (StylePacks), showing ``start`` first.

    ``before`` and ``after`` are extra stages around the look stage.  The bank is ``pipe.stage("look").bank``.
    """
    packs = {s.name: s for s in styles}
    bank = RunnerBank(packs, lambda p: create_runner("onnxruntime", p, infer_size=infer_size).runner)
    bank.load({start: 1.0})
    controls = Controls([s.name for s in styles], weights={start: 1.0}, strength=cfg.strength)
    return _build(cfg, source=source, sink=sink, bank=bank, controls=controls, out_size=out_size,
                  infer_size=infer_size, fps=fps, backend="onnxruntime", on_frame=on_frame, before=before,
                  after=after)
